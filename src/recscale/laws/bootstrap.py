"""Bootstrap refits of one curve, and intervals from bootstrap replicates.

Every refit repeats the global search from scratch (no warm start), so a refit cannot stop at the
full-data optimum. Residual, point and whole-seed resampling are supported; the jackknife gives
the acceleration of BCa intervals.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from recscale.laws._common import bca_interval
from recscale.laws.solve import Problem, fit_rows, to_original


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



def valid_rows(xa: np.ndarray, W: np.ndarray, k: int) -> np.ndarray:
    """Rows whose positive-weight points cover at least k distinct x (else the refit is degenerate)."""
    ux, inv = np.unique(xa, return_inverse=True)
    per_x = np.zeros((W.shape[0], ux.size))
    np.add.at(per_x.T, inv, (W > 0).T.astype(float))
    return (per_x > 0).sum(1) >= k


def run_bootstrap(p: Problem, pred: np.ndarray, resid_fit: np.ndarray, B: int, resample: str, rng: np.random.Generator):
    """Refit B resampled data sets from scratch; returns (draws by name, number of failed refits)."""
    xa, ya, wa, seeds_a, space, k = p.x, p.y, p.w, p.seeds, p.space, p.k
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
    ok = valid_rows(xa, W, k)
    if space == "log":
        ok &= np.all(Y > 0, axis=1)
    rows = fit_rows(p, np.where(ok[:, None], Y, 1.0), np.where(ok[:, None], W, 1.0))
    draws = to_original(p.form, rows, p.x0)
    draws = {name: np.where(ok, v, np.nan) for name, v in draws.items()}
    return draws, int((~ok).sum())


def jackknife(p: Problem, resample: str) -> dict[str, np.ndarray]:
    """Leave-one-out (or leave-one-seed-out) estimates for the BCa acceleration."""
    xa, ya, wa, seeds_a, k = p.x, p.y, p.w, p.seeds, p.k
    n = xa.size
    if resample == "seeds":
        labels, inv = np.unique(seeds_a, return_inverse=True)
        W = np.array([wa * (inv != j) for j in range(labels.size)])
    else:
        W = np.array([wa * (np.arange(n) != j) for j in range(n)])
    ok = valid_rows(xa, W, k)
    Y = np.broadcast_to(ya, W.shape).copy()
    rows = fit_rows(p, Y, np.where(ok[:, None], W, 1.0))
    jack = to_original(p.form, rows, p.x0)
    return {name: np.where(ok, v, np.nan) for name, v in jack.items()}

