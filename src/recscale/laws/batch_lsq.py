"""Bounded nonlinear least squares for many small independent problems at once.

A bootstrap of a law with several nonlinear parameters (M4, the broken power law) is hundreds of
tiny problems (5 parameters, 15 residuals). Solving them one by one with
:func:`scipy.optimize.least_squares` spends almost all its time in Python overhead, so they are
solved together here: one Levenberg–Marquardt iteration updates every unfinished problem with
batched linear algebra.

The method is projected Levenberg–Marquardt (Moré 1978, with Marquardt's diagonal scaling):

* step δ solves (JᵀJ + λ·diag(JᵀJ)) δ = −Jᵀr; a parameter at a bound whose gradient points out
  of the box is held fixed for that step (the active set), and the trial point is clipped to the
  box;
* a step is taken only if it lowers the sum of squares; λ then shrinks by how well the quadratic
  model predicted the gain, and a refused step doubles its growth factor (Nielsen 1999);
* a problem stops when a taken step lowers the sum of squares by less than ``ftol`` relative, or
  moves the parameters by less than ``xtol`` relative, or λ exceeds 1e12 (no descent left).

Every problem is independent: its result does not depend on which others share the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

_LAMBDA0 = 1e-3
_LAMBDA_MAX = 1e12


@dataclass(frozen=True)
class BatchResult:
    """Solutions of a batch: parameters (R, p), sum of squares (R,), whether each converged, iterations each took."""

    x: np.ndarray
    sse: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def forward_jacobian(resid: Callable[[np.ndarray, np.ndarray], np.ndarray], theta: np.ndarray, rows: np.ndarray,
                     r0: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Forward-difference Jacobian (R, n, p) of ``resid`` at ``theta`` (R, p), stepping inward at an upper bound."""
    R, p = theta.shape
    h = 1.49e-8 * np.maximum(np.abs(theta), 1.0)
    h = np.where(theta + h > upper, -h, h)
    pert = np.repeat(theta[:, None, :], p, axis=1)  # (R, p, p)
    idx = np.arange(p)
    pert[:, idx, idx] += h
    r = resid(pert.reshape(R * p, p), np.repeat(rows, p)).reshape(R, p, -1)
    return np.transpose((r - r0[:, None, :]) / h[:, :, None], (0, 2, 1))


def least_squares_rows(
    resid: Callable[[np.ndarray, np.ndarray], np.ndarray],
    theta0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    jac: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    max_iter: int = 200,
    ftol: float = 1e-10,
    xtol: float = 1e-10,
    max_step: float | None = None,
) -> BatchResult:
    """Minimise ‖resid(θ_i, i)‖² within [lower, upper] for every row i of ``theta0`` (R, p).

    Args:
        resid: ``resid(theta, rows)`` → residuals (len(rows), n) of the problems ``rows`` at ``theta``
            (one parameter row per problem index; indices may repeat).
        theta0: Starting points, one row per problem; clipped into the box.
        lower, upper: Bounds, (p,) or one row per problem (R, p); ±inf allowed.
        jac: ``jac(theta, rows)`` → (len(rows), n, p); forward differences when None.
        max_iter: Iteration cap (each problem counts its own iterations only while unfinished).
        ftol, xtol: Relative stopping tolerances on the sum of squares and on the step. At 1e−10 the
            bootstrap prediction intervals of M4 and broken-law fits agree with those at 1e−12 to 1e−6.
        max_step: Largest change of any parameter in one step (None: no limit). For unbounded
            problems whose Jacobian has nearly dead columns (the joint law's terms far from the
            data), where an almost Gauss–Newton step can leap to a plateau that switches a term off.
    """
    theta = np.array(theta0, dtype=float)
    R, p = theta.shape
    lower = np.broadcast_to(np.asarray(lower, dtype=float), (R, p))
    upper = np.broadcast_to(np.asarray(upper, dtype=float), (R, p))
    theta = np.clip(theta, lower, upper)
    all_rows = np.arange(R)
    r = resid(theta, all_rows)
    sse = np.where(np.isfinite(r).all(1), np.sum(r * r, axis=1), np.inf)
    lam = np.full(R, _LAMBDA0)
    nu = np.full(R, 2.0)
    done = ~np.isfinite(sse)
    converged = np.zeros(R, dtype=bool)
    iterations = np.zeros(R, dtype=int)
    # Jacobians are recomputed only after a step is taken; a rejected step reuses them with a larger λ.
    J = np.zeros((R, r.shape[1], p))
    stale = np.ones(R, dtype=bool)
    eye = np.eye(p)
    for it in range(1, max_iter + 1):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        need = act[stale[act]]
        if need.size:
            J[need] = jac(theta[need], need) if jac is not None else forward_jacobian(
                resid, theta[need], need, r[need], upper[need])
            stale[need] = False
        Ja, ra, th, lo, hi = J[act], r[act], theta[act], lower[act], upper[act]
        g = np.einsum("rnp,rn->rp", Ja, ra)
        A = np.einsum("rnp,rnq->rpq", Ja, Ja)
        tiny = 1e-12 * np.maximum(np.abs(A).max(axis=(1, 2)), 1e-300)[:, None]  # per row: rows stay independent
        held = ((th <= lo) & (g > 0)) | ((th >= hi) & (g < 0))
        free = (~held).astype(float)
        diag = np.maximum(np.einsum("rpp->rp", A), tiny)
        M = A * free[:, :, None] * free[:, None, :] + eye * (lam[act, None] * diag * free + (1.0 - free))[:, :, None]
        with np.errstate(all="ignore"):
            try:
                step = -np.linalg.solve(M, (g * free)[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:
                step = -np.stack([np.linalg.lstsq(m, v, rcond=None)[0] for m, v in zip(M, g * free)])
        step = np.where(np.isfinite(step), step, 0.0)
        if max_step is not None:
            big = np.max(np.abs(step), axis=1, keepdims=True)
            step = step * np.minimum(1.0, max_step / np.maximum(big, 1e-300))
        trial = np.clip(th + step, lo, hi)
        r_new = resid(trial, act)
        sse_new = np.where(np.isfinite(r_new).all(1), np.sum(r_new * r_new, axis=1), np.inf)
        better = sse_new < sse[act]
        gain = np.where(better, sse[act] - sse_new, 0.0)
        moved = np.sqrt(np.sum((trial - th) ** 2, axis=1))
        small_f = better & (gain <= ftol * sse[act])
        small_x = moved <= xtol * (np.sqrt(np.sum(th * th, axis=1)) + xtol)
        ok = act[better]
        theta[ok], r[ok], sse[ok] = trial[better], r_new[better], sse_new[better]
        stale[ok] = True
        # Nielsen's (1999) damping update: shrink λ by how well the quadratic model predicted the gain.
        d = trial - th
        predicted = -(2.0 * np.sum(g * d, axis=1) + np.einsum("rp,rpq,rq->r", d, A, d))
        rho = np.where(predicted > 0, gain / np.where(predicted > 0, predicted, 1.0), 0.0)
        shrink = np.maximum(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
        lam[act] = np.where(better, np.maximum(lam[act] * shrink, 1e-12), lam[act] * nu[act])
        nu[act] = np.where(better, 2.0, nu[act] * 2.0)
        stop = small_f | small_x | (lam[act] > _LAMBDA_MAX)
        converged[act] = small_f | small_x
        done[act] = stop
        iterations[act] = it
    return BatchResult(theta, sse, converged, iterations)


def best_of_starts(
    resid: Callable[[np.ndarray, np.ndarray], np.ndarray],
    theta0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    n_starts: int,
    *,
    jac: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    max_iter: int = 300,
    race: int = 60,
    max_step: float | None = None,
) -> tuple[np.ndarray, BatchResult]:
    """Refine several starts per problem and keep each problem's best.

    ``theta0`` holds ``n_starts`` consecutive rows per problem; ``resid``/``jac`` take indices of
    those rows. With more than one start, all starts race for ``race`` iterations, then only each
    problem's best continues (up to ``max_iter`` iterations in all): starts that crawl along a flat
    valley stop costing time once another start is ahead. Returns the indices of the kept rows and
    their results (one row per problem). ``max_step``: see :func:`least_squares_rows`.
    """
    total = theta0.shape[0]
    lower = np.broadcast_to(np.asarray(lower, dtype=float), theta0.shape)
    upper = np.broadcast_to(np.asarray(upper, dtype=float), theta0.shape)
    first_cap = race if n_starts > 1 else max_iter
    first = least_squares_rows(resid, theta0, lower, upper, jac=jac, max_iter=first_cap, max_step=max_step)
    pick = np.arange(0, total, n_starts) + np.argmin(first.sse.reshape(-1, n_starts), axis=1)
    if n_starts == 1:
        return pick, first
    second = least_squares_rows(lambda th, rows: resid(th, pick[rows]), first.x[pick], lower[pick], upper[pick],
                                jac=None if jac is None else (lambda th, rows: jac(th, pick[rows])),
                                max_iter=max(max_iter - race, 1), max_step=max_step)
    return pick, BatchResult(second.x, second.sse, second.converged, first.iterations[pick] + second.iterations)
