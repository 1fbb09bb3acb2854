"""Prediction intervals: where a new measurement will fall, checked by coverage on simulated curves."""

from __future__ import annotations

import numpy as np
import pytest

from recscale.errors import RecscaleError
from recscale.laws import fit_power_law, plan_for_target


def _simulated_curve(rng: np.random.Generator):
    """A power law + constant with random shape: 6–15 points over 1.5–3 decades, 0.1–1% noise."""
    n = int(rng.integers(6, 16))
    dec = rng.uniform(1.5, 3.0)
    noise = rng.uniform(0.001, 0.01)
    beta, gamma, red = rng.uniform(0.1, 0.6), rng.uniform(0.5, 0.9), rng.uniform(0.05, 0.5)
    x = np.geomspace(1e6, 1e6 * 10**dec, n)

    def truth(xx):
        return gamma * (1 + red * (xx / 1e6) ** -beta)

    y = truth(x) * np.exp(rng.normal(0, noise, n))
    x_new = x[-1] * np.array([2.0, 4.0])
    y_new = truth(x_new) * np.exp(rng.normal(0, noise, 2))
    return x, y, x_new, y_new


def test_prediction_intervals_cover_new_measurements_at_2x_and_4x():
    """Check 95% prediction intervals cover truth+noise 2× and 4× beyond the data in 90–98% of 300 curves.

    The curve band (predict_interval) is for the law, not a measurement, and covers clearly less.
    """
    rng = np.random.default_rng(2024)
    hits = np.zeros(2)
    band_hits = np.zeros(2)
    n_curves = 300
    for i in range(n_curves):
        x, y, x_new, y_new = _simulated_curve(rng)
        fit = fit_power_law(x, y, bootstrap=200, seed=i)
        lo, hi = fit.prediction_interval(x_new, level=0.95)
        hits += (y_new >= lo) & (y_new <= hi)
        blo, bhi = fit.predict_interval(x_new, level=0.95)
        band_hits += (y_new >= blo) & (y_new <= bhi)
        assert np.all(lo <= blo) and np.all(hi >= bhi)
    coverage = hits / n_curves
    assert np.all((coverage >= 0.90) & (coverage <= 0.98)), coverage
    assert np.all(band_hits / n_curves < coverage), (band_hits / n_curves, coverage)


def test_prediction_interval_widens_with_noise_and_seed_spread():
    """Check the noise term: σ from residuals, or from seed-to-seed spread when larger."""
    x = np.geomspace(1e6, 1e9, 10)
    y = 0.7 + 0.1 * (x / 1e6) ** -0.3
    rng = np.random.default_rng(0)
    quiet = fit_power_law(x, y * np.exp(rng.normal(0, 0.001, x.size)), bootstrap=200, seed=0)
    loud = fit_power_law(x, y * np.exp(rng.normal(0, 0.01, x.size)), bootstrap=200, seed=0)
    assert loud.noise_log > 5 * quiet.noise_log
    w_quiet = np.log(np.divide(*quiet.prediction_interval(2e9)[::-1]))
    w_loud = np.log(np.divide(*loud.prediction_interval(2e9)[::-1]))
    assert w_loud > 3 * w_quiet
    # Two seeds per x, curves offset by ±1%: the seed-to-seed s.d. (0.01·√2) exceeds the residual scale.
    xs = np.repeat(x, 2)
    ys = np.repeat(y, 2) * np.exp(np.tile([-0.01, 0.01], x.size))
    two = fit_power_law(xs, ys, seeds=np.tile([0, 1], x.size), bootstrap=200, seed=0)
    assert two.noise_log == pytest.approx(0.01 * np.sqrt(2), rel=1e-6)
    with pytest.raises(RecscaleError, match="needs bootstrap draws"):
        fit_power_law(x, y, bootstrap=0).prediction_interval(2e9)


def test_plan_interval_is_read_off_the_prediction_interval():
    """Check a plan's x interval: the prediction interval's edges reach the target at its two ends."""
    x = np.geomspace(1e6, 1e9, 12)
    y = (0.7 + 0.1 * (x / 1e6) ** -0.3) * np.exp(np.random.default_rng(1).normal(0, 0.003, x.size))
    fit = fit_power_law(x, y, bootstrap=300, seed=0)
    target = float(fit.predict(x[-1])) * 0.995
    plan = plan_for_target(fit, target)
    lo_x, hi_x = plan.x_interval
    assert lo_x < plan.x_needed < hi_x
    assert fit.prediction_interval(lo_x)[0] == pytest.approx(target, rel=1e-6)
    assert fit.prediction_interval(hi_x)[1] == pytest.approx(target, rel=1e-6)
