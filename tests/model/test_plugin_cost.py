"""Check that a plugin's measured cost sits on the built-ins' compute axis: FlopCounterMode on a
probe batch (forward and backward) equals model/cost.py's closed form on all three built-ins."""

import pytest
import torch

from recscale.model import build_model
from recscale.model.config import DLRMConfig, PluginConfig
from recscale.model.cost import TRAIN_FLOPS_PER_FORWARD, measured_cost, model_cost
from recscale.model.plugin import measure_flops
from tests.model.dlrm_plugin import TARGET
from tests.model.test_arch_cost import CARDS, GRID

DLRM_GRID = [
    DLRMConfig(n_dense=13, cardinalities=CARDS, embedding_dim=8, embedding_rows=500),
    DLRMConfig(n_dense=13, cardinalities=(10,) * 26, embedding_dim=16, bottom_mlp=(512, 256, 64), top_mlp=(512, 256)),
    DLRMConfig(n_dense=4, cardinalities=(7, 9), embedding_dim=4, bottom_mlp=(), top_mlp=(8,)),
    DLRMConfig(n_dense=13, cardinalities=CARDS, embedding_dim=8, interaction="cat", top_mlp=(32, 32)),
]
BUILTINS = DLRM_GRID + GRID  # DCNv2 and Wukong at six sizes each (full and low rank, 0 to 4 layers)


@pytest.mark.parametrize("cfg", BUILTINS, ids=lambda c: c.architecture)
def test_measured_flops_equal_closed_form(cfg):
    """Check FlopCounterMode's forward FLOPs per sample == cost.py's, exactly, and forward + backward
    == 3 × forward (TRAIN_FLOPS_PER_FORWARD) when every input requires a gradient (the convention)."""
    fwd, bwd = measure_flops(build_model(cfg))
    cost = model_cost(cfg)
    assert fwd == cost.flops_per_sample and cost.flops_source == "closed_form"
    assert fwd + bwd == cost.train_flops_per_sample == TRAIN_FLOPS_PER_FORWARD * fwd


def test_a_real_step_skips_the_dense_features_gradient():
    """Check the note in cost.py: with the dense features not requiring a gradient (as the trainer),
    the backward is 2·n_dense·h_1 FLOPs per sample smaller than the convention's."""
    cfg = DLRM_GRID[1]
    model = build_model(cfg)
    from torch.utils.flop_counter import FlopCounterMode

    emb = torch.randn(4, len(cfg.cardinalities), cfg.embedding_dim, requires_grad=True)
    out = model.forward_embedded(torch.randn(4, cfg.n_dense), emb)
    with FlopCounterMode(display=False) as bwd:
        out.sum().backward()
    assert bwd.get_total_flops() / 4 == 2 * model_cost(cfg).flops_per_sample - 2 * cfg.n_dense * cfg.bottom_mlp[0]


@pytest.mark.parametrize("cfg", DLRM_GRID[:3], ids=str)
def test_dlrm_as_plugin_costs_what_the_builtin_costs(cfg):
    """Check that the DLRM written as a plugin has the built-in's parameters and FLOPs, measured."""
    plugin = PluginConfig("DLRMPlugin", TARGET, cfg.n_dense, cfg.cardinalities, cfg.embedding_dim, cfg.embedding_rows,
                          kwargs={"bottom": cfg.bottom_mlp, "top": cfg.top_mlp}.items())  # fmt: skip
    got, want = measured_cost(plugin), model_cost(cfg)
    assert got.flops_source == "measured" and model_cost(plugin) == got
    assert (got.params_dense, got.params_sparse, got.flops_per_sample, got.train_flops_per_sample) == (
        want.params_dense, want.params_sparse, want.flops_per_sample, want.train_flops_per_sample)
    assert got.params_total == sum(p.numel() for p in build_model(plugin).parameters())
