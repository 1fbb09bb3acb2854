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

Alternative forms for model comparison: ``"powerlaw"`` (γ = 0) and ``"broken_powerlaw"`` (one break,
Caballero et al. 2022: ŷ = γ + α·x^(−β)·(1 + (x/x_b)^(1/s))^(−(β₂−β)·s), slope β before the break
x_b and β₂ after it, sharpness s).

Example:
    >>> import numpy as np
    >>> x = np.geomspace(1e5, 1e8, 10)
    >>> y = 2.0 * x**-0.3 + 0.7
    >>> fit = fit_power_law(x, y, bootstrap=200, seed=0)
    >>> round(fit.beta, 3), round(fit.gamma, 3)
    (0.3, 0.7)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, stats

from recscale.errors import RecscaleError
from recscale.laws._common import (
    Flag,
    bca_interval,
    check_choice,
    check_curve,
    check_level,
    decades,
    plain,
    blas_single_threaded,
    show,
)

FORMS = ("powerlaw_const", "powerlaw", "broken_powerlaw")
SPACES = ("log", "linear")
RESAMPLES = ("auto", "residuals", "points", "seeds")
INTERVALS = ("expanded_percentile", "percentile", "bca")
_LOG_PARAMS = ("alpha", "break_x", "sharpness")

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
_TINY = 1e-300


@dataclass(frozen=True)
class FitOptions:
    """Numerical settings and flag thresholds of :func:`fit_power_law`; the defaults live only here.

    Args:
        beta_bounds: Range searched for β (and β₂). Exponents reported for recommendation and
            language models lie well inside it (roughly 0.05–0.5); a fit at either end is flagged
            rather than trusted.
        grid_size: Number of β values (geometric grid) in the global search. 160 cells give a
            5% step over the default range, so the golden-section refinement of the best cell can
            only miss the global optimum if the profile has a dip narrower than one step.
        golden_iters: Golden-section iterations on log β. Each shrinks the two-cell bracket by
            0.618, so 30 leave β determined to ~1e-7 relative, far below any statistical error
            (40 iterations changed bootstrap β draws by < 3e-8).
        gn_iters: Gauss–Newton reweightings of the inner (α, γ) solve in log space.
        polish_tol: ``xtol``/``ftol``/``gtol`` of the final trust-region polish; tight on purpose,
            because default tolerances stop early on flat objectives.
        broken_starts: Starts (after cheap screening of 54) polished for the broken power law.
        broken_starts_bootstrap: Same for each bootstrap refit of the broken form, which screens
            its own data afresh (no warm start). The broken form is refitted in a Python loop of
            trust-region solves (~30 ms each), so prefer a few hundred bootstrap refits for it.
        tradeoff_corr: |corr(β, γ)| at or above which the β–γ trade-off is flagged ...
        tradeoff_rel_width: ... when the β interval is also wider than this fraction of β.
        min_decades: x spans below this (in decades) are flagged as too narrow to separate β and γ.
        min_points_per_decade: fewer distinct x per decade than this is flagged.
        max_failed_share: bootstrap refits failing more often than this are flagged.
        min_seeds_for_seed_resampling: ``resample="auto"`` resamples whole seeds only with at least
            this many seeds; with fewer, a seed bootstrap has too few distinct resamples.
    """

    beta_bounds: tuple[float, float] = (1e-3, 3.0)
    grid_size: int = 160
    golden_iters: int = 30
    gn_iters: int = 3
    polish_tol: float = 1e-12
    broken_starts: int = 4
    broken_starts_bootstrap: int = 2
    tradeoff_corr: float = 0.8
    tradeoff_rel_width: float = 0.5
    min_decades: float = 2.0
    min_points_per_decade: float = 2.0
    max_failed_share: float = 0.05
    min_seeds_for_seed_resampling: int = 5

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form."""
        return plain(self.__dict__)


def _param_names(form: str) -> tuple[str, ...]:
    if form == "broken_powerlaw":
        return ("alpha", "beta", "gamma", "beta2", "break_x", "sharpness")
    return ("alpha", "beta", "gamma")


def predict_params(form: str, params: dict[str, Any], x: Any) -> np.ndarray:
    """Evaluate a law with (possibly arrays of) parameters at x, broadcasting parameters × x.

    Parameters given as arrays of shape (B,) give predictions of shape (B, len(x)). Computed via
    logarithms so that α in original units (often huge, e.g. 1e6 for x in samples) never overflows.
    """
    logx = np.log(np.asarray(x, dtype=float))
    p = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    if p["alpha"].ndim:
        p = {k: v[..., None] for k, v in p.items()}
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        loga = np.log(p["alpha"])
        term = loga - p["beta"] * logx
        if form == "broken_powerlaw":
            s = p["sharpness"]
            term = term - (p["beta2"] - p["beta"]) * s * np.logaddexp(0.0, (logx - np.log(p["break_x"])) / s)
        return np.exp(term) + p["gamma"]


# ----------------------------------------------------------------------------------------------
# Vectorised variable projection: the inner bounded solve for (a, c) given basis values u.
# ----------------------------------------------------------------------------------------------


def _inner_ls(Sw, Su, Suu, Sz, Suz, lo: float, hi: float):
    """Minimise Σ w (z − a·u − c)² subject to a ≥ 0, lo ≤ c ≤ hi, from weighted sums.

    A convex quadratic in two variables: its minimum is either the unconstrained solution (if
    feasible) or the minimum on one face of the box, each of which has a closed form. All inputs
    broadcast; returns (a, c).
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        det = Sw * Suu - Su * Su
        ok = det > 1e-12 * Sw * Suu
        a1 = np.where(ok, (Sw * Suz - Su * Sz) / np.where(ok, det, 1.0), 0.0)
        c1 = np.where(ok, (Suu * Sz - Su * Suz) / np.where(ok, det, 1.0), 0.0)
        feas1 = ok & (a1 >= 0) & (c1 >= lo) & (c1 <= hi)
        c2 = np.clip(Sz / Sw, lo, hi)
        a2 = np.zeros_like(c2)
        safe_uu = np.where(Suu > 0, Suu, 1.0)
        a3 = np.maximum(0.0, (Suz - lo * Su) / safe_uu)
        c3 = np.full_like(a3, lo)

        def q(a, c):
            return a * a * Suu + 2 * a * c * Su + c * c * Sw - 2 * a * Suz - 2 * c * Sz

        cands = [(np.where(feas1, a1, 0.0), np.where(feas1, c1, lo), np.where(feas1, q(a1, c1), np.inf)),
                 (a2, c2, q(a2, c2)), (a3, c3, q(a3, c3))]
        if np.isfinite(hi) and hi > lo:
            a4 = np.maximum(0.0, (Suz - hi * Su) / safe_uu)
            c4 = np.full_like(a4, hi)
            cands.append((a4, c4, q(a4, c4)))
    a_best, c_best, q_best = cands[0]
    for a_, c_, q_ in cands[1:]:
        better = q_ < q_best
        a_best = np.where(better, a_, a_best)
        c_best = np.where(better, c_, c_best)
        q_best = np.where(better, q_, q_best)
    return a_best, c_best


def _inner_fit(U: np.ndarray, Y: np.ndarray, W: np.ndarray, lo: float, hi: float, space: str, gn_iters: int):
    """Best (a, c) and weighted SSE for basis rows U (B, n), data Y (B, n), weights W (B, n).

    In log space the linear solve is exact only to first order, so it is repeated with Gauss–Newton
    reweighting (target p·(1 + log y − log p), weights w/p²) and the best iterate is kept.
    """
    if space == "linear":
        Sw, Su, Suu = W.sum(1), (W * U).sum(1), (W * U * U).sum(1)
        Sz, Suz = (W * Y).sum(1), (W * U * Y).sum(1)
        a, c = _inner_ls(Sw, Su, Suu, Sz, Suz, lo, hi)
        pred = a[:, None] * U + c[:, None]
        return a, c, (W * (Y - pred) ** 2).sum(1)
    logY = np.log(Y)
    p0 = Y
    best = None
    for _ in range(max(1, gn_iters)):
        w = W / (p0 * p0)
        z = p0 * (1.0 + logY - np.log(p0))
        Sw, Su, Suu = w.sum(1), (w * U).sum(1), (w * U * U).sum(1)
        Sz, Suz = (w * z).sum(1), (w * U * z).sum(1)
        a, c = _inner_ls(Sw, Su, Suu, Sz, Suz, lo, hi)
        pred = np.maximum(a[:, None] * U + c[:, None], _TINY)
        sse = (W * (logY - np.log(pred)) ** 2).sum(1)
        if best is None:
            best = (a, c, sse)
        else:
            better = sse < best[2]
            best = tuple(np.where(better, new, old) for new, old in zip((a, c, sse), best))
        p0 = pred
    return best


def _varpro_powerlaw(t, Y, W, lo, hi, space, opts: FitOptions):
    """Global β search for many curves at once (rows of Y, W share the design t = log(x/x0)).

    Returns arrays (a, beta, c, sse), each of shape (B,). Every row is searched over the whole β
    grid: nothing is carried over between rows, so bootstrap refits cannot be warm-started.
    """
    blo, bhi = opts.beta_bounds
    grid = np.geomspace(blo, bhi, opts.grid_size)
    U = np.exp(-grid[:, None] * t[None, :])  # (G, n)
    # Coarse pass: relative (first-order log) weights, all sums as matrix products (B, G).
    w0 = W / (Y * Y) if space == "log" else W
    Sw = w0.sum(1)[:, None]
    Sz = (w0 * Y).sum(1)[:, None]
    Szz = (w0 * Y * Y).sum(1)[:, None]
    Su = w0 @ U.T
    Suu = w0 @ (U * U).T
    Suz = (w0 * Y) @ U.T
    a, c = _inner_ls(Sw, Su, Suu, Sz, Suz, lo, hi)
    sse0 = Szz + a * a * Suu + 2 * a * c * Su + c * c * Sw - 2 * a * Suz - 2 * c * Sz
    g = np.argmin(sse0, axis=1)
    lb = np.log(grid[np.maximum(g - 1, 0)])
    ub = np.log(grid[np.minimum(g + 1, grid.size - 1)])

    def prof(logb):
        Ub = np.exp(-np.exp(logb)[:, None] * t[None, :])
        return _inner_fit(Ub, Y, W, lo, hi, space, opts.gn_iters)

    cpt = ub - _GOLDEN * (ub - lb)
    dpt = lb + _GOLDEN * (ub - lb)
    fc = prof(cpt)[2]
    fd = prof(dpt)[2]
    for _ in range(opts.golden_iters):
        left = fc < fd
        ub = np.where(left, dpt, ub)
        lb = np.where(left, lb, cpt)
        new = np.where(left, ub - _GOLDEN * (ub - lb), lb + _GOLDEN * (ub - lb))
        fnew = prof(new)[2]
        cpt, dpt = np.where(left, new, dpt), np.where(left, cpt, new)
        fc, fd = np.where(left, fnew, fd), np.where(left, fc, fnew)
    best_logb = 0.5 * (lb + ub)
    a, c, sse = prof(best_logb)
    # Never worse than the best grid cell, nor than the bracket ends (a bound optimum).
    for cand in (np.log(grid[g]), lb, ub):
        a2, c2, s2 = prof(cand)
        better = s2 < sse
        best_logb = np.where(better, cand, best_logb)
        a, c, sse = np.where(better, a2, a), np.where(better, c2, c), np.where(better, s2, sse)
    return a, np.exp(best_logb), c, sse


# ----------------------------------------------------------------------------------------------
# Broken power law: nonlinear parameters by trust-region least squares, (a, c) projected out.
# ----------------------------------------------------------------------------------------------


def _broken_basis(theta: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Basis u(t) for θ = (β, β₂, t_b = log(x_b/x0), log s); θ may be (k, 4) → (k, n)."""
    theta = np.atleast_2d(theta)
    b1, b2, tb, logs = (theta[:, i : i + 1] for i in range(4))
    s = np.exp(logs)
    # Normalised so that u stays O(1) near x0 whatever the break.
    return np.exp(-b1 * t[None, :] - (b2 - b1) * s * (np.logaddexp(0.0, (t[None, :] - tb) / s) - np.logaddexp(0.0, -tb / s)))


def _fit_broken_one(t, y, w, lo, hi, space, opts: FitOptions, n_starts: int):
    """Fit one curve with the broken form; returns (a, theta, c, sse, status)."""
    blo, bhi = opts.beta_bounds
    tmin, tmax = float(t.min()), float(t.max())
    starts = np.array(
        [
            (b1, b2, tmin + q * (tmax - tmin), math.log(s))
            for b1 in (0.05, 0.3, 1.0)
            for b2 in (0.05, 0.3, 1.0)
            for q in (0.25, 0.5, 0.75)
            for s in (0.3, 1.0)
        ]
    )
    U = _broken_basis(starts, t)
    k = len(starts)
    sse0 = _inner_fit(U, np.broadcast_to(y, (k, y.size)), np.broadcast_to(w, (k, y.size)), lo, hi, space, opts.gn_iters)[2]
    order = np.argsort(sse0)[:n_starts]
    lower = np.array([blo, blo, tmin, math.log(0.05)])
    upper = np.array([bhi, bhi, tmax, math.log(5.0)])
    sw = np.sqrt(w)

    def resid(theta):
        u = _broken_basis(theta, t)
        a, c, _ = _inner_fit(u, y[None, :], w[None, :], lo, hi, space, opts.gn_iters)
        pred = np.maximum(a[0] * u[0] + c[0], _TINY)
        return sw * ((np.log(y) - np.log(pred)) if space == "log" else (y - pred))

    best = None
    for i in order:
        th0 = np.clip(starts[i], lower, upper)
        res = optimize.least_squares(resid, th0, bounds=(lower, upper), method="trf", x_scale=np.array([0.1, 0.1, 1.0, 1.0]),
                                     xtol=1e-10, ftol=1e-12, gtol=1e-12, max_nfev=400)
        sse = float(np.sum(res.fun**2))
        if best is None or sse < best[1]:
            best = (res, sse)
    res, sse = best
    u = _broken_basis(res.x, t)
    a, c, _ = _inner_fit(u, y[None, :], w[None, :], lo, hi, space, opts.gn_iters)
    status = {"converged": bool(res.status > 0), "message": str(res.message), "nfev": int(res.nfev)}
    return float(a[0]), res.x, float(c[0]), sse, status


def bootstrap_interval(
    draws: Any,
    estimate: Any,
    *,
    level: float,
    dof: int,
    method: str = "expanded_percentile",
    log_scale: bool = False,
    bounds: tuple[float, float] = (-math.inf, math.inf),
    jack: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Interval from bootstrap replicates (see :meth:`PowerLawFit.stat_interval` for the methods).

    Args:
        draws: Replicates, shape (B, ...); NaN = failed refit (ignored), ±inf = unbounded value.
        estimate: Full-data statistic, shape (...).
        level: Confidence level.
        dof: Residual degrees of freedom, for the t/z expansion.
        method: ``"expanded_percentile"``, ``"percentile"`` or ``"bca"`` (BCa needs ``jack``).
        log_scale: Work on log scale (positive statistics).
        bounds: Clip the result to these.
        jack: Leave-one-out statistics for BCa.
    """
    draws = np.asarray(draws, dtype=float)
    est = np.asarray(estimate, dtype=float)
    if method == "bca" and jack is not None:
        lo, hi = bca_interval(draws, est, np.asarray(jack, dtype=float), level)
    else:
        tail = 100.0 * (1.0 - level) / 2.0
        with np.errstate(invalid="ignore", divide="ignore"):
            src = np.log(draws) if log_scale else draws
            ctr = np.log(est) if log_scale else est
            lo = np.nanpercentile(src, tail, axis=0, method="lower")
            hi = np.nanpercentile(src, 100.0 - tail, axis=0, method="higher")
            if method == "expanded_percentile":
                c = stats.t.ppf(1 - tail / 100, max(dof, 1)) / stats.norm.ppf(1 - tail / 100)
                lo = np.where(np.isfinite(lo) & np.isfinite(ctr), ctr + c * (lo - ctr), lo)
                hi = np.where(np.isfinite(hi) & np.isfinite(ctr), ctr + c * (hi - ctr), hi)
            if log_scale:
                lo, hi = np.exp(lo), np.exp(hi)
    return np.clip(lo, bounds[0], bounds[1]), np.clip(hi, bounds[0], bounds[1])


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerLawFit:
    """A fitted law, its uncertainty and how it was obtained (immutable; see :func:`fit_power_law`).

    Attributes:
        form: ``"powerlaw_const"``, ``"powerlaw"`` or ``"broken_powerlaw"``.
        params: Estimates by name (``alpha``, ``beta``, ``gamma``; the broken form adds ``beta2``,
            ``break_x`` and ``sharpness``). α is in the units of x: ŷ = α·x^(−β) + γ.
        free: Names of fitted (not fixed) parameters.
        x, y, weights: The data as fitted (float arrays, not compared).
        seeds: Seed label per row, or None.
        space: ``"log"`` or ``"linear"`` residuals.
        rmse_log: Weighted root-mean-square of log residuals (always log space, for comparability).
        r2_log: Weighted R² of log y.
        sse: Weighted residual sum of squares in the fitting space.
        aic, aicc, bic: Gaussian information criteria from ``sse`` (k = free parameters + 1 for σ);
            ``aicc`` is None when n ≤ k + 1.
        draws: Bootstrap replicates by parameter name (arrays, NaN for a failed refit), or None.
        jack: Leave-one-out estimates used by BCa intervals, or None.
        beta_gamma_corr: Correlation of β and γ (bootstrap draws if any, else asymptotic), or None
            when γ is fixed.
        se_asymptotic: Standard errors from the Jacobian at the optimum (None where singular).
        flags: Warnings (:class:`Flag`).
        method: How the fit was obtained: form, loss, space, weights, grid, tolerances, optimiser
            status, bootstrap settings.
        trial_ids: Ledger trial ids the points came from, if given.
    """

    form: str
    params: dict[str, float]
    free: tuple[str, ...]
    x: np.ndarray = field(repr=False, compare=False)
    y: np.ndarray = field(repr=False, compare=False)
    weights: np.ndarray = field(repr=False, compare=False)
    seeds: np.ndarray | None = field(repr=False, compare=False)
    space: str
    rmse_log: float
    r2_log: float
    sse: float
    aic: float
    aicc: float | None
    bic: float
    draws: dict[str, np.ndarray] | None = field(repr=False, compare=False)
    jack: dict[str, np.ndarray] | None = field(repr=False, compare=False)
    interval: str
    beta_gamma_corr: float | None
    se_asymptotic: dict[str, float | None]
    flags: tuple[Flag, ...]
    method: dict[str, Any]
    trial_ids: tuple[Any, ...] | None = None

    @property
    def alpha(self) -> float:
        """Coefficient α (units of x^β times units of y)."""
        return self.params["alpha"]

    @property
    def beta(self) -> float:
        """Exponent β (the initial slope for the broken form)."""
        return self.params["beta"]

    @property
    def gamma(self) -> float:
        """Floor γ: the value approached as x → ∞."""
        return self.params["gamma"]

    @property
    def n_points(self) -> int:
        """Rows used in the fit."""
        return int(self.x.size)

    @property
    def flag_codes(self) -> tuple[str, ...]:
        """Codes of the flags, for quick checks."""
        return tuple(f.code for f in self.flags)

    def predict(self, x: Any) -> np.ndarray:
        """Predicted y at x (array in, array out)."""
        return predict_params(self.form, self.params, x)

    def _require_draws(self, what: str) -> dict[str, np.ndarray]:
        if not self.draws:
            raise RecscaleError(f"{what} needs bootstrap draws, but this fit has bootstrap=0; refit with bootstrap=1000")
        return self.draws

    @property
    def dof(self) -> int:
        """Residual degrees of freedom used to expand intervals (points or seeds minus free parameters)."""
        return int(self.method["dof"])

    def stat_interval(
        self,
        draws: np.ndarray,
        estimate: Any,
        *,
        level: float = 0.95,
        log_scale: bool = False,
        bounds: tuple[float, float] = (-math.inf, math.inf),
        jack: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Interval for any statistic computed from this fit's bootstrap draws, by its interval method.

        ``"expanded_percentile"`` (default) stretches each tail of the percentile interval about
        the estimate by t_{dof}/z: the bootstrap treats the estimated noise level as known, which
        with 3–12 residual degrees of freedom makes plain percentile intervals too short (nominal
        95% intervals covered the truth in only ~89% of simulated curves; expanded ones ~95%).
        This is the t-calibration of Hesterberg's expanded percentile interval.

        Args:
            draws: Replicates of the statistic, shape (B, ...); NaN marks a failed refit, +inf an
                unbounded value (e.g. an x that is never reached).
            estimate: The full-data statistic, shape (...).
            level: Confidence level.
            log_scale: Expand on log scale (for positive statistics such as α, ŷ or an x).
            bounds: Clip the interval to these (e.g. a parameter's bounds).
            jack: Leave-one-out statistics (only used by ``"bca"``).
        """
        return bootstrap_interval(draws, estimate, level=level, dof=self.dof, method=self.interval,
                                  log_scale=log_scale, bounds=bounds, jack=jack)

    def ci(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Bootstrap confidence interval for each parameter (method: ``self.interval``).

        Fixed parameters get a zero-width interval at their value.

        Raises:
            RecscaleError: if the fit has no bootstrap draws, or ``level`` is not in (0, 1).
        """
        level = check_level(level, caller="PowerLawFit.ci")
        draws = self._require_draws("PowerLawFit.ci")
        bounds = self.method["bounds"]
        out = {}
        for name, value in self.params.items():
            if name not in self.free:
                out[name] = (value, value)
                continue
            jack = self.jack[name] if self.jack else None
            lo, hi = self.stat_interval(draws[name], value, level=level, log_scale=name in _LOG_PARAMS,
                                        bounds=tuple(bounds.get(name, (-math.inf, math.inf))), jack=jack)
            out[name] = (float(lo), float(hi))
        return out

    def predict_interval(self, x: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Confidence band for the fitted curve at x (not for a new noisy observation).

        Returns:
            (lo, hi) arrays with the shape of x.
        """
        level = check_level(level, caller="PowerLawFit.predict_interval")
        draws = self._require_draws("PowerLawFit.predict_interval")
        xa = np.atleast_1d(np.asarray(x, dtype=float))
        preds = predict_params(self.form, draws, xa)
        jack = predict_params(self.form, self.jack, xa) if self.jack else None
        lo, hi = self.stat_interval(preds, self.predict(xa), level=level, log_scale=True, jack=jack)
        shape = np.shape(x)
        return np.reshape(lo, shape), np.reshape(hi, shape)

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """Plain-Python summary (JSON-ready; unavailable values are None, never NaN)."""
        out: dict[str, Any] = {
            "form": self.form,
            "params": dict(self.params),
            "free": list(self.free),
            "level": level,
            "ci": None,
            "n_points": self.n_points,
            "x_range": [float(self.x.min()), float(self.x.max())],
            "decades": decades(self.x),
            "space": self.space,
            "diagnostics": {"rmse_log": self.rmse_log, "r2_log": self.r2_log, "sse": self.sse,
                            "aic": self.aic, "aicc": self.aicc, "bic": self.bic},
            "beta_gamma_corr": self.beta_gamma_corr,
            "se_asymptotic": dict(self.se_asymptotic),
            "flags": [f.to_dict() for f in self.flags],
            "method": self.method,
            "trial_ids": list(self.trial_ids) if self.trial_ids is not None else None,
            "data": {"x": self.x, "y": self.y},
        }
        if self.draws:
            out["ci"] = {k: list(v) for k, v in self.ci(level).items()}
        return plain(out)


# ----------------------------------------------------------------------------------------------
# Fitting
# ----------------------------------------------------------------------------------------------


def _n_free(form: str, gamma_fixed: bool) -> int:
    base = 6 if form == "broken_powerlaw" else (2 if form == "powerlaw" else 3)
    return base - (1 if gamma_fixed and form != "powerlaw" else 0)


def _fit_rows(form, t, Y, W, lo, hi, space, opts):
    """Fit many rows (B curves on the same design). Returns dict of parameter arrays in x0 units."""
    if form == "broken_powerlaw":
        n_starts = opts.broken_starts if Y.shape[0] == 1 else opts.broken_starts_bootstrap
        outs = [_fit_broken_one(t, Y[i], W[i], lo, hi, space, opts, n_starts) for i in range(Y.shape[0])]
        th = np.array([o[1] for o in outs])
        return {
            "a": np.array([o[0] for o in outs]),
            "beta": th[:, 0],
            "beta2": th[:, 1],
            "tb": th[:, 2],
            "sharpness": np.exp(th[:, 3]),
            "gamma": np.array([o[2] for o in outs]),
            "sse": np.array([o[3] for o in outs]),
        }
    a, b, c, sse = _varpro_powerlaw(t, Y, W, lo, hi, space, opts)
    return {"a": a, "beta": b, "gamma": c, "sse": sse}


def _to_original(form: str, rows: dict[str, np.ndarray], x0: float) -> dict[str, np.ndarray]:
    """Convert parameters from the x0-normalised scale to the units of x."""
    logx0 = math.log(x0)
    with np.errstate(divide="ignore"):
        if form == "broken_powerlaw":
            # u normalised at x0 with the break term: fold its constant into α.
            s, tb = rows["sharpness"], rows["tb"]
            log_alpha = (np.log(rows["a"]) + rows["beta"] * logx0
                         + (rows["beta2"] - rows["beta"]) * s * np.logaddexp(0.0, -tb / s))
            return {"alpha": np.exp(log_alpha), "beta": rows["beta"], "gamma": rows["gamma"],
                    "beta2": rows["beta2"], "break_x": x0 * np.exp(tb), "sharpness": s}
        return {"alpha": np.exp(np.log(rows["a"]) + rows["beta"] * logx0), "beta": rows["beta"], "gamma": rows["gamma"]}


def _check_gamma(form, gamma, gamma_bounds, caller):
    """Resolve (lo, hi) for γ from the user's `gamma` / `gamma_bounds`."""
    if gamma is not None and gamma_bounds is not None:
        raise RecscaleError(f"{caller}: give either gamma (a fixed floor) or gamma_bounds (a range), not both; "
                            f"got gamma={show(gamma)}, gamma_bounds={show(gamma_bounds)}")
    if form == "powerlaw":
        if gamma not in (None, 0, 0.0) or gamma_bounds is not None:
            raise RecscaleError(f"{caller}: form='powerlaw' has no floor (γ = 0); got gamma={show(gamma)}, "
                                f"gamma_bounds={show(gamma_bounds)}; use form='powerlaw_const' to fix or bound γ")
        return 0.0, 0.0
    if gamma is not None:
        g = float(gamma)
        if not math.isfinite(g) or g < 0:
            raise RecscaleError(f"{caller}: gamma must be a finite number >= 0; got gamma={show(gamma)}")
        return g, g
    if gamma_bounds is None:
        return 0.0, math.inf
    try:
        lo, hi = (float(v) for v in gamma_bounds)
    except (TypeError, ValueError):
        raise RecscaleError(f"{caller}: gamma_bounds must be a pair (lo, hi); got {show(gamma_bounds)}") from None
    if not (math.isfinite(lo) and lo >= 0 and lo <= hi and not math.isnan(hi)):
        raise RecscaleError(f"{caller}: gamma_bounds must satisfy 0 <= lo <= hi with lo finite; got {show(gamma_bounds)}")
    return lo, hi


def _check_options(opts: FitOptions, caller: str) -> None:
    blo, bhi = opts.beta_bounds
    if not (0 < blo < bhi and math.isfinite(bhi)):
        raise RecscaleError(f"{caller}: options.beta_bounds must satisfy 0 < lo < hi < inf; got {show(opts.beta_bounds)}")
    if opts.grid_size < 10:
        raise RecscaleError(f"{caller}: options.grid_size must be >= 10; got {show(opts.grid_size)}")


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
    bootstrap: int = 1000,
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
        form: ``"powerlaw_const"`` (default), ``"powerlaw"`` (γ = 0) or ``"broken_powerlaw"``.
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
    check_choice("form", form, FORMS, caller=caller)
    check_choice("space", space, SPACES, caller=caller)
    check_choice("resample", resample, RESAMPLES, caller=caller)
    check_choice("interval", interval, INTERVALS, caller=caller)
    _check_options(opts, caller)
    if not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise RecscaleError(f"{caller}: bootstrap must be an integer >= 0; got {show(bootstrap)}")
    lo, hi = _check_gamma(form, gamma, gamma_bounds, caller)
    gamma_fixed = lo == hi
    k = _n_free(form, gamma_fixed)
    xa, ya = check_curve(x, y, caller=caller, min_points=max(4, k + 1), min_distinct=k, positive_y=space == "log")
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
    rows = _fit_rows(form, t, ya[None, :], wa[None, :], lo, hi, space, opts)
    est = {kk: float(v[0]) for kk, v in _to_original(form, rows, x0).items()}
    polish = {"converged": True, "message": "golden-section refinement of the global β grid", "nfev": 0}
    cov_names: tuple[str, ...] = ()
    cov = None
    if form != "broken_powerlaw":
        est, polish, cov_names, cov = _polish(xa, ya, wa, est, lo, hi, space, opts, k)
    else:
        polish = {"converged": True, "message": "trust-region polish of screened starts (see method.starts)", "nfev": 0}

    pred = predict_params(form, est, xa)
    resid_log = np.log(ya) - np.log(np.maximum(pred, _TINY)) if space == "log" or np.all(pred > 0) else np.full(n, np.nan)
    resid_fit = resid_log if space == "log" else ya - pred
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

    free = tuple(p for p in _param_names(form) if not (p == "gamma" and gamma_fixed))
    draws = jack = None
    n_failed = 0
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        draws, n_failed = _bootstrap(form, xa, ya, wa, seeds_a, pred, resid_fit, t, x0, lo, hi, space, opts, k,
                                     bootstrap, resample, rng)
        if interval == "bca":
            jack = _jackknife(form, xa, ya, wa, seeds_a, resample, t, x0, lo, hi, space, opts, k)

    # Degrees of freedom of the noise estimate: points (or seeds, when seeds are resampled) minus
    # free parameters; used to expand percentile intervals.
    dof = max(n - k, 1)
    if resample == "seeds" and seeds_a is not None:
        dof = max(min(dof, n_seeds - 1), 1)
    bounds = {"alpha": (0.0, math.inf), "beta": tuple(opts.beta_bounds), "gamma": (lo, hi),
              "beta2": tuple(opts.beta_bounds), "break_x": (float(xa.min()), float(xa.max())), "sharpness": (0.05, 5.0)}

    # β–γ correlation: bootstrap if available, else asymptotic.
    corr = None
    corr_source = None
    se = {p: None for p in free}
    if cov is not None:
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
        for i, p in enumerate(cov_names):
            if p == "log_alpha":  # delta method: se(α) = α·se(log α)
                se["alpha"] = float(est["alpha"] * sd[i]) if np.isfinite(sd[i] * est["alpha"]) else None
            else:
                se[p] = float(sd[i]) if np.isfinite(sd[i]) else None
    if not gamma_fixed:
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

    method = {
        "form": form,
        "loss": "least_squares",
        "space": space,
        "weights": "user" if weights is not None else "none",
        "n_points": n,
        "n_free": k,
        "x_ref": x0,
        "gamma_constraint": ("fixed" if gamma_fixed else "bounded") if (gamma is not None or gamma_bounds is not None or form == "powerlaw") else "gamma >= 0",
        "gamma_bounds": [lo, hi],
        "beta_bounds": list(opts.beta_bounds),
        "starts": (f"global geometric grid of {opts.grid_size} β values, golden-section refinement ({opts.golden_iters} iterations)"
                   if form != "broken_powerlaw" else f"54-point screened grid, best {opts.broken_starts} polished "
                   f"({opts.broken_starts_bootstrap} per bootstrap refit, screened on its own data)"),
        "tolerances": {"polish": opts.polish_tol, "gn_iters": opts.gn_iters},
        "optimizer": polish,
        "dof": dof,
        "bounds": bounds,
        "bootstrap": {"n": int(bootstrap), "resample": resample if bootstrap else None, "interval": interval,
                      "seed": seed, "failed": n_failed, "warm_start": False},
        "corr_source": corr_source,
        "options": opts.to_dict(),
    }
    fit = PowerLawFit(
        form=form, params=est, free=free, x=xa, y=ya, weights=wa, seeds=seeds_a, space=space,
        rmse_log=rmse_log, r2_log=r2, sse=sse, aic=aic, aicc=aicc, bic=bic,
        draws=draws, jack=jack, interval=interval, beta_gamma_corr=corr, se_asymptotic=se, flags=(),
        method=method, trial_ids=tuple(trial_ids) if trial_ids is not None else None,
    )
    flags = _flags(fit, lo, hi, gamma_fixed, opts, n_failed, bootstrap)
    return PowerLawFit(**{**fit.__dict__, "flags": flags})


def _polish(xa, ya, wa, est, lo, hi, space, opts, k):
    """Bounded trust-region least squares on (log a, β, γ) from the variable-projection optimum.

    The profile search is already exact; the polish confirms it with an independent optimiser,
    records its status, and yields the Jacobian for asymptotic standard errors.
    """
    x0 = float(np.exp(np.mean(np.log(xa))))
    t = np.log(xa / x0)
    sw = np.sqrt(wa)
    gamma_fixed = lo == hi
    a0 = est["alpha"] * x0 ** (-est["beta"])
    blo, bhi = opts.beta_bounds
    loga0 = math.log(max(a0, 1e-300))

    def unpack(th):
        la, b = th[0], th[1]
        c = lo if gamma_fixed else th[2]
        return la, b, c

    def resid(th):
        la, b, c = unpack(th)
        pred = np.maximum(np.exp(la - b * t) + c, _TINY)
        return sw * ((np.log(ya) - np.log(pred)) if space == "log" else (ya - pred))

    if a0 <= 0:
        # α at its bound (0): the curve is flat and β is undefined; nothing to polish.
        return est, {"converged": True, "message": "alpha at bound 0; polish skipped", "nfev": 0}, (), None
    th0 = [loga0, est["beta"]] + ([] if gamma_fixed else [est["gamma"]])
    lower = [-np.inf, blo] + ([] if gamma_fixed else [lo])
    upper = [np.inf, bhi] + ([] if gamma_fixed else [hi])
    th0 = np.clip(np.array(th0, dtype=float), lower, upper)
    sse0 = float(np.sum(resid(th0) ** 2))
    try:
        res = optimize.least_squares(resid, th0, bounds=(lower, upper), method="trf", xtol=opts.polish_tol,
                                     ftol=opts.polish_tol, gtol=opts.polish_tol, max_nfev=2000)
    except (ValueError, np.linalg.LinAlgError) as e:  # pragma: no cover - defensive
        return est, {"converged": False, "message": f"polish failed: {e}", "nfev": 0}, (), None
    status = {"converged": bool(res.status > 0), "message": str(res.message), "nfev": int(res.nfev)}
    th = th0
    if float(np.sum(res.fun**2)) < sse0:
        th = res.x
    la, b, c = unpack(th)
    new = {"alpha": math.exp(la + b * math.log(x0)), "beta": float(b), "gamma": float(c)}
    # Asymptotic covariance s²(JᵀJ)⁻¹ in (log α, β, γ); singular when β and γ are not separable.
    J = res.jac
    n = ya.size
    dof = max(n - k, 1)
    s2 = float(np.sum(resid(th) ** 2)) / dof
    names = ("log_alpha", "beta") + (() if gamma_fixed else ("gamma",))
    cov = None
    try:
        jtj = J.T @ J
        if np.linalg.cond(jtj) < 1e14:
            cov = s2 * np.linalg.inv(jtj)
    except np.linalg.LinAlgError:
        cov = None
    return new, status, names, cov


def _valid_rows(xa: np.ndarray, W: np.ndarray, k: int) -> np.ndarray:
    """Rows whose positive-weight points cover at least k distinct x (else the refit is degenerate)."""
    ux, inv = np.unique(xa, return_inverse=True)
    per_x = np.zeros((W.shape[0], ux.size))
    np.add.at(per_x.T, inv, (W > 0).T.astype(float))
    return (per_x > 0).sum(1) >= k


def _bootstrap(form, xa, ya, wa, seeds_a, pred, resid_fit, t, x0, lo, hi, space, opts, k, B, resample, rng):
    """Refit B resampled data sets from scratch; returns (draws by name, number of failed refits)."""
    n = xa.size
    if resample == "residuals":
        sw = np.sqrt(wa)
        r = resid_fit * sw
        r = (r - r.mean()) * math.sqrt(n / max(n - k, 1))
        idx = rng.integers(0, n, size=(B, n))
        rstar = r[idx] / sw[None, :]
        Y = pred[None, :] * np.exp(rstar) if space == "log" else pred[None, :] + rstar
        W = np.broadcast_to(wa, (B, n)).copy()
    elif resample == "points":
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=B)
        W = wa[None, :] * counts
        Y = np.broadcast_to(ya, (B, n)).copy()
    else:
        labels, inv = np.unique(seeds_a, return_inverse=True)
        m = labels.size
        counts = rng.multinomial(m, np.full(m, 1.0 / m), size=B)
        W = wa[None, :] * counts[:, inv]
        Y = np.broadcast_to(ya, (B, n)).copy()
    ok = _valid_rows(xa, W, k)
    if space == "log":
        ok &= np.all(Y > 0, axis=1)
    rows = _fit_rows(form, t, np.where(ok[:, None], Y, 1.0), np.where(ok[:, None], W, 1.0), lo, hi, space, opts)
    draws = _to_original(form, rows, x0)
    draws = {name: np.where(ok, v, np.nan) for name, v in draws.items()}
    return draws, int((~ok).sum())


def _jackknife(form, xa, ya, wa, seeds_a, resample, t, x0, lo, hi, space, opts, k):
    """Leave-one-out (or leave-one-seed-out) estimates for the BCa acceleration."""
    n = xa.size
    if resample == "seeds":
        labels, inv = np.unique(seeds_a, return_inverse=True)
        W = np.array([wa * (inv != j) for j in range(labels.size)])
    else:
        W = np.array([wa * (np.arange(n) != j) for j in range(n)])
    ok = _valid_rows(xa, W, k)
    Y = np.broadcast_to(ya, W.shape).copy()
    rows = _fit_rows(form, t, Y, np.where(ok[:, None], W, 1.0), lo, hi, space, opts)
    jack = _to_original(form, rows, x0)
    return {name: np.where(ok, v, np.nan) for name, v in jack.items()}


def _flags(fit: PowerLawFit, lo, hi, gamma_fixed, opts: FitOptions, n_failed: int, bootstrap: int) -> tuple[Flag, ...]:
    """Collect warnings: bounds, coverage of x, monotonicity, β–γ trade-off, bootstrap failures."""
    flags: list[Flag] = []
    p = fit.params
    blo, bhi = opts.beta_bounds
    for name in ("beta", "beta2"):
        if name in p and name in fit.free:
            if p[name] <= blo * (1 + 1e-6) or p[name] >= bhi * (1 - 1e-6):
                flags.append(Flag("param_at_bound", f"{name} = {p[name]:.4g} is at its bound {opts.beta_bounds}; "
                                  "the data do not determine it (widen options.beta_bounds or add points)"))
    if p["alpha"] <= 0:
        flags.append(Flag("param_at_bound", "alpha = 0: the data show no decrease with x; the fit is a constant"))
    if not gamma_fixed and fit.form != "powerlaw":
        span = max(abs(p["gamma"]), 1e-12)
        if abs(p["gamma"] - lo) <= 1e-6 * span + 1e-12:
            flags.append(Flag("param_at_bound", f"gamma = {p['gamma']:.4g} is at its lower bound {lo:g}: the curve shows no "
                              "floor within the data; beta is that of a pure power law"))
        if math.isfinite(hi) and abs(p["gamma"] - hi) <= 1e-6 * span:
            flags.append(Flag("param_at_bound", f"gamma = {p['gamma']:.4g} is at its upper bound {hi:g}"))
    dec = decades(fit.x)
    nd = np.unique(fit.x).size
    if dec < opts.min_decades:
        flags.append(Flag("narrow_range", f"x spans {dec:.2f} decades (< {opts.min_decades:g}): beta and gamma are hard to "
                          "separate; consider fixing or bounding gamma"))
    if dec > 0 and nd / dec < opts.min_points_per_decade:
        flags.append(Flag("few_points_per_decade", f"{nd} distinct x over {dec:.2f} decades = {nd / dec:.2f} per decade "
                          f"(< {opts.min_points_per_decade:g})"))
    mono = _monotonicity(fit)
    if mono:
        flags.append(Flag("non_monotone", mono))
    if not gamma_fixed and fit.form != "powerlaw":
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
                              "from outside (gamma=..., gamma_bounds=...) or extend x"))
    if bootstrap and n_failed / bootstrap > opts.max_failed_share:
        flags.append(Flag("bootstrap_failures", f"{n_failed} of {bootstrap} bootstrap refits were degenerate (too few distinct x) "
                          "and were dropped; intervals may be too narrow"))
    return tuple(flags)


def _monotonicity(fit: PowerLawFit) -> str | None:
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


# ----------------------------------------------------------------------------------------------
# Backtest and model comparison
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backtest:
    """Out-of-range check of a fitting procedure: fit on x ≤ x_cut, predict the points beyond.

    Attributes:
        x_cut: Largest x used for fitting.
        n_train, n_test: Points on each side of the cut.
        rmse_log: Root-mean-square of log(ŷ / y) on the held-out points.
        bias_log: Mean of log(ŷ / y) there; > 0 means the law predicts worse (higher) NE than seen.
        max_abs_log: Largest |log(ŷ / y)| there.
        x_test, y_test, predicted: The held-out points and their predictions.
        fit: The fitted object (for example a :class:`PowerLawFit`).
    """

    x_cut: float
    n_train: int
    n_test: int
    rmse_log: float
    bias_log: float
    max_abs_log: float
    x_test: np.ndarray = field(repr=False, compare=False)
    y_test: np.ndarray = field(repr=False, compare=False)
    predicted: np.ndarray = field(repr=False, compare=False)
    fit: Any = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (the fit is summarised by its own ``to_dict`` when it has one)."""
        return plain({
            "x_cut": self.x_cut, "n_train": self.n_train, "n_test": self.n_test, "rmse_log": self.rmse_log,
            "bias_log": self.bias_log, "max_abs_log": self.max_abs_log, "x_test": self.x_test,
            "y_test": self.y_test, "predicted": self.predicted,
        })


def backtest(fit_fn: Callable[..., Any], x: Any, y: Any, x_cut: float, **fit_kwargs: Any) -> Backtest:
    """Fit ``fit_fn(x_train, y_train, **fit_kwargs)`` on x ≤ x_cut and score its extrapolation.

    Extrapolation is what a scaling law is for, so in-sample fit quality (R², AIC) is not enough to
    choose between forms: a form with more parameters always fits better in-sample.

    Args:
        fit_fn: Callable returning an object with ``.predict(x)``, e.g. :func:`fit_power_law`.
        x, y: The curve.
        x_cut: Largest x used for fitting; at least one point must lie beyond it.
        **fit_kwargs: Passed to ``fit_fn`` (e.g. ``form="powerlaw"``, ``bootstrap=0``).

    Raises:
        RecscaleError: no point beyond ``x_cut``, or whatever ``fit_fn`` raises on the training part.
    """
    xa, ya = check_curve(x, y, caller="backtest", min_points=2, min_distinct=2)
    cut = float(x_cut)
    train = xa <= cut
    if not (~train).any():
        raise RecscaleError(f"backtest: no points beyond x_cut = {show(x_cut)} (largest x is {xa.max():.6g}); lower x_cut")
    fit = fit_fn(xa[train], ya[train], **fit_kwargs)
    pred = np.asarray(fit.predict(xa[~train]), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log(pred) - np.log(ya[~train])
    return Backtest(
        x_cut=cut, n_train=int(train.sum()), n_test=int((~train).sum()),
        rmse_log=float(np.sqrt(np.mean(d**2))), bias_log=float(np.mean(d)), max_abs_log=float(np.max(np.abs(d))),
        x_test=xa[~train], y_test=ya[~train], predicted=pred, fit=fit,
    )


def compare_forms(
    x: Any,
    y: Any,
    *,
    forms: Sequence[str] = FORMS,
    x_cut: float | None = None,
    **fit_kwargs: Any,
):
    """Compare law forms on one curve by AIC/AICc/BIC (in-sample) and by backtest (extrapolation).

    Args:
        x, y: The curve.
        forms: Forms to compare.
        x_cut: Cut of the backtest; default keeps the lowest two thirds of the distinct x for fitting.
        **fit_kwargs: Passed to :func:`fit_power_law` (``bootstrap`` defaults to 0 here).

    Returns:
        A pandas DataFrame, one row per form, sorted by AICc then AIC; a form that cannot be fitted
        (e.g. too few points for the broken law) has its reason in ``note`` and no numbers.
    """
    import pandas as pd

    xa, ya = check_curve(x, y, caller="compare_forms")
    fit_kwargs = {"bootstrap": 0, **fit_kwargs}
    if x_cut is None:
        ux = np.unique(xa)
        x_cut = float(ux[max(int(math.ceil(2 * ux.size / 3)) - 1, 0)])
    rows = []
    for form in forms:
        row: dict[str, Any] = {"form": form}
        try:
            f = fit_power_law(xa, ya, form=form, **fit_kwargs)
            row.update(n_free=len(f.free), rmse_log=f.rmse_log, aic=f.aic, aicc=f.aicc, bic=f.bic, beta=f.beta, gamma=f.gamma)
            bt = backtest(fit_power_law, xa, ya, x_cut, form=form, **fit_kwargs)
            row.update(backtest_rmse_log=bt.rmse_log, backtest_bias_log=bt.bias_log, note="")
        except RecscaleError as e:
            row["note"] = str(e)
        rows.append(row)
    df = pd.DataFrame(rows)
    if "aic" in df:
        best = df["aic"].min()
        df["delta_aic"] = df["aic"] - best
        df = df.sort_values(["aic"], na_position="last").reset_index(drop=True)
    df.attrs["x_cut"] = x_cut
    return df
