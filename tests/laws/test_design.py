"""Goal-driven design (recscale.laws.design) on planted laws whose best designs are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recscale.errors import RecscaleError
from recscale.laws.joint import fit_joint_law
from recscale.laws.powerlaw import fit_power_law
from recscale.laws.table import untrained_trials
from recscale.laws.design import (
    METHODS,
    Budget,
    Goal,
    GoalDesign,
    _fit_noise,
    _joint_law,
    _one_x_law,
    _posterior,
    curve_candidates,
    estimate_goal,
    evaluate,
    parse_budget,
    parse_goal,
    rank_candidates,
    replay,
    row_candidates,
    top_rows,
    with_rows,
    without_rows,
)

JOINT = dict(E=0.75, A=30.0, alpha=0.4, B=20.0, beta=0.35)


def joint_truth(N, D):
    return JOINT["E"] + JOINT["A"] * np.asarray(N) ** -JOINT["alpha"] + JOINT["B"] * np.asarray(D) ** -JOINT["beta"]


def joint_pool(seed=0, noise=0.004, n_sizes=7, fps=None):
    """Learning curves of 7 model sizes, 8 doublings of data each, 0.4% log-normal noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, N in enumerate(np.geomspace(1e4, 1e7, n_sizes)):
        for D in 4096 * 2.0 ** np.arange(8):
            rows.append(dict(run=f"N{i}", N=N, samples=D, fps=1000.0 if fps is None else fps(N),
                             ne=float(joint_truth(N, D)) * math.exp(rng.normal(0, noise))))
    return pd.DataFrame(rows)


def curve_1x(seed=0, n=16, noise=0.005):
    """16 independent runs along x (cost 1 each) on y = 2·x^−0.3 + 0.7."""
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e3, 1e6, n)
    y = (2 * x**-0.3 + 0.7) * np.exp(rng.normal(0, noise, n))
    return pd.DataFrame(dict(x=x, y=y, cost=np.ones(n)))


# ------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize("text, kind, fields", [
    ("ne at compute 10x within 0.5%", "ne_at", dict(axis="compute", factor=10.0, at=None, tolerance=0.5)),
    ("NE at compute 1e15 within 0.5 %", "ne_at", dict(axis="compute", at=1e15, factor=None)),
    ("ne at samples 4x within 0.5%", "ne_at", dict(axis="samples", factor=4.0)),
    ("ne at params_total 2e6 within 1%", "ne_at", dict(axis="params_total", at=2e6, tolerance=1.0)),
    ("exponent within 0.05", "exponent", dict(tolerance=0.05)),
    ("samples for ne 0.85 within 1.5x", "x_for", dict(axis="samples", value=0.85, tolerance=1.5)),
    ("target rows within 2%", "target", dict(tolerance=2.0, rows=())),
])
def test_parse_goal(text, kind, fields):
    """Check that each documented goal parses to its kind and fields (column names keep their case)."""
    g = parse_goal(text)
    assert g.kind == kind
    for k, v in fields.items():
        assert getattr(g, k) == v, k


@pytest.mark.parametrize("text", ["ne within 1%", "exponent 0.05", "samples for ne 0.85 within 0.5x", "ne at compute -3x within 1%", ""])
def test_parse_goal_errors(text):
    """Check that a goal that cannot be read is one line naming the accepted syntax."""
    with pytest.raises(RecscaleError, match="goal") as e:
        parse_goal(text)
    assert "\n" not in str(e.value)
    assert "ne at compute 10x within 0.5%" in str(e.value) or "factor" in str(e.value) or "> 0" in str(e.value)


@pytest.mark.parametrize("text, budget", [
    ("1e15 flops", Budget("flops", 1e15)), ("30m", Budget("seconds", 1800.0)), ("2h", Budget("seconds", 7200.0)),
    ("12 trials", Budget("trials", 12.0)), ("25%", Budget("fraction", 0.25)),
])
def test_parse_budget(text, budget):
    """Check every budget unit, and what each allows."""
    b = parse_budget(text)
    assert b == budget
    assert b.cost_limit(400.0) == {"flops": 1e15, "seconds": b.amount, "trials": math.inf, "fraction": 100.0}[b.kind]
    assert b.max_picks == (12 if b.kind == "trials" else None)


@pytest.mark.parametrize("text", ["lots", "150%", "0 trials", "2.5 trials", "-1 flops"])
def test_parse_budget_errors(text):
    """Check that a bad budget is one line with the accepted syntax."""
    with pytest.raises(RecscaleError, match="budget"):
        parse_budget(text)


# ------------------------------------------------------------------------------- pools


def test_curve_candidates_doublings():
    """Check that a learning-curve pool has one candidate per run per doubling, chained, costing the new samples."""
    df = pd.DataFrame({"run": ["a"] * 5 + ["b"] * 3, "samples": [100, 150, 200, 300, 400, 100, 200, 400],
                       "fps": [2.0] * 5 + [5.0] * 3})
    c = curve_candidates(df, run="run", samples="samples", cost_per_sample="fps")
    assert [x.id for x in c] == ["a@100", "a@200", "a@400", "b@100", "b@200", "b@400"]
    assert [x.rows for x in c[:3]] == [(0,), (1, 2), (3, 4)]
    assert [x.requires for x in c[:3]] == [None, "a@100", "a@200"]
    assert [x.cost for x in c] == [200.0, 200.0, 400.0, 500.0, 500.0, 1000.0]
    c2 = curve_candidates(df, run="run", samples="samples", cost_per_sample="fps", stops=[150, 1000])
    assert [x.id for x in c2[:2]] == ["a@150", "a@400"] and c2[1].cost == 2.0 * 250


def test_missing_column_is_one_line():
    """Check that a missing column names it and the ones available."""
    with pytest.raises(RecscaleError, match="missing column.*'fps'"):
        curve_candidates(pd.DataFrame({"run": [1], "samples": [1]}), run="run", samples="samples", cost_per_sample="fps")
    with pytest.raises(RecscaleError, match="missing column.*'nope'"):
        estimate_goal(curve_1x(), parse_goal("exponent within 0.1"), x=["nope"], y="y")


# ------------------------------------------------------------------------------- estimates


def test_estimate_covers_planted_truth_one_x():
    """Check that the 95% interval of NE at 4x the data covers the planted truth on most noisy curves."""
    x_goal = 4e6
    truth = 2 * x_goal**-0.3 + 0.7
    hits = 0
    for seed in range(10):
        e = estimate_goal(curve_1x(seed), parse_goal("ne at x 4x within 0.1%"), x=["x"], y="y", bootstrap=200, seed=seed)
        assert e.lo <= e.value <= e.hi and not e.met
        hits += e.lo <= truth <= e.hi
    assert hits >= 8


def test_estimate_covers_planted_truth_joint():
    """Check the joint law's goals: the data exponent and the NE at 4x the data cover the planted values."""
    df = joint_pool(seed=3)
    e = estimate_goal(df, parse_goal("exponent within 0.05"), x=["N", "samples"], y="ne", bootstrap=100)
    assert e.lo <= JOINT["beta"] <= e.hi
    assert e.half_width == pytest.approx(max(e.hi - e.value, e.value - e.lo))
    e2 = estimate_goal(df, parse_goal("ne at samples 4x within 5%"), x=["N", "samples"], y="ne", bootstrap=100)
    assert e2.lo <= float(joint_truth(1e7, 4 * 4096 * 128)) <= e2.hi and e2.met


def test_compute_goal_uses_the_frontier():
    """Check that NE at 10x the pool's compute comes from the compute-optimal frontier (below the largest run's NE)."""
    df = joint_pool(fps=lambda N: 10 * N**0.5)
    e = estimate_goal(df, parse_goal("ne at compute 10x within 5%"), x=["N", "samples"], y="ne", flops_per_sample="fps", bootstrap=60)
    assert e.value < df["ne"].min() and e.lo < e.value < e.hi
    with pytest.raises(RecscaleError, match="joint law"):
        estimate_goal(curve_1x(), parse_goal("ne at compute 10x within 5%"), x=["x"], y="y")


def test_estimate_too_few_rows_is_not_an_error():
    """Check that a law that cannot be fitted yet gives met=False and says why, never raises."""
    df = curve_1x()
    df.loc[3:, "y"] = np.nan
    e = estimate_goal(df, parse_goal("exponent within 1"), x=["x"], y="y")
    assert not e.met and e.value is None and "start-up" in e.note and e.n_rows == 3


# ------------------------------------------------------------------------------- choices


def test_goal_at_large_x_extends_the_largest_runs():
    """Check that NE at 8x the data prefers extending the largest model's curve over the small ones (equal cost per sample)."""
    for seed in range(2):
        df = joint_pool(seed)
        c = curve_candidates(df, run="run", samples="samples", cost_per_sample="fps")
        chosen = {x.id for x in c if float(x.id.split("@")[1]) <= 4096 * 8}
        picks = rank_candidates(df, c, chosen, parse_goal("ne at samples 8x within 0.1%"), x=["N", "samples"], y="ne", k=3,
                                bootstrap=60, seed=seed)
        assert len(picks) == 3
        assert all(p.candidate.requires is not None for p in picks)  # extensions, not new runs
        assert picks[0].candidate.id.split("@")[0] in ("N5", "N6")
        assert picks[0].width_after < picks[0].width_now
        assert picks[1].width_now == pytest.approx(picks[0].width_after)  # conditional batch: Σ updated after each pick


def test_goal_at_large_x_one_x():
    """Check that with one x and equal costs, NE at 10x the data picks the largest x left."""
    df = curve_1x()
    c = row_candidates(df, cost="cost")
    picks = rank_candidates(df, c, {f"row{i}" for i in range(10)}, parse_goal("ne at x 10x within 0.1%"), x=["x"], y="y", k=2)
    assert [p.candidate.id for p in picks] == ["row15", "row14"]


def test_exponent_goal_spreads_x():
    """Check that an exponent goal, with the middle of the range measured, picks an end of the range."""
    df = curve_1x()
    c = row_candidates(df, cost="cost")
    picks = rank_candidates(df, c, {f"row{i}" for i in range(5, 11)}, parse_goal("exponent within 0.001"), x=["x"], y="y", k=1)
    assert picks[0].candidate.id in ("row0", "row1", "row14", "row15")


def test_unrevealed_y_is_never_read():
    """Check that NaN in every unchosen row's y changes no choice of any method."""
    df = joint_pool(1)
    c = curve_candidates(df, run="run", samples="samples", cost_per_sample="fps")
    chosen = {x.id for x in c if float(x.id.split("@")[1]) <= 4096 * 4}
    rows = sorted({r for x in c if x.id in chosen for r in x.rows})
    hidden = df.copy()
    mask = np.ones(len(df), bool)
    mask[rows] = False
    hidden.loc[mask, "ne"] = np.nan
    goal = parse_goal("ne at samples 8x within 0.1%")
    for method in METHODS:
        kw = dict(x=["N", "samples"], y="ne", k=2, bootstrap=40, seed=5, method=method)
        a = [p.candidate.id for p in rank_candidates(df, c, chosen, goal, **kw)]
        b = [p.candidate.id for p in rank_candidates(hidden, c, chosen, goal, **kw)]
        assert a == b, method


def test_startup_spreads_cheap_runs_first():
    """Check that before the law is fittable the first pick is the cheapest and the next spreads x."""
    df = curve_1x()
    c = row_candidates(df.assign(cost=df["x"]), cost="cost")
    p1 = rank_candidates(df, c, set(), parse_goal("exponent within 0.01"), x=["x"], y="y", k=1)
    assert p1[0].candidate.id == "row0" and "start-up" in p1[0].reason
    p2 = rank_candidates(df, c, {"row0"}, parse_goal("exponent within 0.01"), x=["x"], y="y", k=1)
    assert p2[0].candidate.id == "row8"  # the farthest of the cheaper half of rows 1..15 (rows 1..8)


def test_requires_and_budget_are_respected():
    """Check that a candidate is offered only after the one it requires, and only if it fits the budget."""
    df = joint_pool(fps=lambda N: 10 * N**0.5)
    c = curve_candidates(df, run="run", samples="samples", cost_per_sample="fps")
    picks = rank_candidates(df, c, set(), parse_goal("exponent within 0.01"), x=["N", "samples"], y="ne", k=1, method="cheapest")
    assert picks[0].candidate.requires is None
    picks = rank_candidates(df, c, set(), parse_goal("exponent within 0.01"), x=["N", "samples"], y="ne", k=1, method="spec",
                            budget_left=1.0)
    assert picks == []


def test_replay_is_deterministic_and_stops():
    """Check that a replay gives the same choices for the same seed, stops at the budget, and a loose goal stops it early."""
    df = curve_1x(2)
    c = row_candidates(df.assign(cost=np.linspace(1, 4, len(df))), cost="cost")
    g = with_rows(parse_goal("target rows within 0%"), [15])
    kw = dict(x=["x"], y="y", budget_cost=20.0, bootstrap=60)
    r1 = replay(df, c[:15], g, method="recscale", seed=3, **kw)
    r2 = replay(df, c[:15], g, method="recscale", seed=3, **kw)
    assert r1.chosen == r2.chosen and r1.cost <= 20.0 and r1.stopped == "budget spent"
    assert r1.target_error is not None and 0 <= r1.coverage <= 1
    loose = replay(df, c[:15], with_rows(parse_goal("target rows within 50%"), [15]), method="recscale", seed=3, **kw)
    assert loose.stopped == "goal met" and loose.cost <= r1.cost and loose.estimate.met
    rnd = [replay(df, c[:15], g, method="random", seed=s, **kw).chosen for s in (0, 0, 1)]
    assert rnd[0] == rnd[1] != rnd[2]


def test_rank_rejects_bad_arguments():
    """Check the one-line errors of a bad method, k and chosen id."""
    df = curve_1x()
    c = row_candidates(df, cost="cost")
    g = parse_goal("exponent within 0.1")
    with pytest.raises(RecscaleError, match="method must be one of"):
        rank_candidates(df, c, set(), g, x=["x"], y="y", method="best")
    with pytest.raises(RecscaleError, match="k must be"):
        rank_candidates(df, c, set(), g, x=["x"], y="y", k=0)
    with pytest.raises(RecscaleError, match="'zz' is not a candidate"):
        rank_candidates(df, c, {"zz"}, g, x=["x"], y="y")
    with pytest.raises(RecscaleError, match="no target rows"):
        estimate_goal(df, Goal("target", 1.0), x=["x"], y="y")


def test_budget_plan_makes_room_for_the_run_that_matters():
    """Check that with a budget the design saves room for a large-x run that ratio greedy would crowd out with cheap ones."""
    df = curve_1x(1).assign(cost=lambda d: d["x"] / 1e3)
    c = row_candidates(df, cost="cost")
    chosen = {f"row{i}" for i in range(8)}
    g = parse_goal("ne at x 10x within 0.1%")
    greedy = rank_candidates(df, c, chosen, g, x=["x"], y="y", k=3)
    assert [p.candidate.id for p in greedy] == ["row8", "row9", "row10"]  # best gain per cost, one cheap run after another
    planned = rank_candidates(df, c, chosen, g, x=["x"], y="y", k=3, budget_left=1000.0)
    assert planned[0].candidate.id in ("row14", "row15")
    assert sum(p.candidate.cost for p in planned) <= 1000.0
    assert planned[-1].width_after < greedy[-1].width_after


def test_goal_not_met_on_a_narrow_span():
    """Check that a loose goal is not met on rows spanning less than a decade of x, and is once they span one."""
    df = curve_1x(n=21)  # x = 1e3 · 10^(0.15 k)
    g = parse_goal("exponent within 100")
    e = estimate_goal(df.assign(y=df["y"].where(df.index <= 5)), g, x=["x"], y="y")  # 0.75 decade
    assert e.value is not None and not e.met and not g.met(e) and "decade" in e.note
    e2 = estimate_goal(df.assign(y=df["y"].where(df.index <= 7)), g, x=["x"], y="y")  # 1.05 decades
    assert e2.met and g.met(e2)


# ------------------------------------------------------------------------------- noise σ(x)

D_GRID = 4096 * 2.0 ** np.arange(10)


def falling_sd(D):
    """Log-noise sd falling along the data: 2% at the smallest D to 0.2% at the largest (log-linear in D)."""
    return 0.02 * (np.asarray(D) / D_GRID[0]) ** (math.log(0.1) / math.log(D_GRID[-1] / D_GRID[0]))


def noisy_joint_pool(seed, sd, n_sizes=8, fresh=0):
    """Learning curves of 8 model sizes × 10 doublings, log-noise sd(D); plus ``fresh`` new draws at each of the top-compute tenth."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, N in enumerate(np.geomspace(1e4, 1e7, n_sizes)):
        for D in D_GRID:
            rows.append(dict(run=f"N{i}", N=N, samples=D, fps=N, ne=float(joint_truth(N, D)) * math.exp(rng.normal(0, sd(D)))))
    df = pd.DataFrame(rows)
    top = np.argsort(-(df["fps"] * df["samples"]).to_numpy(), kind="stable")[: len(df) // 10]
    new = df.iloc[np.repeat(top, fresh)].copy()
    new["ne"] = [float(joint_truth(N, D)) * math.exp(rng.normal(0, sd(D))) for N, D in zip(new["N"], new["samples"])]
    return pd.concat([df, new], ignore_index=True), len(df)


def pi_coverage(sd, seeds, fresh=30):
    """Share of fresh draws at the top-compute rows inside the 95% prediction interval of the law fitted on the pool, per seed."""
    out = []
    for seed in seeds:
        df, n = noisy_joint_pool(seed, sd, fresh=fresh)
        c = row_candidates(df.iloc[:n], cost="fps")
        g = with_rows(parse_goal("target rows within 0%"), range(n, len(df)))
        cov = evaluate(df, c, [x.id for x in c], g, x=["N", "samples"], y="ne", bootstrap=40, seed=seed).coverage
        out.append(cov)
    return np.array(out)


def test_noise_model_recovers_a_falling_noise():
    """Check that σ(x), fitted to the residuals of a joint law whose noise falls 10x along D, is within 1.5x of the truth at both ends.

    Geometric mean over 8 seeds (one seed's log σ̂ has sd ~0.25 at the ends). Measured: 0.70x at the
    smallest D (the unweighted fit absorbs part of the noisiest rows' noise), 1.05x at the largest.
    """
    est = {D_GRID[0]: [], D_GRID[-1]: []}
    for seed in range(8):
        df, _ = noisy_joint_pool(seed, falling_sd)
        X = df[["N", "samples"]].to_numpy()
        fit = fit_joint_law(X[:, 0], X[:, 1], df["ne"].to_numpy(), bootstrap=0)
        law = _joint_law(fit, X, np.log(df["ne"].to_numpy()))
        assert law.noise is not None and law.noise.gamma is not None  # heteroscedasticity detected
        for D in est:
            est[D].append(float(law.noise.sd(np.array([[1e5, D]]))[0]))
    for D, v in est.items():
        ratio = math.exp(np.mean(np.log(v))) / float(falling_sd(D))
        assert 1 / 1.5 < ratio < 1.5, (D, v)


def test_noise_model_is_not_thrown_by_a_dead_run():
    """Check that one run that never learns (flat NE, 10 of 90 rows) does not inflate σ(x) at the largest D.

    Its residuals grow to ~0.1 along its curve; without capping r² at the χ²₁ 99.9% point of σ²(x),
    σ̂ at the largest D read 1.95x the truth (capped: 1.25x). Geometric mean over 8 seeds.
    """
    est = {D_GRID[0]: [], D_GRID[-1]: []}
    for seed in range(8):
        df, _ = noisy_joint_pool(seed, falling_sd)
        flat = float(joint_truth(1e6, D_GRID[0]))
        rng = np.random.default_rng(100 + seed)
        dead = pd.DataFrame(dict(run="dead", N=1e6, samples=D_GRID, fps=1e6, ne=flat * np.exp(rng.normal(0, 0.002, D_GRID.size))))
        df = pd.concat([df, dead], ignore_index=True)
        X = df[["N", "samples"]].to_numpy()
        law = _joint_law(fit_joint_law(X[:, 0], X[:, 1], df["ne"].to_numpy(), bootstrap=0), X, np.log(df["ne"].to_numpy()))
        assert law.noise.gamma is not None
        for D in est:
            est[D].append(float(law.noise.sd(np.array([[1e5, D]]))[0]))
    ratio = {D: math.exp(np.mean(np.log(v))) / float(falling_sd(D)) for D, v in est.items()}
    assert 1 / 1.5 < ratio[D_GRID[-1]] < 1.5, ratio
    assert 1 / 1.5 < ratio[D_GRID[0]] < 1.5, ratio  # measured 0.75


def test_noise_model_keeps_the_scalar_when_homoscedastic():
    """Check that a constant noise mostly keeps the constant σ (the slope test does not reject at 5%)."""
    kept = 0
    for seed in range(6):
        df, _ = noisy_joint_pool(seed, lambda D: np.full(np.shape(D), 0.005))
        X = df[["N", "samples"]].to_numpy()
        fit = fit_joint_law(X[:, 0], X[:, 1], df["ne"].to_numpy(), bootstrap=0)
        kept += _joint_law(fit, X, np.log(df["ne"].to_numpy())).noise.gamma is None
    assert kept >= 5


def test_prediction_interval_covers_fresh_draws_with_falling_noise():
    """Check that the 95% prediction interval at the largest-compute rows covers 90-98% of fresh draws when the noise falls along D."""
    cov = pi_coverage(falling_sd, range(8))
    assert 0.90 <= cov.mean() <= 0.98, cov  # measured 0.977 (with the true σ instead of σ̂: 0.961; the scalar σ: ~1.00)


def test_prediction_interval_covers_fresh_draws_homoscedastic():
    """Check that with a constant noise the 95% prediction interval still covers about 95% of fresh draws (no regression)."""
    cov = pi_coverage(lambda D: np.full(np.shape(D), 0.005), range(8))
    assert 0.90 <= cov.mean() <= 0.98, cov  # measured 0.954


def test_noise_model_one_x():
    """Check σ(x) of a one-x law: a noise falling 10x along x is recovered within 1.5x at both ends (geometric mean over seeds)."""
    x = np.repeat(np.geomspace(1e3, 1e6, 20), 2)
    sd = 0.02 * (x / 1e3) ** (-1 / 3)
    lo, hi = [], []
    for seed in range(4):
        y = (2 * x**-0.3 + 0.7) * np.exp(np.random.default_rng(seed).normal(0, sd))
        law = _one_x_law(fit_power_law(x, y, form="powerlaw_const", bootstrap=0))
        assert law.noise.gamma is not None
        lo.append(float(law.noise.sd(np.array([[1e3]]))[0]))
        hi.append(float(law.noise.sd(np.array([[1e6]]))[0]))
    assert 0.02 / 1.5 < math.exp(np.mean(np.log(lo))) < 0.02 * 1.5
    assert 0.002 / 1.5 < math.exp(np.mean(np.log(hi))) < 0.002 * 1.5


def test_noise_is_clamped_and_needs_rows():
    """Check that σ(x) is not extrapolated beyond its fitted range, and that a few rows keep the scalar."""
    rng = np.random.default_rng(0)
    X = np.column_stack([np.tile(np.geomspace(1e4, 1e6, 10), 6), np.repeat(D_GRID[:6], 10)])
    r = rng.normal(0, falling_sd(X[:, 1]))
    nz = _fit_noise(X, r, np.column_stack([np.ones(60), np.log(X)]), 0.01, 57)
    assert nz.gamma is not None
    inside = nz.sd(X)
    far = nz.sd(np.array([[1e5, D_GRID[-1] * 100], [1e5, 10.0]]))
    assert far[0] == pytest.approx(inside.min()) and far[1] == pytest.approx(inside.max())
    assert nz.quantile(np.array([[1e5, D_GRID[-1] * 100]]), 0.95)[0] > nz.quantile(X[:1], 0.95)[0] > 1.96
    few = _fit_noise(X[:20], r[:20], np.ones((20, 1)), 0.01, 19)
    assert few.gamma is None and few.sd(X[:2]).tolist() == [0.01, 0.01]


def test_posterior_uses_per_row_noise():
    """Check that the conditional covariance with per-row noise is (Σ⁻¹ + JᵀV⁻¹J)⁻¹, and a quieter row teaches more."""
    rng = np.random.default_rng(1)
    A = rng.normal(size=(3, 3))
    S = A @ A.T + np.eye(3)
    J = rng.normal(size=(2, 3))
    v = np.array([0.04, 0.0001])
    direct = np.linalg.inv(np.linalg.inv(S) + J.T @ np.diag(1 / v) @ J)
    assert np.allclose(_posterior(S, J, v), direct)
    assert np.trace(_posterior(S, J[1:], v[1:])) < np.trace(_posterior(S, J[1:], v[:1]))


def _curves(ne_by_trial: dict[str, list[float]], samples=(4096, 5888, 8192, 16384)) -> pd.DataFrame:
    """A pool: one row per trial and checkpoint; NaN past a trial's measured checkpoints."""
    rows = [{"trial_id": t, "params_total": 1e4, "samples": float(s), "train_flops_per_sample": 1.0,
             "ne": ys[i] if i < len(ys) else math.nan}
            for t, ys in ne_by_trial.items() for i, s in enumerate(samples)]
    return pd.DataFrame(rows)


def test_a_dead_trial_is_named_only_when_the_others_learned():
    """Check the design's untrained rule: a trial flat at NE ≈ 1 while the others fell is dead; every trial
    still on the start-up plateau (a recipe without warm-up) is not, although each alone is flat at ≥ 0.999;
    two flat checkpoints are too few; unmeasured rows (NaN) are not read."""
    design = GoalDesign("ne at compute 10x within 1%")
    learned = _curves({"a": [0.99, 0.96, 0.93], "b": [0.995, 0.97, 0.94], "dead": [1.0, 1.0, 0.9999]})
    assert set(design.untrained(learned)) == {"dead"}
    assert design.untrained(learned)["dead"]["max_samples"] == 8192
    plateau = _curves({"a": [0.9999, 0.9995, 0.9992], "b": [0.9998, 0.9996, 0.9993], "c": [1.0, 1.0, 0.9999]})
    assert design.untrained(plateau) == {}
    assert set(untrained_trials(plateau)) == {"a", "b", "c"}  # the report's rule (whole curves) alone
    short = _curves({"a": [0.99, 0.96, 0.93], "dead": [1.0, 1.0]})
    assert design.untrained(short) == {}


# ------------------------------------------------------------------------------- extrapolation (backtest widening)


def misfit_pool(seed=0, growth=0.01):
    """6 model sizes × 15 checkpoints whose data exponent grows with N, β(N) = 0.38 + growth·log10(N/2e4): a world the
    additive law E + A/N^α + B/D^β cannot follow (growth 0: it can). Target: the highest-compute tenth of the rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, N in enumerate(np.geomspace(2e4, 5e6, 6)):
        beta = 0.38 + growth * math.log10(N / 2e4)
        for D in 4096 * 2.0 ** (np.arange(15) / 2.0):
            rows.append(dict(run=f"N{i}", N=N, samples=D, fps=3.0 * N**0.5,
                             ne=(0.78 + 40.0 * N**-0.45 + 25.0 * D**-beta) * math.exp(rng.normal(0, 0.005))))
    df = pd.DataFrame(rows)
    target = top_rows(df["fps"].to_numpy() * df["samples"].to_numpy(), 0.1)
    return df, target, without_rows(curve_candidates(df, run="run", samples="samples", cost_per_sample="fps"), target)


def _all_runs(df, target, cands, seed):
    goal = with_rows(parse_goal("target rows within 0%"), target)
    return evaluate(df, cands, [c.id for c in cands], goal, x=["N", "samples"], y="ne", bootstrap=60, seed=seed)[:3]


@pytest.mark.parametrize("seed", [0, 1])
def test_a_law_that_cannot_follow_the_data_is_widened_until_it_covers(seed):
    """Check that intervals from a misspecified joint law are widened by its own backtest and then cover the target rows.

    Measured (seeds 0-4): unwidened coverage 0.11-0.44 at a target error of ~3%; widened 2.16-2.38x, coverage 1.00."""
    est, err, cov = _all_runs(*misfit_pool(seed), seed)
    assert err > 0.02  # the misfit is real: the law misses the target by more than 2%
    assert est.widened > 1.5 and "widened" in est.note
    assert cov >= 0.9


def test_a_right_law_is_rarely_widened():
    """Check that a joint law of the right form mostly keeps the bootstrap's intervals, and covers the target rows either way.

    The test is at 5%, but the held-out rows share the law's error, so it rejects more often: measured 1 in 5 here
    (widened 1.13x), 2 in 20 on the benchmark's planted joint law."""
    runs = [_all_runs(*misfit_pool(seed, growth=0.0), seed) for seed in range(5)]
    assert sum(est.widened > 1.0 for est, _, _ in runs) <= 1
    assert all(est.widened < 1.5 for est, _, _ in runs)
    assert all(cov >= 0.9 and err < 0.01 for _, err, cov in runs)


def test_the_exponent_goal_is_not_widened():
    """Check that the widening applies to predictions only: the exponent goal's interval is the bootstrap's."""
    df, _, _ = misfit_pool(0)
    e = estimate_goal(df, parse_goal("exponent within 0.05"), x=["N", "samples"], y="ne", bootstrap=60)
    p = estimate_goal(df, parse_goal("ne at samples 4x within 1%"), x=["N", "samples"], y="ne", bootstrap=60)
    assert e.widened == 1.0 and p.widened > 1.0


def broken_pool(seed):
    """The benchmark's planted broken law: 20 x over 3 decades × 2 seeds, the slope bending from 0.1 to 0.45 at 3e5,
    1% noise, cost ∝ x; target: the highest-x tenth, never a candidate."""
    rng = np.random.default_rng(seed)
    x = np.repeat(np.geomspace(1e4, 1e7, 20), 2)
    y = (0.75 + 3.0 * x**-0.1 * (1 + (x / 3e5) ** 2.0) ** (-(0.45 - 0.1) / 2.0)) * np.exp(rng.normal(0, 0.01, x.size))
    df = pd.DataFrame({"x": x, "y": y, "cost": x})
    target = top_rows(x, 0.1)
    return df, target, without_rows(row_candidates(df, cost="cost"), target)


@pytest.mark.parametrize("seed", [11, 14, 17])
def test_an_extrapolation_goal_measures_the_end_of_the_range_nearest_it(seed):
    """Check the repetitions where the plan, trusting a linearisation of a broken law fitted before its break, spent
    a quarter of the cost on two runs below the largest x: the largest affordable x is now in the design, and its
    target error is below that of the same design with the end taken away (which is what the design did before)."""
    df, target, cands = broken_pool(seed)
    goal = with_rows(parse_goal("target rows within 0%"), target)
    kw = dict(x=["x"], y="y", form="broken_powerlaw", bootstrap=100)
    budget = 0.25 * sum(c.cost for c in cands)
    top = max(c.cost for c in cands)
    rr = replay(df, cands, goal, budget_cost=budget, method="recscale", seed=seed, **kw)
    assert any(c.cost == top for c in cands if c.id in set(rr.chosen))
    without_end = replay(df, [c for c in cands if c.cost < top], goal, budget_cost=budget, method="recscale", seed=seed,
                         **kw)
    assert rr.target_error < 0.8 * without_end.target_error


def test_the_end_rule_is_for_one_x_extrapolation_goals_only():
    from recscale.laws.design import _extrapolation_tops, _setup

    df, target, cands = broken_pool(0)
    s = _setup(df, ["x"], "y", parse_goal("exponent within 0.05"), "broken_powerlaw", 20, 0.95, "flops_per_sample")
    assert _extrapolation_tops(s, parse_goal("exponent within 0.05"), cands) is None
    top = _extrapolation_tops(s, with_rows(parse_goal("target rows within 0%"), target), cands)
    assert np.array_equal(top, [c.cost for c in cands])  # cost = x here
    inside = with_rows(parse_goal("target rows within 0%"), (0, 1))  # a target inside the range has no end to reach for
    assert _extrapolation_tops(s, inside, cands) is None
    j = joint_pool(0)
    sj = _setup(j, ["N", "samples"], "ne", parse_goal("ne at compute 10x within 1%"), "powerlaw_const", 20, 0.95, "fps")
    jc = curve_candidates(j, run="run", samples="samples", cost_per_sample="fps")
    assert _extrapolation_tops(sj, parse_goal("ne at compute 10x within 1%"), jc) is None


def test_the_end_is_the_largest_x_the_budget_left_can_buy_until_a_row_reaches_it():
    from recscale.laws.design import _affordable_end

    top = np.array([1.0, 2.0, 3.0, 3.0, 4.0, 5.0])
    none = np.zeros(6, dtype=bool)
    assert _affordable_end(top, none, np.arange(6)) == {5}
    assert _affordable_end(top, none, np.arange(4)) == {2, 3}  # 4 and 5 too dear: both seeds at 3 are the end
    held = none.copy()
    held[4] = True  # a chosen row at 4 reaches every end a smaller budget could ask for
    assert _affordable_end(top, held, np.arange(4)) == set()
    low = none.copy()
    low[0] = True
    assert _affordable_end(top, low, np.arange(4)) == {2, 3}
    assert _affordable_end(None, none, np.arange(6)) == set() and _affordable_end(top, none, np.arange(0)) == set()


def plc_pool(seed):
    """The benchmark's planted power law + constant: 20 x over 3 decades × 2 seeds, 1% noise, cost ∝ x."""
    rng = np.random.default_rng(seed)
    x = np.repeat(np.geomspace(1e4, 1e7, 20), 2)
    df = pd.DataFrame({"x": x, "y": (2.0 * x**-0.3 + 0.75) * np.exp(rng.normal(0, 0.01, x.size)), "cost": x})
    target = top_rows(x, 0.1)
    return df, target, without_rows(row_candidates(df, cost="cost"), target)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_small_budget_measures_the_largest_x_it_can_buy(seed):
    """Check that at 10% of the cost, where the pool's largest x is too dear, the design still reaches for the end nearest
    the goal: its largest x is the largest that the budget left could buy when the law first became fittable."""
    df, target, cands = plc_pool(seed)
    goal = with_rows(parse_goal("target rows within 0%"), target)
    budget = 0.10 * sum(c.cost for c in cands)
    assert max(c.cost for c in cands) > budget
    rr = replay(df, cands, goal, budget_cost=budget, method="recscale", seed=seed, x=["x"], y="y", form="powerlaw_const",
                bootstrap=100)
    steps = list(rr.steps)
    first = next(i for i, st in enumerate(steps) if st.choice.width_now is not None)  # the first pick the scorer made
    spent_before = steps[first - 1].cost_so_far if first else 0.0
    chosen_before = {st.choice.candidate.id for st in steps[:first]}
    reachable = max(c.cost for c in cands if c.id not in chosen_before and c.cost <= budget - spent_before)
    assert max(c.cost for c in cands if c.id in set(rr.chosen)) == reachable
