"""Power law plus constant, NE(x) = α·x^(−β) + γ, fitted so that its uncertainty can be trusted.

Why this module exists: a scaling exponent read off a handful of noisy points is easy to get
confidently wrong. Over less than about two decades of x, β and γ trade off (a steeper curve with a
higher floor fits almost as well as a flatter one with a lower floor), and a local optimiser started
in the wrong place reports whichever it lands on. This fitter therefore

* searches β **globally**: for fixed β the model is linear in (α, γ), so those are solved exactly by
  bounded linear least squares (variable projection) on a grid of β, and the best grid cell is
  refined by golden-section search on the resulting profile, then polished by a bounded
  trust-region least squares on all parameters;
* fits in **log space** by default (residual log y − log ŷ), matching multiplicative noise on NE
  (the inner linear solve is made exact in log space by a few Gauss–Newton reweightings);
* reports **bootstrap intervals** (residuals, points, or whole seeds resampled), with every
  bootstrap refit repeating the global search from scratch, so no refit is warm-started into
  stopping at the full-data optimum;
* shows the β–γ trade-off honestly: the β–γ correlation, a ``beta_gamma_tradeoff`` flag, and the
  option to fix or bound γ from outside (a known Bayes NE, or a floor shared by several curves).

Alternative forms for model comparison (see :mod:`recscale.laws.forms`): ``"powerlaw"`` (γ = 0) and ``"broken_powerlaw"`` (one break,
Caballero et al. 2022: ŷ = γ + α·x^(−β)·(1 + (x/x_b)^(1/s))^(−(β₂−β)·s), slope β before the break
x_b and β₂ after it, sharpness s).

Example:
    >>> import numpy as np
    >>> x = np.geomspace(1e5, 1e8, 10)
    >>> y = 2.0 * x**-0.3 + 0.7
    >>> fit = fit_power_law(x, y, bootstrap=200, seed=0)
    >>> round(fit.beta, 3), round(fit.gamma, 3)
    (0.3, 0.7)

The pieces live one concept a module: :mod:`~recscale.laws.forms` (the formulas),
:mod:`~recscale.laws.solve` (the search), :mod:`~recscale.laws.bootstrap` (refits and intervals),
:mod:`~recscale.laws.result` (the result value), :mod:`~recscale.laws.flags` (warnings) and
:mod:`~recscale.laws.backtest` and :mod:`~recscale.laws.compare` (backtests, model comparison). This module checks the inputs and
puts them together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recscale.errors import RecscaleError
from recscale.laws._common import blas_single_threaded, check_choice, check_curve, show
from recscale.laws.bootstrap import bootstrap_interval, jackknife, run_bootstrap
from recscale.laws.flags import fit_flags
from recscale.laws.forms import FORMS, n_free, param_names
from recscale.laws.forms import predict as predict_params
from recscale.laws.options import (
    DEFAULT_BOOTSTRAP,
    INTERVALS,
    RESAMPLES,
    SPACES,
    FitOptions,
    check_gamma,
    check_options,
)
from recscale.laws.result import BootstrapSettings, FitMethod, PowerLawFit, SolverStatus
from recscale.laws.solve import TINY, Problem, distinct_design, fit_rows, polish, to_original

__all__ = ["FORMS", "FitOptions", "PowerLawFit", "bootstrap_interval", "fit_power_law", "predict_params"]


@dataclass(frozen=True)
class _Diagnostics:
    """In-sample fit quality of the full-data estimate."""

    pred: np.ndarray
    resid_fit: np.ndarray
    sse: float
    rmse_log: float
    r2: float
    aic: float
    aicc: float | None
    bic: float


def _prepare(x, y, opts: FitOptions, caller: str, *, form, weights, seeds, gamma, gamma_bounds, space, resample, interval,
             bootstrap):
    """Check every input and return (Problem, resolved resample, number of seeds)."""
    check_choice("form", form, FORMS + ("auto",), caller=caller)
    check_choice("space", space, SPACES, caller=caller)
    check_choice("resample", resample, RESAMPLES, caller=caller)
    check_choice("interval", interval, INTERVALS, caller=caller)
    check_options(opts, caller)
    if not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise RecscaleError(f"{caller}: bootstrap must be an integer >= 0; got {show(bootstrap)}")
    lo, hi = check_gamma(form, gamma, gamma_bounds, caller)
    if form == "m4" and lo == hi:
        raise RecscaleError(f"{caller}: form='m4' cannot fix gamma (its floor ε∞); got gamma={show(gamma)}; "
                            "bound it instead, e.g. gamma_bounds=(lo, hi)")
    k = n_free(form, lo == hi, eps0_fixed=opts.m4_eps0 is not None)
    xa, ya = check_curve(x, y, caller=caller, min_points=max(4, k + 1), min_distinct=k, positive_y=space == "log")
    check_representable(xa, ya, caller)
    n = xa.size
    if weights is None:
        wa = np.ones(n)
    else:
        wa = np.asarray(weights, dtype=float).reshape(-1)
        if wa.size != n:
            raise RecscaleError(f"{caller}: weights must have one value per point; got {wa.size} for {n} points")
        bad = np.flatnonzero(~np.isfinite(wa) | (wa <= 0))
        if bad.size:
            raise RecscaleError(f"{caller}: weights must be finite and > 0; got weights[{bad[0]}] = {float(wa[bad[0]])}")
    seeds_a = None
    if seeds is not None:
        seeds_a = np.asarray(seeds).reshape(-1)
        if seeds_a.size != n:
            raise RecscaleError(f"{caller}: seeds must have one label per point; got {seeds_a.size} for {n} points")
    if resample == "seeds" and seeds_a is None:
        raise RecscaleError(f"{caller}: resample='seeds' needs seeds (one label per row); got seeds=None")
    n_seeds = 0 if seeds_a is None else np.unique(seeds_a).size
    if resample == "auto":
        resample = "seeds" if n_seeds >= opts.min_seeds_for_seed_resampling else "residuals"
    if resample == "seeds" and n_seeds < 2:
        raise RecscaleError(f"{caller}: resample='seeds' needs at least 2 distinct seeds; got {n_seeds}")
    # Normalise x at its geometric mean so the basis is O(1) whatever the units of x.
    x0 = float(np.exp(np.mean(np.log(xa))))
    t = np.log(xa / x0)
    inv, tu = distinct_design(xa, t) or (None, None)
    problem = Problem(form=form, x=xa, y=ya, w=wa, seeds=seeds_a, t=t, x0=x0, lo=lo, hi=hi,
                      space=space, opts=opts, k=k, inv=inv, tu=tu)
    return problem, resample, n_seeds


Y_LIMIT = 1e100  # |y| beyond this (or, nonzero, below 1/Y_LIMIT) overflows the fit's sums of squares


def check_representable(xa: np.ndarray, ya: np.ndarray, caller: str) -> None:
    """Refuse y the fit cannot represent: its weighted sums square y (and 1/y in log space), so
    |y| = 1e308 overflows to inf and the "fit" comes back with α = 5e55 and a γ outside its own interval."""
    mag = np.abs(ya)
    bad = np.flatnonzero((mag > Y_LIMIT) | ((mag > 0) & (mag < 1.0 / Y_LIMIT)))
    if bad.size:
        i = int(bad[0])
        raise RecscaleError(f"{caller}: y must be 0 or between {1 / Y_LIMIT:g} and {Y_LIMIT:g} in magnitude for the fit "
                            f"to represent it; got y[{i}] = {float(ya[i])!r} ({bad.size} such values); rescale y")


def _estimate(p: Problem):
    """Full-data estimate: global search, then (power laws) an independent polish with covariance."""
    rows = fit_rows(p, p.y[None, :], p.w[None, :])
    est = {kk: float(np.asarray(v)[0]) for kk, v in to_original(p.form, rows, p.x0).items()}
    if p.form in ("broken_powerlaw", "m4"):
        return est, rows["status"], (), None
    return polish(p, est)


def _diagnostics(p: Problem, est: dict[str, float]) -> _Diagnostics:
    """Residuals, R², and Gaussian information criteria (k = free parameters + 1 for σ)."""
    xa, ya, wa, n, k = p.x, p.y, p.w, p.x.size, p.k
    pred = predict_params(p.form, est, xa)
    resid_log = np.log(ya) - np.log(np.maximum(pred, TINY)) if p.space == "log" or np.all(pred > 0) else np.full(n, np.nan)
    resid_fit = resid_log if p.space == "log" else ya - pred
    sse = float(np.sum(wa * resid_fit**2))
    logy = np.log(np.abs(ya))
    wmean = np.sum(wa * logy) / np.sum(wa)
    sst = float(np.sum(wa * (logy - wmean) ** 2))
    sse_log = float(np.sum(wa * resid_log**2))
    rmse_log = math.sqrt(sse_log / np.sum(wa)) if math.isfinite(sse_log) else math.nan
    r2 = 1.0 - sse_log / sst if sst > 0 else math.nan
    kk = k + 1
    sse_pos = max(sse, 1e-300)
    aic = n * math.log(sse_pos / n) + 2 * kk
    bic = n * math.log(sse_pos / n) + kk * math.log(n)
    aicc = aic + 2 * kk * (kk + 1) / (n - kk - 1) if n - kk - 1 > 0 else None
    return _Diagnostics(pred, resid_fit, sse, rmse_log, r2, aic, aicc, bic)


def _uncertainty(p: Problem, est, free, cov_names, cov, draws):
    """Asymptotic standard errors, and the β–γ correlation (bootstrap if available, else asymptotic)."""
    se: dict[str, float | None] = {name: None for name in free}
    if cov is not None:
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
        for i, name in enumerate(cov_names):
            if name == "log_alpha":  # delta method: se(α) = α·se(log α)
                se["alpha"] = float(est["alpha"] * sd[i]) if np.isfinite(sd[i] * est["alpha"]) else None
            else:
                se[name] = float(sd[i]) if np.isfinite(sd[i]) else None
    corr = corr_source = None
    if not p.gamma_fixed:
        if draws is not None:
            bb, gg = draws["beta"], draws["gamma"]
            ok = np.isfinite(bb) & np.isfinite(gg)
            if ok.sum() > 2 and np.std(bb[ok]) > 0 and np.std(gg[ok]) > 0:
                corr = float(np.corrcoef(bb[ok], gg[ok])[0, 1])
                corr_source = "bootstrap"
        elif cov is not None and "beta" in cov_names and "gamma" in cov_names:
            i, j = cov_names.index("beta"), cov_names.index("gamma")
            den = math.sqrt(cov[i, i] * cov[j, j]) if cov[i, i] > 0 and cov[j, j] > 0 else 0.0
            if den > 0 and math.isfinite(den):
                corr = float(cov[i, j] / den)
                corr_source = "asymptotic"
    return se, corr, corr_source


def _method(p: Problem, *, weights_given, constrained, status, dof, boot: BootstrapSettings, corr_source) -> FitMethod:
    """The typed record of how the fit was obtained."""
    opts, lo, hi = p.opts, p.lo, p.hi
    bounds = {"alpha": (0.0, math.inf), "beta": tuple(opts.beta_bounds), "gamma": (lo, hi),
              "beta2": tuple(opts.beta_bounds), "break_x": (float(p.x.min()), float(p.x.max())), "sharpness": (0.05, 5.0)}
    if p.form == "m4":
        bounds = {"alpha": (0.0, 10.0), "beta": (0.0, math.inf), "gamma": (lo, min(hi, float(p.y.min()))), "c": (-5.0, -1e-4),
                  "eps0": (float(p.y.max()), math.inf)}
    starts = (f"global geometric grid of {opts.grid_size} β values, golden-section refinement ({opts.golden_iters} iterations)"
              if p.form not in ("broken_powerlaw", "m4") else f"54-point screened grid, best {opts.broken_starts} polished "
              f"({opts.broken_starts_bootstrap} per bootstrap refit, screened on its own data)")
    if p.form == "m4":
        starts = (f"screened grid (γ, α, ε0) with (log β, c) solved linearly, best {opts.m4_starts} polished by trust-region "
                  f"least squares ({opts.m4_starts_bootstrap} per bootstrap refit, screened on its own data); see recscale.laws.m4")
    return FitMethod(
        form=p.form, loss="least_squares", space=p.space, weights="user" if weights_given else "none",
        n_points=int(p.x.size), n_free=p.k, x_ref=p.x0,
        gamma_constraint=("fixed" if p.gamma_fixed else "bounded") if constrained else "gamma >= 0",
        gamma_bounds=(lo, hi), beta_bounds=tuple(opts.beta_bounds), starts=starts, polish_tol=opts.polish_tol,
        gn_iters=opts.gn_iters, optimizer=SolverStatus(**status), dof=dof, bounds=bounds, bootstrap=boot,
        corr_source=corr_source, options=opts,
    )


@blas_single_threaded
def fit_power_law(
    x: Any,
    y: Any,
    *,
    form: str = "powerlaw_const",
    weights: Any = None,
    seeds: Any = None,
    gamma: float | None = None,
    gamma_bounds: tuple[float, float] | None = None,
    space: str = "log",
    bootstrap: int = DEFAULT_BOOTSTRAP,
    resample: str = "auto",
    interval: str = "expanded_percentile",
    seed: int = 0,
    options: FitOptions | None = None,
    trial_ids: Sequence[Any] | None = None,
) -> PowerLawFit:
    """Fit y = α·x^(−β) + γ (or another form) with bootstrap intervals and diagnostics.

    Args:
        x: Resource per row (samples, parameters, FLOPs): finite and > 0.
        y: Metric per row (NE): finite, and > 0 in log space.
        form: ``"powerlaw_const"`` (default), ``"powerlaw"`` (γ = 0), ``"broken_powerlaw"``, ``"m4"``
            (:mod:`recscale.laws.m4`) or ``"auto"`` (chosen by backtest, :mod:`recscale.laws.auto`).
        weights: Optional positive weight per row multiplying its squared residual (e.g. the
            number of seeds averaged into a row). Several seeds per x can instead be passed as
            separate rows with ``seeds``.
        seeds: Optional seed label per row. With enough seeds (see
            :class:`FitOptions`), ``resample="auto"`` resamples whole seeds, which keeps the
            correlation between the points of one run's curve. With fewer, rows are resampled as
            independent points (residuals), which understates the uncertainty if a run's whole
            curve shifts together; say so when reporting, or run more seeds.
        gamma: Fix the floor γ at this value (e.g. the synthetic world's Bayes NE).
        gamma_bounds: Bound γ to (lo, hi), e.g. a floor shared across the curves of one study.
            Default: γ ≥ 0.
        space: ``"log"`` (residuals in log y; default, for multiplicative noise) or ``"linear"``.
        bootstrap: Number of bootstrap refits (0 for none: then no intervals).
        resample: ``"residuals"`` (fixed design; residuals rescaled by sqrt(n/(n−k)) so their
            spread is not shrunk by the fit), ``"points"``, ``"seeds"`` or ``"auto"``.
        interval: ``"expanded_percentile"`` (default: percentile stretched by t_{dof}/z, see
            :meth:`PowerLawFit.stat_interval`), ``"percentile"`` or ``"bca"``.
        seed: Seed of the bootstrap; the same seed gives the same result.
        options: Numerical settings and flag thresholds (:class:`FitOptions`).
        trial_ids: Ledger trial ids of the rows, recorded in the result.

    Returns:
        A :class:`PowerLawFit`.

    Raises:
        RecscaleError: fewer than 4 points (or fewer than the form's parameters + 1), x not > 0,
            non-finite y, all x equal, bad weights/seeds/γ settings or unknown option values.
    """
    caller = "fit_power_law"
    opts = options or FitOptions()
    if form == "auto":
        from recscale.laws.auto import fit_auto

        return fit_auto(fit_power_law, x, y, seeds=seeds, bootstrap=bootstrap, weights=weights, gamma=gamma, gamma_bounds=gamma_bounds,
                        space=space, resample=resample, interval=interval, seed=seed, options=options, trial_ids=trial_ids)
    p, resample, n_seeds = _prepare(x, y, opts, caller, form=form, weights=weights, seeds=seeds, gamma=gamma,
                                    gamma_bounds=gamma_bounds, space=space, resample=resample, interval=interval,
                                    bootstrap=bootstrap)
    est, status, cov_names, cov = _estimate(p)
    diag = _diagnostics(p, est)
    fixed = {"gamma"} if p.gamma_fixed else set()
    if form == "m4" and opts.m4_eps0 is not None:
        fixed.add("eps0")
    free = tuple(name for name in param_names(form) if name not in fixed)
    draws = jack = None
    n_failed = 0
    if bootstrap > 0:
        draws, n_failed = run_bootstrap(p, diag.pred, diag.resid_fit, bootstrap, resample, np.random.default_rng(seed))
        if interval == "bca":
            jack = jackknife(p, resample)
    # Degrees of freedom of the noise estimate: points (or seeds, when seeds are resampled) minus
    # free parameters; used to expand percentile intervals.
    dof = max(p.x.size - p.k, 1)
    if resample == "seeds" and p.seeds is not None:
        dof = max(min(dof, n_seeds - 1), 1)
    se, corr, corr_source = _uncertainty(p, est, free, cov_names, cov, draws)
    boot = BootstrapSettings(n=int(bootstrap), resample=resample if bootstrap else None, interval=interval, seed=seed,
                             failed=n_failed)
    constrained = gamma is not None or gamma_bounds is not None or form == "powerlaw"
    method = _method(p, weights_given=weights is not None, constrained=constrained, status=status, dof=dof, boot=boot,
                     corr_source=corr_source)
    fit = PowerLawFit(
        form=form, params=est, free=free, x=p.x, y=p.y, weights=p.w, seeds=p.seeds, space=space,
        rmse_log=diag.rmse_log, r2_log=diag.r2, sse=diag.sse, aic=diag.aic, aicc=diag.aicc, bic=diag.bic,
        draws=draws, jack=jack, interval=interval, beta_gamma_corr=corr, se_asymptotic=se, flags=(),
        method=method, trial_ids=tuple(trial_ids) if trial_ids is not None else None,
    )
    return PowerLawFit(**{**fit.__dict__, "flags": fit_flags(fit, p.lo, p.hi, opts, n_failed, bootstrap)})
