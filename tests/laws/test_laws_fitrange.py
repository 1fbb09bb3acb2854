"""The fit-range rule on curves with known truth: a start-up is left out, a clean power law is not."""

from __future__ import annotations

import numpy as np
import pytest

from recscale.laws import fit_power_law
from recscale.laws.fitrange import fit_start, resolve_fit_range, start_sensitivity
from recscale.laws.simulate import planted_curve, startup_curve


def test_start_up_is_left_out_and_the_exponent_is_then_recovered():
    """Check that planted start-ups are cut, and that the fit on the range recovers the planted β far better."""
    rng = np.random.default_rng(7)
    n, cut, inside = 30, 0, 0
    err_cut, err_all = [], []
    for i in range(n):
        x, y, beta = startup_curve(rng)
        fr = fit_start(x, y, fit_fn=fit_power_law)
        cut += fr.n_left_out > 0
        m = fr.mask(x)
        f = fit_power_law(x[m], y[m], bootstrap=200, seed=i)
        lo, hi = f.ci()["beta"]
        inside += lo <= beta <= hi
        err_cut.append(abs(f.beta - beta))
        err_all.append(abs(fit_power_law(x, y, bootstrap=0).beta - beta))
    assert cut >= 0.95 * n
    assert np.median(err_cut) < 0.5 * np.median(err_all)
    assert inside >= 0.7 * n


@pytest.mark.parametrize("shape", ["powerlaw_const", "broken_inside"])
def test_clean_curves_are_not_cut(shape):
    """Check that the rule leaves (almost) every planted curve without a start-up whole."""
    rng = np.random.default_rng(3)
    cut = sum(fit_start((c := planted_curve(shape, rng)).x, c.y).n_left_out > 0 for _ in range(300))
    assert cut <= 0.03 * 300


def test_noise_free_power_law_is_never_cut_and_flat_curve_is_not_cut():
    x = np.geomspace(1e3, 1e6, 12)
    assert fit_start(x, 0.7 + 0.3 * x ** -0.3).n_left_out == 0
    rng = np.random.default_rng(0)
    flat = 0.85 * np.exp(rng.normal(0, 0.002, 12))
    assert sum(fit_start(x, 0.85 * np.exp(rng.normal(0, 0.002, 12))).n_left_out > 0 for _ in range(100)) <= 3
    assert fit_start(x, flat).x_start >= x[0]


def test_too_few_points_after_the_start_up_keeps_every_point_and_says_why():
    x = np.geomspace(1e3, 1e5, 9)
    y = np.array([1.0, 0.999, 0.998, 0.997, 0.996, 0.90, 0.86, 0.85, 0.845])
    fr = fit_start(x, y)
    assert fr.n_left_out == 0 and "train further" in fr.reason


def test_resolve_choices():
    x = np.repeat(np.geomspace(1e3, 1e5, 8), 2)
    y = 0.7 + 0.3 * x ** -0.3
    assert resolve_fit_range(x, y, "all").n_left_out == 0
    given = resolve_fit_range(x, y, 1e4)
    assert given.rule == "given" and given.mask(x).sum() == (x >= 1e4).sum()


def test_start_sensitivity_flags_a_start_up_and_passes_a_power_law():
    """Check that β moving beyond its interval when the first point is dropped is flagged, and only then."""
    rng = np.random.default_rng(11)
    x = np.geomspace(4096, 524288, 15)
    clean = (0.8 + 0.4 * (x / 4096) ** -0.3) * np.exp(rng.normal(0, 0.002, x.size))
    fit = fit_power_law(x, clean, bootstrap=300, seed=0)
    assert start_sensitivity(fit_power_law, fit, x, clean).ok is True
    rng = np.random.default_rng(5)
    flagged = 0
    for _ in range(10):
        xg, yg, _ = startup_curve(rng)
        fit = fit_power_law(xg, yg, bootstrap=200, seed=0)
        s = start_sensitivity(fit_power_law, fit, xg, yg)
        flagged += s.ok is False and s.flag().code == "start_dependent"
    assert flagged >= 5  # a fit through a plateau has wide intervals, which hide some


def test_the_walk_leaves_clean_power_laws_whole():
    """Check that with the in-regime walk on, planted power laws + constant are still (almost) never cut."""
    rng = np.random.default_rng(21)
    cut = sum(fit_start((c := planted_curve("powerlaw_const", rng)).x, c.y, fit_fn=fit_power_law).n_left_out > 0
              for _ in range(60))
    assert cut <= 2


def test_chinchilla_compute_frontier_is_fitted_whole():
    """Check that the published Chinchilla runs' compute frontier has no start-up: its fit is unchanged by the rule."""
    from pathlib import Path

    import pandas as pd

    from recscale.laws import pareto_frontier

    df = pd.read_csv(Path(__file__).resolve().parent / "data" / "epoch_chinchilla.csv")
    df = df.drop(df["loss"].nlargest(5).index)
    idx = pareto_frontier(df["Training FLOP"], df["loss"])
    x, y = df["Training FLOP"].to_numpy(float)[idx], df["loss"].to_numpy(float)[idx]
    fr = fit_start(x, y, fit_fn=fit_power_law)
    assert fr.n_left_out == 0, fr.reason
    whole = fit_power_law(x, y, bootstrap=0)
    ranged = fit_power_law(x[fr.mask(x)], y[fr.mask(x)], bootstrap=0)
    assert ranged.params == whole.params


def test_the_range_does_not_depend_on_row_order():
    """Check that shuffling the rows (a CSV's order against the report's sorted curve) gives the same range."""
    rng = np.random.default_rng(2)
    x, y, _ = startup_curve(rng)
    x2, y2 = np.tile(x, 2), np.concatenate([y, y * np.exp(rng.normal(0, 0.002, y.size))])
    seeds = np.repeat([0, 1], x.size)
    perm = rng.permutation(x2.size)
    a = fit_start(x2, y2, fit_fn=fit_power_law, seeds=seeds)
    b = fit_start(x2[perm], y2[perm], fit_fn=fit_power_law, seeds=seeds[perm])
    assert (a.x_start, a.n_left_out) == (b.x_start, b.n_left_out)


def test_in_regime_check_is_not_judged_on_too_few_points():
    """Check that a 4-size curve (a parameter axis) gets no in-regime verdict: 3 points cannot judge a refit."""
    x = np.repeat([1e3, 1e4, 1e5, 1e6], 2)
    y = (0.8 + 0.3 * x ** -0.2) * np.exp(np.random.default_rng(0).normal(0, 0.003, x.size))
    fit = fit_power_law(x, y, bootstrap=100, seed=0)
    s = start_sensitivity(fit_power_law, fit, x, y)
    assert s.ok is None and s.flag() is None


def test_a_curve_that_learns_from_its_first_point_and_wiggles_is_not_cut():
    """Check the demo's embedding_dim 128 curve (seed means, stop 25 ledger): it falls from its first checkpoint, its
    slope wiggling by ±50% (the shared training stream), and has no start-up. A median-based noise estimate put the
    noise at a third of the second differences' RMS and cut six points; the trimmed RMS keeps them all."""
    x = np.array([4096, 5888, 8192, 11520, 16384, 23296, 32768, 46336, 65536, 92672, 131072, 185344, 262144, 370688,
                  524288], dtype=float)
    y = np.array([0.9521, 0.9436, 0.9341, 0.9308, 0.922, 0.9121, 0.9001, 0.8945, 0.8857, 0.8788, 0.8707, 0.861, 0.8558,
                  0.8484, 0.8385])
    fr = fit_start(x, y, fit_fn=fit_power_law, gamma_bounds=(0.7367, np.inf))
    assert fr.n_left_out == 0, fr.reason


def test_heavy_tailed_noise_on_a_clean_power_law_is_rarely_read_as_a_start_up():
    """Check planted power laws + constant with Student-t (3 d.o.f.) noise on the demo's 15 checkpoints: at most 2%
    are cut (6 of these 400 are; a median-based noise estimate cut 11)."""
    rng = np.random.default_rng(0)
    x = np.geomspace(4096, 524288, 15)
    cut = 0
    for _ in range(400):
        g, r, b = rng.uniform(0.7, 0.85), rng.uniform(0.05, 0.3), rng.uniform(0.15, 0.5)
        y = g * (1 + r * (x / 4096) ** -b) * np.exp(rng.uniform(0.0005, 0.003) * rng.standard_t(3, x.size))
        cut += fit_start(x, y).n_left_out > 0
    assert cut <= 8
