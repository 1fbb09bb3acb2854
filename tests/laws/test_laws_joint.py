"""Joint law L(N, D): Epoch's Chinchilla replication, planted truth, compute-optimal allocation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from recscale.errors import RecscaleError
from recscale.laws import JointOptions, compute_optimal, fit_joint_law
from recscale.laws.joint import flops_per_sample_model

REFERENCE = Path(__file__).resolve().parent / "data" / "epoch_chinchilla.csv"  # copy; see data/SOURCE.md
EPOCH_HUBER = {"A": 477.84, "B": 2143.9, "E": 1.8172, "alpha": 0.3473, "beta": 0.3672}
EPOCH_SE = {"alpha": 0.015, "beta": 0.021}


@pytest.fixture(scope="module")
def chinchilla():
    """Epoch's 245 extracted runs minus the 5 highest-loss ones (as Epoch does): N, D, loss."""
    import pandas as pd

    # The colour columns contain '#': read with a CSV parser, not numpy.genfromtxt (SOURCE.md trap).
    df = pd.read_csv(REFERENCE)
    assert len(df) == 245
    df = df.drop(df["loss"].nlargest(5).index)
    N = df["Model Size"].to_numpy(float)
    D = df["Training FLOP"].to_numpy(float) / (6 * N)
    return N, D, df["loss"].to_numpy(float)


@pytest.fixture(scope="module")
def chinchilla_fit(chinchilla):
    N, D, L = chinchilla
    return fit_joint_law(N, D, L, bootstrap=0)


def test_reproduces_epoch_huber_row(chinchilla_fit):
    """Check E, α, β (and A, B) within 0.5% of Epoch's Huber-grid fit (its CPU time: benchmarks/fit_speed.py)."""
    fit = chinchilla_fit
    for name, ref in EPOCH_HUBER.items():
        assert getattr(fit, name) == pytest.approx(ref, rel=5e-3), name
    assert fit.n_points == 240
    assert fit.method.optimizer.converged


def test_objective_is_summed_with_tight_tolerances(chinchilla_fit):
    """Check the SOURCE.md traps are avoided: a summed (not mean) objective and tight L-BFGS-B tolerances."""
    fit = chinchilla_fit
    assert fit.method.reduction == "sum"
    assert fit.objective == pytest.approx(1.018e-3, rel=1e-2)  # a mean would be ~4e-6
    assert fit.method.ftol <= 1e-14 and fit.method.gtol <= 1e-10
    assert fit.method.bootstrap.warm_start is False


def test_bootstrap_standard_errors_match_epoch(chinchilla):
    """Check bootstrap standard errors of α and β within 25% of Epoch's (100 cold-started resamples)."""
    N, D, L = chinchilla
    fit = fit_joint_law(N, D, L, bootstrap=100, seed=0)
    for name, ref in EPOCH_SE.items():
        assert fit.se[name] == pytest.approx(ref, rel=0.25), (name, fit.se[name])
    lo, hi = fit.ci()["alpha"]
    assert lo < fit.alpha < hi
    d = json.loads(json.dumps(fit.to_dict(), allow_nan=False))["method"]
    assert d["bootstrap"] == {"n": 100, "resample": "runs", "seed": 0, "failed": fit.method.bootstrap.failed, "warm_start": False}
    assert d["status"]["converged"] is fit.method.optimizer.converged and d["status"]["nit"] == fit.method.nit


def test_warm_started_loose_refits_would_collapse(chinchilla):
    """Check the trap itself: loose default tolerances started at the optimum barely move, whereas our
    cold refits of the same resample move by about a standard error."""
    from scipy import optimize

    from recscale.laws.joint import _objective_grad

    N, D, L = chinchilla
    full = fit_joint_law(N, D, L)
    rng = np.random.default_rng(1)
    moves_warm, moves_cold = [], []
    opts = JointOptions(n_polish=3)
    for _ in range(5):
        idx = rng.integers(0, len(N), len(N))
        w = np.bincount(idx, minlength=len(N)).astype(float)
        warm = optimize.minimize(_objective_grad, np.array(full.theta), args=(np.log(N), np.log(D), np.log(L), 1e-3, w),
                                 jac=True, method="L-BFGS-B")
        cold = fit_joint_law(N[idx], D[idx], L[idx], options=opts)
        moves_warm.append(abs(warm.x[3] - full.alpha))
        moves_cold.append(abs(cold.alpha - full.alpha))
    assert np.mean(moves_cold) > 3 * np.mean(moves_warm)


def test_planted_law_recovered():
    """Check recovery of a planted joint law on a grid of (N, D) with 0.2% noise."""
    E, A, B, a, b = 0.6, 50.0, 300.0, 0.3, 0.35
    N, D = (v.ravel() for v in np.meshgrid(np.geomspace(1e6, 1e9, 7), np.geomspace(1e7, 1e11, 8)))
    L = (E + A / N**a + B / D**b) * np.exp(np.random.default_rng(0).normal(0, 0.002, N.size))
    fit = fit_joint_law(N, D, L)
    assert fit.E == pytest.approx(E, rel=0.03)
    assert fit.alpha == pytest.approx(a, rel=0.05)
    assert fit.beta == pytest.approx(b, rel=0.05)
    assert fit.predict(1e8, 1e10) == pytest.approx(E + A / 1e8**a + B / 1e10**b, rel=0.005)
    assert fit.predict(np.array([1e7, 1e8]), 1e9).shape == (2,)


@pytest.mark.parametrize(
    "N,D,L,match",
    [
        ([1, 2, 3], [1, 2, 3], [3, 2, 1], r"got 3 runs; at least 6"),
        ([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5], [1] * 6, r"same length; got \{'N': 6, 'D': 5, 'loss': 6\}"),
        ([1, 2, 3, 4, 5, -6], [1, 2, 3, 4, 5, 6], [1] * 6, r"N must be finite and > 0; got N\[5\] = -6\.0"),
        ([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, np.nan], r"loss must be finite and > 0; got loss\[5\] = nan"),
        ([5] * 6, [1, 2, 3, 4, 5, 6], [1] * 6, r"at least 2 distinct values; got 1 distinct N"),
    ],
)
def test_joint_errors(N, D, L, match):
    """Check that bad inputs to fit_joint_law raise errors naming the problem."""
    with pytest.raises(RecscaleError, match=match):
        fit_joint_law(N, D, L)


def _fit_with(E=1.7, A=400.0, B=1500.0, a=0.34, b=0.28):
    from recscale.laws.joint import JointLawFit

    theta = (math.log(A), math.log(B), math.log(E), a, b)
    return JointLawFit(E=E, A=A, B=B, alpha=a, beta=b, theta=theta, se=None, draws=None)


def test_compute_optimal_matches_closed_form_for_6nd():
    """Check the C = 6ND optimum against Hoffmann et al.'s closed form N* = G·(C/6)^(β/(α+β))."""
    fit = _fit_with()
    C = np.array([1e19, 1e21, 1e23])
    res = compute_optimal(fit, C)
    G = (fit.alpha * fit.A / (fit.beta * fit.B)) ** (1 / (fit.alpha + fit.beta))
    expected = G * (C / 6) ** (fit.beta / (fit.alpha + fit.beta))
    np.testing.assert_allclose(res.N, expected, rtol=1e-5)
    np.testing.assert_allclose(res.D * 6 * res.N, C, rtol=1e-10)
    assert not res.at_bound.any()
    json.dumps(res.to_dict(), allow_nan=False)


def test_compute_optimal_for_embedding_heavy_model_runs_to_the_bound():
    """Check that when parameters cost no FLOPs (embeddings), the optimum is the largest model allowed,
    reported as at_bound rather than as a finite 'optimum'."""
    fit = _fit_with()
    res = compute_optimal(fit, [1e18, 1e20], flops_per_sample=1e6, n_bounds=(1e6, 1e12))
    assert res.at_bound.all()
    np.testing.assert_allclose(res.N, 1e12, rtol=1e-3)
    np.testing.assert_allclose(res.D, [1e12, 1e14])


def test_compute_optimal_with_observed_flops_per_sample():
    """Check a DLRM-like FLOPs model (interpolated from observed models) gives a true constrained minimum."""
    fit = _fit_with()
    Ns = np.geomspace(1e6, 1e10, 5)
    fps = 3 * 2 * 1e4 * (Ns / 1e6) ** 0.5  # FLOPs grow slower than parameters
    C = 1e20
    res = compute_optimal(fit, C, flops_per_sample=(Ns, fps))
    model, label = flops_per_sample_model((Ns, fps))
    assert "log-log" in label
    n = res.N[0]
    for f in (0.9, 1.1):
        assert fit.predict(n * f, C / model(np.array(n * f))) > res.loss[0]


@pytest.mark.parametrize(
    "spec,match",
    [(-1.0, r"flops_per_sample must be > 0; got -1\.0"), (([1, 2], [1]), r"need >= 2 matching values"),
     (([1, 2], [1, -1]), r"pairs must be finite and > 0"), ("fast", r"must be None, a number, a callable")],
)
def test_flops_model_errors(spec, match):
    """Check that bad FLOPs-per-sample descriptions raise clear errors."""
    with pytest.raises(RecscaleError, match=match):
        flops_per_sample_model(spec)


def test_compute_optimal_errors():
    """Check budget and bound validation."""
    fit = _fit_with()
    with pytest.raises(RecscaleError, match=r"compute must be finite and > 0"):
        compute_optimal(fit, [1e20, -1])
    with pytest.raises(RecscaleError, match=r"n_bounds must satisfy 0 < lo < hi"):
        compute_optimal(fit, 1e20, n_bounds=(1e9, 1e6))
    with pytest.raises(RecscaleError, match=r"bootstrap=0; refit with bootstrap"):
        fit.ci()


@pytest.mark.parametrize("seed", [0, 1])
def test_batched_bootstrap_keeps_the_standard_errors(seed):
    """Check the batched refits give the one-at-a-time L-BFGS-B refits' standard errors (within 10%; in fact ~1e-5)
    on planted joint laws, with the same resamples, and never a worse objective on any refit."""
    from recscale.laws.joint import _huber_per_run

    E, A, B, a, b = 0.6, 50.0, 300.0, 0.3, 0.35
    N, D = (v.ravel() for v in np.meshgrid(np.geomspace(1e6, 1e9, 5), np.geomspace(1e7, 1e11, 8)))
    L = (E + A / N**a + B / D**b) * np.exp(np.random.default_rng(seed).normal(0, 0.002, N.size))
    old = fit_joint_law(N, D, L, bootstrap=30, seed=seed, options=JointOptions(bootstrap_solver="lbfgsb"))
    new = fit_joint_law(N, D, L, bootstrap=30, seed=seed)
    assert new.method.options.bootstrap_solver == "batched"
    for k in ("E", "A", "B", "alpha", "beta"):
        assert new.se[k] == pytest.approx(old.se[k], rel=0.10), k
    rng = np.random.default_rng(seed)
    W = np.stack([np.bincount(rng.integers(0, N.size, N.size), minlength=N.size).astype(float) for _ in range(30)])

    def objective(f):
        th = np.column_stack([np.log(f.draws["A"]), np.log(f.draws["B"]), np.log(f.draws["E"]), f.draws["alpha"], f.draws["beta"]])
        return np.sum(W * _huber_per_run(th, np.log(N), np.log(D), np.log(L), 1e-3), axis=1)

    assert np.all(objective(new) <= objective(old) * (1 + 1e-6))


def test_joint_options_reject_an_unknown_solver():
    """Check an unknown bootstrap solver is one error naming the allowed ones."""
    with pytest.raises(RecscaleError, match=r"bootstrap_solver must be one of batched, lbfgsb; got 'newton'"):
        JointOptions(bootstrap_solver="newton")
