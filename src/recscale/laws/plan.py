"""Planning: how much of a resource a target NE needs, with honest uncertainty.

Inverting ŷ(x) = α·x^(−β) + γ gives x = ((target − γ)/α)^(−1/β). Two things make this delicate, and
the result reports both rather than hiding them:

* a target at or below the floor γ is **unreachable** along this axis, however much is spent; the
  answer is then the floor with its interval, not a number of samples;
* the inversion amplifies uncertainty: bootstrap fits whose floor lies above the target say
  "never", so the upper end of the interval is unbounded (None) and ``share_unreachable`` says how
  often that happened.

A plan to lower NE *by a fraction* from the edge of the data (:func:`plan_for_gain`) defines the
edge's NE and the target within each bootstrap refit, so its "× more" multiple and interval answer
"how much more than now" and are never below 1×.

A plan is only as good as the law far from its data, so it says how far it reaches (decades beyond
the largest observed x) and gives no number past :data:`MAX_REACH` times the decades the data span
(status ``"beyond reach"``), and when another law form that backtests as well disagrees at the
plan's x, it names each form, its prediction there and the x it needs.

An axis can end (embedding rows stop adding parameters once every id has its own row): given its
end ``x_end``, a target the law reaches only past it is **past the axis's end**, and no number is
given, however near.

Implied resources (samples, parameters, FLOPs, embedding memory) come from the rows of the curve
the law was fitted on: each resource column is fitted as a straight line in log-log against x and
evaluated at the x needed. This is exact for columns that are constant along the curve (the
model's parameters on a data-scaling curve) or proportional to x (training FLOPs there), and a
documented extrapolation otherwise (FLOPs per sample along a parameter-scaling curve). A column
that does not change along the curve gets its value and no interval.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from recscale.errors import RecscaleError
from recscale.laws._common import check_level, plain, show
from recscale.laws.forms import predict, predict_diag, x_for_value
from recscale.laws.result import PowerLawFit

RESOURCE_COLUMNS = ("samples", "params_total", "params_dense", "params_sparse", "flops_per_sample", "train_flops")
MAX_REACH = 1.0
"""A plan reaching further beyond the data than this many times the decades the data span gives no number.

A law fitted over k decades is trusted at most k decades beyond them: the backtests that justify
extrapolation (``benchmarks/extrapolation.py``, :mod:`recscale.laws.auto`) hold out a quarter of
the range and score up to 4× beyond it, and none scores a reach longer than the data themselves.
"""
STATUSES = ("reachable", "unreachable", "beyond reach", "past the axis's end")


@dataclass(frozen=True)
class Plan:
    """The resource needed for a target NE (see :func:`plan_for_target`).

    Attributes:
        target_ne: The target.
        status: "reachable" (target above the fitted floor, within reach), "unreachable" (at or below
            the floor), "beyond reach" (the law reaches it further beyond the data than
            ``reach_limit_decades``: no number is given) or "past the axis's end" (beyond ``x_end``,
            where the resource stops: no number is given).
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
        reach_limit_decades: Decades beyond the data past which no number is given
            (:data:`MAX_REACH` × the data's span), or None when not checked.
        factor: x needed / largest observed x (:func:`plan_for_gain`), else None.
        factor_interval: Its interval from per-refit targets (lo ≥ 1; hi None: unbounded), else None.
        forms: When the comparable law forms disagree at the plan's x: each form's prediction there
            and the x it needs, ``{form: {"ne": .., "x_needed": ..}}``; None when they agree.
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
    reach_limit_decades: float | None = None
    factor: float | None = None
    factor_interval: tuple[float | None, float | None] | None = None
    forms: dict[str, dict[str, float | None]] | None = None

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


FORM_LABELS = {"powerlaw_const": "power law + constant", "powerlaw": "power law", "broken_powerlaw": "broken power law",
               "m4": "M4"}


def forms_disagreement(fit: PowerLawFit, x: float, level: float,
                       alternatives: dict[str, dict[str, float]] | None = None) -> float | None:
    """Largest relative gap between the fit and a comparable form at x, if one lies outside the fit's own interval.

    The comparable forms are ``alternatives`` (form → parameters, e.g. from
    :func:`recscale.laws.auto.comparable_to`) or else the fit's own (:attr:`PowerLawFit.alternatives`,
    set by ``form="auto"``); the fit's prediction interval is taken without their widening. None
    when they agree.
    """
    out = _disagreeing_forms(fit, x, level, alternatives)
    return None if out is None else out[0]


def _disagreeing_forms(fit: PowerLawFit, x: float, level: float, alternatives) -> tuple[float, list[str]] | None:
    alternatives = fit.alternatives if alternatives is None else alternatives
    if not alternatives or not fit.draws:
        return None
    own = dataclasses.replace(fit, alternatives=None)
    lo, hi = (float(v) for v in own.prediction_interval(x, level))
    centre = float(fit.predict(x))
    worst, names = None, []
    for form, params in alternatives.items():
        alt = float(predict(form, params, x))
        if not (lo <= alt <= hi):
            gap = abs(alt / centre - 1.0) if math.isfinite(alt) else math.inf
            worst = gap if worst is None else max(worst, gap)
            names.append(form)
    return None if worst is None else (worst, names)


def _forms_note(fit: PowerLawFit, x: float, target: float, level: float, alternatives, axis: str | None,
                x_lo: float, x_hi: float) -> tuple[str, dict[str, dict[str, float | None]]] | None:
    """Name each form that disagrees at the plan's x: its NE there and the x it needs for the target."""
    found = _disagreeing_forms(fit, x, level, alternatives)
    if found is None:
        return None
    alternatives = fit.alternatives if alternatives is None else alternatives
    own = dataclasses.replace(fit, alternatives=None)
    lo, hi = (float(v) for v in own.prediction_interval(x, level))
    unit = axis or "x"
    forms: dict[str, dict[str, float | None]] = {fit.form: {"ne": float(fit.predict(x)), "x_needed": x}}
    parts = [f"{FORM_LABELS.get(fit.form, fit.form)} (this plan) {float(fit.predict(x)):.4f} [{lo:.4f}, {hi:.4f}]"]
    for form in found[1]:
        params = alternatives[form]
        ne = float(predict(form, params, x))
        xn = float(x_for_value(form, params, target, x_lo, x_hi)[0])
        forms[form] = {"ne": ne, "x_needed": xn if math.isfinite(xn) else None}
        need = f"reaches {target:.4g} at {xn:.3g} {unit}" if math.isfinite(xn) else f"never reaches {target:.4g}"
        parts.append(f"{FORM_LABELS.get(form, form)} {ne:.4f} ({need})")
    note = (f"extrapolation unreliable: at {x:.3g} {unit} the law forms that backtest as well disagree beyond the "
            f"{level:.0%} prediction interval: " + "; ".join(parts))
    return note, forms


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
            # Constant along the curve (the model's parameters on a data curve): its value, no interval.
            c = float(np.exp(np.mean(lv)))
            out[col] = {"value": c if x_vals.get("value") is not None else None, "lo": None, "hi": None, "constant": True}
            continue
        slope, icpt = np.polyfit(lx, lv, 1)
        out[col] = {k: (None if xv is None else float(math.exp(icpt + slope * math.log(xv)))) for k, xv in x_vals.items()}
    if "params_sparse" in out:
        out["embedding_memory_bytes"] = {k: (v if k == "constant" or v is None else v * bytes_per_param)
                                         for k, v in out["params_sparse"].items()}
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
    max_reach: float | None = MAX_REACH,
    x_end: float | None = None,
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
            interval at the plan's x, the plan says extrapolation is unreliable and names them.
            Defaults to the fit's own (a ``form="auto"`` fit's comparable forms).
        max_reach: No number past this many times the data's span in decades beyond the data
            (status ``"beyond reach"``); None: no limit. Default :data:`MAX_REACH`.
        x_end: Where the axis ends, if it does (module docstring): past it, status ``"past the axis's end"``.

    Returns:
        A :class:`Plan`.

    Raises:
        RecscaleError: target not finite and > 0; resources without axis; bad resources table; x_end not > 0.
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
    if max_reach is not None and not (isinstance(max_reach, (int, float)) and max_reach > 0):
        raise RecscaleError(f"plan_for_target: max_reach must be a number > 0 (times the data's span), e.g. {MAX_REACH}; "
                            f"got {show(max_reach)}")
    if x_end is not None and not (isinstance(x_end, (int, float)) and math.isfinite(x_end) and x_end > 0):
        raise RecscaleError(f"plan_for_target: x_end must be a number > 0 (where the axis ends); got {show(x_end)}")
    x_lo, x_hi = float(np.min(fit.x)), float(np.max(fit.x))
    x_est = float(x_for_value(fit.form, fit.params, target, x_lo, x_hi)[0])
    reachable = math.isfinite(x_est)
    limit = None if max_reach is None else float(max_reach) * math.log10(x_hi / x_lo)
    notes: list[str] = []
    x_int = floor_int = share = None
    forms = None
    if fit.draws:
        xd = x_for_value(fit.form, fit.draws, target, x_lo, x_hi)
        valid = ~np.isnan(fit.draws["gamma"])
        share = float(np.mean(~np.isfinite(xd[valid])))
        floor_int = fit.ci(level)["gamma"]
    ext = math.log10(x_est / x_hi) if reachable else None
    status = "reachable" if reachable else "unreachable"
    if reachable and x_end is not None and x_est > x_end:
        status = STATUSES[3]
        notes.append(f"past the axis's end: the law reaches {target:g} at {axis or 'x'} = {x_est:.4g}, but the axis ends at "
                     f"{x_end:.4g} ({math.log10(x_end / x_hi):.2g} decades beyond the largest observed): no more of it "
                     "exists, so no number is given")
    elif reachable and limit is not None and ext > limit:
        status = "beyond reach"
        notes.append(f"beyond the data's reach: the law reaches {target:g} {ext:.1f} decades beyond the largest observed "
                     f"{axis or 'x'} ({x_hi:.4g}), more than {limit:.1f} (the {math.log10(x_hi / x_lo):.1f} decades the data "
                     f"span × {max_reach:g}); no number is given: measure further along the axis first")
    elif reachable:
        if fit.draws:
            x_int = x_interval_from_prediction(fit, target, level)
            if x_int[1] is None:
                notes.append(f"the upper end is unbounded: within {_SEARCH_DECADES} decades beyond the data, the upper "
                             f"end of the {level:.0%} prediction interval stays above the target {target:g} "
                             f"(in {share:.0%} of bootstrap fits the floor is at or above it)")
        found = _forms_note(fit, x_est, target, level, alternatives, axis, x_lo, x_hi)
        if found is not None:
            notes.append(found[0])
            forms = found[1]
        if ext > 0:
            notes.append(f"extrapolates {ext:.2f} decades beyond the largest observed {axis or 'x'} ({x_hi:.4g})")
        elif x_est < x_lo:
            notes.append(f"the target is already reached below the smallest observed {axis or 'x'} ({x_lo:.4g})")
    else:
        notes.append(f"unreachable along this axis: the target {target:g} is at or below the fitted floor gamma = "
                     f"{fit.gamma:.6g}" + (f" (interval {floor_int[0]:.6g} to {floor_int[1]:.6g})" if floor_int else ""))
    ok = status == "reachable"
    implied: dict[str, dict[str, float | None]] = {}
    if axis is not None:
        x_vals = {"value": x_est if ok else None,
                  "lo": x_int[0] if x_int else None, "hi": x_int[1] if x_int else None}
        if resources is not None:
            implied = _implied(resources, axis, x_vals, bytes_per_param)
        else:
            implied = {axis: x_vals}
    return Plan(
        target_ne=target, status=status, x_needed=x_est if ok else None,
        x_interval=x_int, floor=fit.gamma, floor_interval=floor_int, share_unreachable=share,
        extrapolation_decades=ext, axis=axis, implied=implied, notes=tuple(notes), level=level,
        reach_limit_decades=limit, forms=forms,
    )


def plan_for_gain(
    fit: PowerLawFit,
    rel_gain: float,
    *,
    level: float = 0.95,
    axis: str | None = None,
    resources: Any = None,
    bytes_per_param: float = 4.0,
    alternatives: dict[str, dict[str, float]] | None = None,
    max_reach: float | None = MAX_REACH,
    x_end: float | None = None,
) -> Plan:
    """How many times more x lowers NE by ``rel_gain`` (0.01 = 1%) from the edge of the data.

    The target is (1 − rel_gain) × the law's NE at the largest observed x. Its multiple's interval
    defines that edge and target **within each bootstrap refit** (target_b = (1 − rel_gain)·ŷ_b(x_max),
    multiple_b = x_b / x_max), so it says how much more than now the gain takes, and its lower end
    is never below 1×; refits whose floor stops short of their target make the upper end unbounded
    (None). The x interval and the implied resources' intervals are the multiple's, times x_max.
    Everything else is :func:`plan_for_target` at the point target.

    Raises:
        RecscaleError: rel_gain not in (0, 1), or as :func:`plan_for_target`.
    """
    try:
        g = float(rel_gain)
    except (TypeError, ValueError):
        raise RecscaleError(f"plan_for_gain: rel_gain must be a number in (0, 1), e.g. 0.01; got {show(rel_gain)}") from None
    if not (0 < g < 1):
        raise RecscaleError(f"plan_for_gain: rel_gain must be in (0, 1), e.g. 0.01 for 1%; got {show(rel_gain)}")
    x_lo, x_hi = float(np.min(fit.x)), float(np.max(fit.x))
    target = float(fit.predict(np.array([x_hi]))[0]) * (1.0 - g)
    plan = plan_for_target(fit, target, level=level, axis=axis, resources=resources, bytes_per_param=bytes_per_param,
                           alternatives=alternatives, max_reach=max_reach, x_end=x_end)
    if not plan.reachable:
        return plan
    factor = plan.x_needed / x_hi
    if not fit.draws:
        return dataclasses.replace(plan, factor=factor)
    with np.errstate(invalid="ignore"):
        t_b = predict_diag(fit.form, fit.draws, np.full(np.shape(fit.draws["gamma"]), x_hi)) * (1.0 - g)
        f_b = x_for_value(fit.form, fit.draws, t_b, x_lo, x_hi) / x_hi
    valid = ~np.isnan(fit.draws["gamma"])
    f_b = np.where(valid, f_b, np.nan)
    lo, hi = fit.stat_interval(f_b, factor, level=level, log_scale=True, bounds=(1.0, math.inf))
    f_int = (float(lo), float(hi) if math.isfinite(float(hi)) else None)
    # The x interval is the multiple's (one answer per plan), and so are the implied resources.
    x_int = (f_int[0] * x_hi, None if f_int[1] is None else f_int[1] * x_hi)
    never = float(np.mean(~np.isfinite(f_b[valid]))) if valid.any() else 0.0
    notes = [n for n in plan.notes if not n.startswith("the upper end is unbounded")]
    if f_int[1] is None:
        notes.insert(0, f"the upper end is unbounded: in {never:.0%} of bootstrap refits the floor stops short of a "
                        f"{g:.3g} (relative) drop from that refit's own NE at the edge of the data")
    implied = plan.implied
    if axis is not None:
        x_vals = {"value": plan.x_needed, "lo": x_int[0], "hi": x_int[1]}
        implied = _implied(resources, axis, x_vals, bytes_per_param) if resources is not None else {axis: x_vals}
    return dataclasses.replace(plan, factor=factor, factor_interval=f_int, x_interval=x_int, implied=implied,
                               notes=tuple(notes))
