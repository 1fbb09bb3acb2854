"""Frontiers, curve selection from a study table, scaling table, paired β comparison, ranking."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recscale.errors import RecscaleError
from recscale.laws import (
    axis_curve,
    compare_betas,
    fit_frontier,
    pareto_frontier,
    rank_schemes,
    scaling_table,
)

SAMPLES = np.geomspace(1e5, 1e8, 10).round()


def study(schemes=(("emb", 0.30, 0.05, False), ("mlp", 0.20, 0.15, True)), seeds=3, noise=0.001, seed=0):
    """A study export table: per scheme 4 values × seeds × 10 sample checkpoints.

    NE = 0.7 + 0.2·(samples/1e5)^(−β_data) + 0.05·(params/1e6)^(−β_params), with a per-run offset
    (one run's curve moves together) and per-point noise. Embedding schemes keep FLOPs per sample fixed.
    """
    rng = np.random.default_rng(seed)
    rows, tid = [], 0
    for scheme, bd, bp, flops_grow in schemes:
        for v in (1, 2, 4, 8):
            P = 1e6 * v
            fps = 1e4 * (v if flops_grow else 1)
            for sd in range(seeds):
                tid += 1
                run = rng.normal(0, noise)
                for s in SAMPLES:
                    ne = (0.7 + 0.2 * (s / 1e5) ** -bd + 0.05 * (P / 1e6) ** -bp) * math.exp(run + rng.normal(0, noise))
                    rows.append(dict(trial_id=tid, scheme=scheme, value=v, seed=sd, params_dense=1e5, params_sparse=P - 1e5,
                                     params_total=P, flops_per_sample=fps, samples=s, train_flops=fps * s, ne=ne,
                                     logloss=0.4, auc=0.7, calibration=1.0, wall_s=1.0))
    return pd.DataFrame(rows)


def test_pareto_frontier_known_points():
    """Check the non-dominated set (minimise both) on a hand-made example, ties included."""
    x = [1, 2, 2, 3, 4, 5, 6]
    y = [5, 4, 3, 3.5, 2, 2, 1]
    assert pareto_frontier(x, y).tolist() == [0, 2, 4, 6]
    with pytest.raises(RecscaleError, match=r"same length; got 2 and 3"):
        pareto_frontier([1, 2], [1, 2, 3])
    with pytest.raises(RecscaleError, match=r"must be finite"):
        pareto_frontier([1, np.nan], [1, 2])


def test_fit_frontier_recovers_envelope_law():
    """Check that the law fitted to the frontier of many runs matches the envelope they were drawn under."""
    x = np.geomspace(1e9, 1e13, 40)
    best = 0.1 * (x / 1e9) ** -0.25 + 0.7
    # Every other run is inefficient by more than one step of the envelope, so it is dominated.
    waste = np.where(np.arange(40) % 2 == 0, 0.0, np.random.default_rng(0).uniform(0.02, 0.05, 40))
    ff = fit_frontier(x, best + waste, bootstrap=200)
    assert ff.indices.tolist() == list(range(0, 40, 2))
    assert ff.fit.beta == pytest.approx(0.25, rel=1e-3)
    with pytest.raises(RecscaleError, match=r"frontier has 2 points; at least 4"):
        fit_frontier([1, 2, 3], [3, 2, 2.5])


def test_axis_curves_from_study_table():
    """Check curve selection: parameter axis at the largest shared samples, data axis on the frontier."""
    df = study()
    emb = df[df.scheme == "emb"]
    pc = axis_curve(emb, "params_total")
    assert "samples = 1e+08" in pc.selection and pc.x.size == 12  # 4 values × 3 seeds
    assert set(pc.seeds.tolist()) == {0, 1, 2}
    fc = axis_curve(emb, "samples")
    assert "Pareto frontier" in fc.selection
    assert np.all(np.diff(pd.Series(fc.y).groupby(fc.x).mean().to_numpy()) < 0)
    ragged = emb[~((emb.value == 8) & (emb.samples == SAMPLES[-1]))]
    assert "samples = 4.64159e+07" in axis_curve(ragged, "params_total").selection
    disjoint = emb.assign(samples=np.where(emb.value == 8, emb.samples * 1.5, emb.samples))
    with pytest.raises(RecscaleError, match=r"no samples value is shared by all 4 values"):
        axis_curve(disjoint, "params_total")


def test_scaling_table_recovers_data_exponents_and_has_no_nan():
    """Check the scheme × axis table: planted data exponents inside their intervals, no NaN cells."""
    df = study()
    tab = scaling_table(df, bootstrap=300)
    assert len(tab) == 6 and tab.attrs["skipped"] == []
    for scheme, beta in (("emb", 0.30), ("mlp", 0.20)):
        row = tab[(tab.scheme == scheme) & (tab.axis == "samples")].iloc[0]
        assert row.beta_lo <= beta <= row.beta_hi
        assert row.regime in ("high-return", "diminishing", "saturated")
    for col in tab.columns:
        assert not any(isinstance(v, float) and math.isnan(v) for v in tab[col].tolist()), col
    emb_c = tab[(tab.scheme == "emb") & (tab.axis == "train_flops")].iloc[0]
    emb_s = tab[(tab.scheme == "emb") & (tab.axis == "samples")].iloc[0]
    assert emb_c.beta == pytest.approx(emb_s.beta, rel=1e-6)  # constant FLOPs per sample: same curve
    with pytest.raises(RecscaleError, match=r"missing column\(s\) 'ne'"):
        scaling_table(df.drop(columns=["ne"]), bootstrap=10)


def test_scaling_table_skips_unfittable_pairs():
    """Check that a scheme with too few points is listed in attrs['skipped'] with its reason."""
    df = study()
    tiny = df[(df.scheme == "emb") & (df.samples <= SAMPLES[1])]
    tab = scaling_table(pd.concat([df[df.scheme == "mlp"], tiny]), axes=("samples",), bootstrap=50)
    assert list(tab.scheme) == ["mlp"]
    assert tab.attrs["skipped"][0]["scheme"] == "emb" and "2 distinct x values" in tab.attrs["skipped"][0]["reason"]


def test_paired_difference_is_tighter_than_unpaired():
    """Check that pairing cancels shared noise: two curves with the same noise draw and close exponents
    are distinguishable when paired and not when bootstrapped independently."""
    x = np.geomspace(1e6, 1e9, 12)
    eps = np.random.default_rng(0).normal(0, 0.003, 12)
    ya = (0.1 * (x / 1e6) ** -0.30 + 0.7) * np.exp(eps)
    yb = (0.1 * (x / 1e6) ** -0.34 + 0.7) * np.exp(eps)
    paired = compare_betas(x, ya, x, yb, bootstrap=400)
    unpaired = compare_betas(x, ya, x * (1 + 1e-6), yb, bootstrap=400)
    assert paired.paired and not unpaired.paired
    assert paired.diff == pytest.approx(unpaired.diff, rel=1e-3)
    assert (paired.hi - paired.lo) < 0.5 * (unpaired.hi - unpaired.lo)
    assert paired.lo <= 0.04 <= paired.hi
    assert paired.distinguishable and not unpaired.distinguishable
    with pytest.raises(RecscaleError, match=r"bootstrap must be an integer >= 1; got 0"):
        compare_betas(x, ya, x, yb, bootstrap=0)


def test_rank_schemes_orders_by_beta():
    """Check the ranking along the data axis and that a clear difference is called distinguishable."""
    ranks = rank_schemes(study(), "samples", bootstrap=300)
    assert list(ranks.scheme) == ["emb", "mlp"]
    assert bool(ranks.iloc[0].distinguishable) and bool(ranks.iloc[0].paired)
    assert ranks.iloc[1].diff_to_next is None
