"""Check architectures in the study spec: expansion, labels, errors, ledger column and a mixed run."""

import json
import shutil
import sqlite3
from dataclasses import fields

import pytest

from recscale.cli.main import main
from recscale.errors import SpecError
from recscale.model.config import DCNConfig, DLRMConfig, WukongConfig
from recscale.study.spec import DCNSpec, WukongSpec, parse_spec
from tests.study.conftest import TEST_SPEC
from tests.study.test_spec import _raw as _spec_raw

ARCH_SPEC = TEST_SPEC.replace('seeds = [0]', 'seeds = [0]\narchitectures = ["dlrm", "dcnv2", "wukong"]') + """
[model.dcnv2]
cross_layers = 1
cross_rank = 4

[model.wukong]
layers = 1
fmb_embeddings = 2
lcb_embeddings = 2
fm_rank = 2
fmb_mlp = [8]

[schemes.dcnv2]
cross_rank = [4, 8]

[schemes.wukong]
embeddings = [2, 4]
fmb_mlp_width = [16]
"""


def _raw(text=ARCH_SPEC, **changes):
    return _spec_raw(text, **changes)


def test_dlrm_only_spec_is_unchanged_by_listing_dlrm():
    """Check that `architectures = ["dlrm"]` gives the same trials, ids and hash as no list at all."""
    plain = parse_spec(_raw(TEST_SPEC))
    listed = parse_spec(_raw(TEST_SPEC, architectures=["dlrm"]))
    assert plain.hash() == listed.hash() and "architectures" not in plain.to_dict()
    assert [t.trial_id for t in plain.trials()] == [t.trial_id for t in listed.trials()]
    assert all(t.architecture == "dlrm" and not t.trial_id.startswith("dlrm") for t in plain.trials())


def test_each_architecture_gets_shared_and_own_schemes():
    """Check that shared schemes scale every architecture, own schemes only theirs, and that ids
    start with the architecture name (DLRM's are unchanged) and are unique."""
    spec = parse_spec(_raw())
    trials = spec.trials()
    by_arch = {a: [t for t in trials if t.architecture == a] for a in ("dlrm", "dcnv2", "wukong")}
    # shared: embedding_dim {4, 8}, mlp_width {16, 32}; the base (D8, B16) stands in both
    assert len(by_arch["dlrm"]) == 3
    assert len(by_arch["dcnv2"]) == 3 + 1  # + cross_rank 8 (4 is the base's)
    assert len(by_arch["wukong"]) == 3 + 1 + 1  # + embeddings 4, + fmb_mlp_width 16
    assert len({t.trial_id for t in trials}) == len(trials)
    assert all(t.trial_id.startswith(f"{a}-") for a in ("dcnv2", "wukong") for t in by_arch[a])
    dcn_base = next(t for t in by_arch["dcnv2"] if ("cross_rank", 4) in t.memberships)
    assert dcn_base.trial_id == "dcnv2-D8-R2000-B16-T16-X1r4-s0"
    assert set(dcn_base.memberships) == {("embedding_dim", 8), ("mlp_width", 16), ("cross_rank", 4)}
    wide = next(t for t in by_arch["wukong"] if ("embeddings", 4) in t.memberships).model
    assert (wide.fmb_embeddings, wide.lcb_embeddings, wide.layers) == (4, 4, 1)  # n_F = n_L, rest the base
    assert next(t for t in by_arch["wukong"] if ("fmb_mlp_width", 16) in t.memberships).model.fmb_mlp == (16,)
    small = next(t for t in by_arch["dcnv2"] if ("embedding_dim", 4) in t.memberships).model
    assert (small.embedding_dim, small.cross_rank, small.bottom_mlp) == (4, 4, (16,))


def test_configs_are_the_architectures_own():
    """Check that each trial's config is its architecture's config class with the spec's values."""
    spec = parse_spec(_raw())
    cfgs = {t.architecture: t.model.config(13, [10, 20]) for t in spec.trials()}
    assert type(cfgs["dlrm"]) is DLRMConfig and type(cfgs["dcnv2"]) is DCNConfig and type(cfgs["wukong"]) is WukongConfig
    assert parse_spec(_raw(model__dcnv2__cross_rank="full")).base_model("dcnv2").cross_rank is None


@pytest.mark.parametrize(("spec_class", "config_class"), [(DCNSpec, DCNConfig), (WukongSpec, WukongConfig)])
def test_architecture_spec_defaults_are_the_configs(spec_class, config_class):
    """Check that each architecture's spec has its config's dataset-independent fields and defaults."""
    cfg = {f.name: f.default for f in fields(config_class)}
    spec = {f.name: f.default for f in fields(spec_class)}
    assert set(cfg) - set(spec) == {"n_dense", "cardinalities", "base_ctr"}
    assert spec == {k: cfg[k] for k in spec}
    assert spec_class().config(13, [10, 20]) == config_class(13, (10, 20))


def test_architectures_change_the_hash():
    """Check that the architecture part of a spec is part of its identity."""
    a = parse_spec(_raw())
    assert a.hash() != parse_spec(_raw(model__dcnv2__cross_rank=5)).hash()
    assert a.hash() != parse_spec(_raw(schemes__wukong__embeddings=[2])).hash()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"architectures": ["dlrm", "foo"]}, r"architectures\[1\]: unknown architecture 'foo'; allowed: dlrm, dcnv2, wukong"),
        ({"architectures": []}, r"architectures: must be a non-empty list"),
        ({"architectures": ["dlrm", "dlrm"]}, r"architectures\[1\]: 'dlrm' is listed twice"),
        ({"schemes__dcnv2__layers": [2]}, r"schemes.dcnv2.layers: unknown scheme for dcnv2; allowed: cross_layers, cross_rank"),
        ({"schemes__wukong__cross_rank": [2]}, r"schemes.wukong.cross_rank: unknown scheme for wukong; allowed: layers, embeddings, fm_rank, fmb_mlp_width"),
        ({"architectures": ["dlrm", "dcnv2"]}, r"schemes.wukong: given but wukong is not in architectures \['dlrm', 'dcnv2'\]"),
        ({"architectures": ["dlrm", "wukong"], "schemes__dcnv2": None}, r"model.dcnv2: given but dcnv2 is not in architectures"),
        ({"schemes__dcnv2__cross_rank": [0]}, r"schemes.dcnv2.cross_rank\[0\]: must be a positive integer, got 0"),
        ({"schemes__wukong__layers": [-1]}, r"schemes.wukong.layers: must be a non-empty list of non-negative integers, got \[-1\]"),
        ({"model__wukong__fm_rank": 0}, r"model.wukong.fm_rank: must be a positive integer, got 0"),
        ({"model__dcnv2__cross_layers": -2}, r"model.dcnv2.cross_layers: must be a non-negative integer, got -2"),
        ({"model__wukong__fmb_mlp": [8, 0]}, r"model.wukong.fmb_mlp\[1\]: must be a positive integer, got 0"),
        ({"model__dcnv2__layers": 2}, r"model.dcnv2.layers: unknown field; allowed: cross_layers, cross_rank"),
        ({"schemes__embedding_dim": None, "schemes__mlp_width": None, "schemes__dcnv2": None, "schemes__wukong": None},
         r"schemes: give at least one scheme"),
        ({"schemes__embedding_dim": None, "schemes__mlp_width": None, "schemes__dcnv2": None},
         r"schemes: dlrm has no scheme; .*schemes: dcnv2 has no scheme; .* or one of its own in \[schemes.dcnv2\]"),
    ],
)
def test_architecture_errors_name_key_value_and_allowed(changes, message):
    """Check that each architecture mistake is named with its key path, value and what is allowed."""
    with pytest.raises(SpecError, match=message):
        parse_spec(_raw(**changes))


def test_cli_bad_architecture_exits_2_and_writes_nothing(tmp_path, capsys):
    """Check that an unknown architecture through the CLI prints one line, exits 2 and writes nothing."""
    p = tmp_path / "bad.toml"
    p.write_text(ARCH_SPEC.replace('"wukong"]', '"wukong", "transformer"]'))
    assert main(["study", "run", str(p), "--db", str(tmp_path / "x.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "architectures[3]: unknown architecture 'transformer'; allowed: dlrm, dcnv2, wukong" in err
    assert sorted(q.name for q in tmp_path.iterdir()) == ["bad.toml"]


def test_dry_run_sizes_every_architecture(tmp_path):
    """Check that the dry run sizes each architecture's models with model/cost.py (no torch needed)."""
    from recscale.model.cost import model_cost
    from recscale.study.dryrun import dry_run

    spec = parse_spec(_raw())
    w = spec.data.synthetic.world
    dr = dry_run(spec, tmp_path / "x.db", steps=0)
    assert {m.architecture for m in dr.models} == {"dlrm", "dcnv2", "wukong"} and dr.trials == len(spec.trials())
    for t in spec.trials():
        m = next(m for m in dr.models if m.label == t.model.label())
        assert m.flops_per_sample == model_cost(t.model.config(w.n_dense, w.cardinalities)).flops_per_sample


def test_old_ledger_gains_the_architecture_column(tmp_path):
    """Check that a ledger written before architectures existed opens, and its trials read as DLRMs."""
    from recscale.study.ledger import Ledger, export_frame

    db = tmp_path / "old.db"
    with sqlite3.connect(db) as c:
        c.executescript(
            "CREATE TABLE trials (trial_id TEXT PRIMARY KEY, seed INTEGER NOT NULL, label TEXT NOT NULL,"
            " model_json TEXT NOT NULL, params_dense INTEGER NOT NULL, params_sparse INTEGER NOT NULL,"
            " params_total INTEGER NOT NULL, flops_per_sample INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'pending',"
            " wall_s REAL, finished_at TEXT);"
        )
        model = {"embedding_dim": 4, "embedding_rows": None, "bottom_mlp": [8], "top_mlp": [8], "interaction": "dot"}
        c.execute("INSERT INTO trials VALUES ('a-s0', 0, 'a', ?, 1, 2, 3, 4, 'pending', NULL, NULL)", (json.dumps(model),))
    with Ledger(db) as led:
        led.record_trial("a-s0", [dict(samples=256, ne=0.9, logloss=0.4, auc=0.7, calibration=1.0, base_ctr=0.2, wall_s=1.0)], 1.0)
        led.conn.execute("INSERT INTO memberships VALUES ('a-s0', 'embedding_dim', 4)")
        led.conn.commit()
    df = export_frame(db)
    assert list(df["architecture"]) == ["dlrm"] and df["ne"].tolist() == [0.9]


def test_mixed_study_shares_data_and_records_architectures(tmp_path, monkeypatch, test_world):
    """Check that one study trains every architecture on the same training stream, in the same
    order (common random numbers), and that the ledger and export record each trial's architecture
    and full config."""
    import hashlib

    from recscale.study.ledger import export_frame
    from recscale.study.runner import RunOptions, run_study
    from recscale.train import trainer

    streams: list[list[str]] = []
    original = trainer.iter_batches

    def recording(*args, **kwargs):  # the inline executor trains in this process
        streams.append([])
        for batch in original(*args, **kwargs):
            streams[-1].append(hashlib.sha256(b"".join(t.cpu().numpy().tobytes() for t in (batch.dense, batch.sparse, batch.labels))).hexdigest())
            yield batch

    monkeypatch.setattr(trainer, "iter_batches", recording)
    raw = _raw(schemes={"embedding_dim": [8]}, train__checkpoints={"start": 1024, "stop": 4096, "per_doubling": 1})
    spec = parse_spec(raw)
    db = tmp_path / "m.db"
    shutil.copytree(test_world, tmp_path / test_world.name)  # TEST_SPEC's data, as generated
    summary = run_study(spec, db, RunOptions(progress=False, workers=1, executor="inline"))
    assert summary.failed == [] and summary.trials == 3
    steps = sum(spec.train.steps_by_size(0, 4096).values())  # 128 batches of 32: the batch ramp's first size
    assert len(streams) == 3 and len(streams[0]) == steps and streams[0] == streams[1] == streams[2]
    df = export_frame(db)
    assert set(df["architecture"]) == {"dlrm", "dcnv2", "wukong"}
    assert df.groupby("architecture")["samples"].apply(list).map(tuple).nunique() == 1  # same checkpoints
    assert df["ne"].between(0.3, 1.5).all()
    with sqlite3.connect(db) as c:
        rows = dict(c.execute("SELECT architecture, model_json FROM trials").fetchall())
    assert json.loads(rows["wukong"])["fmb_embeddings"] == 2 and json.loads(rows["dcnv2"])["cross_rank"] == 4


def test_every_architecture_has_a_spec_and_schemes():
    """Check that the spec knows exactly the model's architectures (one list: model/config.py's)."""
    from recscale.model.config import ARCHITECTURES
    from recscale.study.spec import ARCH_SCHEMES, MODEL_SPECS

    assert list(MODEL_SPECS) == list(ARCHITECTURES) == list(ARCH_SCHEMES)
    assert all(MODEL_SPECS[a].config_class is ARCHITECTURES[a] and MODEL_SPECS[a].architecture == a for a in ARCHITECTURES)
