"""The result of a one-curve fit: :class:`PowerLawFit` and the typed record of how it was made.

A result is an immutable value (STYLE rule 7): estimates, bootstrap draws, diagnostics, flags and a
:class:`FitMethod` saying how it was obtained. Intervals are computed from the stored draws on
demand, so one fit serves any confidence level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from recscale.errors import RecscaleError
from recscale.laws._common import Flag, check_level, decades, plain
from recscale.laws.bootstrap import bootstrap_interval
from recscale.laws.forms import log_params, predict
from recscale.laws.options import DEFAULT_BOOTSTRAP, FitOptions


@dataclass(frozen=True)
class SolverStatus:
    """What the final optimiser reported: whether it converged, its message, function evaluations."""

    converged: bool
    message: str
    nfev: int

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form."""
        return {"converged": self.converged, "message": self.message, "nfev": self.nfev}


@dataclass(frozen=True)
class BootstrapSettings:
    """How the bootstrap was run.

    Attributes:
        n: Refits requested (0: none).
        resample: ``"residuals"``, ``"points"`` or ``"seeds"`` (None without refits).
        interval: Interval method (``"expanded_percentile"``, ``"percentile"`` or ``"bca"``).
        seed: Seed of the resampling.
        failed: Refits dropped as degenerate.
        warm_start: Always False: every refit repeats the global search.
    """

    n: int
    resample: str | None
    interval: str
    seed: int
    failed: int
    warm_start: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form."""
        return {"n": self.n, "resample": self.resample, "interval": self.interval, "seed": self.seed,
                "failed": self.failed, "warm_start": self.warm_start}


@dataclass(frozen=True)
class FitMethod:
    """How a :class:`PowerLawFit` was obtained (typed; ``to_dict`` gives the JSON record).

    Attributes:
        form, loss, space: The law form, the loss and the residual space.
        weights: ``"user"`` or ``"none"``.
        n_points, n_free: Rows fitted and free parameters.
        x_ref: Reference x of the normalised design (geometric mean of x).
        gamma_constraint: ``"gamma >= 0"``, ``"bounded"`` or ``"fixed"``.
        gamma_bounds, beta_bounds: The bounds searched.
        starts: The start / search strategy in words.
        polish_tol, gn_iters: Tolerances of the polish and Gauss–Newton reweightings.
        optimizer: The final optimiser's :class:`SolverStatus`.
        dof: Residual degrees of freedom used to expand intervals.
        bounds: Bounds of every parameter, by name (intervals are clipped to them).
        bootstrap: :class:`BootstrapSettings`.
        corr_source: ``"bootstrap"``, ``"asymptotic"`` or None: where the β–γ correlation came from.
        options: The :class:`~recscale.laws.options.FitOptions` used.
        extra: Form-specific evidence (e.g. the backtests behind ``form="auto"``), or None.
    """

    form: str
    loss: str
    space: str
    weights: str
    n_points: int
    n_free: int
    x_ref: float
    gamma_constraint: str
    gamma_bounds: tuple[float, float]
    beta_bounds: tuple[float, float]
    starts: str
    polish_tol: float
    gn_iters: int
    optimizer: SolverStatus
    dof: int
    bounds: dict[str, tuple[float, float]]
    bootstrap: BootstrapSettings
    corr_source: str | None
    options: FitOptions
    extra: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form, with the keys of the original free-form record."""
        out = {
            "form": self.form, "loss": self.loss, "space": self.space, "weights": self.weights,
            "n_points": self.n_points, "n_free": self.n_free, "x_ref": self.x_ref,
            "gamma_constraint": self.gamma_constraint, "gamma_bounds": list(self.gamma_bounds),
            "beta_bounds": list(self.beta_bounds), "starts": self.starts,
            "tolerances": {"polish": self.polish_tol, "gn_iters": self.gn_iters},
            "optimizer": self.optimizer.to_dict(), "dof": self.dof, "bounds": dict(self.bounds),
            "bootstrap": self.bootstrap.to_dict(), "corr_source": self.corr_source, "options": self.options.to_dict(),
        }
        if self.extra is not None:
            out.update(self.extra)
        return plain(out)


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
        method: How the fit was obtained (:class:`FitMethod`): form, loss, space, weights, grid,
            tolerances, optimiser status, bootstrap settings.
        trial_ids: Ledger trial ids the points came from, if given.
        alternatives: For ``form="auto"`` only: full-data parameters of the other forms whose
            backtests were comparable to the chosen one's, by form (see :mod:`recscale.laws.auto`).
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
    method: FitMethod
    trial_ids: tuple[Any, ...] | None = None
    alternatives: dict[str, dict[str, float]] | None = field(default=None, repr=False, compare=False)

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
        return predict(self.form, self.params, x)

    def _require_draws(self, what: str) -> dict[str, np.ndarray]:
        if not self.draws:
            raise RecscaleError(f"{what} needs bootstrap draws, but this fit has bootstrap=0; refit with bootstrap={DEFAULT_BOOTSTRAP}")
        return self.draws

    @property
    def dof(self) -> int:
        """Residual degrees of freedom used to expand intervals (points or seeds minus free parameters)."""
        return int(self.method.dof)

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

        Fixed parameters get a zero-width interval at their value. The floor γ's interval is clipped
        at the largest measured y: a floor above every measurement is not one these data support.

        Raises:
            RecscaleError: if the fit has no bootstrap draws, or ``level`` is not in (0, 1).
        """
        level = check_level(level, caller="PowerLawFit.ci")
        draws = self._require_draws("PowerLawFit.ci")
        bounds = self.method.bounds
        out = {}
        for name, value in self.params.items():
            if name not in self.free:
                out[name] = (value, value)
                continue
            jack = self.jack[name] if self.jack else None
            b = tuple(bounds.get(name, (-math.inf, math.inf)))
            if name == "gamma" and self.y.size:
                # A floor above every measured NE is not a floor of these data: clip the upper end there.
                b = (b[0], min(b[1], max(float(np.max(self.y)), value)))
            lo, hi = self.stat_interval(draws[name], value, level=level, log_scale=name in log_params(self.form),
                                        bounds=b, jack=jack)
            out[name] = (float(lo), float(hi))
        return out

    def predict_interval(self, x: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Confidence band for the fitted curve at x: where the *law* lies, not a new measurement.

        It holds only the parameters' bootstrap uncertainty, so it is too narrow to say where the
        next measured NE will fall; for that (and for plans) use :meth:`prediction_interval`.

        Returns:
            (lo, hi) arrays with the shape of x.
        """
        level = check_level(level, caller="PowerLawFit.predict_interval")
        draws = self._require_draws("PowerLawFit.predict_interval")
        xa = np.atleast_1d(np.asarray(x, dtype=float))
        preds = predict(self.form, draws, xa)
        jack = predict(self.form, self.jack, xa) if self.jack else None
        lo, hi = self.stat_interval(preds, self.predict(xa), level=level, log_scale=True, jack=jack)
        shape = np.shape(x)
        return np.reshape(lo, shape), np.reshape(hi, shape)

    @property
    def noise_log(self) -> float:
        """Standard deviation of one measurement around the law, in log y.

        The larger of the residual scale (√(SSE_log / (n − k)), degrees-of-freedom corrected) and,
        when several seeds share an x, the pooled seed-to-seed spread there: a new measurement is
        one run, and the spread between runs is part of what it will show.
        """
        logy = np.log(np.abs(self.y))
        resid = logy - np.log(np.maximum(np.abs(self.predict(self.x)), 1e-300))
        dof = max(self.n_points - len(self.free), 1)
        s_res = math.sqrt(float(np.sum(self.weights * resid**2) / np.sum(self.weights) * self.n_points / dof))
        ux, inv = np.unique(self.x, return_inverse=True)
        counts = np.bincount(inv)
        if np.any(counts > 1):
            means = np.bincount(inv, weights=logy) / counts
            ss = float(np.sum((logy - means[inv]) ** 2))
            within_dof = int(np.sum(counts - 1))
            if within_dof > 0:
                s_res = max(s_res, math.sqrt(ss / within_dof))
        return s_res

    def prediction_interval(self, x: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Where a new measurement at x will fall: the curve's uncertainty plus measurement noise.

        Unlike :meth:`predict_interval` (the band of the fitted curve), this is the interval to plan
        on. On log scale, each side's half-width is the curve band's half-width on that side
        (expanded bootstrap percentile, so extrapolation's skew is kept) combined in quadrature with
        t_{dof}·σ, σ = :attr:`noise_log`. A fit of ``form="auto"`` also folds in the spread of the
        forms that backtest comparably (see :mod:`recscale.laws.auto`).

        Returns:
            (lo, hi) arrays with the shape of x.
        """
        level = check_level(level, caller="PowerLawFit.prediction_interval")
        xa = np.atleast_1d(np.asarray(x, dtype=float))
        lo_c, hi_c = self.predict_interval(xa, level=level)
        centre = np.log(self.predict(xa))
        t = float(stats.t.ppf(0.5 + level / 2.0, self.dof))
        noise = t * self.noise_log
        with np.errstate(divide="ignore", invalid="ignore"):
            down = np.sqrt((centre - np.log(lo_c)) ** 2 + noise**2)
            up = np.sqrt((np.log(hi_c) - centre) ** 2 + noise**2)
        lo, hi = np.exp(centre - down), np.exp(centre + up)
        for form, params in (self.alternatives or {}).items():
            # Forms that backtest comparably but disagree: a measurement could follow either.
            alt = np.log(predict(form, params, xa))
            lo = np.minimum(lo, np.exp(alt - noise))
            hi = np.maximum(hi, np.exp(alt + noise))
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
