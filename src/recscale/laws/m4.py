"""The M4 law of Alabdulmohsin, Neyshabur and Zhai (2022), written from its definition.

    (ε − ε∞) / (ε0 − ε)^α = β · x^c,   c < 0,

ε the metric (NE, loss) at resource x, ε∞ its floor (called ``gamma`` like the other forms' floor),
ε0 the metric of an untrained model (ε∞ < ε < ε0), α ≥ 0 the shape of the slow initial regime and
β > 0, c < 0 the power law it turns into. For α = 0 it is the power law plus constant.

**Prediction** solves the implicit equation per x. With u = ε − ε∞ ∈ (0, D), D = ε0 − ε∞, the
left side log u − α·log(D − u) is strictly increasing in u, so bisection on logit(u/D) finds the
unique root (48 halvings of [−60, 60]: s to 4e−13, far below any measurement noise); the
prediction is therefore monotone decreasing in x by construction.

**Fitting** (no port of the reference code): residuals log y − log ε̂(x) (weighted least squares).

1. Screening: for fixed (ε∞, ε0, α) the law is linear in (log β, c) after taking logs:
   log(y − ε∞) − α·log(ε0 − y) = log β + c·log x, solved by weighted linear least squares. This
   is done on a grid: ε∞ = q·min(y) for q in (0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99), α in
   (0, 0.25, 0.5, 1, 2), and, unless ε0 is fixed by :class:`~recscale.laws.options.FitOptions`
   ``m4_eps0``, ε0 = max(y)·(1.05, 1.5, 3, 10). Each candidate is scored by the true objective.
2. Polish: the best ``m4_starts`` candidates are refined by bounded trust-region least squares on
   (ε∞, α, log β, c[, log ε0]) with bounds ε∞ ∈ [0, min y), α ∈ [0, 10], c ∈ [−5, −1e−4],
   ε0 ∈ (max y, 100·max y]; the best result is kept.

Bootstrap refits repeat both steps on their own data (no warm start).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import optimize

PARAMS = ("alpha", "beta", "gamma", "c", "eps0")
_Q_FLOOR = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99)
_ALPHAS = (0.0, 0.25, 0.5, 1.0, 2.0)
_EPS0_FACTORS = (1.05, 1.5, 3.0, 10.0)


def _solve_u(rhs: np.ndarray, alpha: np.ndarray, D: np.ndarray) -> np.ndarray:
    """u ∈ (0, D) with log u − α·log(D − u) = rhs (all broadcast), by bisection on logit(u/D)."""
    rhs, alpha, D = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (rhs, alpha, D)))
    lo = np.full(rhs.shape, -60.0)
    hi = np.full(rhs.shape, 60.0)
    logD = np.log(D)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(48):
            s = 0.5 * (lo + hi)
            # u = D·σ(s), D − u = D·σ(−s); log σ(s) = −log(1 + e^(−s)).
            g = logD - np.logaddexp(0.0, -s) - alpha * (logD - np.logaddexp(0.0, s))
            above = g > rhs
            hi = np.where(above, s, hi)
            lo = np.where(above, lo, s)
        s = 0.5 * (lo + hi)
        return D * np.exp(-np.logaddexp(0.0, -s))


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


def _screen(t: np.ndarray, y: np.ndarray, w: np.ndarray, eps0_fixed: float | None, g_lo: float, g_hi: float) -> np.ndarray:
    """Grid of (γ, α, log β, c, log ε0) candidates with (log β, c) solved linearly; returns (K, 5)."""
    ymin, ymax = float(y.min()), float(y.max())
    e0s = (eps0_fixed,) if eps0_fixed is not None else tuple(ymax * f for f in _EPS0_FACTORS)
    cands = []
    sw = w / w.sum()
    tm = float(np.sum(sw * t))
    var_t = float(np.sum(sw * (t - tm) ** 2))
    for q in _Q_FLOOR:
        g = min(max(q * ymin, g_lo), g_hi)
        for a in _ALPHAS:
            for e0 in e0s:
                z = np.log(y - g) - a * np.log(e0 - y)
                zm = float(np.sum(sw * z))
                c = float(np.sum(sw * (t - tm) * (z - zm)) / var_t) if var_t > 0 else -0.1
                c = min(max(c, -5.0), -1e-4)
                cands.append((g, a, zm - c * tm, c, math.log(e0)))
    return np.array(cands)


def _unpack(theta: np.ndarray, eps0_fixed: float | None) -> dict[str, Any]:
    e0 = eps0_fixed if eps0_fixed is not None else np.exp(theta[..., 4])
    return {"gamma": theta[..., 0], "alpha": theta[..., 1], "beta": np.exp(theta[..., 2]), "c": theta[..., 3], "eps0": e0}


def fit_one(t: np.ndarray, y: np.ndarray, w: np.ndarray, eps0_fixed: float | None, n_starts: int,
            gamma_bounds: tuple[float, float] = (0.0, math.inf)):
    """Fit M4 to one curve on the design t = log(x/x0); returns (params in x0 units, sse, status).

    ``gamma_bounds`` bounds ε∞ (intersected with [0, min y)).
    """
    ymin, ymax = float(y[w > 0].min()), float(y[w > 0].max())
    g_lo = max(0.0, float(gamma_bounds[0]))
    g_hi = min(ymin * (1 - 1e-9), float(gamma_bounds[1]))
    if g_lo >= g_hi:  # a floor bound at or above the lowest point: keep a sliver below it
        g_lo = g_hi * (1 - 1e-6)
    cands = _screen(t, y, w, eps0_fixed, g_lo, g_hi)
    p = _unpack(cands, eps0_fixed)
    pred = predict({k: (np.asarray(v)[:, None] if np.ndim(v) else v) for k, v in p.items()}, t[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        sse = np.nansum(w * (np.log(y) - np.log(pred)) ** 2, axis=1)
    sse = np.where(np.isfinite(sse), sse, np.inf)
    n_par = 4 if eps0_fixed is not None else 5
    lower = np.array([g_lo, 0.0, -np.inf, -5.0, math.log(ymax * (1 + 1e-9))])[:n_par]
    upper = np.array([g_hi, 10.0, np.inf, -1e-4, math.log(100.0 * ymax)])[:n_par]
    sw = np.sqrt(w)

    def resid(th):
        pr = predict(_unpack(th, eps0_fixed), t)
        return sw * (np.log(y) - np.log(np.maximum(pr, 1e-300)))

    best = None
    for i in np.argsort(sse)[:n_starts]:
        th0 = np.clip(cands[i, :n_par], lower, upper)
        fin = np.isfinite(upper)
        th0[fin] = np.minimum(th0[fin], upper[fin] - 1e-9 * np.maximum(1.0, np.abs(upper[fin])))
        res = optimize.least_squares(resid, th0, bounds=(lower, upper), method="trf", xtol=1e-10, ftol=1e-12,
                                     gtol=1e-12, max_nfev=300)
        s = float(np.sum(res.fun**2))
        if best is None or s < best[1]:
            best = (res, s)
    res, s = best
    status = {"converged": bool(res.status > 0), "message": str(res.message), "nfev": int(res.nfev)}
    return {k: float(v) for k, v in _unpack(res.x, eps0_fixed).items()}, s, status


def fit_rows(t: np.ndarray, Y: np.ndarray, W: np.ndarray, eps0_fixed: float | None, n_starts: int,
             gamma_bounds: tuple[float, float]) -> dict[str, np.ndarray]:
    """Fit each row of Y (weights W); parameters in x0 units plus ``sse``."""
    outs = [fit_one(t, Y[i], W[i], eps0_fixed, n_starts, gamma_bounds) for i in range(Y.shape[0])]
    rows = {k: np.array([o[0][k] for o in outs]) for k in PARAMS}
    rows["sse"] = np.array([o[1] for o in outs])
    rows["status"] = outs[0][2] if outs else None
    return rows


def to_original(rows: dict[str, np.ndarray], x0: float) -> dict[str, np.ndarray]:
    """β·(x/x0)^c = (β·x0^(−c))·x^c: only β changes units."""
    return {"alpha": rows["alpha"], "beta": rows["beta"] * np.exp(-rows["c"] * math.log(x0)), "gamma": rows["gamma"],
            "c": rows["c"], "eps0": rows["eps0"]}
