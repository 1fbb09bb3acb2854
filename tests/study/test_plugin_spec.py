"""Check plugins in a study spec: naming, keywords as base and schemes, [train.<architecture>],
identity (hash), and every mistake of issue 18 §3 caught before training: one line naming the
architecture, the configuration and the problem, exit 2, nothing written."""

import shutil
import textwrap

import pytest

from recscale.cli.main import main
from recscale.errors import SpecError
from recscale.study.spec import PluginSpec, load_spec, parse_spec
from recscale.train.config import DEFAULT_LR_DENSE
from tests.model.dlrm_plugin import TARGET
from tests.study.conftest import TEST_SPEC
from tests.study.test_spec import _raw

PLUGIN_SPEC = TEST_SPEC.replace("seeds = [0]", f'seeds = [0]\narchitectures = ["dlrm", "{TARGET}"]') + """
[model.DLRMPlugin]
bottom = [16]
top = [16]

[schemes.DLRMPlugin]
top = [8, 32]
"""

# Plugins that each get one thing wrong (written beside the spec, named "towers.py:<Class>").
TOWERS = textwrap.dedent('''
    import torch
    from torch import nn
    from recscale.model.plugin import Architecture


    class Good(Architecture):
        def __init__(self, context, hidden=4):
            super().__init__()
            self.lin = nn.Linear(context.n_sparse * context.embedding_dim + context.n_dense, hidden)
            self.out = nn.Linear(hidden, 1)

        def forward_embedded(self, dense, emb):
            return self.out(torch.relu(self.lin(torch.cat([dense, emb.flatten(1)], 1)))).squeeze(1)


    class Column(Good):
        def forward_embedded(self, dense, emb):
            return super().forward_embedded(dense, emb).unsqueeze(1)


    class Double(Good):
        def forward_embedded(self, dense, emb):
            return super().forward_embedded(dense, emb).double()


    class Infinite(Good):
        def forward_embedded(self, dense, emb):
            return super().forward_embedded(dense, emb) * float("nan")


    class Unused(Good):
        def __init__(self, context, hidden=4):
            super().__init__(context, hidden)
            self.spare = nn.Linear(3, 3)


    class Frozen(Good):
        def __init__(self, context, hidden=4):
            super().__init__(context, hidden)
            self.out.weight.requires_grad_(False)


    class NoEmbeddings(Good):
        def forward_embedded(self, dense, emb):
            return super().forward_embedded(dense, emb.detach())


    class Raises(Good):
        def forward_embedded(self, dense, emb):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")


    class Picky(Good):
        def __init__(self, context, hidden=4):
            if hidden > 4:
                raise ValueError("hidden must be at most 4")
            super().__init__(context, hidden)


    def not_a_class(context):
        return None
''')


def _write(tmp_path, cls, extra=""):
    (tmp_path / "towers.py").write_text(TOWERS)
    (tmp_path / "broken.py").write_text("import no_such_dependency_xyz\n")
    spec = TEST_SPEC.replace("seeds = [0]", f'seeds = [0]\narchitectures = ["dlrm", "{cls}"]') + extra
    (tmp_path / "s.toml").write_text(spec)
    return tmp_path / "s.toml"


def _files(tmp_path):
    return sorted(p.name for p in tmp_path.rglob("*") if "__pycache__" not in p.parts)


@pytest.mark.parametrize(("target", "extra", "message"), [
    ("no_such_pkg_xyz.towers:Tower", "", r"architectures\[1\] Tower \(no_such_pkg_xyz.towers:Tower\): cannot import module 'no_such_pkg_xyz.towers': ModuleNotFoundError"),
    ("broken.py:Tower", "", r"architectures\[1\] Tower \(broken.py:Tower\): importing .*broken.py failed: ModuleNotFoundError: No module named 'no_such_dependency_xyz'"),
    ("missing.py:Tower", "", r"architectures\[1\] Tower \(missing.py:Tower\): plugin file .*missing.py does not exist"),
    ("towers.py:Nope", "", r"architectures\[1\] Nope \(towers.py:Nope\): module 'towers.py' has no class 'Nope'"),
    ("towers.py:not_a_class", "", r"towers.py:not_a_class is not a torch.nn.Module class with forward_embedded"),
    ("no_such_entry_point", "", r"architectures\[1\]: unknown architecture 'no_such_entry_point'; allowed: dlrm, dcnv2, wukong, an import path"),
    ("towers.py:Good", "\n[model.Good]\nhiden = 3\n", r"model.Good \(Good-D4-R2000-hiden3\): Good\(context, \*\*\{'hiden': 3\}\) rejects its keywords: .*unexpected keyword argument 'hiden'"),
    ("towers.py:Picky", "\n[schemes.Picky]\nhidden = [2, 8]\n", r"model.Picky \(Picky-D8-R2000-hidden8\): Picky\(context, \*\*\{'hidden': 8\}\) raised ValueError: hidden must be at most 4"),
    ("towers.py:Column", "", r"model.Column \(Column-D4-R2000\): Column.forward_embedded returned shape \[8, 1\], float32; it must return logits of shape \[B\] = \[8\], float32"),
    ("towers.py:Double", "", r"Double.forward_embedded returned shape \[8\], float64; it must return logits of shape \[B\] = \[8\], float32"),
    ("towers.py:Infinite", "", r"model.Infinite \(Infinite-D4-R2000\): Infinite: the loss on a random probe batch is nan \(not finite\)"),
    ("towers.py:Unused", "", r"Unused: parameters spare.weight, spare.bias do not train \(the loss does not reach them\)"),
    ("towers.py:Frozen", "", r"Frozen: parameters out.weight do not train \(requires_grad=False\); register fixed tensors as buffers"),
    ("towers.py:NoEmbeddings", "", r"NoEmbeddings: the embeddings do not train \(forward_embedded must use emb"),
    ("towers.py:Raises", "", r"Raises.forward_embedded raised RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
])  # fmt: skip
def test_every_plugin_mistake_is_one_line_exit_2_nothing_written(tmp_path, capsys, target, extra, message):
    """Check each §3 mistake through `study run` and `--dry-run`: exit 2, one line naming the
    architecture, the configuration and the problem, and nothing written (no ledger, no dataset)."""
    import re

    spec = _write(tmp_path, target, extra)
    before = _files(tmp_path)
    for dry in ([], ["--dry-run"]):
        assert main(["study", "run", str(spec), "--db", str(tmp_path / "runs" / "x.db"), "--quiet", *dry]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and re.search(message, err), err
        assert _files(tmp_path) == before


def test_a_good_file_plugin_beside_the_spec_loads(tmp_path):
    """Check that `towers.py:Good` is found relative to the spec file, from any working folder."""
    spec = load_spec(_write(tmp_path, "towers.py:Good", "\n[schemes.Good]\nhidden = [2, 8]\n"))
    assert spec.architectures == ("dlrm", "Good") and spec.plugins() == ["Good"]
    labels = sorted(t.trial_id for t in spec.trials() if t.architecture == "Good")
    # shared embedding_dim {4, 8} (mlp_width is the built-ins'), own hidden {2, 8}; the base (D8, default hidden) in both
    assert labels == ["Good-D4-R2000-s0", "Good-D8-R2000-hidden2-s0", "Good-D8-R2000-hidden8-s0", "Good-D8-R2000-s0"]


def test_plugin_keywords_are_its_base_and_its_schemes():
    """Check that [model.<Name>] is the plugin's base, [schemes.<Name>] scales any keyword, and the
    shared schemes that size recscale's tables scale it too."""
    spec = parse_spec(_raw(PLUGIN_SPEC))
    base = spec.base_model("DLRMPlugin")
    assert isinstance(base, PluginSpec) and base.target == TARGET and dict(base.kwargs) == {"bottom": (16,), "top": (16,)}
    trials = {t.trial_id: t for t in spec.trials() if t.architecture == "DLRMPlugin"}
    assert sorted(trials) == ["DLRMPlugin-D4-R2000-bottom16-top16-s0", "DLRMPlugin-D8-R2000-bottom16-top16-s0",
                              "DLRMPlugin-D8-R2000-bottom16-top32-s0", "DLRMPlugin-D8-R2000-bottom16-top8-s0"]  # fmt: skip
    assert set(trials["DLRMPlugin-D8-R2000-bottom16-top16-s0"].memberships) == {("embedding_dim", 8)}
    assert trials["DLRMPlugin-D8-R2000-bottom16-top32-s0"].memberships == (("top", 32),)
    cfg = trials["DLRMPlugin-D8-R2000-bottom16-top32-s0"].model.config(13, [10, 20])
    assert (cfg.architecture, cfg.target, cfg.embedding_dim, dict(cfg.kwargs)["top"]) == ("DLRMPlugin", TARGET, 8, 32)


def test_plugin_identity_is_its_target_and_keywords_not_its_folder(tmp_path):
    """Check that the hash changes with a plugin's keywords or target, but not with the spec's folder,
    and that specs without plugins or [train.<architecture>] keep their hash."""
    a = parse_spec(_raw(PLUGIN_SPEC), source=str(tmp_path / "a" / "s.toml"))
    assert a.hash() == parse_spec(_raw(PLUGIN_SPEC), source=str(tmp_path / "b" / "s.toml")).hash()
    assert a.hash() != parse_spec(_raw(PLUGIN_SPEC, model__DLRMPlugin__top=[8])).hash()
    assert a.hash() != parse_spec(_raw(PLUGIN_SPEC, train__DLRMPlugin={"lr_dense": 1e-3})).hash()
    plain = parse_spec(_raw(TEST_SPEC))
    assert "arch_train" not in plain.to_dict() and "architectures" not in plain.to_dict()


def test_train_overrides_per_architecture():
    """Check that [train.<architecture>] overrides learning rates and optimisers for that architecture
    only, on top of [train] (an optimiser change without a rate takes that optimiser's default)."""
    spec = parse_spec(_raw(PLUGIN_SPEC, train__lr_embedding=0.01, train__DLRMPlugin={"lr_dense": 5e-4},
                           train__dlrm={"dense_optimizer": "adagrad"}))  # fmt: skip
    assert spec.train_for("DLRMPlugin").lr_dense == 5e-4 and spec.train_for("DLRMPlugin").lr_embedding == 0.01
    assert spec.train_for("dlrm").dense_optimizer == "adagrad" and spec.train_for("dlrm").lr_dense == 0.02
    assert spec.train.lr_dense == DEFAULT_LR_DENSE["adam"] and spec.train_for("dlrm").batch_size == spec.train.batch_size


@pytest.mark.parametrize(("changes", "message"), [
    ({"train__DLRMPlugin": {"batch_size": 64}}, r"train.DLRMPlugin.batch_size: unknown field; allowed: lr_embedding, lr_dense, dense_optimizer, sparse_optimizer, warmup_samples"),
    ({"train__DLRMPlugin": {"lr_dense": -1}}, r"train.DLRMPlugin.lr_dense: must be a positive number, got -1"),
    ({"train__wukong": {"lr_dense": 1e-3}}, r"train.wukong: given but wukong is not in architectures"),
    ({"train__DLRMPlugin": 3}, r"train.DLRMPlugin: must be a table of DLRMPlugin's overrides"),
    ({"model__DLRMPlugin__embedding_dim": 4}, r"model.DLRMPlugin.embedding_dim: recscale's embedding tables are sized in \[model\]"),
    ({"model__DLRMPlugin__deep": {"a": 1}}, r"model.DLRMPlugin.deep: must be a number, string, boolean or list of them, got a table"),
    ({"schemes__DLRMPlugin__top": [8, -1]}, r"schemes.DLRMPlugin.top: must be a non-empty list of non-negative integers, got \[8, -1\]"),
    ({"schemes__DLRMPlugin__embedding_rows": [8]}, r"schemes.DLRMPlugin.embedding_rows: recscale's embedding tables are scaled in \[schemes\]"),
    ({"schemes__Other": {"x": [1]}}, r"schemes.Other: given but Other is not in architectures"),
    ({"architectures": ["dlrm", TARGET, "tests.model.dlrm_plugin:DLRMPlugin"]}, r"architectures\[2\]: '.*' is listed twice"),
    ({"architectures": ["dlrm", TARGET, "tests/model/dlrm_plugin.py:DLRMPlugin"]}, r"architectures\[2\]: '.*' has the name 'DLRMPlugin' of another architecture"),
    ({"architectures": ["tests.model.dlrm_plugin:dlrm"]}, r"architectures\[0\]: 'tests.model.dlrm_plugin:dlrm' has the name 'dlrm' of a built-in architecture"),
    ({"schemes__embedding_dim": None, "schemes__DLRMPlugin": None}, r"schemes: DLRMPlugin has no scheme; give embedding_dim or embedding_rows in \[schemes\]"),
])  # fmt: skip
def test_plugin_spec_errors_name_key_value_and_allowed(changes, message):
    """Check each plugin spec mistake is named with its key path, value and what is allowed."""
    with pytest.raises(SpecError, match=message):
        parse_spec(_raw(PLUGIN_SPEC, **changes))


def test_a_plugin_that_raises_mid_study_fails_its_trial_with_the_traceback(tmp_path, capsys, test_world):
    """Check that a plugin passing the probe but raising while training fails only its own trial, with
    the traceback in the ledger (as any trial failure), and the study exits 1."""
    from recscale.study.ledger import open_existing

    (tmp_path / "late.py").write_text(TOWERS + textwrap.dedent('''
        class Late(Good):
            calls = 0

            def forward_embedded(self, dense, emb):
                Late.calls += 1
                if Late.calls > 3:
                    raise RuntimeError("late failure in the plugin")
                return super().forward_embedded(dense, emb)
    '''))
    spec = TEST_SPEC.replace("seeds = [0]", 'seeds = [0]\narchitectures = ["dlrm", "late.py:Late"]').replace(
        "stop = 16_384", "stop = 2_048")
    shutil.copytree(test_world, tmp_path / test_world.name)  # TEST_SPEC's data, as generated
    (tmp_path / "s.toml").write_text(spec.replace("mlp_width = [16, 32]", "mlp_width = [16]").replace("embedding_dim = [4, 8]", "embedding_dim = [8]"))
    db = tmp_path / "x.db"
    assert main(["study", "run", str(tmp_path / "s.toml"), "--db", str(db), "--workers", "1", "--quiet", "--device", "cpu"]) == 1
    assert "Late-D8-R2000-s0" in capsys.readouterr().err
    with open_existing(db) as led:
        errors = led.trial_errors()
        assert led.status_counts() == {"done": 1, "failed": 1}
    assert list(errors) == ["Late-D8-R2000-s0"] and "Traceback" in errors["Late-D8-R2000-s0"]
    assert "RuntimeError: late failure in the plugin" in errors["Late-D8-R2000-s0"]


def test_dry_run_prices_a_plugin_with_its_measured_cost(tmp_path):
    """Check that the dry run sizes a plugin's trials like the built-ins', with measured FLOPs."""
    from recscale.model.cost import model_cost
    from recscale.study.dryrun import dry_run

    spec = parse_spec(_raw(PLUGIN_SPEC))
    w = spec.data.synthetic.world
    dr = dry_run(spec, tmp_path / "x.db", steps=0)
    assert dr.trials == len(spec.trials()) == 7
    for t in spec.trials():
        m = next(m for m in dr.models if m.label == t.model.label())
        cost = model_cost(t.model.config(w.n_dense, w.cardinalities))
        assert (m.flops_per_sample, m.flops_source) == (cost.flops_per_sample, "measured" if t.architecture == "DLRMPlugin" else "closed_form")
    assert dr.train_flops == sum(model_cost(t.model.config(w.n_dense, w.cardinalities)).train_flops_per_sample for t in spec.trials()) * max(dr.checkpoints)


def test_a_dataset_path_study_probes_its_plugins_before_writing(tmp_path, small_synth):
    """Check that with data.path (schema known only from the dataset) a bad plugin is refused by
    run_study before the ledger exists."""
    from recscale.study.runner import RunOptions, run_study

    (tmp_path / "towers.py").write_text(TOWERS)
    raw = _raw(TEST_SPEC, architectures=["dlrm", "towers.py:Column"], data={"path": str(small_synth.path)})
    spec = parse_spec(raw, source=str(tmp_path / "s.toml"))  # no schema yet: loads, probes nothing
    with pytest.raises(SpecError, match=r"model.Column \(Column-D4-R2000\): Column.forward_embedded returned shape \[8, 1\]"):
        run_study(spec, tmp_path / "x.db", RunOptions(progress=False, workers=1, device="cpu"))
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "x.db.lock").exists()
