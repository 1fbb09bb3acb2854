"""Check ``train.mlp_bias_init``: "zero" changes only the built-ins' hidden biases, and it keeps more
narrow top MLPs alive than the DLRM reference's N(0, 1/fan_out) biases, whose failure it remedies."""

import math

import pytest
import torch

from recscale.model.config import ARCHITECTURES, DLRMConfig, PluginConfig
from recscale.train.config import TrainConfig
from recscale.train.trainer import Trainer, TrainState
from tests.model.dlrm_plugin import TARGET

CARDS = (50, 40, 30)


def _state(arch: str, init: str) -> TrainState:
    cfg = ARCHITECTURES[arch](n_dense=4, cardinalities=CARDS, embedding_dim=4, embedding_rows=64, base_ctr=0.2)
    return TrainState(cfg, TrainConfig(mlp_bias_init=init), seed=3)


@pytest.mark.parametrize("arch", ["dlrm", "dcnv2", "wukong"])
def test_zero_changes_only_the_hidden_biases(arch):
    """Check that under "zero" every parameter equals the reference draw except the hidden layers'
    biases, which are 0, and that the output bias still starts at the base rate's logit."""
    ref, zero = _state(arch, "reference").model, _state(arch, "zero").model
    out = zero.top[-1]
    changed = 0
    for (name, a), (_, b) in zip(ref.named_parameters(), zero.named_parameters()):
        hidden_bias = name.endswith(".bias") and b is not out.bias
        if hidden_bias:
            assert torch.all(b == 0), name
            changed += int(torch.any(a != 0))
        else:
            assert torch.equal(a, b), name
    assert changed >= 2  # the reference drew non-zero hidden biases, and they were zeroed
    assert out.bias.item() == pytest.approx(math.log(0.2 / 0.8))


def test_plugin_layers_are_left_as_the_plugin_made_them():
    """Check that "zero" does not touch a plugin's own layers (recscale owns only its tables and output bias)."""
    cfg = PluginConfig("DLRMPlugin", TARGET, 4, CARDS, 4, kwargs=(("bottom", (8,)), ("top", (2, 2))),
                       base_ctr=0.2)
    a = TrainState(cfg, TrainConfig(mlp_bias_init="reference"), seed=3).model
    b = TrainState(cfg, TrainConfig(mlp_bias_init="zero"), seed=3).model
    for (name, x), (_, y) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(x, y), name


def test_zero_biases_keep_more_narrow_top_mlps_alive(small_synth):
    """Check the failure the option remedies: a 2-wide top MLP whose ReLUs all close never leaves
    NE ≈ 1. On this world 3 of 8 seeds die with the reference biases (1 of 8 with zero biases, measured
    when the option was added); zero biases must leave fewer dead and at least one reference death."""
    torch.set_num_threads(1)
    dead = {}
    for init in ("reference", "zero"):
        dead[init] = 0
        for seed in range(8):
            cfg = DLRMConfig(n_dense=small_synth.n_dense, cardinalities=tuple(small_synth.cardinalities), embedding_dim=8,
                             embedding_rows=1024, bottom_mlp=(16, 16), top_mlp=(2, 2))
            pts = Trainer(cfg, TrainConfig(batch_size=256, eval_rows=5000, mlp_bias_init=init), small_synth, seed).run([39_936])
            dead[init] += pts[-1].evaluation.ne > 0.999
    assert dead["reference"] >= 2 and dead["zero"] < dead["reference"], dead
