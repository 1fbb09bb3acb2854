"""Shared pieces of the laws package: input checks, interval estimators, plain-Python conversion.

Everything here is private to :mod:`recscale.laws`; the public modules re-export what users need.
Input checks raise :class:`~recscale.errors.RecscaleError` with the argument's name, the offending
value and what is allowed, because a fit on bad input silently returns a confident wrong answer.
"""

from __future__ import annotations

import contextlib
import functools

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from recscale.errors import RecscaleError


@dataclass(frozen=True)
class Flag:
    """A warning attached to a result: a stable machine-readable code plus a sentence for people.

    Args:
        code: Stable identifier, e.g. ``"beta_gamma_tradeoff"`` or ``"param_at_bound"``.
        message: What was seen and what it means for the result.
    """

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Plain-Python form."""
        return {"code": self.code, "message": self.message}


def plain(value: Any) -> Any:
    """Convert numpy values and containers to JSON-ready Python; non-finite floats become ``None``.

    A published result must never carry NaN or infinity (JSON has neither, and a NaN in a table
    reads as a number); ``None`` says "not available" explicitly.
    """
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if hasattr(value, "to_dict") and not isinstance(value, type):
        return plain(value.to_dict())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def as_1d(name: str, values: Any, *, caller: str) -> np.ndarray:
    """Return ``values`` as a 1-D float array or raise an error naming ``name``."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as e:
        raise RecscaleError(f"{caller}: {name} must be numbers; got {values!r:.80} ({e})") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise RecscaleError(f"{caller}: {name} must be one-dimensional; got shape {arr.shape}")
    return arr


def check_curve(
    x: Any, y: Any, *, caller: str, min_points: int = 4, min_distinct: int = 2, positive_y: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Validate one curve (x, y) and return it as float arrays.

    Args:
        x: Resource values (samples, parameters, FLOPs); must be finite and positive because the
            law is a power of x.
        y: Metric values (NE); must be finite, and positive when fitted in log space.
        caller: Function name used in messages.
        min_points: Fewest rows accepted.
        min_distinct: Fewest distinct x values accepted.
        positive_y: Whether y must be > 0.

    Raises:
        RecscaleError: naming the argument, the first offending index and value, and what is allowed.
    """
    xa = as_1d("x", x, caller=caller)
    ya = as_1d("y", y, caller=caller)
    if xa.size != ya.size:
        raise RecscaleError(f"{caller}: x and y must have the same length; got len(x) = {xa.size}, len(y) = {ya.size}")
    if xa.size < min_points:
        raise RecscaleError(
            f"{caller}: got {xa.size} points; at least {min_points} are needed to fit and judge a law "
            f"(allowed: n >= {min_points})"
        )
    bad = np.flatnonzero(~np.isfinite(xa) | (xa <= 0))
    if bad.size:
        i = int(bad[0])
        raise RecscaleError(f"{caller}: x must be finite and > 0; got x[{i}] = {float(xa[i])} ({bad.size} such values)")
    bad = np.flatnonzero(~np.isfinite(ya))
    if bad.size:
        i = int(bad[0])
        raise RecscaleError(f"{caller}: y must be finite; got y[{i}] = {float(ya[i])} ({bad.size} NaN or infinite values)")
    if positive_y:
        bad = np.flatnonzero(ya <= 0)
        if bad.size:
            i = int(bad[0])
            raise RecscaleError(
                f"{caller}: y must be > 0 for a log-space fit; got y[{i}] = {float(ya[i])} (use space='linear' for signed y)"
            )
    n_distinct = np.unique(xa).size
    if n_distinct == 1:
        raise RecscaleError(
            f"{caller}: all x values are equal (x = {float(xa[0])}); a scaling law needs x spread over a range, "
            "ideally two decades or more"
        )
    if n_distinct < min_distinct:
        raise RecscaleError(
            f"{caller}: got {n_distinct} distinct x values; this form needs at least {min_distinct} "
            f"(allowed: distinct x >= {min_distinct})"
        )
    return xa, ya


def check_level(level: Any, *, caller: str) -> float:
    """Return a confidence level in (0, 1) or raise."""
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise RecscaleError(f"{caller}: level must be a number in (0, 1); got {show(level)}") from None
    if not (0.0 < lv < 1.0):
        raise RecscaleError(f"{caller}: level must be in (0, 1), e.g. 0.95; got {show(level)}")
    return lv


def check_choice(name: str, value: Any, allowed: tuple[str, ...], *, caller: str) -> str:
    """Return ``value`` if it is one of ``allowed`` or raise naming all of them."""
    if value not in allowed:
        raise RecscaleError(f"{caller}: {name} must be one of {', '.join(map(repr, allowed))}; got {show(value)}")
    return value


def percentile_interval(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along axis 0, ignoring failed (NaN) draws."""
    tail = 100.0 * (1.0 - level) / 2.0
    with np.errstate(invalid="ignore"):
        lo = np.nanpercentile(draws, tail, axis=0)
        hi = np.nanpercentile(draws, 100.0 - tail, axis=0)
    return lo, hi


def bca_interval(
    draws: np.ndarray, estimate: np.ndarray, jack: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Bias-corrected and accelerated (BCa) bootstrap interval along axis 0 (Efron 1987).

    The bias correction z0 comes from the share of draws below the estimate; the acceleration from
    the jackknife skewness. Both are clipped so that a parameter sitting on a bound (all draws on
    one side) gives the percentile-like edge interval instead of an undefined quantile.

    Args:
        draws: Bootstrap replicates, shape (B, ...).
        estimate: Full-data estimate, shape (...).
        jack: Leave-one-out (or leave-one-cluster-out) estimates, shape (n, ...).
        level: Confidence level.
    """
    draws = np.asarray(draws, dtype=float)
    estimate = np.asarray(estimate, dtype=float)
    valid = np.isfinite(draws)
    nvalid = np.maximum(valid.sum(axis=0), 1)
    below = (np.where(valid, draws < estimate, False).sum(axis=0) + 0.5 * np.where(valid, draws == estimate, False).sum(axis=0))
    prop = np.clip(below / nvalid, 1.0 / (2 * nvalid), 1.0 - 1.0 / (2 * nvalid))
    z0 = stats.norm.ppf(prop)
    jm = np.nanmean(jack, axis=0)
    d = jm - jack
    num = np.nansum(d**3, axis=0)
    den = 6.0 * np.nansum(d**2, axis=0) ** 1.5
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    acc = np.clip(acc, -0.3, 0.3)
    za = stats.norm.ppf((1.0 - level) / 2.0)
    out = []
    for z in (za, -za):
        q = stats.norm.cdf(z0 + (z0 + z) / (1.0 - acc * (z0 + z)))
        q = np.clip(q, 0.0, 1.0)
        out.append(_nanquantile_per_column(draws, q))
    return out[0], out[1]


def _nanquantile_per_column(draws: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantile q[j] of column j (q broadcast to the trailing shape), NaNs ignored."""
    flat = draws.reshape(draws.shape[0], -1)
    qf = np.broadcast_to(q, draws.shape[1:]).reshape(-1)
    res = np.empty(flat.shape[1])
    for j in range(flat.shape[1]):
        col = flat[:, j]
        col = col[np.isfinite(col)]
        res[j] = np.quantile(col, qf[j]) if col.size else np.nan
    return res.reshape(draws.shape[1:])


def decades(x: np.ndarray) -> float:
    """Span of x in decades (log10 max/min)."""
    return float(np.log10(np.max(x) / np.min(x)))


_blas_limited = False  # inside a limit already (fits call fits): nested calls add nothing


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """One ThreadpoolController: building it scans the loaded libraries (~2 ms), too slow per fit."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def single_threaded_blas():
    """Context manager limiting BLAS to one thread while fitting, if threadpoolctl is installed.

    The fits here do many tiny linear-algebra calls (L-BFGS-B's 5×5 updates, 15-point matrix
    products). Multi-threaded OpenBLAS spends far longer waking threads than computing on such
    sizes, and on a busy machine a 7 ms L-BFGS-B run was measured at 30–500 ms. Without
    threadpoolctl the fit is unchanged, only slower.
    """
    global _blas_limited
    if _blas_limited:
        yield
        return
    try:
        controller = _blas_controller()
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        yield
        return
    _blas_limited = True
    try:
        with controller.limit(limits=1, user_api="blas"):
            yield
    finally:
        _blas_limited = False


def show(value: Any) -> str:
    """repr() for messages, with numpy scalars shown as plain numbers (``-1.0``, not ``np.float64(-1.0)``)."""
    if isinstance(value, np.generic):
        return repr(value.item())
    if isinstance(value, tuple):
        return "(" + ", ".join(show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value)


def blas_single_threaded(fn):
    """Decorator: run ``fn`` inside :func:`single_threaded_blas`, keeping its signature and docstring."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any):
        with single_threaded_blas():
            return fn(*args, **kwargs)

    return wrapper
