"""Power law plus constant: planted-truth recovery, honest uncertainty, flags, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from recscale.errors import RecscaleError
from recscale.laws import FitOptions, backtest, compare_forms, fit_power_law


def curve(beta=0.3, gamma=0.7, reducible=0.1, n=12, decades=3.0, noise=0.0, seed=0, x0=1e6):
    """NE curve with NE(x0) = gamma + reducible, multiplicative log-normal noise."""
    x = np.geomspace(x0, x0 * 10**decades, n)
    alpha = reducible * x0**beta
    y = alpha * x**-beta + gamma
    if noise:
        y = y * np.exp(np.random.default_rng(seed).normal(0, noise, n))
    return x, y, alpha


def test_exact_curve_recovered_to_high_precision():
    """Check that noiseless data give back the planted α, β, γ almost exactly."""
    x, y, alpha = curve(beta=0.27, gamma=0.71)
    fit = fit_power_law(x, y, bootstrap=0)
    assert fit.beta == pytest.approx(0.27, rel=1e-6)
    assert fit.gamma == pytest.approx(0.71, rel=1e-7)
    assert fit.alpha == pytest.approx(alpha, rel=1e-5)
    assert fit.rmse_log < 1e-8
    assert fit.method.optimizer.converged
    np.testing.assert_allclose(fit.predict(x), y, rtol=1e-8)


@pytest.mark.parametrize("beta,gamma", [(0.05, 0.75), (0.2, 0.5), (0.5, 0.7)])
def test_noisy_curve_interval_covers_truth(beta, gamma):
    """Check that 95% intervals cover the planted β and γ on a typical noisy curve."""
    x, y, _ = curve(beta=beta, gamma=gamma, reducible=0.2, noise=0.002, seed=3, n=12)
    fit = fit_power_law(x, y, bootstrap=400, seed=1)
    ci = fit.ci(0.95)
    assert ci["beta"][0] <= beta <= ci["beta"][1]
    assert ci["gamma"][0] <= gamma <= ci["gamma"][1]
    assert ci["beta"][0] < fit.beta < ci["beta"][1]


def test_pure_power_law_is_log_linear():
    """Check that form='powerlaw' fixes γ = 0 and matches ordinary least squares in log-log."""
    x = np.geomspace(1e3, 1e6, 10)
    y = 5.0 * x**-0.4 * np.exp(np.random.default_rng(0).normal(0, 0.01, 10))
    fit = fit_power_law(x, y, form="powerlaw", bootstrap=0)
    slope, icpt = np.polyfit(np.log(x), np.log(y), 1)
    assert fit.gamma == 0.0 and "gamma" not in fit.free
    assert fit.beta == pytest.approx(-slope, rel=1e-6)
    assert fit.alpha == pytest.approx(np.exp(icpt), rel=1e-5)


def test_fixed_and_bounded_gamma():
    """Check that a fixed γ is respected with zero-width interval and bounds are honoured."""
    x, y, _ = curve(beta=0.35, gamma=0.7, noise=0.002, seed=5, decades=1.3, n=8)
    fixed = fit_power_law(x, y, gamma=0.7, bootstrap=200)
    assert fixed.gamma == 0.7 and fixed.free == ("alpha", "beta")
    assert fixed.ci()["gamma"] == (0.7, 0.7)
    assert fixed.method.gamma_constraint == "fixed"
    bounded = fit_power_law(x, y, gamma_bounds=(0.72, 0.8), bootstrap=100)
    lo, hi = bounded.ci()["gamma"]
    assert 0.72 <= bounded.gamma <= 0.8 and 0.72 <= lo <= hi <= 0.8
    assert "param_at_bound" in bounded.flag_codes  # truth 0.7 lies below the bound


def test_identifiability_is_shown_not_hidden():
    """Check that over ~1.3 decades β–γ trade-off gives a wide β interval, strong correlation and a flag,
    and that fixing γ from outside (a known floor) pins β down."""
    x, y, _ = curve(beta=0.5, gamma=0.75, reducible=0.05, decades=1.3, n=8, noise=0.002, seed=11)
    fit = fit_power_law(x, y, bootstrap=500, seed=0)
    lo, hi = fit.ci()["beta"]
    assert "beta_gamma_tradeoff" in fit.flag_codes
    assert "narrow_range" in fit.flag_codes
    assert fit.beta_gamma_corr > 0.8
    assert (hi - lo) > 0.5 * fit.beta
    assert lo <= 0.5 <= hi
    known = fit_power_law(x, y, gamma=0.75, bootstrap=500, seed=0)
    klo, khi = known.ci()["beta"]
    assert klo <= 0.5 <= khi
    assert (khi - klo) < 0.3 * (hi - lo)
    assert "beta_gamma_tradeoff" not in known.flag_codes


def test_seeded_and_reproducible():
    """Check that the same seed gives identical intervals and another seed different draws."""
    x, y, _ = curve(noise=0.003, seed=2)
    a = fit_power_law(x, y, bootstrap=200, seed=7)
    b = fit_power_law(x, y, bootstrap=200, seed=7)
    c = fit_power_law(x, y, bootstrap=200, seed=8)
    assert a.ci() == b.ci()
    np.testing.assert_array_equal(a.draws["beta"], b.draws["beta"])
    assert not np.array_equal(a.draws["beta"], c.draws["beta"])


def test_bootstrap_refits_are_not_warm_started():
    """Check that bootstrap β spread matches the asymptotic standard error (a warm-started refit that
    stops at once would give draws collapsed on the estimate)."""
    x, y, _ = curve(noise=0.003, seed=4, n=15)
    fit = fit_power_law(x, y, bootstrap=1000, seed=0)
    sd = np.nanstd(fit.draws["beta"])
    assert fit.method.bootstrap.warm_start is False
    assert 0.5 < sd / fit.se_asymptotic["beta"] < 2.0
    assert np.mean(fit.draws["beta"] == fit.beta) < 0.01


def test_predict_interval_contains_curve():
    """Check that the prediction band has the shape of x and brackets the fitted curve."""
    x, y, _ = curve(noise=0.003, seed=9)
    fit = fit_power_law(x, y, bootstrap=200)
    grid = np.geomspace(1e5, 1e10, 7)
    lo, hi = fit.predict_interval(grid)
    assert lo.shape == grid.shape
    assert np.all(lo <= fit.predict(grid)) and np.all(fit.predict(grid) <= hi)
    # Extrapolation far beyond the data is more uncertain than interpolation.
    assert (hi - lo)[-1] > (hi - lo)[2]
    lo1, hi1 = fit.predict_interval(3e7)
    assert np.ndim(lo1) == 0 and lo1 < hi1


def test_seeds_are_resampled_when_there_are_enough():
    """Check that several seeds per x are used: seed resampling with 6 seeds, residuals with 2."""
    x, _, _ = curve(n=8)
    rng = np.random.default_rng(0)
    xs, ys, ss = [], [], []
    for s in range(6):
        shift = rng.normal(0, 0.002)  # one run's curve moves together
        y = (0.1 * (x / 1e6) ** -0.3 + 0.7) * np.exp(shift + rng.normal(0, 0.001, x.size))
        xs.append(x), ys.append(y), ss.append(np.full(x.size, s))
    X, Y, S = map(np.concatenate, (xs, ys, ss))
    fit = fit_power_law(X, Y, seeds=S, bootstrap=300)
    assert fit.method.bootstrap.resample == "seeds"
    assert fit.dof == 5
    lo, hi = fit.ci()["beta"]
    assert lo <= 0.3 <= hi
    two = fit_power_law(X[S < 2], Y[S < 2], seeds=S[S < 2], bootstrap=100)
    assert two.method.bootstrap.resample == "residuals"
    pts = fit_power_law(X, Y, resample="points", bootstrap=100)
    assert pts.method.bootstrap.resample == "points"


def test_weights_change_the_fit():
    """Check that weights enter the objective: down-weighting an outlier moves the fit towards truth."""
    x, y, _ = curve(noise=0.0, n=10)
    y = y.copy()
    y[-1] *= 1.03
    plain = fit_power_law(x, y, bootstrap=0)
    w = np.ones(10)
    w[-1] = 1e-6
    weighted = fit_power_law(x, y, weights=w, bootstrap=0)
    assert abs(weighted.beta - 0.3) < 1e-3 < abs(plain.beta - 0.3)
    assert weighted.method.weights == "user"


def test_bca_and_percentile_intervals_available():
    """Check that the BCa and plain percentile methods give intervals around the estimate."""
    x, y, _ = curve(noise=0.003, seed=1)
    for method in ("bca", "percentile"):
        fit = fit_power_law(x, y, bootstrap=300, interval=method)
        lo, hi = fit.ci()["beta"]
        assert lo < fit.beta < hi
        assert fit.jack is not None if method == "bca" else fit.jack is None


def test_broken_power_law_recovers_a_break():
    """Check that the broken form finds a planted break and AIC prefers it there, but not on a plain curve."""
    x = np.geomspace(1e4, 1e9, 16)
    y = 0.5 + 2.0 * x**-0.1 * (1 + (x / 1e6) ** (1 / 0.5)) ** (-(0.6 - 0.1) * 0.5)
    y = y * np.exp(np.random.default_rng(0).normal(0, 0.0005, x.size))
    fit = fit_power_law(x, y, form="broken_powerlaw", bootstrap=0)
    assert fit.params["beta2"] == pytest.approx(0.6, rel=0.25)
    assert 1e5 < fit.params["break_x"] < 1e7
    table = compare_forms(x, y, forms=("powerlaw_const", "broken_powerlaw"))
    assert table.iloc[0]["form"] == "broken_powerlaw"
    xs, ys, _ = curve(noise=0.002, seed=3, n=14)
    table2 = compare_forms(xs, ys, forms=("powerlaw_const", "powerlaw"))
    assert table2.iloc[0]["form"] == "powerlaw_const"
    assert table2.set_index("form").loc["powerlaw", "backtest_rmse_log"] > table2.set_index("form").loc["powerlaw_const", "backtest_rmse_log"]


def test_broken_needs_enough_points():
    """Check that the 6-parameter broken form refuses 6 points."""
    x, y, _ = curve(n=6)
    with pytest.raises(RecscaleError, match=r"got 6 points; at least 7"):
        fit_power_law(x, y, form="broken_powerlaw", bootstrap=0)


def test_backtest_scores_extrapolation():
    """Check that backtest fits below the cut and scores the points above it."""
    x, y, _ = curve(noise=0.001, seed=5, n=12)
    bt = backtest(fit_power_law, x, y, x_cut=x[8], bootstrap=0)
    assert (bt.n_train, bt.n_test) == (9, 3)
    assert bt.rmse_log < 0.01
    assert abs(bt.bias_log) <= bt.rmse_log
    bad = backtest(fit_power_law, x, y, x_cut=x[8], form="powerlaw", bootstrap=0)
    assert bad.bias_log < 0 and bad.rmse_log > bt.rmse_log  # no floor: it over-promises
    json.dumps(bt.to_dict(), allow_nan=False)
    with pytest.raises(RecscaleError, match=r"no points beyond x_cut"):
        backtest(fit_power_law, x, y, x_cut=x[-1])


def test_compare_forms_ranks_by_aicc_then_aic():
    """Check the ranking: AICc first (it penalises the 6-parameter broken law on 10 points), AIC breaks ties."""
    x = np.geomspace(1e6, 1e9, 10)
    y = (0.7 + 0.1 * (x / 1e6) ** -0.05 * (1 + (x / 3e7) ** 2) ** (-0.5 * 0.6)) * np.exp(
        np.random.default_rng(1).normal(0, 0.002, x.size))
    df = compare_forms(x, y)
    ranked = df.dropna(subset=["aicc"])
    assert list(ranked["aicc"]) == sorted(ranked["aicc"])
    assert df["aicc"].isna().sum() == 0 or df["aicc"].isna().to_numpy()[-1]
    by_aic = df.sort_values("aic")["form"].iloc[0]
    assert by_aic == "broken_powerlaw"  # the broken law fits best in-sample ...
    assert df["form"].iloc[0] != "broken_powerlaw"  # ... but its AICc penalty ranks it below a simpler form
    assert df.loc[df["form"] == "broken_powerlaw", "delta_aicc"].iloc[0] > 0


def test_flags_for_bad_data():
    """Check the flags: non-monotone data, too few points per decade, flat data at a bound."""
    x = np.geomspace(1e6, 1e9, 10)
    u = 0.7 + 0.05 * (np.log10(x) - 7.3) ** 2  # U-shaped: overfitting at large x
    fit = fit_power_law(x, u, bootstrap=0)
    assert "non_monotone" in fit.flag_codes
    x5 = np.geomspace(1e3, 1e9, 5)
    fit5 = fit_power_law(x5, 0.1 * (x5 / 1e3) ** -0.3 + 0.7, bootstrap=0)
    assert "few_points_per_decade" in fit5.flag_codes
    flat = fit_power_law(x, np.full(10, 0.8) * np.exp(np.random.default_rng(0).normal(0, 1e-4, 10)), bootstrap=0)
    assert "param_at_bound" in flat.flag_codes
    clean, _, _ = curve(noise=0.001, seed=0)
    assert "non_monotone" not in fit_power_law(clean, curve(noise=0.001, seed=0)[1], bootstrap=0).flag_codes


def test_to_dict_is_plain_json_without_nan():
    """Check that the summary serialises as strict JSON and records how the fit was made."""
    x, y, _ = curve(noise=0.002)
    d = fit_power_law(x, y, bootstrap=100, seed=3, trial_ids=list(range(12))).to_dict()
    s = json.dumps(d, allow_nan=False)
    assert '"form": "powerlaw_const"' in s
    m = d["method"]
    for key in ("form", "loss", "space", "weights", "n_points", "starts", "tolerances", "optimizer", "bootstrap"):
        assert key in m
    assert m["bootstrap"]["seed"] == 3 and d["trial_ids"] == list(range(12))
    assert set(d["ci"]) == {"alpha", "beta", "gamma"}
    d0 = fit_power_law(x, y, bootstrap=0).to_dict()
    assert d0["ci"] is None
    json.dumps(d0, allow_nan=False)


@pytest.mark.parametrize(
    "x,y,kwargs,match",
    [
        ([1, 2, 3], [3, 2, 1], {}, r"got 3 points; at least 4 are needed"),
        ([1, 2, -3, 4], [4, 3, 2, 1], {}, r"x must be finite and > 0; got x\[2\] = -3\.0"),
        ([1, 2, 0, 4], [4, 3, 2, 1], {}, r"x must be finite and > 0; got x\[2\] = 0\.0"),
        ([1, 2, 3, 4], [4, np.nan, 2, 1], {}, r"y must be finite; got y\[1\] = nan"),
        ([1, 2, 3, 4], [4, 3, np.inf, 1], {}, r"y must be finite; got y\[2\] = inf"),
        ([5, 5, 5, 5], [4, 3, 2, 1], {}, r"all x values are equal \(x = 5\.0\)"),
        ([1, 1, 2, 2], [4, 3, 2, 1], {}, r"got 2 distinct x values; this form needs at least 3"),
        ([1, 2, 3, 4], [4, 3, 2], {}, r"same length; got len\(x\) = 4, len\(y\) = 3"),
        ([1, 2, 3, 4], [4, 3, -2, 1], {}, r"y must be > 0 for a log-space fit; got y\[2\] = -2\.0"),
        ([1, 2, 3, 4], [4, 3, 2, 1], {"form": "exp"}, r"form must be one of 'powerlaw_const', 'powerlaw', 'broken_powerlaw', 'm4', 'auto'; got 'exp'"),
        ([1, 2, 3, 4], [4, 3, 2, 1], {"gamma": 0.5, "gamma_bounds": (0, 1)}, r"either gamma .* not both"),
        ([1, 2, 3, 4], [4, 3, 2, 1], {"form": "powerlaw", "gamma": 0.5}, r"form='powerlaw' has no floor"),
        ([1, 2, 3, 4], [4, 3, 2, 1], {"gamma": -1.0}, r"gamma must be a finite number >= 0; got gamma=-1\.0"),
        ([1, 2, 3, 4], [4, 3, 2, 1], {"gamma_bounds": (2, 1)}, r"gamma_bounds must satisfy 0 <= lo <= hi"),
        ([1, 2, 3, 4], [4, 3, 2, 1], {"bootstrap": -5}, r"bootstrap must be an integer >= 0; got -5"),
        ([1, 2, 3, 4], [4, 3, 2, 1], {"weights": [1, 1, -1, 1]}, r"weights must be finite and > 0; got weights\[2\] = -1\.0"),
        ([1, 2, 3, 4], [4, 3, 2, 1], {"weights": [1, 1]}, r"weights must have one value per point; got 2 for 4"),
        ([1, 2, 3, 4], [4, 3, 2, 1], {"seeds": [0, 1]}, r"seeds must have one label per point"),
        ([1, 2, 3, 4], [4, 3, 2, 1], {"resample": "seeds"}, r"resample='seeds' needs seeds"),
        ([1, 2, 3, 4], [4, 3, 2, 1], {"resample": "jackknife"}, r"resample must be one of"),
        ([1, 2, 3, 4], [4, 3, 2, 1], {"options": FitOptions(beta_bounds=(0.5, 0.1))}, r"options\.beta_bounds must satisfy"),
    ],
)
def test_errors_name_the_problem(x, y, kwargs, match):
    """Check that each bad input raises a RecscaleError naming the argument, value and what is allowed."""
    with pytest.raises(RecscaleError, match=match):
        fit_power_law(np.asarray(x, dtype=float), np.asarray(y, dtype=float), **kwargs)


def test_interval_requests_without_draws_or_bad_level():
    """Check that asking for intervals without bootstrap, or at a bad level, is a clear error."""
    x, y, _ = curve()
    fit = fit_power_law(x, y, bootstrap=0)
    with pytest.raises(RecscaleError, match=r"has bootstrap=0; refit with bootstrap=1000"):
        fit.ci()
    with pytest.raises(RecscaleError, match=r"has bootstrap=0"):
        fit.predict_interval(x)
    fitb = fit_power_law(x, y, bootstrap=20)
    with pytest.raises(RecscaleError, match=r"level must be in \(0, 1\), e\.g\. 0\.95; got 95"):
        fitb.ci(95)


def test_fifteen_points_thousand_bootstraps_all_succeed():
    """Check that 1,000 bootstrap refits of a 15-point curve all succeed (their speed: benchmarks/fit_speed.py)."""
    x, y, _ = curve(n=15, noise=0.003, seed=0)
    fit = fit_power_law(x, y, bootstrap=1000, seed=0)
    assert fit.method.bootstrap.n == 1000 and fit.method.bootstrap.failed == 0


def test_laws_never_import_torch():
    """Check that recscale.laws and its CLI module load without torch."""
    code = "import sys, recscale.laws, recscale.cli.laws; assert 'torch' not in sys.modules, 'torch imported'"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
