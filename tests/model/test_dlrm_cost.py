"""Check the DLRM's shapes, hashing and initialisation, and that cost.py counts exactly."""

import sys

import pytest
import torch

from recscale.model.config import DLRMConfig
from recscale.model.cost import model_cost
from recscale.model.dlrm import DLRM
from tests.model.flops import measured_flops_per_sample

CONFIGS = [
    DLRMConfig(n_dense=13, cardinalities=(3, 50, 1000, 100_000), embedding_dim=8, embedding_rows=500),
    DLRMConfig(n_dense=13, cardinalities=(10,) * 26, embedding_dim=16, bottom_mlp=(512, 256, 64), top_mlp=(512, 256)),
    DLRMConfig(n_dense=4, cardinalities=(7, 9), embedding_dim=4, bottom_mlp=(), top_mlp=(8,), interaction="cat"),
]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_param_count_is_exact(cfg):
    """Check params_total == sum(numel) and the dense/sparse split."""
    model = DLRM(cfg)
    cost = model_cost(cfg)
    assert cost.params_total == sum(p.numel() for p in model.parameters())
    assert cost.params_sparse == model.embedding.weight.numel()
    assert cost.params_dense == sum(p.numel() for n, p in model.named_parameters() if not n.startswith("embedding"))


@pytest.mark.parametrize("cfg", CONFIGS)
def test_flops_match_flop_counter(cfg):
    """Check analytic forward FLOPs per sample against FlopCounterMode within 1%."""
    measured = measured_flops_per_sample(DLRM(cfg), cfg, 32)
    assert model_cost(cfg).flops_per_sample == pytest.approx(measured, rel=0.01)
    assert model_cost(cfg).train_flops_per_sample == 3 * model_cost(cfg).flops_per_sample


def test_forward_shapes_and_hashing():
    """Check output shape, that hashed ids stay inside each table, and that hashing is not id % rows."""
    cfg = CONFIGS[0]
    model = DLRM(cfg)
    sparse = torch.stack([torch.arange(1000) % c for c in cfg.cardinalities], 1)
    ids = model.embedding_ids(sparse)
    rows = torch.tensor(cfg.table_rows)
    offsets = torch.tensor([0, *cfg.table_rows[:-1]]).cumsum(0)
    local = ids - offsets
    assert bool(((local >= 0) & (local < rows)).all())
    assert torch.equal(local[:, 0], sparse[:, 0])  # unhashed feature keeps its id
    assert not torch.equal(local[:, 3], sparse[:, 3] % 500)  # capped feature is hashed, not modded
    assert model(torch.randn(1000, 13), sparse).shape == (1000,)


def test_base_ctr_initialises_output_bias():
    """Check that base_ctr sets the output bias so initial predictions sit near the base rate."""
    torch.manual_seed(0)
    model = DLRM(CONFIGS[0].with_(base_ctr=0.1))
    sparse = torch.stack([torch.randint(0, c, (4096,)) for c in CONFIGS[0].cardinalities], 1)
    p = torch.sigmoid(model(torch.randn(4096, 13), sparse)).mean().item()
    assert p == pytest.approx(0.1, abs=0.03)


def test_bad_config_is_rejected():
    """Check that a non-positive width is rejected with the offending config."""
    with pytest.raises(ValueError, match="must be positive"):
        DLRMConfig(n_dense=1, cardinalities=(5,), embedding_dim=0)
    with pytest.raises(ValueError, match="interaction must be 'dot' or 'cat'"):
        DLRMConfig(n_dense=1, cardinalities=(5,), interaction="sum")


def test_cost_does_not_import_torch():
    """Check that recscale.model.cost and config stay torch-free (planning needs no torch)."""
    import subprocess

    code = "import sys, recscale.model.cost; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
