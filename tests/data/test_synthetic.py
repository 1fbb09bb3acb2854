"""Check the synthetic world against its known truth: targets hit, Bayes NE honest, determinism."""

import numpy as np
import pytest

from recscale.data.synthetic import WorldConfig, bayes_ne, build_teacher, generate
from recscale.errors import SpecError
from recscale.metrics import evaluate
from tests.conftest import SMALL_WORLD


def test_world_hits_its_targets(small_synth):
    """Check that the realised CTR and Bayes NE match the configured targets."""
    w = small_synth.meta["world"]
    assert w["ctr"] == pytest.approx(SMALL_WORLD.ctr, abs=0.005)
    assert w["bayes_ne"] == pytest.approx(SMALL_WORLD.bayes_ne, abs=0.01)
    assert 0 < w["bayes_ne_se"] < 0.002
    assert small_synth.meta["cardinalities"] == SMALL_WORLD.cardinalities


def test_oracle_scores_the_bayes_ne(tmp_path):
    """Check that predicting the true probabilities on a fresh sample scores the recorded Bayes NE.

    The eval split is drawn independently of the sample that estimated the Bayes NE; the two must
    agree within 3 combined standard errors.
    """
    ds = generate(SMALL_WORLD, tmp_path / "w", rows=1_000, eval_rows=300_000, seed=3)
    ev = ds.split("eval")
    y = np.asarray(ev.labels, dtype=np.float64)
    p = np.asarray(ev.prob, dtype=np.float64)
    ne_oracle = evaluate(y, np.log(p / (1 - p))).ne
    # SE of the oracle's NE on this sample: per-row log loss over its mean entropy.
    ll = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    h = -(y.mean() * np.log(y.mean()) + (1 - y.mean()) * np.log1p(-y.mean()))
    se = np.sqrt((ll.std() / np.sqrt(y.size) / h) ** 2 + ds.meta["world"]["bayes_ne_se"] ** 2)
    assert abs(ne_oracle - ds.meta["world"]["bayes_ne"]) < 3 * se
    assert se < 0.01  # the check has teeth


def test_bayes_ne_estimator_on_known_distribution():
    """Check bayes_ne on p uniform over two values, where E[H(p)]/H(E[p]) is exact."""
    p = np.array([0.1, 0.3] * 50_000)
    ne, se, ctr = bayes_ne(p)
    h = lambda q: -(q * np.log(q) + (1 - q) * np.log(1 - q))  # noqa: E731
    assert ne == pytest.approx((h(0.1) + h(0.3)) / 2 / h(0.2), rel=1e-9)
    assert ctr == pytest.approx(0.2) and se > 0


def test_same_seed_same_rows_and_prefix_stability(tmp_path):
    """Check determinism, and that a smaller dataset is a prefix of a larger one of the same seed."""
    a = generate(SMALL_WORLD, tmp_path / "a", rows=70_000, eval_rows=100, seed=1)
    b = generate(SMALL_WORLD, tmp_path / "b", rows=100_000, eval_rows=100, seed=1)
    c = generate(SMALL_WORLD, tmp_path / "c", rows=70_000, eval_rows=100, seed=2)
    ta, tb = a.split("train"), b.split("train")
    np.testing.assert_array_equal(ta.sparse, tb.sparse[:70_000])
    np.testing.assert_array_equal(ta.labels, tb.labels[:70_000])
    np.testing.assert_array_equal(a.split("eval").dense, b.split("eval").dense)
    assert not np.array_equal(ta.sparse, c.split("train").sparse)


def test_ids_are_zipf_and_span_decades():
    """Check that ids follow a power law: the top id of the largest feature is far more frequent than the median."""
    t = build_teacher(SMALL_WORLD, 0)
    _, sparse = t.sample_features(np.random.default_rng(0), 200_000)
    col = sparse[:, -1]
    counts = np.bincount(col, minlength=SMALL_WORLD.max_cardinality)
    assert counts[0] > 50 * np.median(counts[counts > 0])
    assert col.max() < SMALL_WORLD.max_cardinality and col.min() >= 0
    ranks = np.arange(1, 101)
    slope = np.polyfit(np.log(ranks), np.log(counts[:100] + 1), 1)[0]
    assert slope == pytest.approx(-SMALL_WORLD.zipf_exponent, abs=0.15)


def test_world_config_errors_name_fields():
    """Check that bad world fields are all reported, each with its key path."""
    with pytest.raises(SpecError, match=r"data.synthetic.ctr: must be in \(0, 0.5\), got 0.7") as e:
        WorldConfig.from_dict({"ctr": 0.7, "colour": 1, "n_sparse": 2.5}, where="data.synthetic")
    msg = str(e.value)
    assert "data.synthetic.colour: unknown field" in msg
    assert "data.synthetic.n_sparse: expected int, got 2.5" in msg
