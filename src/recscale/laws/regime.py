"""Scaling regimes: what the data say more of a resource buys, at the edge of what was measured.

The paper's qualitative claim ("data and compute scaling are in a high-return regime, parameter
scaling is saturated") becomes a finding decided from what the data determine, even where the
exponent β is not (a flat curve cannot pin β, but it bounds the gain):

* the change of NE across the measured axis, ŷ(x_max)/ŷ(x_min) − 1, with its bootstrap interval;
* the NE gained by the next doubling (absolute ŷ(x) − ŷ(2x), and relative to ŷ(x)) and by the next
  10× (relative), each with its bootstrap interval;
* a label from those intervals, thresholds in :class:`RegimeThresholds`:
  **high-return** when even the lower end of the next doubling's gain reaches ``high_return``;
  **saturated** when even the upper end of the next 10×'s gain stays below ``saturated``;
  **diminishing** when the upper end of the next doubling's gain is below ``high_return`` but 10×
  is not shown to be saturated; **undetermined** only when the data bound neither (the doubling's
  interval straddles ``high_return`` and the 10×'s upper end reaches ``saturated``);
* the local elasticity d ln ŷ / d ln x, the reducible fraction (ŷ − γ)/ŷ, and the x beyond which a
  doubling gains less than ``saturation_gain``.

An axis can end: embedding rows stop adding parameters once every id has its own row. Given its
end ``x_end``, more of the resource cannot go past it, so both gains are read at min(2·x, x_end)
and min(10·x, x_end): what is left to the end is all there is to gain, and an end near the data
makes the axis saturated by that alone (when even the upper end of what is left is small).

Without bootstrap draws the point estimates stand in for the intervals. When β sits on its search
bound the gain beyond the data is set by the bound, so the only finding allowed is "saturated"
(the upper end of the 10× gain, over draws that could move off the bound); otherwise "undetermined".
:attr:`Regime.finding` states the result in words, e.g. "saturated: across 2.8 decades NE fell
0.5% [0.3%, 0.7%]; the next 10× gains at most 0.2% (95%)".
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
_LOG2_10 = math.log2(10.0)


@dataclass(frozen=True)
class RegimeThresholds:
    """Thresholds on the relative NE gain of more of a resource; defaults live only here.

    Args:
        high_return: Gain of the next doubling at or above this (at the lower end of its
            interval) is "high-return". Default 1e-3 (0.1% NE per doubling): NE improvements of
            about 0.1% are the size that production CTR teams commonly treat as worth shipping,
            so a resource that still buys that much per doubling is worth scaling.
        saturated: Gain of the next **10×** below this (at the upper end of its interval) is
            "saturated". Default 3e-3 (0.3% NE for ten times more): less than a resource at the
            high-return threshold buys over the same 10× (1 − 0.999^3.32 ≈ 0.33%), and about one
            seed-to-seed standard deviation of NE on evaluation sets of 10⁴–10⁵ rows, so ten
            times the resource would barely be measurable.
        saturation_gain: Per-doubling threshold used for ``x_saturation`` (the x beyond which a
            doubling gains less); defaults to the per-doubling rate of ``saturated``,
            1 − (1 − saturated)^(1/log2 10).

    Raises:
        RecscaleError: unless 0 < high_return < 1, 0 < saturated < 1 and 0 < saturation_gain < 1.
    """

    high_return: float = 1e-3
    saturated: float = 3e-3
    saturation_gain: float | None = None

    def __post_init__(self) -> None:
        for name in ("high_return", "saturated"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 < v < 1):
                raise RecscaleError(f"RegimeThresholds: {name} must be in (0, 1), e.g. "
                                    f"{getattr(RegimeThresholds, name)}; got {show(v)}")
        if self.saturation_gain is not None and not (0 < self.saturation_gain < 1):
            raise RecscaleError(f"RegimeThresholds: saturation_gain must be in (0, 1); got {show(self.saturation_gain)}")

    @property
    def sat_gain(self) -> float:
        """The per-doubling threshold used for ``x_saturation``."""
        if self.saturation_gain is not None:
            return self.saturation_gain
        return 1.0 - (1.0 - self.saturated) ** (1.0 / _LOG2_10)

    def label(self, gain2: Any, gain10: Any) -> np.ndarray:
        """Label(s) from point value(s) of the next doubling's and next 10×'s relative gain."""
        return self.decide(gain2, gain2, gain10, gain10)

    def decide(self, g2_lo: Any, g2_hi: Any, g10_lo: Any, g10_hi: Any) -> np.ndarray:
        """The label from the intervals of the two gains (module docstring); ``undetermined`` where they bound neither."""
        g2_lo, g2_hi, g10_hi = (np.asarray(v, dtype=float) for v in (g2_lo, g2_hi, g10_hi))
        return np.where(g2_lo >= self.high_return, LABELS[0],
                        np.where(g10_hi < self.saturated, LABELS[2],
                                 np.where(g2_hi < self.high_return, LABELS[1], UNDETERMINED)))

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form."""
        return plain({"high_return": self.high_return, "high_return_per": "doubling", "saturated": self.saturated,
                      "saturated_per": "10x", "saturation_gain": self.sat_gain})


def _pct(v: float | None) -> str:
    """0.005 → "0.5%", 0.00034 → "0.034%" (two significant digits)."""
    if v is None or not math.isfinite(v):
        return "–"
    if v == 0:
        return "0%"
    return f"{100 * v:.2g}%"


@dataclass(frozen=True)
class Regime:
    """Where a curve stands at x_max (see :func:`regime`).

    Attributes:
        label: "high-return", "diminishing", "saturated", or "undetermined" when the intervals
            bound neither (module docstring).
        label_share: Share of bootstrap draws whose own gains give ``label`` (None without draws, or
            when undetermined).
        x_max: Where the regime is judged.
        ne: Predicted NE at x_max.
        gain_abs: ŷ(x_max) − ŷ(2·x_max).
        gain_rel: gain_abs / ŷ(x_max): the next doubling's relative gain.
        gain10_rel: (ŷ(x_max) − ŷ(10·x_max)) / ŷ(x_max): the next 10×'s relative gain.
        change_rel: ŷ(x_max)/ŷ(x_min) − 1 over the measured x (negative: NE fell).
        decades: log10(x_max / x_min) of the measured x.
        elasticity: d ln ŷ / d ln x at x_max (≤ 0).
        reducible_fraction: (ŷ − γ)/ŷ at x_max.
        x_saturation: Smallest x beyond which a doubling gains less than ``thresholds.sat_gain``;
            0.0 if that holds everywhere, None if never (γ = 0: a pure power law never saturates).
        intervals: Bootstrap intervals by attribute name (None without draws).
        thresholds: The thresholds used.
        level: Confidence level of ``intervals``.
        estimate_label: The label of the point estimates alone.
        beta_at_bound: β sits on its search bound (then only "saturated" can be found).
        x_end: Where the axis ends when it ends within 10× of x_max (the gains are read there), else None.
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
    gain10_rel: float = math.nan
    change_rel: float = math.nan
    decades: float = 0.0
    beta_at_bound: bool = False
    x_end: float | None = None

    @property
    def end_decades(self) -> float | None:
        """How far beyond x_max the axis ends, in decades (0 when it ends at or before x_max), or None."""
        if self.x_end is None:
            return None
        return math.log10(self.x_end / self.x_max) if self.x_end > self.x_max else 0.0

    @property
    def determined(self) -> bool:
        """True when a regime is named (the intervals decide it)."""
        return self.label != UNDETERMINED

    @property
    def text(self) -> str:
        """The label for people: ``"saturated"``, or ``"undetermined (β at its search bound)"``."""
        if self.determined:
            return self.label
        if self.beta_at_bound:
            return f"{UNDETERMINED} (β at its search bound)"
        return f"{UNDETERMINED} (the gain's interval straddles the thresholds)"

    def _iv(self, name: str) -> tuple[float, float] | None:
        iv = (self.intervals or {}).get(name)
        if iv is None or iv[0] is None or iv[1] is None:
            return None
        return float(iv[0]), float(iv[1])

    @property
    def finding(self) -> str:
        """The regime in words, with the numbers it rests on (see the module docstring)."""
        lvl = f"{self.level:.0%}"
        ch = self.change_rel
        civ = self._iv("change_rel")
        if civ is not None and civ[0] < 0 < civ[1]:
            out = (f"{self.label}: across {self.decades:.1f} decades NE changed by {100 * ch:+.2g}% "
                   f"[{100 * civ[0]:+.2g}%, {100 * civ[1]:+.2g}%]")
        else:
            verb = "fell" if ch <= 0 else "rose"
            out = f"{self.label}: across {self.decades:.1f} decades NE {verb} {_pct(abs(ch))}"
            if civ is not None:
                lo, hi = sorted((abs(civ[0]), abs(civ[1])))
                out += f" [{_pct(lo)}, {_pct(hi)}]"
        g2, g10 = self._iv("gain_rel"), self._iv("gain10_rel")
        rest = "the rest of the axis"  # an end within reach: the gains were read there (module docstring)
        two = "the next doubling" if self.x_end is None or self.x_end >= 2 * self.x_max else rest
        ten = "the next 10×" if self.x_end is None else rest
        if self.label == LABELS[0]:
            out += (f"; {two} gains at least {_pct(g2[0])} ({lvl})" if g2 else f"; {two} gains {_pct(self.gain_rel)}")
        elif self.label == LABELS[2]:
            out += (f"; {ten} gains at most {_pct(max(g10[1], 0.0))} ({lvl})" if g10 else
                    f"; {ten} gains {_pct(self.gain10_rel)}")
        elif self.label == LABELS[1]:
            out += (f"; {two} gains at most {_pct(g2[1])} ({lvl}), {ten} {_pct(self.gain10_rel)} "
                    f"[{_pct(g10[0])}, {_pct(g10[1])}]" if g2 and g10 else
                    f"; {two} gains {_pct(self.gain_rel)}, {ten} {_pct(self.gain10_rel)}")
        if self.beta_at_bound and self.label == UNDETERMINED:
            out += ("; β is at its search bound, so what more of it gains is set by the bound, not the data "
                    "(add sizes beyond the largest, or more seeds)")
        elif self.label == UNDETERMINED:
            iv2 = f" [{_pct(g2[0])}, {_pct(g2[1])}]" if g2 else ""
            iv10 = f" [{_pct(g10[0])}, {_pct(g10[1])}]" if g10 else ""
            gains = (f"{two} gains {_pct(self.gain_rel)}{iv2}" if two == ten else  # one gain: both read at the end
                     f"{two} gains {_pct(self.gain_rel)}{iv2} and {ten} {_pct(self.gain10_rel)}{iv10}")
            more = ("more seeds, or sizes up to the axis's end" if self.x_end is not None else
                    "add sizes beyond the largest, or more seeds")
            out += f"; {gains}: the data bound neither ({more})"
        if self.x_end is not None:
            beyond = self.end_decades
            mant, exp = f"{self.x_end:.1e}".split("e")
            sep = ";" if self.label == UNDETERMINED else ":"
            out += f"{sep} it ends at {mant}e{int(exp)}, {beyond:.2g} decades beyond the largest x"
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (None, never NaN or infinity)."""
        return plain({**self.__dict__, "thresholds": self.thresholds.to_dict(), "text": self.text,
                      "finding": self.finding})


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


def _stats(form: str, p: dict[str, Any], x: float, t_sat: float, x_lo: float, x_hi: float,
           x_end: float = math.inf) -> dict[str, np.ndarray]:
    p = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in p.items()}
    xs = np.full(np.shape(p["alpha"]), float(x))
    end = max(x_end, x)  # an end at or below x leaves nothing to gain
    y1 = predict_diag(form, p, xs)
    y2 = predict_diag(form, p, np.minimum(2 * xs, end))
    y10 = predict_diag(form, p, np.minimum(10 * xs, end))
    y_lo = predict_diag(form, p, np.full_like(xs, x_lo))
    y_hi = predict_diag(form, p, np.full_like(xs, x_hi))
    h = 1e-4
    with np.errstate(divide="ignore", invalid="ignore"):
        el = (np.log(predict_diag(form, p, xs * math.exp(h))) - np.log(predict_diag(form, p, xs * math.exp(-h)))) / (2 * h)
        return {
            "ne": y1,
            "gain_abs": y1 - y2,
            "gain_rel": (y1 - y2) / y1,
            "gain10_rel": (y1 - y10) / y1,
            "change_rel": y_hi / y_lo - 1.0,
            "elasticity": el,
            "reducible_fraction": (y1 - p["gamma"]) / y1,
            "x_saturation": _x_for_rel_gain(form, p, t_sat, x_lo, x_hi),
        }


def regime(
    fit: PowerLawFit,
    x_max: float | None = None,
    *,
    x_end: float | None = None,
    thresholds: RegimeThresholds | None = None,
    level: float = 0.95,
) -> Regime:
    """Judge the scaling regime of a fitted curve at x_max (default: its largest observed x).

    Args:
        fit: A :class:`~recscale.laws.powerlaw.PowerLawFit`.
        x_max: Where to judge; the edge of the data unless you want to look further.
        x_end: Where the axis ends, if it does (module docstring): the gains are read no further.
        thresholds: :class:`RegimeThresholds` (defaults documented there).
        level: Confidence level of the intervals.

    Returns:
        A :class:`Regime`.

    Raises:
        RecscaleError: x_max or x_end not finite and > 0, or level not in (0, 1).
    """
    th = thresholds or RegimeThresholds()
    level = check_level(level, caller="regime")
    x = _positive("x_max", float(np.max(fit.x)) if x_max is None else x_max)
    end = math.inf if x_end is None else _positive("x_end", x_end)
    xlo, xhi = float(np.min(fit.x)), float(np.max(fit.x))
    point = {k: float(v[0]) for k, v in _stats(fit.form, fit.params, x, th.sat_gain, xlo, xhi, end).items()}
    estimate_label = str(th.label(point["gain_rel"], point["gain10_rel"]))
    at_bound = _beta_at_bound(fit)
    intervals = None
    share = None
    if fit.draws:
        d = _stats(fit.form, fit.draws, x, th.sat_gain, xlo, xhi, end)
        intervals = {}
        # Every law form is non-increasing in x, so gains are ≥ 0 and the change ≤ 0 (expanded tails clipped).
        spec = {"ne": (True, (0, math.inf)), "gain_abs": (False, (0, math.inf)),
                "gain_rel": (False, (0, 1)), "gain10_rel": (False, (0, 1)),
                "change_rel": (False, (-1, 0)), "elasticity": (False, (-math.inf, 0)),
                "reducible_fraction": (False, (0, 1)), "x_saturation": (True, (0, math.inf))}
        for name, (logs, bounds) in spec.items():
            lo, hi = fit.stat_interval(d[name], point[name], level=level, log_scale=logs, bounds=bounds)
            intervals[name] = (float(lo), float(hi))
        label = str(th.decide(intervals["gain_rel"][0], intervals["gain_rel"][1], intervals["gain10_rel"][0],
                              intervals["gain10_rel"][1]))
        ok = np.isfinite(d["gain_rel"]) & np.isfinite(d["gain10_rel"])
        if ok.any() and label != UNDETERMINED:  # a single draw always has a label: no share agrees with "undetermined"
            share = float(np.mean(th.label(d["gain_rel"][ok], d["gain10_rel"][ok]) == label))
    else:
        label = estimate_label
    if at_bound and label != LABELS[2]:
        label = UNDETERMINED
    xs = point["x_saturation"]
    return Regime(
        label=label, estimate_label=estimate_label, label_share=share, x_max=x, ne=point["ne"], gain_abs=point["gain_abs"],
        gain_rel=point["gain_rel"], gain10_rel=point["gain10_rel"], change_rel=point["change_rel"],
        decades=math.log10(xhi / xlo) if xlo > 0 else 0.0, beta_at_bound=at_bound,
        elasticity=point["elasticity"], reducible_fraction=point["reducible_fraction"],
        x_saturation=None if not math.isfinite(xs) else xs, intervals=intervals, thresholds=th, level=level,
        x_end=end if end < 10 * x else None,
    )


def _positive(name: str, value: Any) -> float:
    """``value`` as a finite float > 0, else a RecscaleError naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise RecscaleError(f"regime: {name} must be a number > 0; got {show(value)}") from None
    if not (math.isfinite(v) and v > 0):
        raise RecscaleError(f"regime: {name} must be finite and > 0; got {show(value)}")
    return v


def _beta_at_bound(fit: PowerLawFit) -> bool:
    """True when a fitted β sits on its search bound (the points do not determine it)."""
    if "beta" not in fit.params or "beta" not in fit.free or fit.alpha <= 0:
        return False
    lo, hi = fit.method.beta_bounds
    b = fit.params["beta"]
    return bool(b <= lo * (1 + 1e-6) or b >= hi * (1 - 1e-6))
