"""Check the plugin path itself: the DLRM written as a plugin trains to the built-in's numbers, and
the protocol's loading (import path, file, entry point) and probe checks."""

import pytest
import torch

from recscale.model.config import DLRMConfig, PluginConfig
from recscale.model.plugin import PluginError, load_class, probe, short_name
from recscale.train.config import TrainConfig
from recscale.train.trainer import Trainer
from tests.model.dlrm_plugin import TARGET, builtin_state


@pytest.mark.parametrize(("dense_opt", "sparse_opt"), [("adam", "adam"), ("adagrad", "rowwise_adagrad")])
def test_dlrm_as_plugin_gives_the_builtins_ne_at_every_checkpoint(small_synth, dense_opt, sparse_opt):
    """Check that the DLRM re-implemented as a plugin, started from the built-in's initial weights,
    gives the built-in's NE at every checkpoint to 1e-6: the plugin path adds no difference of its own."""
    common = dict(n_dense=small_synth.n_dense, cardinalities=tuple(small_synth.cardinalities), embedding_dim=8, embedding_rows=2000)
    tc = TrainConfig(batch_size=256, eval_rows=5000, dense_optimizer=dense_opt, sparse_optimizer=sparse_opt)
    cps = [1024, 2048, 4096, 8192, 16384]
    builtin = Trainer(DLRMConfig(**common, bottom_mlp=(16,), top_mlp=(16, 16)), tc, small_synth, seed=4)
    plugin = Trainer(PluginConfig("DLRMPlugin", TARGET, **common, kwargs=(("bottom", (16,)), ("top", (16, 16)))), tc, small_synth, seed=4)
    plugin.state.model.load_state_dict(builtin_state(builtin.state.model))
    want, got = builtin.run(cps), plugin.run(cps)
    assert [p.samples for p in got] == cps
    for a, b in zip(want, got):
        assert abs(a.evaluation.ne - b.evaluation.ne) < 1e-6, (a.samples, a.evaluation.ne, b.evaluation.ne)
    assert got[-1].evaluation.ne < got[0].evaluation.ne


def test_loading_by_import_path_file_and_short_name(tmp_path):
    """Check the three ways a spec names a plugin's class, and the name [model.<Name>] uses."""
    (tmp_path / "towers.py").write_text("from tests.model.dlrm_plugin import DLRMPlugin as Tower\n")
    assert load_class(TARGET).__name__ == "DLRMPlugin"
    assert load_class("towers.py:Tower", str(tmp_path)).__name__ == "DLRMPlugin"
    assert load_class(str(tmp_path / "towers.py") + ":Tower").__name__ == "DLRMPlugin"
    assert short_name(TARGET) == "DLRMPlugin" and short_name("towers.py:Tower") == "Tower" and short_name("ep") == "ep"
    with pytest.raises(PluginError, match=r"no entry point 'nope' in group recscale.architectures"):
        load_class("nope")


def test_probe_is_deterministic_and_leaves_the_global_rng_alone():
    """Check that probing twice measures the same and does not move torch's global generator."""
    cfg = PluginConfig("DLRMPlugin", TARGET, 3, (5, 7), 4, kwargs=(("bottom", (8,)), ("top", (8,))))
    state = torch.random.get_rng_state()
    a = probe.__wrapped__(cfg)
    assert probe.__wrapped__(cfg) == a and a.flops_forward > 0 and a.flops_backward == 2 * a.flops_forward
    assert torch.equal(torch.random.get_rng_state(), state)
