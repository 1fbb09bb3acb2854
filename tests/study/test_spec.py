"""Check spec parsing: expansion into trials, checkpoints, and every error naming its field."""

import pytest
import tomllib

from recscale.errors import SpecError
from recscale.study.spec import CheckpointSpec, load_spec, parse_spec
from tests.study.conftest import TEST_SPEC


def _raw(text=TEST_SPEC, **changes):
    """The spec ``text`` as a dict with ``a__b=value`` set (``None``: removed)."""
    raw = tomllib.loads(text)
    for dotted, v in changes.items():
        d = raw
        *path, last = dotted.split("__")
        for k in path:
            d = d.setdefault(k, {})
        if v is None:
            d.pop(last, None)
        else:
            d[last] = v
    return raw


def test_expansion_dedupes_the_base_model():
    """Check that schemes expand to one trial per distinct model and seed, base shared by schemes."""
    spec = parse_spec(_raw(seeds=[0, 1]))
    trials = spec.trials()
    assert len(trials) == 3 * 2  # {D4, D8=base=B16, B32} × 2 seeds
    base = [t for t in trials if t.model == spec.model and t.seed == 0]
    assert len(base) == 1 and set(base[0].memberships) == {("embedding_dim", 8), ("mlp_width", 16)}
    assert len({t.trial_id for t in trials}) == len(trials)


def test_scheme_sets_every_hidden_layer():
    """Check that mlp_width/overarch_width set every hidden layer of their MLP."""
    spec = parse_spec(_raw(model__bottom_mlp=[64, 32], schemes={"mlp_width": [8], "overarch_width": [4]}))
    models = {t.memberships[0][0]: t.model for t in spec.trials()}
    assert models["mlp_width"].bottom_mlp == (8, 8) and models["mlp_width"].top_mlp == (16,)
    assert models["overarch_width"].top_mlp == (4,) and models["overarch_width"].bottom_mlp == (64, 32)


def test_checkpoints_are_log_spaced_batch_multiples():
    """Check checkpoints: multiples of the batch, log-spaced, ending at stop (rounded down)."""
    cps = CheckpointSpec(1000, 100_000, 2).samples(256)
    assert all(c % 256 == 0 for c in cps)
    assert cps[0] == 1024 and cps[-1] == 99_840
    ratios = [b / a for a, b in zip(cps, cps[1:-1])]
    assert all(1.3 < r < 1.6 for r in ratios)


def test_hash_ignores_runtime_fields_but_not_numbers():
    """Check that the spec hash changes with what changes numbers, not with where it runs."""
    a = parse_spec(_raw())
    b = parse_spec(_raw(train__lr_dense=0.5))
    assert a.hash() == parse_spec(_raw()).hash() and a.hash() != b.hash()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schemes__depth": [1, 2]}, r"schemes.depth: unknown scheme; allowed: mlp_width, overarch_width, embedding_dim, embedding_rows"),
        ({"schemes__mlp_width": [16, -3]}, r"schemes.mlp_width\[1\]: must be a positive integer, got -3"),
        ({"schemes__embedding_dim": [0]}, r"schemes.embedding_dim\[0\]: must be a positive integer, got 0"),
        ({"model__top_mlp": [16, 0]}, r"model.top_mlp\[1\]: must be a positive integer, got 0"),
        ({"data": None}, r"data: missing; give data.path"),
        ({"data__path": "x"}, r"data: give exactly one of data.path or data.synthetic"),
        ({"train__checkpoints__stop": 50_000}, r"train.checkpoints.stop: 50,000 exceeds the 16,384 rows"),
        ({"train__checkpoints": None}, r"train.checkpoints: missing"),
        ({"train__lr_dense": -1}, r"train.lr_dense: must be a positive number, got -1"),
        ({"train__device": "cuda"}, r"train.device: unknown field"),
        ({"seeds": []}, r"seeds: must be a non-empty list"),
        ({"schemes": None}, r"schemes: give at least one scheme"),
        ({"model__interaction": "sum"}, r"model.interaction: must be 'dot' or 'cat', got 'sum'"),
    ],
)
def test_errors_name_field_value_and_allowed(changes, message):
    """Check that each bad field is named with its value and what is allowed."""
    with pytest.raises(SpecError, match=message):
        parse_spec(_raw(**changes))


def test_all_problems_reported_together(tmp_path):
    """Check that several problems come in one error, prefixed by the spec file."""
    p = tmp_path / "bad.toml"
    p.write_text(TEST_SPEC.replace("mlp_width = [16, 32]", "mlp_width = [0]\nfoo = [1]"))
    with pytest.raises(SpecError) as e:
        load_spec(p)
    assert len(e.value.problems) == 2 and str(e.value).startswith(f"{p}: ")


def test_invalid_toml_and_missing_file(tmp_path):
    """Check errors for a missing spec file and for broken TOML."""
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")
    p = tmp_path / "broken.toml"
    p.write_text("name = \n")
    with pytest.raises(SpecError, match="invalid TOML"):
        load_spec(p)


def test_every_shipped_example_loads():
    """Check that every spec in examples/ validates, and count them so none is silently skipped."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "examples"
    specs = sorted(root.rglob("*.toml"))
    assert [p.name for p in specs] == ["architectures.toml", "criteo.toml", "movielens.toml", "paper.toml", "plugins.toml", "quick.toml", "tiny.toml"]
    for p in specs:
        spec = load_spec(p)
        assert spec.trials(), p


def test_repository_examples_are_the_packaged_ones():
    """Check that examples/ links to the specs shipped in the package (same names, same bytes)."""
    from pathlib import Path

    from recscale import examples

    root = Path(__file__).resolve().parents[2] / "examples"
    assert sorted(p.stem for p in root.glob("*.toml")) == examples.names()
    for name in examples.names():
        assert (root / f"{name}.toml").is_symlink()
        assert (root / f"{name}.toml").read_bytes() == examples.path(name).read_bytes()


def test_spec_names_resolve_to_packaged_examples_unless_a_file_exists(tmp_path, monkeypatch):
    """Check that `tiny` and `tiny.toml` name the packaged example, that a file of that name in the
    working folder wins, and that an unknown name lists the examples."""
    from recscale import examples
    from recscale.study.spec import resolve_spec

    monkeypatch.chdir(tmp_path)
    assert resolve_spec("tiny") == resolve_spec("tiny.toml") == examples.path("tiny")
    assert load_spec("tiny").name == "tiny"
    (tmp_path / "tiny.toml").write_text(TEST_SPEC)
    assert resolve_spec("tiny.toml").resolve() == tmp_path / "tiny.toml"
    assert load_spec("tiny.toml").name == "t"
    with pytest.raises(SpecError, match=r"spec file nope does not exist; or name a packaged example: architectures, criteo, movielens, paper, plugins, quick, tiny"):
        load_spec("nope")
    with pytest.raises(SpecError, match="spec file sub/tiny.toml does not exist"):  # a path is never a name
        load_spec("sub/tiny.toml")


def test_model_spec_defaults_are_the_configs():
    """Check that ModelSpec has DLRMConfig's dataset-independent fields with DLRMConfig's defaults, and
    that a model built from it and from DLRMConfig directly are the same."""
    from dataclasses import fields

    from recscale.model.config import DLRMConfig
    from recscale.study.spec import ModelSpec

    cfg = {f.name: f.default for f in fields(DLRMConfig)}
    spec = {f.name: f.default for f in fields(ModelSpec)}
    assert set(cfg) - set(spec) == {"n_dense", "cardinalities", "base_ctr"}
    assert spec == {k: cfg[k] for k in spec}
    assert ModelSpec().dlrm(13, [10, 20]) == DLRMConfig(13, (10, 20))
    assert ModelSpec().scaled("embedding_rows", 500).dlrm(1, [9]) == DLRMConfig(1, (9,), embedding_rows=500)
