"""Backtests: a law is judged by how it predicts beyond its data.

* :func:`holdout_cut`: the documented rule for where a backtest cuts a curve.
* :func:`backtest`: fit on x ≤ x_cut, score the prediction of the points beyond (one row each, or
  seed means per distinct x), optionally with the fit's prediction interval there and how many
  held-out values it holds.

Any fitting function can be backtested, so this module imports no fitter (and the automatic form
choice, which backtests every candidate, can use it without an import cycle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recscale.errors import RecscaleError
from recscale.laws._common import check_curve, check_level, plain, show


def holdout_cut(x: Any, holdout: float, min_train: int) -> float | None:
    """Largest x kept for fitting: the lower (1 − holdout) of the log-range, at least min_train distinct x.

    At least one distinct x is always held out; None when there are too few distinct x to keep
    ``min_train`` and hold one out.
    """
    ux = np.unique(np.asarray(x, dtype=float))
    if ux.size < min_train + 1:
        return None
    lx = np.log(ux)
    cut = lx[0] + (1.0 - holdout) * (lx[-1] - lx[0])
    n_train = int(np.sum(lx <= cut + 1e-9))
    n_train = min(max(n_train, min_train), ux.size - 1)
    return float(ux[n_train - 1])


def means_by_x(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct x, mean y there, sample s.d. of y (NaN for a single row) and row count."""
    ux, inv = np.unique(x, return_inverse=True)
    n = np.bincount(inv).astype(float)
    m = np.bincount(inv, weights=y) / n
    var = np.bincount(inv, weights=(y - m[inv]) ** 2) / np.maximum(n - 1, 1)
    return ux, m, np.where(n > 1, np.sqrt(var), np.nan), n


@dataclass(frozen=True)
class Backtest:
    """Out-of-range check of a fitting procedure: fit on x ≤ x_cut, predict the points beyond.

    Attributes:
        x_cut: Largest x used for fitting.
        n_train, n_test: Points on each side of the cut.
        rmse_log: Root-mean-square of log(ŷ / y) on the held-out points.
        bias_log: Mean of log(ŷ / y) there; > 0 means the law predicts worse (higher) NE than seen.
        max_abs_log: Largest |log(ŷ / y)| there.
        x_test, y_test, predicted: The held-out points (or distinct x and seed means) and their
            predictions.
        fit: The fitted object (for example a :class:`PowerLawFit`).
        lo, hi: The fit's prediction interval at ``x_test`` (``fit.prediction_interval``: where a
            new measurement falls, not the curve's narrower confidence band); None unless asked
            for with bootstrap draws.
        inside: Held-out values inside that prediction interval (None likewise). With
            ``aggregate="means"`` the held-out values are seed means, whose noise is smaller than
            the one measurement the interval is for, so the count is conservative (high) for them.
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
    lo: np.ndarray | None = field(default=None, repr=False, compare=False)
    hi: np.ndarray | None = field(default=None, repr=False, compare=False)
    inside: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (the fit is summarised by its own ``to_dict`` when it has one)."""
        return plain({
            "x_cut": self.x_cut, "n_train": self.n_train, "n_test": self.n_test, "rmse_log": self.rmse_log,
            "bias_log": self.bias_log, "max_abs_log": self.max_abs_log, "x_test": self.x_test,
            "y_test": self.y_test, "predicted": self.predicted,
        })



def _band(fit: Any, x: np.ndarray, y: np.ndarray, level: float | None):
    """The fit's prediction interval at the held-out x and how many held-out values lie inside (None without draws).

    A prediction interval, not the curve's confidence band (``predict_interval``): the held-out
    values are measurements, and the curve's band, which leaves out their noise, is too narrow to
    hold them (on held-out published curves it held 54% at a nominal 95%).
    """
    if level is None or not getattr(fit, "draws", None):
        return None, None, None
    lo, hi = fit.prediction_interval(x, level=level)
    return lo, hi, int(np.sum((y >= lo) & (y <= hi)))


def backtest(
    fit_fn: Callable[..., Any],
    x: Any,
    y: Any,
    x_cut: float,
    *,
    seeds: Any = None,
    aggregate: str = "points",
    level: float | None = None,
    **fit_kwargs: Any,
) -> Backtest:
    """Fit ``fit_fn(x_train, y_train, **fit_kwargs)`` on x ≤ x_cut and score its extrapolation.

    Extrapolation is what a scaling law is for, so in-sample fit quality (R², AIC) is not enough to
    choose between forms: a form with more parameters always fits better in-sample.

    Args:
        fit_fn: Callable returning an object with ``.predict(x)``, e.g. :func:`fit_power_law`.
        x, y: The curve.
        x_cut: Largest x used for fitting; at least one point must lie beyond it.
        seeds: Optional seed label per row; the training rows' labels are passed on as ``seeds``.
        aggregate: ``"points"`` scores every held-out row; ``"means"`` scores the mean y per
            distinct held-out x (seed means, whose noise is smaller).
        level: If given and the fit has bootstrap draws, also return its prediction interval at the
            held-out x (``prediction_interval``: where one new measurement falls) and how many
            held-out values it contains. The interval is for one measurement; seed means
            (``aggregate="means"``) are less noisy, so for them it is conservative.
        **fit_kwargs: Passed to ``fit_fn`` (e.g. ``form="powerlaw"``, ``bootstrap=0``).

    Raises:
        RecscaleError: no point beyond ``x_cut``, or whatever ``fit_fn`` raises on the training part.
    """
    xa, ya = check_curve(x, y, caller="backtest", min_points=2, min_distinct=2)
    if aggregate not in ("points", "means"):
        raise RecscaleError(f"backtest: aggregate must be one of 'points', 'means'; got {show(aggregate)}")
    if level is not None:
        level = check_level(level, caller="backtest")
    cut = float(x_cut)
    train = xa <= cut
    if not (~train).any():
        raise RecscaleError(f"backtest: no points beyond x_cut = {show(x_cut)} (largest x is {xa.max():.6g}); lower x_cut")
    if seeds is not None:
        fit_kwargs["seeds"] = np.asarray(seeds).reshape(-1)[train]
    fit = fit_fn(xa[train], ya[train], **fit_kwargs)
    xt, yt = xa[~train], ya[~train]
    if aggregate == "means":
        xt, yt = means_by_x(xt, yt)[:2]
    pred = np.asarray(fit.predict(xt), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log(pred) - np.log(yt)
    lo, hi, inside = _band(fit, xt, yt, level)
    return Backtest(
        x_cut=cut, n_train=int(train.sum()), n_test=int((~train).sum()),
        rmse_log=float(np.sqrt(np.mean(d**2))), bias_log=float(np.mean(d)), max_abs_log=float(np.max(np.abs(d))),
        x_test=xt, y_test=yt, predicted=pred, fit=fit, lo=lo, hi=hi, inside=inside,
    )
