"""Joint law L(N, D) = E + A/N^α + B/D^β and compute-optimal allocation.

Fitted as Hoffmann et al. (2022) "approach 3": parameters θ = (a, b, e, α, β) with A = eᵃ, B = eᵇ,
E = eᵉ, prediction log L̂ = LSE(a − α log N, b − β log D, e), loss = Huber(δ = 1e-3) of the log
residuals, **summed** over runs, minimised by L-BFGS-B from a grid of starts.

Why each choice (see ``shared/reference/epoch_chinchilla/SOURCE.md`` for what goes wrong otherwise):

* The grid (α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, …, 1}, a, b ∈ {0, 5, …, 25}: 4,500 starts) is first
  *screened* by evaluating the objective at every start in one vectorised pass; only the best few
  are optimised. The objective is non-convex and the optimum is found from few basins, so this is
  as reliable as optimising from all starts and ~500× cheaper.
* The objective is of size ~1e-3 (Huber with δ = 1e-3). L-BFGS-B's default ``ftol``/``gtol`` are
  absolute at that scale and stop early; here they are 1e-15 / 1e-11 and are recorded. A mean
  instead of a sum would shrink the objective by another factor n, so the sum is used.
* Bootstrap refits resample runs and start again from the screened grid of their own data, never
  from the full-data optimum: a warm-started refit with loose tolerances "converges" at once and
  gives standard errors ~30× too small.
* The refits are solved together (``JointOptions.bootstrap_solver="batched"``): every refit
  screens the grid in one matrix product, and its best starts are refined at once by the batched
  Levenberg–Marquardt of :mod:`recscale.laws.batch_lsq`, on residuals sign(r)·√(2·w·Huber(r)) whose
  sum of squares is twice the summed Huber objective (same minimiser). One refit at a time by
  L-BFGS-B (``"lbfgsb"``) gives the same standard errors (within a few percent on planted laws and
  Chinchilla, ``tests/laws/test_laws_joint.py``) about an order of magnitude slower.

Compute-optimal allocation (:func:`compute_optimal`) minimises L(N, D) subject to
``flops_per_sample(N) · D = C``. For a dense transformer flops_per_sample ≈ 6N (C = 6ND); for a DLRM
most parameters are embeddings, which cost memory but almost no FLOPs, so the FLOPs per sample must
come from the model's own cost accounting (for example the study table's ``flops_per_sample``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize

from recscale.errors import RecscaleError
from recscale.laws._common import as_1d, check_level, percentile_interval, plain, show, single_threaded_blas
from recscale.laws.result import BootstrapSettings, SolverStatus

_NAMES = ("a", "b", "e", "alpha", "beta")
BOOTSTRAP_SOLVERS = ("batched", "lbfgsb")


@dataclass(frozen=True)
class JointOptions:
    """Settings of :func:`fit_joint_law`; defaults live only here.

    Args:
        delta: Huber threshold on log residuals (Hoffmann et al.: 1e-3).
        alpha_grid, beta_grid, e_grid, a_grid, b_grid: Grid of starts (Hoffmann et al.'s).
        n_polish: Best screened starts optimised by L-BFGS-B for the full-data fit.
        n_polish_bootstrap: Same, for each bootstrap refit (each refit screens its own grid).
        ftol, gtol: L-BFGS-B settings, tight on purpose (see the module docstring); ``maxiter``
            is scipy's default.
        bootstrap_solver: ``"batched"`` (all refits at once, batched Levenberg–Marquardt on the
            Huber objective) or ``"lbfgsb"`` (one refit at a time, as the full-data fit).
        bootstrap_max_steps: Step limits of the batched refits; each refit keeps its best (see
            :func:`_bootstrap_batched`).
    """

    delta: float = 1e-3
    alpha_grid: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)
    beta_grid: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)
    e_grid: tuple[float, ...] = (-1.0, -0.5, 0.0, 0.5, 1.0)
    a_grid: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
    b_grid: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
    n_polish: int = 8
    n_polish_bootstrap: int = 3
    ftol: float = 1e-15
    gtol: float = 1e-11
    bootstrap_solver: str = "batched"
    bootstrap_max_steps: tuple[float | None, ...] = (1.0, 0.3)

    def __post_init__(self) -> None:
        if self.bootstrap_solver not in BOOTSTRAP_SOLVERS:
            raise RecscaleError(f"JointOptions: bootstrap_solver must be one of {', '.join(BOOTSTRAP_SOLVERS)}; "
                                f"got {self.bootstrap_solver!r}")

    def grid(self) -> np.ndarray:
        """All starts as rows (a, b, e, α, β)."""
        return np.array(list(itertools.product(self.a_grid, self.b_grid, self.e_grid, self.alpha_grid, self.beta_grid)))

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form."""
        return plain(self.__dict__)


def _huber_per_run(theta: np.ndarray, lN: np.ndarray, lD: np.ndarray, lL: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss of every run for many θ at once: θ (k, 5) → (k, n).

    Kept per run so that a bootstrap resample, which only reweights runs, screens the grid with one
    matrix-vector product instead of re-evaluating the law.
    """
    a, b, e, al, be = (theta[:, i : i + 1] for i in range(5))
    pred = np.logaddexp(np.logaddexp(a - al * lN[None, :], b - be * lD[None, :]), e)
    r = np.abs(pred - lL[None, :])
    return np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta))


def _objective_grad(theta: np.ndarray, lN, lD, lL, delta: float, w):
    """Summed Huber objective and its exact gradient at one θ."""
    a, b, e, al, be = theta
    t1 = a - al * lN
    t2 = b - be * lD
    m = np.maximum(np.maximum(t1, t2), e)
    e1, e2, e3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
    s = e1 + e2 + e3
    pred = m + np.log(s)
    r = pred - lL
    ar = np.abs(r)
    f = float(np.sum(w * np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta))))
    psi = w * np.clip(r, -delta, delta)
    p1, p2, p3 = psi * e1 / s, psi * e2 / s, psi * e3 / s
    g = np.array([p1.sum(), p2.sum(), p3.sum(), -(p1 * lN).sum(), -(p2 * lD).sum()])
    return f, g


def _fit_once(lN, lD, lL, w, grid, grid_losses, n_polish, opts: JointOptions):
    """Screen the grid (``grid_losses @ w``), polish the best starts; returns (θ, objective, status)."""
    screen = grid_losses @ w
    order = np.argsort(screen)[:n_polish]
    best = None
    for i in order:
        res = optimize.minimize(_objective_grad, grid[i], args=(lN, lD, lL, opts.delta, w), jac=True, method="L-BFGS-B",
                                options={"ftol": opts.ftol, "gtol": opts.gtol})
        if best is None or res.fun < best.fun:
            best = res
    status = {"converged": bool(best.success), "message": str(best.message), "nit": int(best.nit), "nfev": int(best.nfev)}
    return best.x, float(best.fun), status


def _huber_rows(theta: np.ndarray, lN, lD, lL, delta: float, w: np.ndarray, jac: bool):
    """Residuals sign(r)·√(2·w·Huber(r)) of many refits (θ (m, 5), weights w (m, n)), and their Jacobian.

    Their sum of squares is twice the summed Huber objective, so least squares on them minimises it.
    """
    a, b, e, al, be = (theta[:, i : i + 1] for i in range(5))
    t1 = a - al * lN[None, :]
    t2 = b - be * lD[None, :]
    m = np.maximum(np.maximum(t1, t2), e)
    e1, e2, e3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
    s = e1 + e2 + e3
    r = m + np.log(s) - lL[None, :]
    ar = np.abs(r)
    inner = ar <= delta
    root = np.where(inner, ar, np.sqrt(np.maximum(2.0 * delta * ar - delta * delta, 0.0)))
    sw = np.sqrt(w)
    f = np.sign(r) * sw * root
    if not jac:
        return f
    # d f / d r: √w inside the quadratic zone, √w·δ/√(2δ|r| − δ²) in the linear one (continuous at |r| = δ).
    with np.errstate(divide="ignore", invalid="ignore"):
        dfdr = sw * np.where(inner, 1.0, delta / np.where(inner, 1.0, root))
    q1, q2, q3 = e1 / s, e2 / s, e3 / s
    J = np.stack([q1, q2, q3, -q1 * lN[None, :], -q2 * lD[None, :]], axis=2) * dfdr[:, :, None]
    return f, J


def _bootstrap_batched(lN, lD, lL, W: np.ndarray, grid, grid_losses, opts: JointOptions) -> np.ndarray:
    """All refits at once (weights W (B, n)): screen the grid per refit, refine its best starts together.

    The refinement runs once per step limit in ``opts.bootstrap_max_steps`` and each refit keeps its
    lowest objective: an unlimited Levenberg–Marquardt step can leap from a start to a plateau where
    a term is switched off (A/N^α → 0), and a short one can stall in a narrow valley; on planted,
    Chinchilla and flat-N data the best of limits 1.0 and 0.3 was never worse than one L-BFGS-B
    refit at a time by more than 3e-5 of the objective, and often better.
    """
    from recscale.laws.batch_lsq import best_of_starts

    k = max(1, min(opts.n_polish_bootstrap, len(grid)))
    screen = W @ grid_losses.T  # (B, G)
    best = np.argsort(screen, axis=1, kind="stable")[:, :k]
    starts = grid[best.reshape(-1)]
    owner = np.repeat(np.arange(W.shape[0]), k)

    def resid(th, rows):
        return _huber_rows(th, lN, lD, lL, opts.delta, W[owner[rows]], jac=False)

    def jac(th, rows):
        return _huber_rows(th, lN, lD, lL, opts.delta, W[owner[rows]], jac=True)[1]

    inf = np.full(5, np.inf)
    out = np.full((W.shape[0], 5), np.nan)
    obj = np.full(W.shape[0], np.inf)
    for limit in opts.bootstrap_max_steps:
        _, res = best_of_starts(resid, starts, -inf, inf, k, jac=jac, max_iter=400, race=60, max_step=limit)
        with np.errstate(over="ignore", invalid="ignore"):
            f = np.sum(W * _huber_per_run(res.x, lN, lD, lL, opts.delta), axis=1)
        better = np.isfinite(f) & (f < obj)
        out[better], obj[better] = res.x[better], f[better]
    return out


@dataclass(frozen=True)
class JointMethod:
    """How a :class:`JointLawFit` was obtained (typed, like a power law's ``FitMethod``; ``to_dict`` gives the JSON record).

    Attributes:
        delta: Huber threshold on log residuals.
        optimizer: The best start's L-BFGS-B status; nit: its iterations.
        grid, polished, polished_per_bootstrap: Starts on the grid, and how many of the best are
            refined for the fit and for each bootstrap refit.
        ftol, gtol: L-BFGS-B tolerances.
        bootstrap: Refits (whole runs resampled, percentile intervals; never warm-started).
        options: The :class:`JointOptions` used.
    """

    delta: float
    optimizer: SolverStatus
    nit: int
    grid: int
    polished: int
    polished_per_bootstrap: int
    ftol: float
    gtol: float
    bootstrap: BootstrapSettings
    options: JointOptions
    loss: str = "huber"
    reduction: str = "sum"
    space: str = "log"
    parameterisation: str = "log L = LSE(a - alpha log N, b - beta log D, e)"

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (the keys of the earlier untyped record)."""
        return plain({
            "loss": self.loss, "delta": self.delta, "reduction": self.reduction, "space": self.space,
            "parameterisation": self.parameterisation, "optimizer": "L-BFGS-B",
            "status": {**self.optimizer.to_dict(), "nit": self.nit},
            "starts": {"grid": self.grid, "screened": True, "polished": self.polished,
                       "polished_per_bootstrap": self.polished_per_bootstrap},
            "tolerances": {"ftol": self.ftol, "gtol": self.gtol, "maxiter": "scipy default (15000)"},
            "bootstrap": {k: v for k, v in self.bootstrap.to_dict().items() if k != "interval"} | {"resample": "runs"},
            "options": self.options.to_dict(),
        })


@dataclass(frozen=True)
class JointLawFit:
    """Fitted L(N, D) = E + A/N^α + B/D^β (see :func:`fit_joint_law`).

    Attributes:
        E, A, B, alpha, beta: Estimates.
        theta: (a, b, e, α, β), the optimiser's parameterisation (A = eᵃ, B = eᵇ, E = eᵉ).
        se: Bootstrap standard errors by name (E, A, B, alpha, beta), or None without bootstrap.
        draws: Bootstrap replicates by name, or None.
        objective: Summed Huber loss at the optimum.
        n_points: Runs used.
        method: Loss, δ, starts, tolerances, optimiser status, bootstrap settings.
        trial_ids: Ledger trial ids of the runs, if given.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    theta: tuple[float, ...]
    se: dict[str, float] | None
    draws: dict[str, np.ndarray] | None = field(repr=False, compare=False)
    objective: float = 0.0
    n_points: int = 0
    method: JointMethod | None = field(default=None, compare=False)
    trial_ids: tuple[Any, ...] | None = None

    def predict(self, N: Any, D: Any) -> np.ndarray:
        """Predicted loss at (N, D) (broadcast)."""
        N = np.asarray(N, dtype=float)
        D = np.asarray(D, dtype=float)
        a, b, e, al, be = self.theta
        return np.exp(np.logaddexp(np.logaddexp(a - al * np.log(N), b - be * np.log(D)), e))

    def ci(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Percentile bootstrap intervals by name.

        Raises:
            RecscaleError: without bootstrap draws.
        """
        level = check_level(level, caller="JointLawFit.ci")
        if not self.draws:
            raise RecscaleError("JointLawFit.ci needs bootstrap draws, but this fit has bootstrap=0; refit with bootstrap=200 or more")
        out = {}
        for k, v in self.draws.items():
            lo, hi = percentile_interval(v, level)
            out[k] = (float(lo), float(hi))
        return out

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """Plain-Python summary (JSON-ready)."""
        return plain({
            "law": "E + A/N^alpha + B/D^beta",
            "params": {"E": self.E, "A": self.A, "B": self.B, "alpha": self.alpha, "beta": self.beta},
            "theta": dict(zip(_NAMES, self.theta)),
            "se": self.se,
            "ci": {k: list(v) for k, v in self.ci(level).items()} if self.draws else None,
            "level": level,
            "objective": self.objective,
            "n_points": self.n_points,
            "method": self.method.to_dict() if self.method is not None else None,
            "trial_ids": list(self.trial_ids) if self.trial_ids is not None else None,
        })


def _untransform(theta: np.ndarray) -> dict[str, np.ndarray]:
    theta = np.atleast_2d(theta)
    with np.errstate(over="ignore"):  # a refit that ran off to log A ≈ 800 is an infinite A, not a warning
        return {"E": np.exp(theta[:, 2]), "A": np.exp(theta[:, 0]), "B": np.exp(theta[:, 1]),
                "alpha": theta[:, 3], "beta": theta[:, 4]}


def fit_joint_law(
    N: Any,
    D: Any,
    loss: Any,
    *,
    bootstrap: int = 0,
    seed: int = 0,
    options: JointOptions | None = None,
    trial_ids: Any = None,
) -> JointLawFit:
    """Fit L = E + A/N^α + B/D^β by Huber loss on log residuals (Hoffmann et al. approach 3).

    Args:
        N: Parameters per run (> 0).
        D: Training samples or tokens per run (> 0).
        loss: Final loss (or NE) per run (> 0).
        bootstrap: Resamples of runs (with replacement) for standard errors; 0 for none. Each
            refit screens the grid of starts on its own data (no warm start).
        seed: Seed of the bootstrap.
        options: :class:`JointOptions`.
        trial_ids: Ledger trial ids, recorded in the result.

    Returns:
        A :class:`JointLawFit`.

    Raises:
        RecscaleError: fewer than 6 runs, lengths differ, or non-positive / non-finite values.
    """
    caller = "fit_joint_law"
    opts = options or JointOptions()
    arrs = {}
    for name, v in (("N", N), ("D", D), ("loss", loss)):
        a = as_1d(name, v, caller=caller)
        bad = np.flatnonzero(~np.isfinite(a) | (a <= 0))
        if bad.size:
            raise RecscaleError(f"{caller}: {name} must be finite and > 0; got {name}[{bad[0]}] = {float(a[bad[0]])}")
        arrs[name] = a
    sizes = {k: v.size for k, v in arrs.items()}
    if len(set(sizes.values())) != 1:
        raise RecscaleError(f"{caller}: N, D and loss must have the same length; got {sizes}")
    n = arrs["N"].size
    if n < 6:
        raise RecscaleError(f"{caller}: got {n} runs; at least 6 are needed for 5 parameters (allowed: n >= 6)")
    if np.unique(arrs["N"]).size < 2 or np.unique(arrs["D"]).size < 2:
        raise RecscaleError(f"{caller}: N and D must each take at least 2 distinct values; got "
                            f"{np.unique(arrs['N']).size} distinct N and {np.unique(arrs['D']).size} distinct D")
    if not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0:
        raise RecscaleError(f"{caller}: bootstrap must be an integer >= 0; got {show(bootstrap)}")
    with single_threaded_blas():
        return _fit_joint(arrs, n, bootstrap, seed, opts, trial_ids)


def _fit_joint(arrs, n, bootstrap, seed, opts: JointOptions, trial_ids) -> JointLawFit:
    lN, lD, lL = np.log(arrs["N"]), np.log(arrs["D"]), np.log(arrs["loss"])
    grid = opts.grid()
    w = np.ones(n)
    grid_losses = _huber_per_run(grid, lN, lD, lL, opts.delta)
    theta, obj, status = _fit_once(lN, lD, lL, w, grid, grid_losses, opts.n_polish, opts)
    est = {k: float(v[0]) for k, v in _untransform(theta).items()}
    se = draws = None
    n_failed = 0
    if bootstrap:
        rng = np.random.default_rng(seed)
        # Resampling as multiplicity weights: identical to duplicating rows, cheaper.
        W = np.stack([np.bincount(rng.integers(0, n, n), minlength=n).astype(float) for _ in range(bootstrap)])
        if opts.bootstrap_solver == "batched":
            thetas = _bootstrap_batched(lN, lD, lL, W, grid, grid_losses, opts)
        else:
            thetas = np.stack([_fit_once(lN, lD, lL, w_b, grid, grid_losses, opts.n_polish_bootstrap, opts)[0] for w_b in W])
        bad = ~np.all(np.isfinite(thetas), axis=1)
        n_failed = int(bad.sum())
        thetas[bad] = np.nan
        draws = _untransform(thetas)
        with np.errstate(invalid="ignore", over="ignore"):  # an infinite or huge draw gives an infinite SE: "not identified"
            se = {k: float(np.nanstd(v, ddof=1)) for k, v in draws.items()}
    method = JointMethod(
        delta=opts.delta, optimizer=SolverStatus(status["converged"], status["message"], status["nfev"]), nit=status["nit"],
        grid=int(len(grid)), polished=opts.n_polish, polished_per_bootstrap=opts.n_polish_bootstrap, ftol=opts.ftol,
        gtol=opts.gtol, bootstrap=BootstrapSettings(n=int(bootstrap), resample="runs", interval="percentile", seed=seed,
                                                    failed=n_failed),
        options=opts,
    )
    return JointLawFit(E=est["E"], A=est["A"], B=est["B"], alpha=est["alpha"], beta=est["beta"],
                       theta=tuple(float(v) for v in theta), se=se, draws=draws, objective=obj, n_points=n,
                       method=method, trial_ids=tuple(trial_ids) if trial_ids is not None else None)


# ----------------------------------------------------------------------------------------------
# Compute-optimal allocation
# ----------------------------------------------------------------------------------------------


FlopsModel = Callable[[np.ndarray], np.ndarray]


def flops_per_sample_model(spec: Any = None) -> tuple[FlopsModel, str]:
    """Turn a description of FLOPs per sample into a function of N, with a label for the record.

    Args:
        spec: ``None`` → 6N (dense transformer, C = 6ND); a number → constant per-sample FLOPs
            (e.g. growing only embeddings); a callable N → FLOPs; or a pair (N_values, flops_values)
            of observed models, interpolated linearly in log-log and extrapolated along the end
            segments (the right choice for a DLRM family from the study table).

    Raises:
        RecscaleError: for values that are not positive and finite, or pairs of unequal length.
    """
    if spec is None:
        return (lambda N: 6.0 * np.asarray(N, dtype=float)), "6N (dense: C = 6ND)"
    if callable(spec):
        return (lambda N: np.asarray(spec(np.asarray(N, dtype=float)), dtype=float)), "user function"
    if isinstance(spec, (int, float, np.integer, np.floating)):
        c = float(spec)
        if not (math.isfinite(c) and c > 0):
            raise RecscaleError(f"flops_per_sample must be > 0; got {spec!r}")
        return (lambda N: np.full(np.shape(N), c)), f"constant {c:.6g}"
    try:
        if isinstance(spec, str) or len(spec) != 2:
            raise TypeError
        Ns, Fs = (np.asarray(v, dtype=float).reshape(-1) for v in spec)
    except (TypeError, ValueError):
        raise RecscaleError(f"flops_per_sample must be None, a number, a callable or (N_values, flops_values); got {spec!r:.80}") from None
    if Ns.size != Fs.size or Ns.size < 2:
        raise RecscaleError(f"flops_per_sample pairs need >= 2 matching values; got {Ns.size} N and {Fs.size} FLOPs")
    if not (np.all(np.isfinite(Ns)) and np.all(Ns > 0) and np.all(np.isfinite(Fs)) and np.all(Fs > 0)):
        raise RecscaleError("flops_per_sample pairs must be finite and > 0")
    order = np.argsort(Ns)
    lx, ly = np.log(Ns[order]), np.log(Fs[order])
    lx, idx = np.unique(lx, return_index=True)
    ly = ly[idx]

    def model(N):
        l = np.log(np.asarray(N, dtype=float))
        if lx.size == 1:
            return np.exp(np.full_like(l, ly[0]))
        out = np.interp(l, lx, ly)
        lo_slope = (ly[1] - ly[0]) / (lx[1] - lx[0])
        hi_slope = (ly[-1] - ly[-2]) / (lx[-1] - lx[-2])
        out = np.where(l < lx[0], ly[0] + lo_slope * (l - lx[0]), out)
        out = np.where(l > lx[-1], ly[-1] + hi_slope * (l - lx[-1]), out)
        return np.exp(out)

    return model, f"log-log interpolation of {Ns.size} observed models"


@dataclass(frozen=True)
class ComputeOptimal:
    """Compute-optimal (N, D) for each budget C under a joint law (see :func:`compute_optimal`).

    Attributes:
        compute: Budgets C (training FLOPs).
        N, D: Optimal parameters and samples for each budget.
        loss: Predicted loss there.
        flops_per_sample: FLOPs per sample of the optimal model.
        at_bound: True where the optimum is at an end of ``n_bounds``: the law keeps rewarding a
            larger (or smaller) model, typically because extra parameters cost no FLOPs.
        flops_model: How FLOPs per sample were obtained.
        n_bounds: Search range of N.
    """

    compute: np.ndarray
    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray
    flops_per_sample: np.ndarray
    at_bound: np.ndarray
    flops_model: str
    n_bounds: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form."""
        return plain(self.__dict__)


def compute_optimal(
    fit: JointLawFit,
    compute: Any,
    *,
    flops_per_sample: Any = None,
    n_bounds: tuple[float, float] = (1e3, 1e15),
    grid_size: int = 400,
) -> ComputeOptimal:
    """Minimise L(N, D) subject to flops_per_sample(N)·D = C, for each budget C.

    Searches log N on a grid, then refines the best cell by bounded scalar minimisation, so a law
    whose optimum runs off to a bound is reported as such (``at_bound``) instead of failing.

    Args:
        fit: A :class:`JointLawFit`.
        compute: Training-FLOP budget(s) C > 0.
        flops_per_sample: See :func:`flops_per_sample_model` (default 6N).
        n_bounds: Range of N searched.
        grid_size: Points of the log-N grid.

    Raises:
        RecscaleError: non-positive budgets or bad bounds.
    """
    C = as_1d("compute", compute, caller="compute_optimal")
    if np.any(~np.isfinite(C) | (C <= 0)):
        raise RecscaleError(f"compute_optimal: compute must be finite and > 0; got {C.tolist()!r:.80}")
    lo, hi = (float(v) for v in n_bounds)
    if not (0 < lo < hi and math.isfinite(hi)):
        raise RecscaleError(f"compute_optimal: n_bounds must satisfy 0 < lo < hi < inf; got {show(n_bounds)}")
    fps, label = flops_per_sample_model(flops_per_sample)
    grid = np.linspace(math.log(lo), math.log(hi), grid_size)
    Ng = np.exp(grid)
    out_N = np.empty(C.size)
    for i, c in enumerate(C):
        Lg = fit.predict(Ng, c / fps(Ng))
        j = int(np.argmin(Lg))
        a, b = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
        res = optimize.minimize_scalar(lambda l: float(fit.predict(math.exp(l), c / fps(np.array(math.exp(l))))),
                                       bounds=(a, b), method="bounded", options={"xatol": 1e-10})
        out_N[i] = math.exp(res.x) if res.fun <= Lg[j] else Ng[j]
    f = fps(out_N)
    D = C / f
    at_bound = (np.abs(np.log(out_N) - math.log(lo)) < 1e-3) | (np.abs(np.log(out_N) - math.log(hi)) < 1e-3)
    return ComputeOptimal(compute=C, N=out_N, D=D, loss=fit.predict(out_N, D), flops_per_sample=f,
                          at_bound=at_bound, flops_model=label, n_bounds=(lo, hi))
