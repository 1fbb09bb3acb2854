"""The solvers behind :func:`~recscale.laws.fit_power_law`: global β search and trust-region polish.

For fixed β the power law is linear in (α, γ), so those are solved exactly by bounded linear least
squares (variable projection) on a geometric grid of β; the best grid cell is refined by
golden-section search on the profile and polished by bounded trust-region least squares. In log
space the inner solve is made exact by a few Gauss–Newton reweightings. The broken power law has
four nonlinear parameters, fitted by batched Levenberg–Marquardt (:mod:`recscale.laws.batch_lsq`)
from screened starts with (α, γ) projected out the same way. Everything works on many rows
(bootstrap data sets) at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from recscale.laws import m4
from recscale.laws.batch_lsq import best_of_starts
from recscale.laws.options import FitOptions

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
TINY = 1e-300


@dataclass(frozen=True)
class Problem:
    """One curve prepared for fitting: what every refit of it (bootstrap, jackknife) shares.

    Attributes:
        form: The law form.
        x, y, w: Data and weights (float arrays).
        seeds: Seed label per row, or None.
        t: Design log(x / x0).
        x0: Reference x (geometric mean), so the basis is O(1) whatever the units of x.
        lo, hi: Bounds on γ (equal when γ is fixed).
        space: ``"log"`` or ``"linear"`` residuals.
        opts: Numerical settings.
        k: Number of free parameters.
    """

    form: str
    x: np.ndarray
    y: np.ndarray
    w: np.ndarray
    seeds: np.ndarray | None
    t: np.ndarray
    x0: float
    lo: float
    hi: float
    space: str
    opts: FitOptions
    k: int
    inv: np.ndarray | None = None  # row → index of its x in ``tu``: set when rows are aggregated (see aggregate)
    tu: np.ndarray | None = None  # design log(x / x0) of the distinct x

    @property
    def gamma_fixed(self) -> bool:
        """True when γ is fixed (its bounds coincide)."""
        return self.lo == self.hi


# ----------------------------------------------------------------------------------------------
# Vectorised variable projection: the inner bounded solve for (a, c) given basis values u.
# ----------------------------------------------------------------------------------------------


def _inner_ls(Sw, Su, Suu, Sz, Suz, lo: float, hi: float):
    """Minimise Σ w (z − a·u − c)² subject to a ≥ 0, lo ≤ c ≤ hi, from weighted sums.

    A convex quadratic in two variables: its minimum is either the unconstrained solution (if
    feasible) or the minimum on one face of the box, each of which has a closed form. All inputs
    broadcast; returns (a, c).
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        det = Sw * Suu - Su * Su
        ok = det > 1e-12 * Sw * Suu
        a1 = np.where(ok, (Sw * Suz - Su * Sz) / np.where(ok, det, 1.0), 0.0)
        c1 = np.where(ok, (Suu * Sz - Su * Suz) / np.where(ok, det, 1.0), 0.0)
        feas1 = ok & (a1 >= 0) & (c1 >= lo) & (c1 <= hi)
        if feas1.all():  # the unconstrained minimum is inside the box everywhere: nothing can beat it
            return a1, c1
        c2 = np.clip(Sz / Sw, lo, hi)
        a2 = np.zeros_like(c2)
        safe_uu = np.where(Suu > 0, Suu, 1.0)
        a3 = np.maximum(0.0, (Suz - lo * Su) / safe_uu)
        c3 = np.full_like(a3, lo)

        def q(a, c):
            return a * a * Suu + 2 * a * c * Su + c * c * Sw - 2 * a * Suz - 2 * c * Sz

        cands = [(np.where(feas1, a1, 0.0), np.where(feas1, c1, lo), np.where(feas1, q(a1, c1), np.inf)),
                 (a2, c2, q(a2, c2)), (a3, c3, q(a3, c3))]
        if np.isfinite(hi) and hi > lo:
            a4 = np.maximum(0.0, (Suz - hi * Su) / safe_uu)
            c4 = np.full_like(a4, hi)
            cands.append((a4, c4, q(a4, c4)))
    a_best, c_best, q_best = cands[0]
    for a_, c_, q_ in cands[1:]:
        better = q_ < q_best
        a_best = np.where(better, a_, a_best)
        c_best = np.where(better, c_, c_best)
        q_best = np.where(better, q_, q_best)
    return a_best, c_best


def _inner_fit(U: np.ndarray, Y: np.ndarray, W: np.ndarray, lo: float, hi: float, space: str, gn_iters: int):
    """Best (a, c) and weighted SSE for basis rows U (B, n), data Y (B, n), weights W (B, n).

    In log space the linear solve is exact only to first order, so it is repeated with Gauss–Newton
    reweighting (target p·(1 + log y − log p), weights w/p²) and the best iterate is kept.
    """
    if space == "linear":
        Sw, Su, Suu = W.sum(1), (W * U).sum(1), (W * U * U).sum(1)
        Sz, Suz = (W * Y).sum(1), (W * U * Y).sum(1)
        a, c = _inner_ls(Sw, Su, Suu, Sz, Suz, lo, hi)
        pred = a[:, None] * U + c[:, None]
        return a, c, (W * (Y - pred) ** 2).sum(1)
    logY = np.log(Y)
    p0 = Y
    best = None
    for _ in range(max(1, gn_iters)):
        w = W / (p0 * p0)
        z = p0 * (1.0 + logY - np.log(p0))
        Sw, Su, Suu = w.sum(1), (w * U).sum(1), (w * U * U).sum(1)
        Sz, Suz = (w * z).sum(1), (w * U * z).sum(1)
        a, c = _inner_ls(Sw, Su, Suu, Sz, Suz, lo, hi)
        pred = np.maximum(a[:, None] * U + c[:, None], TINY)
        sse = (W * (logY - np.log(pred)) ** 2).sum(1)
        if best is None:
            best = (a, c, sse)
        else:
            better = sse < best[2]
            best = tuple(np.where(better, new, old) for new, old in zip((a, c, sse), best))
        p0 = pred
    return best


def _varpro_powerlaw(t, Y, W, lo, hi, space, opts: FitOptions):
    """Global β search for many curves at once (rows of Y, W share the design t = log(x/x0)).

    Returns arrays (a, beta, c, sse), each of shape (B,). Every row is searched over the whole β
    grid: nothing is carried over between rows, so bootstrap refits cannot be warm-started.
    """
    blo, bhi = opts.beta_bounds
    grid = np.geomspace(blo, bhi, opts.grid_size)
    # Coarse pass: relative (first-order log) weights, all sums as matrix products (B, G), over
    # column blocks so the basis (G, n) never exceeds ~32 MB however many points a curve has.
    w0 = W / (Y * Y) if space == "log" else W
    Sw = w0.sum(1)[:, None]
    Sz = (w0 * Y).sum(1)[:, None]
    Szz = (w0 * Y * Y).sum(1)[:, None]
    Su = Suu = Suz = 0.0
    step = max(1, (1 << 22) // grid.size)
    for j in range(0, t.size, step):
        U = np.exp(-grid[:, None] * t[None, j : j + step])  # (G, block)
        w0j = w0[:, j : j + step]
        Su = Su + w0j @ U.T
        Suu = Suu + w0j @ (U * U).T
        Suz = Suz + (w0j * Y[:, j : j + step]) @ U.T
    a, c = _inner_ls(Sw, Su, Suu, Sz, Suz, lo, hi)
    sse0 = Szz + a * a * Suu + 2 * a * c * Su + c * c * Sw - 2 * a * Suz - 2 * c * Sz
    g = np.argmin(sse0, axis=1)
    lb = np.log(grid[np.maximum(g - 1, 0)])
    ub = np.log(grid[np.minimum(g + 1, grid.size - 1)])

    def prof(logb):
        Ub = np.exp(-np.exp(logb)[:, None] * t[None, :])
        return _inner_fit(Ub, Y, W, lo, hi, space, opts.gn_iters)

    cpt = ub - _GOLDEN * (ub - lb)
    dpt = lb + _GOLDEN * (ub - lb)
    fc = prof(cpt)[2]
    fd = prof(dpt)[2]
    for _ in range(opts.golden_iters):
        left = fc < fd
        ub = np.where(left, dpt, ub)
        lb = np.where(left, lb, cpt)
        new = np.where(left, ub - _GOLDEN * (ub - lb), lb + _GOLDEN * (ub - lb))
        fnew = prof(new)[2]
        cpt, dpt = np.where(left, new, dpt), np.where(left, cpt, new)
        fc, fd = np.where(left, fnew, fd), np.where(left, fc, fnew)
    best_logb = 0.5 * (lb + ub)
    a, c, sse = prof(best_logb)
    # Never worse than the best grid cell, nor than the bracket ends (a bound optimum).
    for cand in (np.log(grid[g]), lb, ub):
        a2, c2, s2 = prof(cand)
        better = s2 < sse
        best_logb = np.where(better, cand, best_logb)
        a, c, sse = np.where(better, a2, a), np.where(better, c2, c), np.where(better, s2, sse)
    return a, np.exp(best_logb), c, sse


# ----------------------------------------------------------------------------------------------
# Broken power law: nonlinear parameters by trust-region least squares, (a, c) projected out.
# ----------------------------------------------------------------------------------------------


def _broken_basis(theta: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Basis u(t) for θ = (β, β₂, t_b = log(x_b/x0), log s); θ may be (k, 4) → (k, n)."""
    theta = np.atleast_2d(theta)
    b1, b2, tb, logs = (theta[:, i : i + 1] for i in range(4))
    s = np.exp(logs)
    # Normalised so that u stays O(1) near x0 whatever the break.
    return np.exp(-b1 * t[None, :] - (b2 - b1) * s * (np.logaddexp(0.0, (t[None, :] - tb) / s) - np.logaddexp(0.0, -tb / s)))


_BROKEN_STARTS = np.array([(b1, b2, q, math.log(s)) for b1 in (0.05, 0.3, 1.0) for b2 in (0.05, 0.3, 1.0)
                           for q in (0.25, 0.5, 0.75) for s in (0.3, 1.0)])  # (β, β₂, break as a share of the t-range, log s)


def _fit_broken_rows(t, Y, W, lo, hi, space, opts: FitOptions, n_starts: int):
    """Fit the broken form to every row of Y; returns (a, θ, c, sse, status), θ rows (β, β₂, t_b, log s).

    Each row screens the 54 starts of :data:`_BROKEN_STARTS` with (a, c) projected out, and its best
    ``n_starts`` are refined together by :func:`~recscale.laws.batch_lsq.best_of_starts` (batched
    Levenberg–Marquardt, forward-difference Jacobian).
    """
    blo, bhi = opts.beta_bounds
    tmin, tmax = float(t.min()), float(t.max())
    starts = _BROKEN_STARTS.copy()
    starts[:, 2] = tmin + starts[:, 2] * (tmax - tmin)
    R, n = Y.shape
    k = len(starts)
    U = _broken_basis(starts, t)
    sse0 = _inner_fit(np.tile(U, (R, 1)), np.repeat(Y, k, axis=0), np.repeat(W, k, axis=0), lo, hi, space,
                      opts.gn_iters)[2].reshape(R, k)
    ns = min(n_starts, k)
    top = np.argsort(sse0, axis=1, kind="stable")[:, :ns]
    owner = np.repeat(np.arange(R), ns)
    lower = np.array([blo, blo, tmin, math.log(0.05)])
    upper = np.array([bhi, bhi, tmax, math.log(5.0)])
    theta0 = np.clip(starts[top.reshape(-1)], lower, upper)
    logY, sW = (np.log(Y) if space == "log" else None), np.sqrt(W)

    def fitted(th, rows):
        o = owner[rows]
        u = _broken_basis(th, t)
        a, c, _ = _inner_fit(u, Y[o], W[o], lo, hi, space, opts.gn_iters)
        return a, c, np.maximum(a[:, None] * u + c[:, None], TINY), o

    def resid(th, rows):
        _, _, pred, o = fitted(th, rows)
        return sW[o] * ((logY[o] - np.log(pred)) if space == "log" else (Y[o] - pred))

    pick, res = best_of_starts(resid, theta0, lower, upper, ns, max_iter=400)
    theta, sse = res.x, res.sse
    status = {"converged": bool(res.converged.all()), "message": "batched projected Levenberg-Marquardt",
              "nfev": int(res.iterations.max())}
    a, c, _, _ = fitted(theta, pick)
    return a, theta, c, sse, status


AGGREGATE_MIN_ROWS = 4096  # curves with more rows than this and repeated x are fitted on their distinct x


def distinct_design(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(row → distinct-x index, t of the distinct x) for a long curve with repeated x, else None.

    A study's export repeats each checkpoint once per seed or trial; a curve of 10^6 rows may have
    a few dozen distinct x. Fitting those (see :func:`aggregate`) makes time and memory grow with
    the distinct x, not the rows. Short curves are fitted row by row, as always.
    """
    if x.size <= AGGREGATE_MIN_ROWS:
        return None
    ux, first, inv = np.unique(x, return_index=True, return_inverse=True)
    if ux.size == x.size:
        return None
    return inv.reshape(-1), t[first]


def aggregate(p: Problem, Y: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows (B, n) → (B, distinct x): total weight, and the weighted mean of y (of log y in log space).

    Exact for least squares: Σ_i w_i (z_i − f(x))² over rows sharing x equals W·(z̄ − f(x))² plus a
    constant, so every fit has the same optimum on the aggregate (z = y, or log y in log space,
    where the target is the weighted geometric mean). A group with no weight gets weight 0, y = 1.
    """
    b, u = Y.shape[0], p.tu.size
    idx = (np.arange(b)[:, None] * u + p.inv[None, :]).reshape(-1)
    log = p.space == "log" or p.form == "m4"
    with np.errstate(divide="ignore", invalid="ignore"):
        Z = np.log(Y) if log else Y
        Wg = np.bincount(idx, weights=W.reshape(-1), minlength=b * u).reshape(b, u)
        Sg = np.bincount(idx, weights=(W * Z).reshape(-1), minlength=b * u).reshape(b, u)
        pos = Wg > 0
        mean = np.where(pos, Sg / np.where(pos, Wg, 1.0), 0.0)
    Yg = np.exp(mean) if log else mean
    return np.where(pos, Yg, 1.0), np.where(pos, Wg, 0.0)


def fit_rows(p: Problem, Y: np.ndarray, W: np.ndarray, bootstrap: bool | None = None) -> dict[str, np.ndarray]:
    """Fit many rows (B curves on the design of ``p``). Returns dict of parameter arrays in x0 units.

    ``bootstrap`` says whether the rows are refits (fewer starts for the multi-start forms);
    default: more than one row. On an aggregated problem (``p.inv``) the rows are aggregated first.
    """
    form, t, lo, hi, space, opts = p.form, p.t, p.lo, p.hi, p.space, p.opts
    many = Y.shape[0] > 1 if bootstrap is None else bootstrap
    if p.inv is not None:  # rows are aggregated here, or were already (Y has one column per distinct x)
        if Y.shape[1] == p.inv.size:
            Y, W = aggregate(p, Y, W)
        t = p.tu
    if form == "m4":
        n_starts = opts.m4_starts if not many else opts.m4_starts_bootstrap
        return m4.fit_rows(t, Y, W, opts.m4_eps0, n_starts, (lo, hi))
    if form == "broken_powerlaw":
        n_starts = opts.broken_starts if not many else opts.broken_starts_bootstrap
        a, th, c, sse, status = _fit_broken_rows(t, Y, W, lo, hi, space, opts, n_starts)
        return {"a": a, "beta": th[:, 0], "beta2": th[:, 1], "tb": th[:, 2], "sharpness": np.exp(th[:, 3]), "gamma": c,
                "sse": sse, "status": status}
    a, b, c, sse = _varpro_powerlaw(t, Y, W, lo, hi, space, opts)
    return {"a": a, "beta": b, "gamma": c, "sse": sse}


def to_original(form: str, rows: dict[str, np.ndarray], x0: float) -> dict[str, np.ndarray]:
    """Convert parameters from the x0-normalised scale to the units of x."""
    if form == "m4":
        return m4.to_original(rows, x0)
    logx0 = math.log(x0)
    with np.errstate(divide="ignore"):
        if form == "broken_powerlaw":
            # u normalised at x0 with the break term: fold its constant into α.
            s, tb = rows["sharpness"], rows["tb"]
            log_alpha = (np.log(rows["a"]) + rows["beta"] * logx0
                         + (rows["beta2"] - rows["beta"]) * s * np.logaddexp(0.0, -tb / s))
            return {"alpha": np.exp(log_alpha), "beta": rows["beta"], "gamma": rows["gamma"],
                    "beta2": rows["beta2"], "break_x": x0 * np.exp(tb), "sharpness": s}
        return {"alpha": np.exp(np.log(rows["a"]) + rows["beta"] * logx0), "beta": rows["beta"], "gamma": rows["gamma"]}



def polish(p: Problem, est: dict[str, float]):
    """Bounded trust-region least squares on (log a, β, γ) from the variable-projection optimum.

    The profile search is already exact; the polish confirms it with an independent optimiser,
    records its status, and yields the Jacobian for asymptotic standard errors.
    Returns (estimates, optimiser status, covariance parameter names, covariance or None).
    """
    ya, wa, lo, hi, space, opts, k = p.y, p.w, p.lo, p.hi, p.space, p.opts, p.k
    x0 = p.x0
    t = p.t
    sw = np.sqrt(wa)
    gamma_fixed = lo == hi
    a0 = est["alpha"] * x0 ** (-est["beta"])
    blo, bhi = opts.beta_bounds
    loga0 = math.log(max(a0, 1e-300))

    def unpack(th):
        la, b = th[0], th[1]
        c = lo if gamma_fixed else th[2]
        return la, b, c

    def resid(th):
        la, b, c = unpack(th)
        pred = np.maximum(np.exp(la - b * t) + c, TINY)
        return sw * ((np.log(ya) - np.log(pred)) if space == "log" else (ya - pred))

    if a0 <= 0:
        # α at its bound (0): the curve is flat and β is undefined; nothing to polish.
        return est, {"converged": True, "message": "alpha at bound 0; polish skipped", "nfev": 0}, (), None
    th0 = [loga0, est["beta"]] + ([] if gamma_fixed else [est["gamma"]])
    lower = [-np.inf, blo] + ([] if gamma_fixed else [lo])
    upper = [np.inf, bhi] + ([] if gamma_fixed else [hi])
    th0 = np.clip(np.array(th0, dtype=float), lower, upper)
    sse0 = float(np.sum(resid(th0) ** 2))
    try:
        res = optimize.least_squares(resid, th0, bounds=(lower, upper), method="trf", xtol=opts.polish_tol,
                                     ftol=opts.polish_tol, gtol=opts.polish_tol, max_nfev=2000)
    except (ValueError, np.linalg.LinAlgError) as e:  # pragma: no cover - defensive
        return est, {"converged": False, "message": f"polish failed: {e}", "nfev": 0}, (), None
    status = {"converged": bool(res.status > 0), "message": str(res.message), "nfev": int(res.nfev)}
    th = th0
    if float(np.sum(res.fun**2)) < sse0:
        th = res.x
    la, b, c = unpack(th)
    new = {"alpha": math.exp(la + b * math.log(x0)), "beta": float(b), "gamma": float(c)}
    # Asymptotic covariance s²(JᵀJ)⁻¹ in (log α, β, γ); singular when β and γ are not separable.
    J = res.jac
    n = ya.size
    dof = max(n - k, 1)
    s2 = float(np.sum(resid(th) ** 2)) / dof
    names = ("log_alpha", "beta") + (() if gamma_fixed else ("gamma",))
    cov = None
    try:
        jtj = J.T @ J
        if np.linalg.cond(jtj) < 1e14:
            cov = s2 * np.linalg.inv(jtj)
    except np.linalg.LinAlgError:
        cov = None
    return new, status, names, cov

