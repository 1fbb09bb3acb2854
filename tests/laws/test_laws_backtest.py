"""Backtests are judged by prediction intervals: where a held-out measurement falls, not where the curve lies."""

from __future__ import annotations

import numpy as np

from recscale.laws import backtest, fit_power_law

UX = np.geomspace(1e6, 1e9, 10)
X = np.repeat(UX, 3)
SEEDS = np.tile([0, 1, 2], UX.size)


def _noisy(rng_seed: int, noise: float = 0.004) -> np.ndarray:
    """A planted power law + constant, three seeds per x, 0.4% log-normal noise per measurement."""
    rng = np.random.default_rng(rng_seed)
    return (0.7 + 0.1 * (X / 1e6) ** -0.3) * np.exp(rng.normal(0.0, noise, X.size))


def test_backtest_interval_is_the_prediction_interval_and_holds_held_out_measurements():
    """Check Backtest.lo/hi are the fit's prediction interval (at least as wide as the curve band at every
    held-out x) and that, over 12 planted noisy curves, it holds most held-out single measurements where the
    curve band, which leaves out their noise, misses more of them."""
    inside_pi = inside_band = n = 0
    for s in range(12):
        y = _noisy(s)
        bt = backtest(fit_power_law, X, y, UX[6], seeds=SEEDS, level=0.95, bootstrap=100, seed=0)
        lo_pi, hi_pi = bt.fit.prediction_interval(bt.x_test, level=0.95)
        lo_c, hi_c = bt.fit.predict_interval(bt.x_test, level=0.95)
        assert np.array_equal(bt.lo, lo_pi) and np.array_equal(bt.hi, hi_pi)
        assert np.all(bt.lo <= lo_c) and np.all(bt.hi >= hi_c) and np.all(bt.hi - bt.lo > hi_c - lo_c)
        band = int(np.sum((bt.y_test >= lo_c) & (bt.y_test <= hi_c)))
        assert bt.inside >= band
        inside_pi += bt.inside
        inside_band += band
        n += bt.n_test
    assert n == 12 * 9
    assert inside_pi >= 0.85 * n, (inside_pi, n)
    assert inside_band < inside_pi - 0.05 * n, (inside_band, inside_pi, n)


def test_backtest_without_draws_has_no_interval():
    """Check a backtest without bootstrap draws reports no interval and no inside count (not a zero)."""
    bt = backtest(fit_power_law, X, _noisy(0), UX[6], seeds=SEEDS, level=0.95, bootstrap=0)
    assert bt.lo is None and bt.hi is None and bt.inside is None
