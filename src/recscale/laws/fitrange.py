"""Where a curve's scaling regime starts: the fit range rule, and the check that the fit is inside it.

Why: a model trained from scratch first has to leave its initialisation. On a learning curve that
start-up shows as a plateau near NE = 1 followed by a cliff: the curve *accelerates* downwards in
log x before it decelerates towards its floor. A power law + constant, y = α·x^(−β) + γ, never
accelerates: in t = log x its slope −αβ·e^(−βt) only flattens as x grows, so its steepest stretch is
always its first. Fitting the law through a start-up therefore bends its exponent to whatever
fraction of the plateau the data happen to include (the β of one demo curve read 0.24, 0.68 or 0.43
depending on whether the fit began at 4k, 23k or 46k samples).

The rule (:func:`fit_start`), on the seed means of a curve, with t = log10 x:

1. The slopes between neighbouring points, s_i = (y_{i+1} − y_i)/(t_{i+1} − t_i); k is the
   steepest (most negative) one.
2. If k is the first segment, the curve never accelerates: nothing is left out (a clean power law,
   or a curve whose start-up ended before its first point, is untouched).
3. Otherwise the acceleration must exceed what noise can make: s_0 − s_k > z·σ·√(2/Δt_0² + 2/Δt_k²)
   (z = 4 by default), where σ, the noise of one point, is estimated from the curve's own second
   differences, the largest fifth dropped (a cliff's few; :func:`_noise_sd`). Below that margin
   nothing is left out.
4. The range starts at the right end of segment k, the first point past the steepest descent (at
   the first point when steps 2-3 found no start-up).
5. The shoulder of a start-up still bends the next few points (and a start-up too gentle for step
   3 bends the first ones), so the start then moves on one point at a time while the in-regime
   check below fails (β moves by more than its interval's half-width when the first point is
   dropped), keeping at least ``min_points`` distinct x (5 by default: a 3-parameter law and a
   residual to spare). If fewer than that follow the steepest fall, nothing is left out and the
   range says why (train further to fit). On a curve that is a power law + constant the check
   passes at once, so nothing moves.

Measured on 40 planted start-up curves (a power law + constant behind a logistic gate in log x, the
demo's shape; tests/laws/test_laws_fitrange.py's generator): median |β̂ − β| 0.275 fitting every
point, 0.48 starting right after the steepest fall (step 4 alone), 0.079 with the rule (steps 1-5),
whose 95% intervals held the planted β in 34 of 40 curves (24 of 40 fitting every point); a median
1.4 decades of the curves' 1.8-2.4 remained. Clean planted curves (100 of each shape of
:mod:`recscale.laws.simulate`) lost their first points in 2% (power law + constant), 6% (break
inside), 2% (break beyond) and 5% (M4 slow start) of cases (``benchmarks/fit_range.py``;
benchmarks/RESULTS.md, "Fit range").

The check (:func:`start_sensitivity`): refit without the first point of the range; if β moves by more
than the half-width of its 95% interval, β depends on where the fit starts, so the curve is not
(yet) inside its scaling regime and the exponent is not a property of the data; a flag says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.special import ndtri

from recscale.errors import RecscaleError
from recscale.laws._common import Flag, plain
from recscale.laws.backtest import means_by_x

DEFAULT_Z = 4.0
DEFAULT_MIN_POINTS = 5
TRIM = 0.8  # the share of second differences the noise estimate keeps (the rest: a cliff's few)
WALK_BOOTSTRAP = 200  # refits behind each step of the walk's in-regime check (a decision, not a reported interval)


@dataclass(frozen=True)
class FitRange:
    """Where a curve's fit starts.

    Attributes:
        x_start: The first x inside the fit (the curve's first x when nothing is left out).
        n_left_out: Distinct x before ``x_start`` (left out of the fit, still drawn).
        rule: ``"auto"`` (the rule of this module), ``"all"`` or ``"given"`` (a user's x).
        reason: One sentence: what was left out and why, or why nothing was.
    """

    x_start: float
    n_left_out: int
    rule: str
    reason: str

    def mask(self, x: Any) -> np.ndarray:
        """Rows of ``x`` inside the fit range (every row when nothing is left out)."""
        xs = np.asarray(x, dtype=float)
        if self.n_left_out == 0 and self.rule != "given":
            return np.ones(xs.shape, dtype=bool)
        return xs >= self.x_start * (1 - 1e-12)

    def to_dict(self) -> dict[str, Any]:
        return plain({"x_start": self.x_start, "n_left_out": self.n_left_out, "rule": self.rule, "reason": self.reason})


def _noise_sd(t: np.ndarray, y: np.ndarray) -> float:
    """Noise of one point from the second differences, the largest fifth dropped (a cliff is a few outliers among them).

    The RMS of the rest, scaled to a normal's (the share :data:`TRIM` of |N(0, 1)| nearest 0 has
    that RMS). A median (MAD) would also shrug off a cliff, but on a real curve, whose training
    stream wiggles it by more than Gaussian noise would, it sat at a third of the RMS and made a
    wiggle look like a start-up (benchmarks/fit_range.py, stop 29).
    """
    if y.size < 4:
        return 0.0
    h1, h2 = np.diff(t)[:-1], np.diff(t)[1:]
    # Second divided differences scaled to the equal-spacing form y_{i-1} - 2 y_i + y_{i+1} (variance 6σ²).
    d2 = 2 * ((y[2:] - y[1:-1]) / h2 - (y[1:-1] - y[:-2]) / h1) / (h1 + h2) * (h1 * h2)
    dev = np.sort(np.abs(d2 - np.median(d2)))
    keep = dev.size - max(1, math.ceil((1 - TRIM) * dev.size))
    kept = keep / dev.size
    q = float(ndtri((1 + kept) / 2))
    rms_of_kept = math.sqrt((kept - 2 * q * math.exp(-q * q / 2) / math.sqrt(2 * math.pi)) / kept)
    return float(np.sqrt(np.mean(dev[:keep] ** 2)) / rms_of_kept / math.sqrt(6.0))


def fit_start(x: Any, y: Any, *, z: float = DEFAULT_Z, min_points: int = DEFAULT_MIN_POINTS,
              fit_fn: Callable[..., Any] | None = None, seeds: Any = None, level: float = 0.95,
              walk_bootstrap: int = WALK_BOOTSTRAP, **fit_kwargs: Any) -> FitRange:
    """The first x of a curve's scaling regime (the module docstring gives the rule).

    Args:
        x: Resource per row (> 0); several rows per x (seeds) are averaged.
        y: Metric per row (NE).
        z: Significance of the acceleration, in noise standard errors.
        min_points: Distinct x that must remain inside the range for anything to be left out.
        fit_fn: :func:`~recscale.laws.fit_power_law` (passed in: this module does not import it).
            With it, a detected start-up is followed by the walk of step 5; without, the range
            starts right after the steepest fall.
        seeds, level, walk_bootstrap, fit_kwargs: Settings of the walk's fits (``fit_kwargs`` as
            the caller's fit: floor bounds, form).
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape or not (np.all(np.isfinite(xs)) and np.all(xs > 0) and np.all(np.isfinite(ys))):
        # Nothing is left out of data the fit itself will refuse, so its error (naming the bad value) is the one seen.
        return FitRange(float(np.nanmin(xs)) if xs.size else math.nan, 0, "auto", "values the fit cannot take: no range")
    ux, my, _, _ = means_by_x(xs, ys)
    if ux.size < 3:
        return FitRange(float(ux[0]) if ux.size else math.nan, 0, "auto", "too few points to look for a start-up")
    t = np.log10(ux)
    dt = np.diff(t)
    s = np.diff(my) / dt
    k = int(np.argmin(s))
    first = float(ux[0])
    start, why = 0, "no start-up: the curve falls fastest at its first points"
    if k > 0:
        sigma = _noise_sd(t, my)
        se = sigma * math.sqrt(2 / dt[0] ** 2 + 2 / dt[k] ** 2)
        if s[0] - s[k] <= z * se:
            why = "no start-up beyond noise: the curve's steepest fall is not significantly steeper than at its first points"
        elif ux.size - (k + 1) < min_points:
            return FitRange(first, 0, "auto", f"a start-up ends at x = {ux[k + 1]:.4g}, but only {ux.size - k - 1} points "
                                              f"follow it (at least {min_points} are needed to leave it out): all points "
                                              f"are fitted; train further to fit the scaling regime alone")
        else:
            start = k + 1
            why = (f"start-up left out: the curve falls fastest between x = {ux[k]:.4g} and {ux[k + 1]:.4g} "
                   f"(accelerating before, as no power law does)")
    walked = 0
    if fit_fn is not None:
        # Rows in a canonical order (x, seed, y): bootstrap draws depend on row order, and the range must not.
        seeds_a = None if seeds is None else np.asarray(seeds)
        order = np.lexsort((ys, xs) if seeds_a is None else (ys, seeds_a.astype(str), xs))
        xs, ys = xs[order], ys[order]
        seeds_a = None if seeds_a is None else seeds_a[order]
        # The walk's decisions use a fixed bootstrap seed, so every caller (fit, plan, report) agrees on the range.
        fit_kwargs = {k: v for k, v in fit_kwargs.items() if k not in ("bootstrap", "seed", "seeds", "trial_ids")}
        while ux.size - (start + 1) >= min_points:
            m = xs >= ux[start] * (1 - 1e-12)
            try:
                fit = fit_fn(xs[m], ys[m], seeds=None if seeds_a is None else seeds_a[m], bootstrap=walk_bootstrap,
                             seed=0, **fit_kwargs)
            except RecscaleError:
                break
            if start_sensitivity(fit_fn, fit, xs[m], ys[m], seeds=None if seeds_a is None else seeds_a[m], level=level,
                                 **fit_kwargs).ok is not False:
                break
            start += 1
            walked += 1
    if walked:
        why += (f"; then {walked} {'more ' if start > walked else ''}point{'s' if walked > 1 else ''} left out, "
                f"until β stopped depending on where the fit starts")
    if start == 0:
        return FitRange(first, 0, "auto", why)
    return FitRange(float(ux[start]), start, "auto", f"{why}; the fit starts at {ux[start]:.4g}")


def resolve_fit_range(x: Any, y: Any, fit_from: str | float | None, **walk: Any) -> FitRange:
    """The range for a ``--fit-from`` choice: ``"auto"`` (the rule), ``"all"`` (every point) or an x.

    ``walk``: :func:`fit_start`'s ``fit_fn``, ``seeds`` and fit settings (for ``"auto"``).
    """
    xs = np.asarray(x, dtype=float)
    first = float(np.min(xs)) if xs.size else math.nan
    if fit_from is None or fit_from == "all":
        return FitRange(first, 0, "all", "every point is fitted")
    if fit_from == "auto":
        return fit_start(x, y, **walk)
    x0 = float(fit_from)
    ux = np.unique(xs)
    return FitRange(x0, int(np.sum(ux < x0 * (1 - 1e-12))), "given", f"the fit starts at x = {x0:.4g} as asked")


@dataclass(frozen=True)
class StartSensitivity:
    """How far β moves when the fit starts one point later.

    Attributes:
        beta: β of the fit.
        beta_later: β refitted without the range's first point (None if that fit failed).
        half_width: Half-width of β's interval at ``level`` (None without bootstrap draws).
        x_dropped: The x left out of the refit.
        ok: |β_later − β| < half_width (None when it cannot be judged).
    """

    beta: float
    beta_later: float | None
    half_width: float | None
    x_dropped: float | None
    ok: bool | None

    def flag(self) -> Flag | None:
        """A ``start_dependent`` flag when β moved by more than its interval allows."""
        if self.ok is not False:
            return None
        return Flag("start_dependent",
                    f"β depends on where the fit starts: without the point at x = {self.x_dropped:.4g}, β moves from "
                    f"{self.beta:.3g} to {self.beta_later:.3g}, more than its 95% interval's half-width "
                    f"({self.half_width:.3g}); the curve is not yet inside its scaling regime there")

    def to_dict(self) -> dict[str, Any]:
        return plain(self.__dict__)


def start_sensitivity(fit_fn: Callable[..., Any], fit: Any, x: Any, y: Any, *, seeds: Any = None,
                      level: float = 0.95, min_points: int = DEFAULT_MIN_POINTS, **fit_kwargs: Any) -> StartSensitivity:
    """Refit without the first distinct x of (x, y) (point estimate only) and compare β with ``fit``'s interval.

    Not judged (``ok`` None) when fewer than ``min_points`` distinct x would remain.

    ``fit_fn`` is :func:`~recscale.laws.fit_power_law` (passed in, so this module does not import it);
    ``fit_kwargs`` are the original fit's settings (floor bounds and so on).
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if "beta" not in fit.params or fit.form == "m4":  # M4's β is not an exponent: nothing to compare
        return StartSensitivity(math.nan, None, None, None, None)
    beta = float(fit.params["beta"])
    ci = fit.ci(level).get("beta") if getattr(fit, "draws", None) is not None else None
    half = None
    if ci is not None and all(v is not None and math.isfinite(v) for v in ci):
        half = (ci[1] - ci[0]) / 2
    ux = np.unique(xs)
    if ux.size - 1 < min_points:  # too few points would remain to judge a refit (a 4-size parameter axis)
        return StartSensitivity(beta, None, half, None, None)
    keep = xs > ux[0]
    kw = {k: v for k, v in fit_kwargs.items() if k not in ("bootstrap", "seeds", "trial_ids")}
    try:
        later = fit_fn(xs[keep], ys[keep], seeds=None if seeds is None else np.asarray(seeds)[keep], bootstrap=0, **kw)
    except RecscaleError:
        return StartSensitivity(beta, None, half, float(ux[0]), None)
    b2 = float(later.params["beta"])
    ok = None if half is None else bool(abs(b2 - beta) < half)
    return StartSensitivity(beta, b2, half, float(ux[0]), ok)
