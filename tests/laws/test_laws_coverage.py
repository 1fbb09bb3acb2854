"""Statistical validation of fit_power_law on simulated curves with known truth.

The design follows the issue: β from 0.05 to 0.5, γ/NE between 0.5 and 0.95 (γ over NE at the
smallest x, the hardest reading), 6–15 points spread over 2–3 decades, multiplicative noise from
0.1% to 1% (log-uniform). Seeded, so a failure is reproducible.
"""

from __future__ import annotations

import numpy as np

from recscale.laws import fit_power_law


def simulate(rng: np.random.Generator, noise: float | None = None):
    """One curve with planted truth; returns x, y, beta, gamma."""
    beta = rng.uniform(0.05, 0.5)
    floor_share = rng.uniform(0.5, 0.95)
    n = int(rng.integers(6, 16))
    dec = rng.uniform(2.0, 3.0)
    if noise is None:
        noise = float(np.exp(rng.uniform(np.log(1e-3), np.log(1e-2))))
    x_min, ne0 = 1e6, 0.8
    x = np.geomspace(x_min, x_min * 10**dec, n)
    gamma = floor_share * ne0
    alpha = (1 - floor_share) * ne0 * x_min**beta
    y = (alpha * x**-beta + gamma) * np.exp(rng.normal(0, noise, n))
    return x, y, beta, gamma


def test_intervals_cover_truth_in_at_least_90_percent_of_200_curves():
    """Check that 95% intervals for β and γ cover the planted values in >= 90% of 200 curves.

    Measured with this seed: β 94.5%, γ 94.0% (plain percentile intervals gave ~89-90%; see
    PowerLawFit.stat_interval for the expansion that fixes this).
    """
    rng = np.random.default_rng(123)
    hits_b = hits_g = 0
    for i in range(200):
        x, y, beta, gamma = simulate(rng)
        ci = fit_power_law(x, y, bootstrap=400, seed=i).ci(0.95)
        hits_b += ci["beta"][0] <= beta <= ci["beta"][1]
        hits_g += ci["gamma"][0] <= gamma <= ci["gamma"][1]
    assert hits_b / 200 >= 0.90, f"beta coverage {hits_b / 200:.3f}"
    assert hits_g / 200 >= 0.90, f"gamma coverage {hits_g / 200:.3f}"
    # Not grossly conservative either: intervals that always cover would be useless.
    assert hits_b / 200 <= 0.99 and hits_g / 200 <= 0.99


def test_median_relative_error_of_beta_below_5_percent_at_01_percent_noise():
    """Check that at 0.1% noise the median relative error of β over 200 curves is under 5%.

    Measured with this seed: 1.7%.
    """
    rng = np.random.default_rng(123)
    errs = []
    for _ in range(200):
        x, y, beta, _ = simulate(rng, noise=1e-3)
        errs.append(abs(fit_power_law(x, y, bootstrap=0).beta - beta) / beta)
    assert np.median(errs) < 0.05, f"median relative error {np.median(errs):.4f}"
