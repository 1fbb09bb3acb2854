"""Planning: how much of a resource a target NE needs, with honest uncertainty.

Inverting ŷ(x) = α·x^(−β) + γ gives x = ((target − γ)/α)^(−1/β). Two things make this delicate, and
the result reports both rather than hiding them:

* a target at or below the floor γ is **unreachable** along this axis, however much is spent; the
  answer is then the floor with its interval, not a number of samples;
* the inversion amplifies uncertainty: bootstrap fits whose floor lies above the target say
  "never", so the upper end of the interval is unbounded (None) and ``share_unreachable`` says how
  often that happened.

Implied resources (samples, parameters, FLOPs, embedding memory) come from the rows of the curve
the law was fitted on: each resource column is fitted as a straight line in log-log against x and
evaluated at the x needed. This is exact for columns that are constant along the curve (the
model's parameters on a data-scaling curve) or proportional to x (training FLOPs there), and a
documented extrapolation otherwise (FLOPs per sample along a parameter-scaling curve).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from recscale.errors import RecscaleError
from recscale.laws._common import check_level, plain, show
from recscale.laws.forms import predict, x_for_value
from recscale.laws.result import PowerLawFit

RESOURCE_COLUMNS = ("samples", "params_total", "params_dense", "params_sparse", "flops_per_sample", "train_flops")


@dataclass(frozen=True)
class Plan:
    """The resource needed for a target NE (see :func:`plan_for_target`).

    Attributes:
        target_ne: The target.
        status: "reachable" (target above the fitted floor) or "unreachable".
        x_needed: The x at which the fitted law reaches the target (None if unreachable).
        x_interval: (lo, hi) interval of x_needed read off the prediction interval (where a new
            measurement reaches the target, :func:`x_interval_from_prediction`); hi is None when unbounded (some fits
            never reach the target). None without bootstrap draws.
        floor: The fitted floor γ.
        floor_interval: Its interval (None without draws).
        share_unreachable: Share of bootstrap fits whose floor is at or above the target.
        extrapolation_decades: log10(x_needed / largest observed x); > 0 means beyond the data.
        axis: Name of the x column (e.g. "samples"), if given.
        implied: Implied resources by column: {"value", "lo", "hi"} each (None where unknown),
            plus ``embedding_memory_bytes`` when ``params_sparse`` is known.
        notes: Sentences on extrapolation and reachability.
        level: Confidence level.
    """

    target_ne: float
    status: str
    x_needed: float | None
    x_interval: tuple[float | None, float | None] | None
    floor: float
    floor_interval: tuple[float, float] | None
    share_unreachable: float | None
    extrapolation_decades: float | None
    axis: str | None
    implied: dict[str, dict[str, float | None]]
    notes: tuple[str, ...]
    level: float

    @property
    def reachable(self) -> bool:
        """True if the fitted law reaches the target."""
        return self.status == "reachable"

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (None, never NaN or infinity)."""
        return plain(self.__dict__)


_SEARCH_DECADES = 6  # how far beyond the data a plan's interval is searched


def _first_crossing(band, target: float, lx_lo: float, lx_hi: float) -> float | None:
    """Smallest x (log-bracketed) where ``band(x) <= target``, by a grid then bisection; None if never."""
    grid = np.linspace(lx_lo, lx_hi, 241)
    vals = band(np.exp(grid))
    below = np.flatnonzero(vals <= target)
    if below.size == 0:
        return None
    j = int(below[0])
    if j == 0:
        return float(np.exp(grid[0]))
    a, b = grid[j - 1], grid[j]
    for _ in range(50):
        m = 0.5 * (a + b)
        if band(np.array([math.exp(m)]))[0] <= target:
            b = m
        else:
            a = m
    return float(math.exp(b))


def x_interval_from_prediction(fit: PowerLawFit, target: float, level: float) -> tuple[float | None, float | None]:
    """Interval for the x needed, read off the prediction interval (where a *measurement* reaches the target).

    The lower end is where the interval's lower edge first reaches the target (a run there may
    already measure it), the upper end where its upper edge does (a run there measures the target
    or better with probability (1 + level)/2). None for an end not reached within
    ``_SEARCH_DECADES`` decades beyond the data.
    """
    lx_lo = math.log(float(np.min(fit.x))) - 2 * math.log(10)
    lx_hi = math.log(float(np.max(fit.x))) + _SEARCH_DECADES * math.log(10)
    lo = _first_crossing(lambda xx: fit.prediction_interval(xx, level)[0], target, lx_lo, lx_hi)
    hi = _first_crossing(lambda xx: fit.prediction_interval(xx, level)[1], target, lx_lo, lx_hi)
    return lo, hi


def forms_disagreement(fit: PowerLawFit, x: float, level: float,
                       alternatives: dict[str, dict[str, float]] | None = None) -> float | None:
    """Largest relative gap between the fit and a comparable form at x, if one lies outside the fit's own interval.

    The comparable forms are ``alternatives`` (form → parameters, e.g. from
    :func:`recscale.laws.auto.comparable_to`) or else the fit's own (:attr:`PowerLawFit.alternatives`,
    set by ``form="auto"``); the fit's prediction interval is taken without their widening. None
    when they agree.
    """
    alternatives = fit.alternatives if alternatives is None else alternatives
    if not alternatives or not fit.draws:
        return None
    own = dataclasses.replace(fit, alternatives=None)
    lo, hi = (float(v) for v in own.prediction_interval(x, level))
    centre = float(fit.predict(x))
    worst = None
    for form, params in alternatives.items():
        alt = float(predict(form, params, x))
        if not (lo <= alt <= hi):
            gap = abs(alt / centre - 1.0)
            worst = gap if worst is None else max(worst, gap)
    return worst


def _implied(resources: Any, axis: str, x_vals: dict[str, float | None], bytes_per_param: float) -> dict[str, dict[str, float | None]]:
    """Log-log extrapolation of each resource column against the axis column."""
    import pandas as pd

    if not isinstance(resources, pd.DataFrame):
        raise RecscaleError(f"plan_for_target: resources must be a pandas DataFrame of the curve's rows; got {type(resources).__name__}")
    if axis not in resources.columns:
        raise RecscaleError(f"plan_for_target: resources has no column {axis!r} (the axis); columns: {', '.join(map(str, resources.columns))}")
    xs = resources[axis].to_numpy(dtype=float)
    out: dict[str, dict[str, float | None]] = {}
    for col in RESOURCE_COLUMNS:
        if col not in resources.columns:
            continue
        v = resources[col].to_numpy(dtype=float)
        ok = np.isfinite(v) & (v > 0) & np.isfinite(xs) & (xs > 0)
        if col == axis:
            out[col] = dict(x_vals)
            continue
        if ok.sum() == 0:
            continue
        lx, lv = np.log(xs[ok]), np.log(v[ok])
        if np.ptp(lv) < 1e-12 or np.ptp(lx) < 1e-12:
            slope, icpt = 0.0, float(np.mean(lv))
        else:
            slope, icpt = np.polyfit(lx, lv, 1)
        out[col] = {k: (None if xv is None else float(math.exp(icpt + slope * math.log(xv)))) for k, xv in x_vals.items()}
    if "params_sparse" in out:
        out["embedding_memory_bytes"] = {k: (None if v is None else v * bytes_per_param) for k, v in out["params_sparse"].items()}
    return out


def plan_for_target(
    fit: PowerLawFit,
    target_ne: float,
    *,
    level: float = 0.95,
    axis: str | None = None,
    resources: Any = None,
    bytes_per_param: float = 4.0,
    alternatives: dict[str, dict[str, float]] | None = None,
) -> Plan:
    """The x needed for a target NE along a fitted curve, its interval, and implied resources.

    Args:
        fit: A :class:`~recscale.laws.powerlaw.PowerLawFit` (with bootstrap draws for intervals).
        target_ne: The NE to reach (> 0).
        level: Confidence level.
        axis: Name of the fitted x column (e.g. ``"samples"``, ``"params_total"``, ``"train_flops"``).
        resources: Rows of the curve (a DataFrame with ``axis`` and any of
            :data:`RESOURCE_COLUMNS`) for implied resources; needs ``axis``.
        bytes_per_param: Bytes per embedding parameter for the memory estimate (4 for fp32).
        alternatives: Parameters of other law forms that backtest about as well on this curve
            (:func:`recscale.laws.auto.comparable_to`); when one lies outside the prediction
            interval at the plan's x, the plan says extrapolation is unreliable. Defaults to the
            fit's own (a ``form="auto"`` fit's comparable forms).

    Returns:
        A :class:`Plan`.

    Raises:
        RecscaleError: target not finite and > 0; resources without axis; bad resources table.
    """
    level = check_level(level, caller="plan_for_target")
    try:
        target = float(target_ne)
    except (TypeError, ValueError):
        raise RecscaleError(f"plan_for_target: target_ne must be a number > 0; got {show(target_ne)}") from None
    if not (math.isfinite(target) and target > 0):
        raise RecscaleError(f"plan_for_target: target_ne must be finite and > 0; got {show(target_ne)}")
    if resources is not None and axis is None:
        raise RecscaleError("plan_for_target: resources were given without axis; say which column x is, e.g. axis='samples'")
    if not (math.isfinite(bytes_per_param) and bytes_per_param > 0):
        raise RecscaleError(f"plan_for_target: bytes_per_param must be > 0; got {show(bytes_per_param)}")
    x_lo, x_hi = float(np.min(fit.x)), float(np.max(fit.x))
    x_est = float(x_for_value(fit.form, fit.params, target, x_lo, x_hi)[0])
    reachable = math.isfinite(x_est)
    notes: list[str] = []
    x_int = floor_int = share = None
    if fit.draws:
        xd = x_for_value(fit.form, fit.draws, target, x_lo, x_hi)
        valid = ~np.isnan(fit.draws["gamma"])
        share = float(np.mean(~np.isfinite(xd[valid])))
        floor_int = fit.ci(level)["gamma"]
        if reachable:
            x_int = x_interval_from_prediction(fit, target, level)
            if x_int[1] is None:
                notes.append(f"the upper end is unbounded: within {_SEARCH_DECADES} decades beyond the data, the upper "
                             f"end of the {level:.0%} prediction interval stays above the target {target:g} "
                             f"(in {share:.0%} of bootstrap fits the floor is at or above it)")
    if reachable:
        disagree = forms_disagreement(fit, x_est, level, alternatives)
        if disagree is not None:
            notes.append(f"extrapolation unreliable: forms disagree by {disagree:.1%} at {x_est:.3g} {axis or 'x'}, more "
                         "than their prediction intervals allow")
        ext = math.log10(x_est / x_hi)
        if ext > 0:
            notes.append(f"extrapolates {ext:.2f} decades beyond the largest observed x ({x_hi:.4g})")
        elif x_est < x_lo:
            notes.append(f"the target is already reached below the smallest observed x ({x_lo:.4g})")
    else:
        ext = None
        notes.append(f"unreachable along this axis: the target {target:g} is at or below the fitted floor gamma = "
                     f"{fit.gamma:.6g}" + (f" (interval {floor_int[0]:.6g} to {floor_int[1]:.6g})" if floor_int else ""))
    implied: dict[str, dict[str, float | None]] = {}
    if axis is not None:
        x_vals = {"value": x_est if reachable else None,
                  "lo": x_int[0] if x_int else None, "hi": x_int[1] if x_int else None}
        if resources is not None:
            implied = _implied(resources, axis, x_vals, bytes_per_param)
        else:
            implied = {axis: x_vals}
    return Plan(
        target_ne=target, status="reachable" if reachable else "unreachable", x_needed=x_est if reachable else None,
        x_interval=x_int, floor=fit.gamma, floor_interval=floor_int, share_unreachable=share,
        extrapolation_decades=ext, axis=axis, implied=implied, notes=tuple(notes), level=level,
    )
