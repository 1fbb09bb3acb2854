"""Warnings attached to a fit: parameters at bounds, too little x, non-monotone data, β–γ trade-off.

A flag is a stable code plus a sentence (:class:`~recscale.laws._common.Flag`); a fit is never
silently trusted where its data cannot support it. :func:`seed_mean_rises` is the report's check
that a seed-mean curve does not rise beyond its noise, kept here so the report computes no
statistics of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from recscale.laws._common import Flag, decades
from recscale.laws.forms import POWER_FORMS
from recscale.laws.options import FitOptions
from recscale.laws.result import PowerLawFit


def fit_flags(fit: PowerLawFit, lo: float, hi: float, opts: FitOptions, n_failed: int, bootstrap: int) -> tuple[Flag, ...]:
    """Collect warnings: bounds, coverage of x, monotonicity, β–γ trade-off, bootstrap failures."""
    gamma_fixed = lo == hi
    flags: list[Flag] = []
    p = fit.params
    blo, bhi = opts.beta_bounds
    for name in ("beta", "beta2") if fit.form in POWER_FORMS else ():
        if name in p and name in fit.free:
            if p[name] <= blo * (1 + 1e-6) or p[name] >= bhi * (1 - 1e-6):
                flags.append(Flag("param_at_bound", f"{name} = {p[name]:.4g} is at its bound {opts.beta_bounds}; "
                                  "the data do not determine it (add points beyond the largest x)"))
    if p["alpha"] <= 0 and fit.form in POWER_FORMS:
        flags.append(Flag("param_at_bound", "alpha = 0: the data show no decrease with x; the fit is a constant"))
    if not gamma_fixed and fit.form != "powerlaw":
        span = max(abs(p["gamma"]), 1e-12)
        if abs(p["gamma"] - lo) <= 1e-6 * span + 1e-12:
            if lo > 0:
                # A known floor (e.g. the eval rows' true-probability NE): the law is not a pure power law.
                flags.append(Flag("param_at_bound", f"gamma = {p['gamma']:.4g} is at the floor it is bounded by ({lo:.4g}): "
                                  "the curve shows no floor above it within the data; beta is measured with the floor "
                                  "held there"))
            else:
                flags.append(Flag("param_at_bound", f"gamma is at its lower bound 0: the curve shows no floor within the "
                                  "data; beta is that of a pure power law"))
        if math.isfinite(hi) and abs(p["gamma"] - hi) <= 1e-6 * span:
            flags.append(Flag("param_at_bound", f"gamma = {p['gamma']:.4g} is at its upper bound {hi:g}"))
    dec = decades(fit.x)
    nd = np.unique(fit.x).size
    if dec < opts.min_decades:
        flags.append(Flag("narrow_range", f"x spans {dec:.2f} decades (< {opts.min_decades:g}): beta and gamma are hard to "
                          "separate; extend x, or bound gamma from outside (recscale fit --gamma-bounds LO,HI)"))
    if dec > 0 and nd / dec < opts.min_points_per_decade:
        flags.append(Flag("few_points_per_decade", f"{nd} distinct x over {dec:.2f} decades = {nd / dec:.2f} per decade "
                          f"(< {opts.min_points_per_decade:g})"))
    mono = monotonicity(fit)
    if mono:
        flags.append(Flag("non_monotone", mono))
    if not gamma_fixed and fit.form in ("powerlaw_const", "broken_powerlaw"):
        corr = fit.beta_gamma_corr
        width = None
        if fit.draws is not None:
            lo_b, hi_b = fit.ci(0.95)["beta"]
            width = (hi_b - lo_b) / max(p["beta"], 1e-12)
        elif fit.se_asymptotic.get("beta") is not None:
            width = 2 * 1.96 * fit.se_asymptotic["beta"] / max(p["beta"], 1e-12)
        elif fit.form == "powerlaw_const":
            width = math.inf  # singular Jacobian: β not separable from γ at all
        if width is not None and width > opts.tradeoff_rel_width and (corr is None or abs(corr) >= opts.tradeoff_corr):
            cs = f"{corr:+.2f}" if corr is not None else "undefined (singular)"
            flags.append(Flag("beta_gamma_tradeoff", f"beta and gamma trade off (correlation {cs}); the 95% interval of beta "
                              f"is {width:.0%} of beta wide: the data do not pin down the exponent; fix or bound gamma "
                              "from outside (recscale fit --gamma VALUE or --gamma-bounds LO,HI) or extend x"))
    if bootstrap and n_failed / bootstrap > opts.max_failed_share:
        flags.append(Flag("bootstrap_failures", f"{n_failed} of {bootstrap} bootstrap refits were degenerate (too few distinct x) "
                          "and were dropped; intervals may be too narrow"))
    return tuple(flags)


def monotonicity(fit: PowerLawFit) -> str | None:
    """Describe departures from a decreasing curve larger than the noise, or None."""
    ux, inv = np.unique(fit.x, return_inverse=True)
    if ux.size < 3:
        return None
    w = np.bincount(inv, weights=fit.weights)
    m = np.bincount(inv, weights=fit.weights * np.log(np.abs(fit.y))) / w
    noise = fit.rmse_log if math.isfinite(fit.rmse_log) else 0.0
    # Noise of one x-mean, from the residual scale; a rise of 3 s.d. of a difference is not noise.
    sd_mean = noise / np.sqrt(np.bincount(inv).astype(float))
    tol = 3.0 * np.sqrt(sd_mean[1:] ** 2 + sd_mean[:-1] ** 2)
    rises = np.diff(m) > tol
    rho = stats.spearmanr(ux, m)[0] if np.std(m) > 0 else 0.0
    tail_rise = m[-1] - m.min() > 3.0 * math.sqrt(2) * max(sd_mean.max(), 0.0) and np.argmin(m) < ux.size - 1
    if rises.any() or rho > 0 or tail_rise:
        parts = []
        if rises.any():
            parts.append(f"{int(rises.sum())} rise(s) between consecutive x larger than 3 noise s.d.")
        if tail_rise:
            parts.append(f"y at the largest x is above its minimum (at x = {ux[np.argmin(m)]:.4g}) by more than the noise")
        if rho > 0:
            parts.append(f"y increases with x overall (Spearman {rho:+.2f})")
        return "data are not decreasing in x: " + "; ".join(parts) + "; a power law may not describe them"
    return None


@dataclass(frozen=True)
class Rises:
    """Rises of a seed-mean curve beyond its noise (see :func:`seed_mean_rises`).

    Attributes:
        count: Number of consecutive-x rises beyond tolerance.
        largest: Index i of the largest relative rise (from x[i] to x[i + 1]).
    """

    count: int
    largest: int


def seed_mean_rises(mean_y: np.ndarray, sd_y: np.ndarray, n_y: np.ndarray, rise_tol: float) -> Rises | None:
    """Rises of the seed-mean NE between consecutive x beyond noise, or None.

    A rise counts when it exceeds both ``rise_tol`` (relative) and twice the standard error of the
    difference of the two means (sd/√n each; a single seed has no spread and contributes 0).
    """
    m, sd, n = mean_y, sd_y, n_y
    if m.size < 2:
        return None
    se = np.where(np.isfinite(sd), sd / np.sqrt(n), 0.0)
    tol = np.maximum(rise_tol * m[:-1], 2.0 * np.sqrt(se[1:] ** 2 + se[:-1] ** 2))
    rise = np.diff(m)
    bad = np.flatnonzero(rise > tol)
    if not bad.size:
        return None
    return Rises(count=int(len(bad)), largest=int(bad[np.argmax(rise[bad] / m[bad])]))
