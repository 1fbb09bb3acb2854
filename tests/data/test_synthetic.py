"""Check the synthetic world against its known truth: targets hit, Bayes NE honest, determinism."""

import itertools

import numpy as np
import pytest

from recscale.data.synthetic import (
    _CALIBRATION_ROWS,
    WORLDS,
    Teacher,
    WorldConfig,
    _chunk,
    _streams,
    bayes_ne,
    build_teacher,
    generate,
    shared_teacher,
)
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


HIGHER = WorldConfig.named("higher_order")


@pytest.fixture(scope="module")
def higher_teacher():
    return shared_teacher(HIGHER, 0)


def _oracle_vs_bayes(ds) -> tuple[float, float]:
    """|NE of the true probabilities on the eval split − recorded Bayes NE|, and their combined SE."""
    ev = ds.split("eval")
    y = np.asarray(ev.labels, dtype=np.float64)
    p = np.asarray(ev.prob, dtype=np.float64)
    ne_oracle = evaluate(y, np.log(p / (1 - p))).ne
    # SE of the oracle's NE on this sample: per-row log loss over its mean entropy.
    ll = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    h = -(y.mean() * np.log(y.mean()) + (1 - y.mean()) * np.log1p(-y.mean()))
    se = np.sqrt((ll.std() / np.sqrt(y.size) / h) ** 2 + ds.meta["world"]["bayes_ne_se"] ** 2)
    return abs(ne_oracle - ds.meta["world"]["bayes_ne"]), se


def test_oracle_scores_the_bayes_ne(tmp_path):
    """Check that predicting the true probabilities on a fresh sample scores the recorded Bayes NE.

    The eval split is drawn independently of the sample that estimated the Bayes NE; the two must
    agree within 3 combined standard errors.
    """
    diff, se = _oracle_vs_bayes(generate(SMALL_WORLD, tmp_path / "w", rows=1_000, eval_rows=300_000, seed=3))
    assert diff < 3 * se
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
    t = shared_teacher(SMALL_WORLD, 0)
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


def test_higher_order_world_bayes_ne_and_shares(tmp_path):
    """Check the higher-order world: the oracle scores its Bayes NE within 3 SE; its shares are recorded.

    The shares sum to 1 and the higher-order one is the configured share.
    """
    ds = generate(HIGHER, tmp_path / "w", rows=1_000, eval_rows=200_000, seed=3)
    diff, se = _oracle_vs_bayes(ds)
    assert diff < 3 * se and se < 0.01
    w = ds.meta["world"]
    shares = w["variance_shares"]
    assert set(shares) == {"first_order", "pairwise", "higher_order", "dense"}
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)
    assert shares["higher_order"] == pytest.approx(HIGHER.share_higher, abs=1e-9)
    assert min(shares.values()) > 0.02  # every kind of part is present
    assert w["bayes_ne"] == pytest.approx(HIGHER.bayes_ne, abs=0.01) and 0 < w["bayes_ne_se"] < 0.002
    assert WorldConfig(**w["config"]) == HIGHER  # the recorded config rebuilds the world


def test_variance_shares_match_a_brute_force_anova():
    """Check Teacher.anova against a functional ANOVA computed by enumerating every id combination.

    A world small enough to enumerate (4 sparse features of 3-20 ids) with every kind of part: the
    logit is evaluated on the full grid of ids × a sample of dense rows, weighted by each feature's
    id probabilities; the pure part of each feature set S is the inclusion-exclusion sum of the
    conditional means E[logit | x_T], T ⊆ S; what varies with the dense rows is the rest.
    """
    world = WorldConfig(n_dense=3, n_sparse=4, min_cardinality=3, max_cardinality=20, interaction_pairs=2,
                        dense_sparse_features=2, share_higher=0.3, higher_terms=2, higher_rank=2,
                        higher_max_cardinality=20, id_max_cardinality=12)  # fmt: skip
    t = build_teacher(world, 7)
    assert len(t.higher) == 2 and len(t.id_features) == 3
    dense, _ = t.sample_features(np.random.default_rng(0), 300)
    grid = np.array(list(itertools.product(*[range(c) for c in t.cards])), dtype=np.int32)  # [G, 4]
    logit = np.stack([t.logit(np.repeat(dense[i : i + 1], len(grid), 0), grid) for i in range(len(dense))])
    logit = (logit - t.bias) / t.scale  # the unscaled logit, as anova() decomposes it
    L = logit.reshape(len(dense), *t.cards)  # [n_dense_rows, c1, c2, c3, c4]
    pmf = [t.id_pmf(f) for f in range(4)]
    w = np.einsum("a,b,c,d->abcd", *pmf)  # probability of each grid cell
    mean = float((w * L).sum()) / len(dense)
    total = float((w * (L - mean) ** 2).sum()) / len(dense)

    def cond(T):  # E[logit | x_T] as an array broadcastable over the grid
        out = L.mean(axis=0)
        for f in reversed(range(4)):
            if f not in T:
                out = np.tensordot(out, pmf[f], axes=([f], [0]))
                out = np.expand_dims(out, f)
        return out

    got = {"first_order": 0.0, "pairwise": 0.0, "higher_order": 0.0}
    for size in (1, 2, 3, 4):
        for S in itertools.combinations(range(4), size):
            part = sum((-1) ** (size - len(T)) * cond(T) for k in range(size + 1) for T in itertools.combinations(S, k))
            var = float((w * np.broadcast_to(part, L.shape[1:]) ** 2).sum())
            got[("first_order", "pairwise", "higher_order", "higher_order")[size - 1]] += var
    got["dense"] = total - sum(got.values())
    want = t.anova(dense)
    for k in got:
        assert want[k] == pytest.approx(got[k], rel=1e-7, abs=1e-12), k
    assert want["higher_order"] / sum(want.values()) == pytest.approx(0.3, rel=0.05)  # anova() on 300 dense rows
    assert t.variance_shares["higher_order"] == pytest.approx(0.3, abs=1e-9)  # calibrated on its own rows


def test_id_pmf_matches_the_sampler():
    """Check that the exact id probabilities used by the ANOVA are the sampler's frequencies."""
    t = Teacher(SMALL_WORLD, 0)  # sampling ids needs no calibration
    _, sparse = t.sample_features(np.random.default_rng(1), 400_000)
    for f in (0, 5, 12):
        pmf = t.id_pmf(f)
        freq = np.bincount(sparse[:, f], minlength=t.cards[f]) / len(sparse)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
        se = np.sqrt(pmf * (1 - pmf) / len(sparse))
        assert np.all(np.abs(freq - pmf) < 5 * se + 1e-6), f


def test_exact_total_variance_matches_the_sample(higher_teacher):
    """Check that the ANOVA parts add up to the logit's variance on a fresh sample (they are uncorrelated)."""
    t = higher_teacher
    dense, sparse = t.sample_features(np.random.default_rng(11), _CALIBRATION_ROWS)
    z = (t.logit(dense, sparse) - t.bias) / t.scale
    assert sum(t.variances.values()) == pytest.approx(z.var(), rel=0.02)


def test_higher_order_world_is_deterministic(higher_teacher):
    """Check that the same seed gives the same teacher and rows (``a``, the process's shared teacher,
    against one built afresh), and another seed other terms."""
    a, b = higher_teacher, build_teacher(HIGHER, 0)
    assert a.higher_weight == b.higher_weight and a.scale == b.scale and a.bias == b.bias
    stream = _streams(0)["train"]
    for x, y in zip(_chunk(a, stream, 1), _chunk(b, stream, 1)):
        np.testing.assert_array_equal(x, y)
    other = Teacher(HIGHER, 1)  # uncalibrated: its terms are drawn in the constructor
    assert not all(np.array_equal(x, y) for (_, tx), (_, ty) in zip(a.higher, other.higher) for x, y in zip(tx, ty))


def test_higher_order_parts_and_errors(higher_teacher):
    """Check the higher-order world's structure and that impossible settings name their field."""
    t = higher_teacher
    assert len(t.higher) == HIGHER.higher_terms
    assert all(len(f) == HIGHER.higher_order and max(t.cards[list(f)]) <= HIGHER.higher_max_cardinality for f, _ in t.higher)
    assert all(t.cards[f] <= HIGHER.id_max_cardinality for f in t.id_features)
    # unseen ids take the factors' prior mean: with nothing known, the part is constant
    dense, sparse = t.sample_features(np.random.default_rng(0), 1000)
    nothing = t.higher_part(sparse, np.zeros_like(sparse, dtype=bool))
    np.testing.assert_allclose(nothing, HIGHER.higher_terms * HIGHER.higher_rank * HIGHER.higher_factor_mean**3, rtol=1e-5)
    with pytest.raises(SpecError, match=r"data.synthetic.world: unknown world 'nope'; allowed: default, higher_order"):
        WorldConfig.from_dict({"world": "nope"}, where="data.synthetic")
    with pytest.raises(SpecError, match=r"data.synthetic.higher_order: must be >= 3"):
        WorldConfig.from_dict({"world": "higher_order", "higher_order": 2}, where="data.synthetic")
    with pytest.raises(SpecError, match=r"world.share_higher: 0.9 is more than the higher-order terms can carry"):
        build_teacher(WorldConfig(**{**WORLDS["higher_order"], "share_higher": 0.9}), 0)
    assert WorldConfig.from_dict({"world": "higher_order", "bayes_ne": 0.6}) == WorldConfig(**{**WORLDS["higher_order"], "bayes_ne": 0.6})


def test_a_study_spec_selects_a_built_in_world():
    """Check that ``world = "higher_order"`` in [data.synthetic] resolves to that world, overrides applied."""
    import tomllib

    from recscale.study.spec import parse_spec

    raw = tomllib.loads(
        '[data.synthetic]\nrows = 1000\neval_rows = 100\nworld = "higher_order"\nbayes_ne = 0.65\n'
        "[train]\ncheckpoints = { start = 256, stop = 1000, per_doubling = 1 }\n"
        "[schemes]\nmlp_width = [8]\n"
    )
    world = parse_spec(raw).data.synthetic.world
    assert world == WorldConfig(**{**WORLDS["higher_order"], "bayes_ne": 0.65})
    with pytest.raises(SpecError, match=r"data.synthetic.world: unknown world 'dlrm'; allowed: default, higher_order"):
        parse_spec(tomllib.loads('[data.synthetic]\nrows = 1000\neval_rows = 100\nworld = "dlrm"\n'))
