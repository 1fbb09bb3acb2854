"""Scaling regimes: how much the next doubling of a resource buys, at the edge of what was measured.

The paper's qualitative claim ("data and compute scaling are in a high-return regime, parameter
scaling is saturated") becomes a set of numbers measured at the largest observed x of a curve:

* the NE gained by the next doubling, absolute ŷ(x) − ŷ(2x) and relative to ŷ(x);
* the local elasticity d ln ŷ / d ln x (−β·(ŷ − γ)/ŷ for the power law plus constant);
* the reducible fraction (ŷ − γ)/ŷ: the share of NE that more of this resource could still remove;
* a label from the relative gain per doubling, with thresholds in :class:`RegimeThresholds`;
* the x beyond which a doubling gains less than a threshold.

Each number comes with a bootstrap interval when the fit has draws, and the label with the share
of bootstrap draws that agree with it, so a label that flips within the uncertainty is visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from recscale.errors import RecscaleError
from recscale.laws._common import check_level, plain, show
from recscale.laws.forms import predict_diag
from recscale.laws.result import PowerLawFit

LABELS = ("high-return", "diminishing", "saturated")
UNDETERMINED = "undetermined"


@dataclass(frozen=True)
class RegimeThresholds:
    """Thresholds on the relative NE gain of one doubling of x; defaults live only here.

    Args:
        high_return: Gain at or above this is "high-return". Default 1e-3 (0.1% NE per
            doubling): NE improvements of about 0.1% are the size that production CTR teams
            commonly treat as worth shipping, so a resource that still buys that much per
            doubling is worth scaling.
        saturated: Gain below this is "saturated"; in between is "diminishing". Default 1e-4
            (0.01% per doubling): below the seed-to-seed spread of NE on typical evaluation sets,
            i.e. a doubling would not be measurable.
        saturation_gain: Threshold used for ``x_saturation`` (the x beyond which a doubling gains
            less); defaults to ``saturated``.
        min_agreement: Share of bootstrap fits that must give the point estimate's label for the
            regime to be named; below it the label is ``"undetermined"``. Default 0.8: a label that
            one refit in three contradicts (as a share of 0.65 means) is not a finding, while 0.8
            still names regimes whose gain sits clearly inside one band at 1,000 refits.

    Raises:
        RecscaleError: unless 0 < saturated < high_return < 1 and 0 ≤ min_agreement ≤ 1.
    """

    high_return: float = 1e-3
    saturated: float = 1e-4
    saturation_gain: float | None = None
    min_agreement: float = 0.8

    def __post_init__(self) -> None:
        if not (0 < self.saturated < self.high_return < 1):
            raise RecscaleError(
                "RegimeThresholds: need 0 < saturated < high_return < 1; got "
                f"saturated={show(self.saturated)}, high_return={show(self.high_return)}"
            )
        if self.saturation_gain is not None and not (0 < self.saturation_gain < 1):
            raise RecscaleError(f"RegimeThresholds: saturation_gain must be in (0, 1); got {show(self.saturation_gain)}")
        if not (0 <= self.min_agreement <= 1):
            raise RecscaleError(f"RegimeThresholds: min_agreement must be in [0, 1], e.g. 0.8; got {show(self.min_agreement)}")

    @property
    def sat_gain(self) -> float:
        """The threshold used for ``x_saturation``."""
        return self.saturated if self.saturation_gain is None else self.saturation_gain

    def label(self, gain_rel: Any) -> np.ndarray:
        """Label(s) for relative gain(s) per doubling."""
        g = np.asarray(gain_rel, dtype=float)
        return np.where(g >= self.high_return, LABELS[0], np.where(g < self.saturated, LABELS[2], LABELS[1]))

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form."""
        return plain({"high_return": self.high_return, "saturated": self.saturated, "saturation_gain": self.sat_gain,
                      "min_agreement": self.min_agreement})


@dataclass(frozen=True)
class Regime:
    """Where a curve stands at x_max (see :func:`regime`).

    Attributes:
        label: "high-return", "diminishing" or "saturated"; "undetermined" when fewer than
            ``thresholds.min_agreement`` of the bootstrap draws agree with the point estimate's label.
        label_share: Share of bootstrap draws giving the point estimate's label (None without draws).
        x_max: Where the regime is judged.
        ne: Predicted NE at x_max.
        gain_abs: ŷ(x_max) − ŷ(2·x_max).
        gain_rel: gain_abs / ŷ(x_max).
        elasticity: d ln ŷ / d ln x at x_max (≤ 0).
        reducible_fraction: (ŷ − γ)/ŷ at x_max.
        x_saturation: Smallest x beyond which a doubling gains less than the saturation threshold;
            0.0 if that holds everywhere, None if never (γ = 0: a pure power law never saturates).
        intervals: Bootstrap intervals by attribute name (None without draws).
        thresholds: The thresholds used.
        level: Confidence level of ``intervals``.
        estimate_label: The point estimate's label (equal to ``label`` unless undetermined).
    """

    label: str
    label_share: float | None
    x_max: float
    ne: float
    gain_abs: float
    gain_rel: float
    elasticity: float
    reducible_fraction: float
    x_saturation: float | None
    intervals: dict[str, tuple[float | None, float | None]] | None
    thresholds: RegimeThresholds
    level: float
    estimate_label: str | None = None

    @property
    def determined(self) -> bool:
        """True when a regime is named (the bootstrap agrees often enough)."""
        return self.label != UNDETERMINED

    @property
    def text(self) -> str:
        """The label for people: ``"high-return"`` or ``"undetermined (high-return in 65% of refits)"``."""
        if self.determined or self.estimate_label is None or self.label_share is None:
            return self.label
        return f"{UNDETERMINED} ({self.estimate_label} in {self.label_share:.0%} of refits)"

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (None, never NaN or infinity)."""
        return plain({**self.__dict__, "thresholds": self.thresholds.to_dict(), "text": self.text})


def _x_for_rel_gain(form: str, p: dict[str, np.ndarray], t: float, x_lo: float, x_hi: float) -> np.ndarray:
    """Smallest x where the relative gain per doubling falls below t (0 if everywhere, inf if never)."""
    if form in ("powerlaw_const", "powerlaw"):
        al, be, ga = p["alpha"], p["beta"], p["gamma"]
        g = 1.0 - 2.0 ** (-be)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            logx = (np.log(al) + np.log(g - t) - np.log(t * ga)) / be
            x = np.exp(logx)
        x = np.where(g <= t, 0.0, np.where(ga <= 0, np.inf, x))
        return np.where(al <= 0, 0.0, x)
    # Broken form and M4: bisection on log x, assuming the relative gain decreases with x.
    def rel(lx):
        xx = np.exp(lx)
        y1 = predict_diag(form, p, xx)
        y2 = predict_diag(form, p, 2 * xx)
        return (y1 - y2) / y1

    size = np.shape(p["alpha"])
    lo = np.full(size, math.log(x_lo) - 25.0)
    hi = np.full(size, math.log(x_hi) + 100.0)
    r_lo, r_hi = rel(lo), rel(hi)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        above = rel(mid) >= t
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    x = np.exp(0.5 * (lo + hi))
    return np.where(r_lo < t, 0.0, np.where(r_hi >= t, np.inf, x))


def _stats(form: str, p: dict[str, Any], x: float, t_sat: float, x_lo: float, x_hi: float) -> dict[str, np.ndarray]:
    p = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in p.items()}
    xs = np.full(np.shape(p["alpha"]), float(x))
    y1 = predict_diag(form, p, xs)
    y2 = predict_diag(form, p, 2 * xs)
    h = 1e-4
    with np.errstate(divide="ignore", invalid="ignore"):
        el = (np.log(predict_diag(form, p, xs * math.exp(h))) - np.log(predict_diag(form, p, xs * math.exp(-h)))) / (2 * h)
        return {
            "ne": y1,
            "gain_abs": y1 - y2,
            "gain_rel": (y1 - y2) / y1,
            "elasticity": el,
            "reducible_fraction": (y1 - p["gamma"]) / y1,
            "x_saturation": _x_for_rel_gain(form, p, t_sat, x_lo, x_hi),
        }


def regime(
    fit: PowerLawFit,
    x_max: float | None = None,
    *,
    thresholds: RegimeThresholds | None = None,
    level: float = 0.95,
) -> Regime:
    """Judge the scaling regime of a fitted curve at x_max (default: its largest observed x).

    Args:
        fit: A :class:`~recscale.laws.powerlaw.PowerLawFit`.
        x_max: Where to judge; the edge of the data unless you want to look further.
        thresholds: :class:`RegimeThresholds` (defaults documented there).
        level: Confidence level of the intervals.

    Returns:
        A :class:`Regime`.

    Raises:
        RecscaleError: x_max not finite and > 0, or level not in (0, 1).
    """
    th = thresholds or RegimeThresholds()
    level = check_level(level, caller="regime")
    x = float(np.max(fit.x)) if x_max is None else x_max
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise RecscaleError(f"regime: x_max must be a number > 0; got {show(x_max)}") from None
    if not (math.isfinite(x) and x > 0):
        raise RecscaleError(f"regime: x_max must be finite and > 0; got {show(x_max)}")
    xlo, xhi = float(np.min(fit.x)), float(np.max(fit.x))
    point = {k: float(v[0]) for k, v in _stats(fit.form, fit.params, x, th.sat_gain, xlo, xhi).items()}
    label = str(th.label(point["gain_rel"]))
    intervals = None
    share = None
    if fit.draws:
        d = _stats(fit.form, fit.draws, x, th.sat_gain, xlo, xhi)
        ok = np.isfinite(d["gain_rel"])
        share = float(np.mean(th.label(d["gain_rel"][ok]) == label)) if ok.any() else None
        intervals = {}
        spec = {"ne": (True, (0, math.inf)), "gain_abs": (False, (0, math.inf)), "gain_rel": (False, (0, 1)),
                "elasticity": (False, (-math.inf, 0)), "reducible_fraction": (False, (0, 1)),
                "x_saturation": (True, (0, math.inf))}
        for name, (logs, bounds) in spec.items():
            lo, hi = fit.stat_interval(d[name], point[name], level=level, log_scale=logs, bounds=bounds)
            intervals[name] = (float(lo), float(hi))
    xs = point["x_saturation"]
    estimate_label = label
    if share is not None and share < th.min_agreement:
        label = UNDETERMINED
    return Regime(
        label=label, estimate_label=estimate_label, label_share=share, x_max=x, ne=point["ne"], gain_abs=point["gain_abs"], gain_rel=point["gain_rel"],
        elasticity=point["elasticity"], reducible_fraction=point["reducible_fraction"],
        x_saturation=None if not math.isfinite(xs) else xs, intervals=intervals, thresholds=th, level=level,
    )
