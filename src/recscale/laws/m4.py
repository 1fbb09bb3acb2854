"""The M4 law of Alabdulmohsin, Neyshabur and Zhai (2022), written from its definition.

    (ε − ε∞) / (ε0 − ε)^α = β · x^c,   c < 0,

ε the metric (NE, loss) at resource x, ε∞ its floor (called ``gamma`` like the other forms' floor),
ε0 the metric of an untrained model (ε∞ < ε < ε0), α ≥ 0 the shape of the slow initial regime and
β > 0, c < 0 the power law it turns into. For α = 0 it is the power law plus constant.

**Prediction** solves the implicit equation per x. With u = ε − ε∞ ∈ (0, D), D = ε0 − ε∞, the
left side log u − α·log(D − u) is strictly increasing in u, so safeguarded Newton on logit(u/D)
finds the unique root (to 1e−13, far below any measurement noise); the prediction is therefore
monotone decreasing in x by construction.

**Fitting** (no port of the reference code): residuals log y − log ε̂(x) (weighted least squares).

1. Screening: for fixed (ε∞, ε0, α) the law is linear in (log β, c) after taking logs:
   log(y − ε∞) − α·log(ε0 − y) = log β + c·log x, solved by weighted linear least squares. This
   is done on a grid: ε∞ = q·min(y) for q in (0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99), α in
   (0, 0.25, 0.5, 1, 2), and, unless ε0 is fixed by :class:`~recscale.laws.options.FitOptions`
   ``m4_eps0``, ε0 = max(y)·(1.05, 1.5, 3, 10). Each candidate is scored by the true objective.
2. Refinement: the best ``m4_starts`` candidates are refined by projected Levenberg–Marquardt
   with the analytic Jacobian (implicit differentiation), all rows and starts at once
   (:func:`~recscale.laws.batch_lsq.best_of_starts`: the starts race 60 iterations, then each
   curve's best continues). It works in the coordinates (ε∞, κ = α/ε0, log β + α·log ε0, c,
   −log ε0), in which the curved α–ε0–β valley of the likelihood is nearly straight. Bounds:
   ε∞ ∈ [0, min y), c ∈ [−5, −1e−4], ε0 ∈ (max y, 100·max y], α ∈ [0, 10·ε0/max y] (α ≤ 10 when ε0 is
   fixed).

Bootstrap refits repeat both steps on their own data (no warm start).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from recscale.laws.batch_lsq import best_of_starts

PARAMS = ("alpha", "beta", "gamma", "c", "eps0")
_Q_FLOOR = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99)
_ALPHAS = (0.0, 0.25, 0.5, 1.0, 2.0)
_EPS0_FACTORS = (1.05, 1.5, 3.0, 10.0)


def _solve_s(rhs: np.ndarray, alpha: np.ndarray, D: np.ndarray) -> np.ndarray:
    """s = logit(u/D) with log u − α·log(D − u) = rhs (all broadcast): safeguarded Newton on s.

    g(s) = log D − softplus(−s) − α·(log D − softplus(s)) is strictly increasing (g' = σ(−s) + α·σ(s)),
    so its root is unique. Newton steps start from the α = 0 solution and fall back to bisection
    of the bracket [−60, 60] whenever a step leaves it; iteration stops when g is met to 1e−13 or
    the bracket is below 1e−12 wide (at most 100 iterations). A root beyond ±60 (u within e^−60
    of 0 or D) is pinned to that end.
    """
    rhs, alpha, D = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (rhs, alpha, D)))
    lo = np.full(rhs.shape, -60.0)
    hi = np.full(rhs.shape, 60.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        logD = np.log(D)
        q = np.clip(np.exp(rhs - logD), 1e-26, 1.0 - 1e-16)
        s = np.clip(np.log(q) - np.log1p(-q), -60.0, 60.0)
        a_logD = (1.0 - alpha) * logD - rhs  # the constant part of g − rhs
        # A root beyond the bracket (α = 0 and rhs ≥ log D has none): pin s to the end it lies beyond
        # (softplus(60) = 60 and softplus(−60) = 0 in double precision).
        pin_hi = a_logD + alpha * 60.0 <= 0
        pin_lo = a_logD - 60.0 >= 0
        s = np.where(pin_hi, 60.0, np.where(pin_lo, -60.0, s))
        pinned = pin_hi | pin_lo
        for _ in range(100):
            sp = np.logaddexp(0.0, s)  # softplus(s); softplus(−s) = sp − s
            f = a_logD - (sp - s) + alpha * sp
            above = f > 0
            hi = np.where(above, s, hi)
            lo = np.where(above, lo, s)
            done = pinned | (np.abs(f) <= 1e-13) | (hi - lo <= 1e-12) | ~np.isfinite(f)
            if done.all():
                break
            d = np.exp(-sp) + alpha * np.exp(s - sp)  # σ(−s) + α·σ(s)
            s_new = s - f / d
            s = np.where(done, s, np.where((s_new > lo) & (s_new < hi), s_new, 0.5 * (lo + hi)))
        return s


def _solve_u(rhs: np.ndarray, alpha: np.ndarray, D: np.ndarray) -> np.ndarray:
    """u ∈ (0, D) with log u − α·log(D − u) = rhs (all broadcast)."""
    D = np.asarray(D, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        return D * np.exp(-np.logaddexp(0.0, -_solve_s(rhs, alpha, D)))


def predict(p: dict[str, np.ndarray], logx: np.ndarray) -> np.ndarray:
    """ε̂ at log x; parameters broadcast against ``logx`` (the caller arranges the shapes)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rhs = np.log(p["beta"]) + p["c"] * logx
        D = p["eps0"] - p["gamma"]
        return p["gamma"] + _solve_u(rhs, p["alpha"], D)


def x_for_value(p: dict[str, np.ndarray], target: float) -> np.ndarray:
    """Closed-form inverse: x = ((ε − ε∞) / ((ε0 − ε)^α·β))^(1/c); inf where ε ≤ ε∞, 0 where ε ≥ ε0."""
    ga, e0 = p["gamma"], p["eps0"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        logx = (np.log(target - ga) - p["alpha"] * np.log(e0 - target) - np.log(p["beta"])) / p["c"]
        x = np.exp(logx)
    return np.where(target <= ga, np.inf, np.where(target >= e0, 0.0, x))


def _bounds(Y: np.ndarray, W: np.ndarray, eps0_fixed: float | None, gamma_bounds: tuple[float, float]):
    """Per-row box (R, p) on θ = (ε∞, α, log β, c[, log ε0]); ε∞ < min y and ε0 > max y over weighted points."""
    pos = W > 0
    ymin = np.where(pos, Y, np.inf).min(1)
    ymax = np.where(pos, Y, -np.inf).max(1)
    g_lo = np.full(Y.shape[0], max(0.0, float(gamma_bounds[0])))
    g_hi = np.minimum(ymin * (1 - 1e-9), float(gamma_bounds[1]))
    g_lo = np.where(g_lo >= g_hi, g_hi * (1 - 1e-6), g_lo)  # a floor bound at or above the lowest point: a sliver below
    lower = [g_lo, np.zeros_like(g_lo), np.full_like(g_lo, -np.inf), np.full_like(g_lo, -5.0)]
    upper = [g_hi, np.full_like(g_lo, 10.0), np.full_like(g_lo, np.inf), np.full_like(g_lo, -1e-4)]
    if eps0_fixed is None:
        lower.append(np.log(ymax * (1 + 1e-9)))
        upper.append(np.log(100.0 * ymax))
    return np.stack(lower, axis=1), np.stack(upper, axis=1), ymin, ymax


def _screen(t: np.ndarray, Y: np.ndarray, W: np.ndarray, eps0_fixed: float | None, lower: np.ndarray,
            upper: np.ndarray, ymin: np.ndarray, ymax: np.ndarray) -> np.ndarray:
    """Grid of θ candidates per row with (log β, c) solved linearly; returns (R, K, 5)."""
    R = Y.shape[0]
    G = np.clip(np.asarray(_Q_FLOOR)[None, :] * ymin[:, None], lower[:, :1], upper[:, :1])  # (R, Q)
    A = np.asarray(_ALPHAS)
    E0 = (np.full((R, 1), float(eps0_fixed)) if eps0_fixed is not None
          else ymax[:, None] * np.asarray(_EPS0_FACTORS)[None, :])  # (R, E)
    pos = W > 0
    sw = W / W.sum(1, keepdims=True)
    tm = sw @ t
    var_t = np.sum(sw * (t[None, :] - tm[:, None]) ** 2, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        lg = np.log(Y[:, None, :] - G[:, :, None])  # (R, Q, n)
        le = np.log(E0[:, :, None] - Y[:, None, :])  # (R, E, n)
        z = lg[:, :, None, None, :] - A[None, None, :, None, None] * le[:, None, None, :, :]  # (R, Q, A, E, n)
        z = np.where(pos[:, None, None, None, :], z, 0.0)
    swb = sw[:, None, None, None, :]
    zm = np.sum(swb * z, axis=-1)
    dt = (t[None, :] - tm[:, None])[:, None, None, None, :]
    safe = np.where(var_t > 0, var_t, 1.0)[:, None, None, None]
    c = np.where(var_t[:, None, None, None] > 0, np.sum(swb * dt * (z - zm[..., None]), axis=-1) / safe, -0.1)
    c = np.clip(c, -5.0, -1e-4)
    logb = zm - c * tm[:, None, None, None]
    shape = c.shape
    cands = np.stack([np.broadcast_to(G[:, :, None, None], shape), np.broadcast_to(A[None, None, :, None], shape),
                      logb, c, np.broadcast_to(np.log(E0)[:, None, None, :], shape)], axis=-1)
    return cands.reshape(R, -1, 5)


def _unpack(theta: np.ndarray, eps0_fixed: float | None) -> dict[str, Any]:
    e0 = eps0_fixed if eps0_fixed is not None else np.exp(theta[..., 4])
    return {"gamma": theta[..., 0], "alpha": theta[..., 1], "beta": np.exp(theta[..., 2]), "c": theta[..., 3], "eps0": e0}


def _model(theta: np.ndarray, t: np.ndarray, eps0_fixed: float | None, jac: bool):
    """ε̂ (R, n) for parameter rows θ (R, p), and (if ``jac``) dε̂/dθ (R, n, p) by implicit differentiation.

    With u = ε̂ − ε∞, D = ε0 − ε∞ and G(u) = log u − α·log(D − u) = log β + c·t:
    du/dθ = −(∂G/∂θ) / G'(u), G'(u) = 1/u + α/(D − u).
    """
    p = {k: (np.asarray(v)[:, None] if np.ndim(v) else v) for k, v in _unpack(theta, eps0_fixed).items()}
    D = p["eps0"] - p["gamma"]
    sv = _solve_s(theta[:, 2:3] + p["c"] * t[None, :], p["alpha"], D)  # log β from θ: exp could underflow
    with np.errstate(over="ignore", invalid="ignore"):
        u = D * np.exp(-np.logaddexp(0.0, -sv))
        rest = D * np.exp(-np.logaddexp(0.0, sv))  # D − u, accurate when u is close to D
    eps = p["gamma"] + u
    if not jac:
        return eps, None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inv_g = 1.0 / (1.0 / u + p["alpha"] / rest)
        du_dD = p["alpha"] / rest * inv_g
        cols = [1.0 - du_dD, np.log(rest) * inv_g, inv_g, t[None, :] * inv_g]
        if eps0_fixed is None:
            cols.append(p["eps0"] * du_dD)
    return eps, np.stack([np.broadcast_to(c_, eps.shape) for c_ in cols], axis=-1)


def _to_internal(theta: np.ndarray, eps0_fixed: float | None) -> np.ndarray:
    """(ε∞, α, log β, c[, log ε0]) → (ε∞, κ = α/ε0, b = log β + α·log ε0, c[, ρ = −log ε0]).

    In these coordinates the curved α–ε0–β valley of the likelihood (for ε0 ≫ ε only α/ε0 and
    β·ε0^α matter) becomes nearly straight, which Levenberg–Marquardt follows in far fewer steps.
    """
    le0 = theta[:, 4] if eps0_fixed is None else np.full(theta.shape[0], math.log(eps0_fixed))
    cols = [theta[:, 0], theta[:, 1] * np.exp(-le0), theta[:, 2] + theta[:, 1] * le0, theta[:, 3]]
    if eps0_fixed is None:
        cols.append(-le0)
    return np.stack(cols, axis=1)


def _from_internal(phi: np.ndarray, eps0_fixed: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`_to_internal`, and d(standard)/d(internal) (m, p, p) for the chain rule."""
    m, n_par = phi.shape
    le0 = -phi[:, 4] if eps0_fixed is None else np.full(m, math.log(eps0_fixed))
    eps0 = np.exp(le0)
    alpha = phi[:, 1] * eps0
    theta = np.stack([phi[:, 0], alpha, phi[:, 2] - alpha * le0, phi[:, 3]] + ([le0] if eps0_fixed is None else []), axis=1)
    M = np.zeros((m, n_par, n_par))
    M[:, 0, 0] = M[:, 2, 2] = M[:, 3, 3] = 1.0
    M[:, 1, 1] = eps0  # dα/dκ
    M[:, 2, 1] = -le0 * eps0  # d log β/dκ
    if eps0_fixed is None:
        M[:, 1, 4] = -alpha  # dα/dρ
        M[:, 2, 4] = alpha * le0 + alpha  # d log β/dρ
        M[:, 4, 4] = -1.0  # d log ε0/dρ
    return theta, M


def fit_rows(t: np.ndarray, Y: np.ndarray, W: np.ndarray, eps0_fixed: float | None, n_starts: int,
             gamma_bounds: tuple[float, float] = (0.0, math.inf)) -> dict[str, Any]:
    """Fit M4 to every row of Y (weights W) on the design t = log(x/x0); parameters in x0 units plus ``sse``.

    All rows are screened at once and their best ``n_starts`` candidates refined together by
    :func:`~recscale.laws.batch_lsq.best_of_starts` (projected Levenberg–Marquardt with the
    analytic Jacobian, in the coordinates of :func:`_to_internal`).
    """
    Y = np.asarray(Y, dtype=float)
    W = np.asarray(W, dtype=float)
    R = Y.shape[0]
    lower, upper, ymin, ymax = _bounds(Y, W, eps0_fixed, gamma_bounds)
    n_par = lower.shape[1]
    cands = _screen(t, Y, W, eps0_fixed, lower, upper, ymin, ymax)[..., :n_par]  # (R, K, p)
    K = cands.shape[1]
    flat_eps = _model(cands.reshape(R * K, n_par), t, eps0_fixed, jac=False)[0].reshape(R, K, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sse = np.sum(W[:, None, :] * (np.log(Y)[:, None, :] - np.log(flat_eps)) ** 2, axis=2)
    sse = np.where(np.isfinite(sse), sse, np.inf)
    ns = min(n_starts, K)
    top = np.argsort(sse, axis=1, kind="stable")[:, :ns]  # (R, ns)
    owner = np.repeat(np.arange(R), ns)
    theta0 = np.take_along_axis(cands, top[:, :, None], axis=1).reshape(R * ns, n_par)
    # Refine in the internal coordinates; their box keeps ε∞, c and ε0 in the documented bounds and α ≤ 10·ε0/max y.
    lo_i = np.stack([lower[:, 0], np.zeros(R), np.full(R, -np.inf), lower[:, 3]]
                    + ([-upper[:, 4]] if eps0_fixed is None else []), axis=1)
    k_hi = 10.0 * np.exp(-lower[:, 4]) if eps0_fixed is None else np.full(R, 10.0 / eps0_fixed)
    hi_i = np.stack([upper[:, 0], k_hi, np.full(R, np.inf), upper[:, 3]]
                    + ([-lower[:, 4]] if eps0_fixed is None else []), axis=1)
    lo_s, hi_s = lo_i[owner], hi_i[owner]
    phi0 = np.clip(_to_internal(theta0, eps0_fixed), lo_s, hi_s)
    logY, sW = np.log(Y), np.sqrt(W)

    # The solver asks for the Jacobian at points whose residuals it has just computed; the implicit
    # solve is the expensive part, so residuals and Jacobian are computed together and cached per row.
    cache_at = np.full((R * ns, n_par), np.nan)
    cache_jac = np.zeros((R * ns, t.size, n_par))

    def both(ph, rows):
        o = owner[rows]
        th, M = _from_internal(ph, eps0_fixed)
        eps, d = _model(th, t, eps0_fixed, jac=True)
        eps = np.maximum(eps, 1e-300)
        return sW[o] * (logY[o] - np.log(eps)), -(sW[o] / eps)[:, :, None] * np.einsum("rnp,rpq->rnq", d, M)

    def resid(ph, rows):
        r, J = both(ph, rows)
        if np.unique(rows).size == rows.size:
            cache_at[rows], cache_jac[rows] = ph, J
        return r

    def jac(ph, rows):
        if np.array_equal(cache_at[rows], ph):
            return cache_jac[rows]
        return both(ph, rows)[1]

    pick, res = best_of_starts(resid, phi0, lo_s, hi_s, ns, jac=jac, max_iter=300)
    phi, sse_best = res.x, res.sse
    status = {"converged": bool(res.converged.all()), "message": "batched projected Levenberg-Marquardt",
              "nfev": int(res.iterations.max())}
    theta = _from_internal(phi, eps0_fixed)[0]
    rows_out = {k: np.broadcast_to(np.asarray(v, dtype=float), (R,)).copy() for k, v in _unpack(theta, eps0_fixed).items()}
    rows_out["sse"] = sse_best
    rows_out["status"] = status
    return rows_out


def to_original(rows: dict[str, np.ndarray], x0: float) -> dict[str, np.ndarray]:
    """β·(x/x0)^c = (β·x0^(−c))·x^c: only β changes units."""
    return {"alpha": rows["alpha"], "beta": rows["beta"] * np.exp(-rows["c"] * math.log(x0)), "gamma": rows["gamma"],
            "c": rows["c"], "eps0": rows["eps0"]}
