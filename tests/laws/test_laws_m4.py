"""M4 (Alabdulmohsin et al. 2022): implicit prediction, inverse, and planted-truth recovery."""

from __future__ import annotations

import numpy as np
import pytest

from recscale.errors import RecscaleError
from recscale.laws import FitOptions, fit_power_law, plan_for_target
from recscale.laws.forms import predict, x_for_value

TRUTH = {"alpha": 0.6, "beta": 200.0, "gamma": 0.70, "c": -0.5, "eps0": 1.0}
X = np.geomspace(1e4, 1e7, 14)


def test_prediction_solves_the_implicit_equation_and_decreases():
    """Check (ŷ − ε∞)/(ε0 − ŷ)^α = β·x^c at every x, monotone decrease, and the closed-form inverse."""
    y = predict("m4", TRUTH, X)
    lhs = (y - TRUTH["gamma"]) / (TRUTH["eps0"] - y) ** TRUTH["alpha"]
    assert lhs == pytest.approx(TRUTH["beta"] * X ** TRUTH["c"], rel=1e-9)
    assert np.all(np.diff(y) < 0) and np.all((y > TRUTH["gamma"]) & (y < TRUTH["eps0"]))
    assert x_for_value("m4", TRUTH, float(y[5]), X[0], X[-1])[0] == pytest.approx(X[5], rel=1e-8)
    assert x_for_value("m4", TRUTH, 0.69, X[0], X[-1])[0] == np.inf  # below the floor: never


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_m4_recovered_within_intervals(seed):
    """Check ε∞, α, β, c (ε0 fitted too) lie within their 95% bootstrap intervals on noisy planted curves."""
    y = predict("m4", TRUTH, X) * np.exp(np.random.default_rng(seed).normal(0, 0.002, X.size))
    fit = fit_power_law(X, y, form="m4", bootstrap=40, seed=seed)
    ci = fit.ci()
    for name in ("gamma", "alpha", "beta", "c", "eps0"):
        lo, hi = ci[name]
        assert lo <= TRUTH[name] <= hi, (name, lo, TRUTH[name], hi)
    assert fit.method.form == "m4" and fit.method.optimizer.converged
    assert fit.rmse_log < 0.004


def test_m4_with_known_eps0_and_planning():
    """Check a fixed ε0 (NE's base-rate value 1.0) is honoured, and a plan inverts the fitted law."""
    y = predict("m4", TRUTH, X) * np.exp(np.random.default_rng(5).normal(0, 0.001, X.size))
    fit = fit_power_law(X, y, form="m4", bootstrap=30, seed=0, options=FitOptions(m4_eps0=1.0))
    assert fit.params["eps0"] == 1.0 and "eps0" not in fit.free and fit.method.n_free == 4
    target = float(fit.predict(X[-1])) * 0.99
    plan = plan_for_target(fit, target)
    assert plan.reachable and fit.predict(plan.x_needed) == pytest.approx(target, rel=1e-8)
    with pytest.raises(RecscaleError, match="form='m4' cannot fix gamma"):
        fit_power_law(X, y, form="m4", gamma=0.7, bootstrap=0)


def test_m4_refit_jacobian_matches_finite_differences():
    """Check the analytic Jacobian of the batched refits (implicit differentiation, internal coordinates) against central differences."""
    from recscale.laws import m4

    rng = np.random.default_rng(3)
    t = np.linspace(-3, 3, 9)
    for eps0_fixed in (None, 1.0):
        theta = np.column_stack([rng.uniform(0.3, 0.5, 6), rng.uniform(0, 3, 6), rng.normal(-1, 0.3, 6),
                                 rng.uniform(-0.8, -0.1, 6)] + ([np.log(rng.uniform(1.2, 5, 6))] if eps0_fixed is None else []))
        phi = m4._to_internal(theta, eps0_fixed)
        back, M = m4._from_internal(phi, eps0_fixed)
        assert np.allclose(back, theta, rtol=1e-12, atol=1e-12)
        _, d = m4._model(back, t, eps0_fixed, jac=True)
        analytic = np.einsum("rnp,rpq->rnq", d, M)
        for j in range(phi.shape[1]):
            h = 1e-6 * np.maximum(1.0, np.abs(phi[:, j]))
            up, dn = phi.copy(), phi.copy()
            up[:, j] += h
            dn[:, j] -= h
            num = (m4._model(m4._from_internal(up, eps0_fixed)[0], t, eps0_fixed, jac=False)[0]
                   - m4._model(m4._from_internal(dn, eps0_fixed)[0], t, eps0_fixed, jac=False)[0]) / (2 * h[:, None])
            assert np.allclose(analytic[:, :, j], num, rtol=1e-5, atol=1e-8), (eps0_fixed, j)


def test_m4_intervals_cover_planted_truth_on_many_curves():
    """Check 95% bootstrap intervals of ε∞, α, β, c, ε0 hold the planted value on ≥ 80% of 24 slow-start curves."""
    rng = np.random.default_rng(0)
    names = ("gamma", "alpha", "beta", "c", "eps0")
    hits = dict.fromkeys(names, 0)
    n = 24
    for i in range(n):
        gamma, alpha, c, frac = rng.uniform(0.6, 0.8), rng.uniform(0.5, 1.5), -rng.uniform(0.3, 0.6), rng.uniform(0.6, 0.85)
        d = 1.0 - gamma  # ε0 = 1; at the first x, ε − ε∞ is frac of its ceiling: a slow start
        truth = {"alpha": alpha, "gamma": gamma, "c": c, "eps0": 1.0,
                 "beta": frac * d / (d * (1 - frac)) ** alpha * X[0] ** -c}
        y = predict("m4", truth, X) * np.exp(rng.normal(0, 0.002, X.size))
        ci = fit_power_law(X, y, form="m4", bootstrap=100, seed=i).ci()
        for name in names:
            hits[name] += ci[name][0] <= truth[name] <= ci[name][1]
    coverage = {k: v / n for k, v in hits.items()}
    assert all(v >= 0.8 for v in coverage.values()), coverage
