"""The analysis behind a report: every law, regime, plan, extrapolation check and warning, once.

Figures, ``fits.json``, ``summary.md``, the HTML page and the terminal summary all read one
:class:`Analysis`, so they cannot disagree. Everything here is torch-free and matplotlib-free.

Curves (following the paper, Ardalani et al. 2022, and :mod:`recscale.laws.table`):

* **model data curves**: one per (scheme, value): NE against training samples, every seed's rows
  (the paper's Figure 2). The base model stands in every scheme and is fitted once.
* **data frontier** per scheme: the Pareto-optimal (samples, seed-mean NE) points over the
  scheme's models (Figure 4), with all seeds' rows of the chosen configurations.
* **parameter slices** per scheme: NE against the parameters the scheme grows, at several data
  sizes; the slice at the largest data size reached by every model is the headline one. The x is
  the part the scheme changes and nothing else: the bottom MLP's parameters for ``mlp_width``, the
  top MLP's for ``overarch_width`` (columns ``params_bottom_mlp`` / ``params_top_mlp`` of the
  ledger export; tables without them fall back to all MLP parameters, ``params_dense``) and the
  embedding parameters for the embedding schemes. Parts the scheme holds fixed only add a constant
  to x: in the total, embeddings dominate and an MLP scheme spans a few percent, and even in
  ``params_dense`` the top MLP's first layer can hide the bottom MLP's growth (0.04 decades in the
  old demo), so a law along it would read a few percent of change as an enormous exponent.
* **compute frontier** per scheme: the Pareto-optimal (training FLOPs, seed-mean NE) points over
  all models and data sizes (Figure 5).

Each curve is fitted twice with :func:`recscale.laws.fit_power_law`: with the floor bounded below
by the known floor (the *primary* fit) and free (γ ≥ 0), so that a reader sees both, and the free
floor can be checked against the known one. The known floor is the NE of the true probabilities on
the very eval rows every trial was measured on (recorded by the study runner for a synthetic
world): no model beats it on those rows. The world's population Bayes NE differs from it by the
sampling noise of the eval rows (SE ≈ 0.0045 on 40,000 rows), so it is kept beside it, not used as
the bound; without an eval-rows floor (older ledgers, tables) the Bayes NE is the bound.
"""

from __future__ import annotations

import dataclasses

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recscale.errors import RecscaleError
from recscale.laws import (
    DEFAULT_BOOTSTRAP,
    ComputeOptimal,
    Curve,
    JointLawFit,
    PowerLawFit,
    Regime,
    compute_optimal,
    fit_joint_law,
    fit_power_law,
    regime,
)
from recscale.laws._common import plain
from recscale.laws.auto import HOLDOUT as AUTO_HOLDOUT, comparable_to
from recscale.laws.backtest import backtest, holdout_cut, means_by_x
from recscale.laws.fitrange import FitRange, StartSensitivity, resolve_fit_range, start_sensitivity
from recscale.laws.options import FitOptions
from recscale.laws.plan import plan_for_gain
from recscale.laws.flags import seed_mean_rises
from recscale.laws.table import frontier_curve, slice_samples
from recscale.report.architectures import (
    ARCH_COL,
    Comparison,
    arch_title,
    architectures_of,
    compare_architectures,
    with_architecture,
)
from recscale.report.parallel import fork_start
from recscale.report.study import ARCH_SEP, UNTRAINED_NE, Study

AXES = ("data", "params", "compute")
FORMS_CHECK = "auto"  # the form whose evidence backtests every law form on the headline curves
# A headline whose law's β is not determined gets no regime or plan, by design (not a failed plan).
LAW_NOT_DETERMINED = "these points do not determine the law"
SCHEME_PARAMS = {
    "mlp_width": "params_bottom_mlp", "overarch_width": "params_top_mlp",
    "embedding_dim": "params_sparse", "embedding_rows": "params_sparse",
}  # fmt: skip
AXIS_END_REASON = "every id its own row"  # why the only axis with an end (embedding rows) ends there
PARAM_FALLBACK = {"params_bottom_mlp": "params_dense", "params_top_mlp": "params_dense"}
SCHEME_TITLES = {
    "mlp_width": "bottom MLP width", "overarch_width": "top MLP (overarch) width",
    "embedding_dim": "embedding dimension", "embedding_rows": "embedding rows (hash size)",
    "cross_layers": "cross layers", "cross_rank": "cross rank", "layers": "layers",
    "embeddings": "embeddings per layer", "fm_rank": "FM rank", "fmb_mlp_width": "FMB MLP width",
}  # fmt: skip


def scheme_title(scheme: str) -> str:
    """A scheme's title for figures and tables: ``"dcnv2/cross_rank"`` → ``"DCNv2: cross rank"``."""
    arch, _, name = scheme.rpartition("/")
    title = SCHEME_TITLES.get(name, name)
    return f"{arch_title(arch)}: {title}" if arch else title
SCHEME_SYMBOL = {"mlp_width": "w", "overarch_width": "w", "embedding_dim": "d", "embedding_rows": "rows"}
PARAM_TITLES = {"params_dense": "MLP parameters (bottom + top)", "params_sparse": "embedding parameters",
                "params_total": "parameters", "params_bottom_mlp": "bottom-MLP parameters",
                "params_top_mlp": "top-MLP parameters"}  # fmt: skip
FORM_NAMES = {"powerlaw_const": "power law + const", "m4": "M4", "broken_powerlaw": "broken power law"}
FORM_SHORT = {"powerlaw_const": "plc", "m4": "M4", "broken_powerlaw": "broken"}
AXIS_VAR = {"data": "D", "params": "N", "compute": "C"}
AXIS_NOUN = {"data": "data", "params": "parameters", "compute": "compute"}
AXIS_ADJ = {"data": "data", "params": "parameter", "compute": "compute"}


@dataclass(frozen=True)
class ReportOptions:
    """Settings of a report; the defaults live only here.

    Args:
        bootstrap: Bootstrap refits per law (intervals); 0 gives point estimates only.
        level: Confidence level of every interval.
        seed: Seed of the bootstraps.
        plan_rel_gain: The plan answers "how much more to lower NE by this fraction" (0.01 = 1%).
        param_slices: Data sizes at which parameter-scaling laws are fitted (log-spaced, always
            including the largest one every model reached).
        holdout: Share of each axis's log-range held out in the extrapolation check: laws are
            fitted on the smaller part and scored on the larger. The default is ``form="auto"``'s
            own (:data:`recscale.laws.auto.HOLDOUT`), so the power law + constant's backtest and
            every form's backtest on a headline curve share one cut.
        rise_tol: A rise of the seed-mean NE between neighbouring points larger than this
            relative amount (and than 2 standard errors of the seed mean) counts as "not
            decreasing": 0.1% NE, the size of change production CTR teams treat as real.
        joint_bootstrap: Bootstrap refits of each scheme's joint law NE(N, D); None: ``bootstrap``,
            capped at 200 (each refit screens 4,500 starts and polishes 3, ~0.1 s on one core).
            0: no SEs, so no joint law is called identified.
        joint_budgets: Compute budgets (log-spaced over the scheme's measured training FLOPs) at
            which the compute-optimal N*, D*, NE* are given.
        min_flops_ratio: Compute-optimal allocation is given only when the scheme's models differ in
            FLOPs per sample by at least this factor; otherwise model size is (nearly) free in
            compute and the optimum is not identified.
        fit_from: Where each curve's laws start: ``"auto"`` (after an optimiser start-up, by the rule
            of :mod:`recscale.laws.fitrange`), ``"all"`` or an x value. Points before it are drawn
            greyed and counted, not fitted.
        workers: Processes for the independent steps (each scheme's joint law; the figures), None:
            this machine's CPUs, at most 4; 1: all in this process. The numbers are the same.
    """

    bootstrap: int = DEFAULT_BOOTSTRAP
    level: float = 0.95
    seed: int = 0
    plan_rel_gain: float = 0.01
    param_slices: int = 4
    holdout: float = AUTO_HOLDOUT
    rise_tol: float = 1e-3
    joint_bootstrap: int | None = None
    joint_budgets: int = 6
    min_flops_ratio: float = 2.0
    fit_from: str | float = "auto"
    workers: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            problems.append(f"workers must be an integer >= 1, got {self.workers!r}")
        if not isinstance(self.bootstrap, int) or self.bootstrap < 0:
            problems.append(f"bootstrap must be an integer >= 0, got {self.bootstrap!r}")
        if not 0 < self.level < 1:
            problems.append(f"level must be in (0, 1), e.g. 0.95, got {self.level!r}")
        if not 0 < self.plan_rel_gain < 1:
            problems.append(f"plan_rel_gain must be in (0, 1), e.g. 0.01, got {self.plan_rel_gain!r}")
        if not isinstance(self.param_slices, int) or self.param_slices < 1:
            problems.append(f"param_slices must be an integer >= 1, got {self.param_slices!r}")
        if not 0 < self.holdout < 1:
            problems.append(f"holdout must be in (0, 1), got {self.holdout!r}")
        if self.joint_bootstrap is not None and (not isinstance(self.joint_bootstrap, int) or self.joint_bootstrap < 0):
            problems.append(f"joint_bootstrap must be an integer >= 0, got {self.joint_bootstrap!r}")
        if not isinstance(self.joint_budgets, int) or self.joint_budgets < 2:
            problems.append(f"joint_budgets must be an integer >= 2, got {self.joint_budgets!r}")
        if self.fit_from not in ("auto", "all") and not (isinstance(self.fit_from, (int, float)) and self.fit_from > 0):
            problems.append(f"fit_from must be 'auto', 'all' or a positive x, got {self.fit_from!r}")
        if not self.min_flops_ratio >= 1:
            problems.append(f"min_flops_ratio must be >= 1, e.g. 2.0, got {self.min_flops_ratio!r}")
        if problems:
            raise RecscaleError("report options: " + "; ".join(problems))

    @property
    def joint_refits(self) -> int:
        """Bootstrap refits of each joint law (see ``joint_bootstrap``)."""
        return min(self.bootstrap, 200) if self.joint_bootstrap is None else self.joint_bootstrap

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form."""
        return plain(dict(self.__dict__) | {"joint_refits": self.joint_refits})


@dataclass(frozen=True)
class Fitted:
    """One curve and its two laws.

    Attributes:
        key: Stable identifier, e.g. ``"model:mlp_width:32"``, ``"frontier:data:mlp_width"``,
            ``"params:mlp_width:524288"``.
        kind: ``"model"``, ``"frontier"`` or ``"param_slice"``.
        scheme, axis: Where it belongs (axis: ``"data"``, ``"params"`` or ``"compute"``).
        x_col: Table column of x.
        value: The model's scheme value (model curves), else None.
        samples: The data size of a parameter slice, else None.
        curve: The points (every seed's rows).
        bounded: Fit with γ ≥ the known floor (``Study.floor``; None without one, or if it failed).
        free: Fit with γ ≥ 0 (None if it failed).
        error: Why fitting failed, else None.
        mean_x, mean_y, sd_y, n_y: Seed means at each distinct x.
        curve_rmse_log: RMS of log(seed-mean NE / primary law) over the distinct x.
        left_out: The points before the fit range (an optimiser start-up), drawn but not fitted; None if none.
        fit_range: Where the laws start (:class:`~recscale.laws.fitrange.FitRange`).
        start: The in-regime check of the primary fit (β when the fit starts one point later).
    """

    key: str
    kind: str
    scheme: str
    axis: str
    x_col: str
    value: float | None
    samples: float | None
    curve: Curve = field(repr=False, compare=False)
    bounded: PowerLawFit | None = field(repr=False, compare=False)
    free: PowerLawFit | None = field(repr=False, compare=False)
    error: str | None
    mean_x: np.ndarray = field(repr=False, compare=False)
    mean_y: np.ndarray = field(repr=False, compare=False)
    sd_y: np.ndarray = field(repr=False, compare=False)
    n_y: np.ndarray = field(repr=False, compare=False)
    curve_rmse_log: float | None
    left_out: Curve | None = field(default=None, repr=False, compare=False)
    fit_range: FitRange | None = field(default=None, repr=False, compare=False)
    start: StartSensitivity | None = field(default=None, repr=False, compare=False)

    @property
    def n_left_out(self) -> int:
        """Distinct x left out of the fit (before its range)."""
        return self.fit_range.n_left_out if self.fit_range is not None else 0

    @property
    def primary(self) -> PowerLawFit | None:
        """The fit the report leads with: bounded by the Bayes NE when known, else free."""
        return self.bounded if self.bounded is not None else self.free

    @property
    def primary_name(self) -> str:
        return "γ ≥ floor" if self.bounded is not None else "free"

    def to_dict(self, level: float) -> dict[str, Any]:
        """Plain-Python form: the points, both fits and the curve RMSE."""
        return plain({
            "key": self.key, "kind": self.kind, "scheme": self.scheme, "axis": self.axis, "x_col": self.x_col,
            "value": self.value, "samples": self.samples, "selection": self.curve.selection, "error": self.error,
            "points": {"x": self.mean_x, "ne_mean": self.mean_y, "ne_sd": self.sd_y, "n_seeds": self.n_y},
            "curve_rmse_log": self.curve_rmse_log,
            "fit_range": self.fit_range.to_dict() if self.fit_range is not None else None,
            "left_out": self.left_out.to_dict() if self.left_out is not None else None,
            "start_sensitivity": self.start.to_dict() if self.start is not None else None,
            "fit_bounded": self.bounded.to_dict(level) if self.bounded is not None else None,
            "fit_free": self.free.to_dict(level) if self.free is not None else None,
        })


@dataclass(frozen=True)
class Headline:
    """One scheme × axis: its headline curve, regime and plan.

    Attributes:
        scheme, axis: Which.
        fitted: The headline curve (data/compute: frontier; params: largest common data size).
        regime: Regime of the primary fit at the largest x, or None.
        target_ne: The plan's target: (1 − plan_rel_gain) × the law's NE at the largest x.
        plan: :class:`recscale.laws.Plan` for the target, or None.
        factor: x needed / largest x (None if unreachable or beyond reach); factor_lo, factor_hi its
            interval, with the edge and target defined within each bootstrap refit, so factor_lo ≥ 1
            (:func:`recscale.laws.plan.plan_for_gain`; factor_hi None: unbounded).
        error: Why regime or plan failed, else None.
        ne_first, ne_last: Seed-mean NE at the smallest and largest x of the curve (model-free).
    """

    scheme: str
    axis: str
    fitted: Fitted = field(repr=False, compare=False)
    regime: Regime | None = field(repr=False, compare=False)
    target_ne: float | None
    plan: Any = field(repr=False, compare=False)
    factor: float | None
    factor_lo: float | None
    factor_hi: float | None
    error: str | None

    @property
    def ne_first(self) -> float:
        return float(self.fitted.mean_y[0])

    @property
    def ne_last(self) -> float:
        return float(self.fitted.mean_y[-1])

    @property
    def change_rel(self) -> float:
        """Relative change of the seed-mean NE from the smallest to the largest x (negative: better)."""
        return self.ne_last / self.ne_first - 1.0

    @property
    def x_span(self) -> tuple[float, float]:
        return float(self.fitted.mean_x[0]), float(self.fitted.mean_x[-1])

    def to_dict(self, level: float) -> dict[str, Any]:
        f = self.fitted.primary
        ci = f.ci(level) if (f is not None and f.draws) else {}
        free = self.fitted.free
        free_ci = free.ci(level) if (free is not None and free.draws) else {}
        return plain({
            "scheme": self.scheme, "axis": self.axis, "curve": self.fitted.key, "x_col": self.fitted.x_col,
            "primary_fit": self.fitted.primary_name,
            "beta": f.beta if f else None, "beta_ci": ci.get("beta"),
            "alpha": f.alpha if f else None, "gamma": f.gamma if f else None, "gamma_ci": ci.get("gamma"),
            "gamma_free": free.gamma if free else None, "gamma_free_ci": free_ci.get("gamma"),
            "beta_free": free.beta if free else None, "beta_free_ci": free_ci.get("beta"),
            "x_max": float(np.max(self.fitted.curve.x)), "x_span": self.x_span,
            "observed": {"ne_first": self.ne_first, "ne_last": self.ne_last, "change_rel": self.change_rel},
            "regime": self.regime.to_dict() if self.regime else None,
            "plan": {"target_ne": self.target_ne, "factor": self.factor, "factor_lo": self.factor_lo,
                     "factor_hi": self.factor_hi, "detail": self.plan.to_dict() if self.plan else None},
            "error": self.error,
        })


@dataclass(frozen=True)
class Extrapolation:
    """A law fitted on the smaller part of an axis, scored on the larger part.

    Attributes:
        key: The curve's key.
        scheme, axis, x_col: Which curve.
        x_cut: Largest x used for fitting.
        fit: The law fitted on x ≤ x_cut (primary style: γ ≥ Bayes NE when known).
        x_test, y_test: Held-out distinct x and seed-mean NE there.
        predicted: The law's NE there; lo, hi: its prediction interval there (where one new
            measurement falls: :meth:`PowerLawFit.prediction_interval`).
        rmse_log, bias_log, max_abs_log: Errors of log(predicted / observed); bias > 0: the law
            predicted worse NE than was measured.
        inside_interval: Held-out seed means within the prediction interval. The interval is for
            one measurement and a seed mean is less noisy, so this count is conservative (high).
        error: Why the check could not be made, else None.
        forms: Headline curves only: each candidate form's backtest from ``form="auto"``
            (:mod:`recscale.laws.auto`) fitted on the whole curve, by form: ``rmse_log``,
            ``bias_log``, ``max_abs_log``, ``n_test``, ``x_test``, ``y_test``, ``predicted`` and
            ``params`` (drawable with :func:`recscale.laws.forms.predict`), or ``{"error": why}``
            for a form that could not be fitted. Empty when not computed.
        chosen: The form ``form="auto"`` chose (None when not computed or it failed).
        forms_cut: Largest x of the forms' backtests (``form="auto"``'s own cut rule).
        forms_rule: ``form="auto"``'s rule, in its own words.
        forms_error: Why the forms' backtests could not be made, else None.
    """

    key: str
    scheme: str
    axis: str
    x_col: str
    x_cut: float | None
    fit: PowerLawFit | None = field(repr=False, compare=False)
    x_test: np.ndarray = field(repr=False, compare=False)
    y_test: np.ndarray = field(repr=False, compare=False)
    predicted: np.ndarray = field(repr=False, compare=False)
    lo: np.ndarray | None = field(repr=False, compare=False)
    hi: np.ndarray | None = field(repr=False, compare=False)
    rmse_log: float | None
    bias_log: float | None
    max_abs_log: float | None
    inside_interval: int | None
    error: str | None
    forms: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)
    chosen: str | None = None
    forms_cut: float | None = None
    forms_rule: str | None = None
    forms_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain({
            "key": self.key, "scheme": self.scheme, "axis": self.axis, "x_col": self.x_col, "x_cut": self.x_cut,
            "n_test": int(self.x_test.size), "rmse_log": self.rmse_log, "bias_log": self.bias_log,
            "max_abs_log": self.max_abs_log, "inside_interval": self.inside_interval,
            "x_test": self.x_test, "y_test": self.y_test, "predicted": self.predicted,
            "interval": {"lo": self.lo, "hi": self.hi, "kind": "prediction"} if self.lo is not None else None,
            "fit": {"params": self.fit.params, "flags": [f.code for f in self.fit.flags]} if self.fit else None,
            "error": self.error,
            "forms": {"x_cut": self.forms_cut, "chosen": self.chosen, "rule": self.forms_rule,
                      "backtests": self.forms, "error": self.forms_error},
        })


@dataclass(frozen=True)
class Joint:
    """One scheme's joint law NE(N, D) = E + A/N^α + B/D^β and its compute-optimal allocation.

    Attributes:
        scheme: Which scheme.
        n_col: Column of N (the parameters the scheme grows, as for its parameter laws).
        fit: The law fitted to the seed-mean NE of every (model, data size), or None.
        identified: Whether α and β are determined (same rule as β: interval ends within 3×).
        reason: Why the law is not identified (or could not be fitted), else None.
        short_reason: The same in a few words, for a figure.
        N, D, measured, predicted: The points and the law's NE there (the figure).
        flops_ratio: Largest over smallest FLOPs per sample among the scheme's models.
        optimal: Compute-optimal N*, D*, NE* over the scheme's compute range, or None.
        optimal_reason: Why no allocation is given, else None.
        n_range: Smallest and largest N measured (an N* outside it is an extrapolation).
    """

    scheme: str
    n_col: str
    fit: JointLawFit | None = field(repr=False, compare=False)
    identified: bool
    reason: str | None
    N: np.ndarray = field(repr=False, compare=False)
    D: np.ndarray = field(repr=False, compare=False)
    measured: np.ndarray = field(repr=False, compare=False)
    predicted: np.ndarray | None = field(repr=False, compare=False)
    flops_ratio: float
    optimal: ComputeOptimal | None = field(repr=False, compare=False)
    optimal_reason: str | None
    n_range: tuple[float, float]
    short_reason: str | None = None

    @property
    def rmse_log(self) -> float | None:
        """RMS of log(measured / predicted) over the points, or None without a fit."""
        if self.predicted is None:
            return None
        return float(np.sqrt(np.mean((np.log(self.measured) - np.log(self.predicted)) ** 2)))

    def to_dict(self, level: float) -> dict[str, Any]:
        return plain({
            "scheme": self.scheme, "n_col": self.n_col, "identified": self.identified, "reason": self.reason,
            "rmse_log": self.rmse_log,
            "fit": self.fit.to_dict(level) if self.fit is not None else None,
            "points": {"N": self.N, "D": self.D, "ne_mean": self.measured, "predicted": self.predicted},
            "flops_ratio": self.flops_ratio, "n_range": self.n_range,
            "compute_optimal": self.optimal.to_dict() if self.optimal is not None else None,
            "compute_optimal_reason": self.optimal_reason,
        })


@dataclass(frozen=True)
class Warning_:
    """A sanity warning: a stable code, where it was seen, and what it means.

    ``scheme``, ``curve`` (a :class:`Fitted` key) and ``fit`` ("γ ≥ floor", "free", "backtest" or
    "plan") say the same as ``where`` in parts, so the report can group warnings
    (:mod:`recscale.report.advice`).
    """

    code: str
    where: str
    message: str
    scheme: str | None = None
    curve: str | None = None
    fit: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "where": self.where, "message": self.message, "scheme": self.scheme,
                "curve": self.curve, "fit": self.fit}


@dataclass(frozen=True)
class Analysis:
    """Everything a report shows (see the module docstring)."""

    study: Study = field(repr=False, compare=False)
    options: ReportOptions
    schemes: tuple[str, ...]
    models: dict[str, list[Fitted]] = field(repr=False, compare=False)
    frontiers: dict[tuple[str, str], Fitted] = field(repr=False, compare=False)
    param_slices: dict[str, list[Fitted]] = field(repr=False, compare=False)
    headlines: dict[tuple[str, str], Headline] = field(repr=False, compare=False)
    extrapolations: dict[tuple[str, str], Extrapolation] = field(repr=False, compare=False)
    model_backtests: list[dict[str, Any]] = field(repr=False, compare=False)
    joint: dict[str, Joint] = field(repr=False, compare=False)
    warnings: list[Warning_] = field(repr=False, compare=False)
    notes: list[str] = field(repr=False, compare=False)
    elapsed_s: float
    architectures: Comparison | None = field(default=None, repr=False, compare=False)

    @property
    def base_identity(self) -> str | None:
        """Trial ids of the model that stands in more than one scheme (the base model), if any."""
        count: dict[str, int] = {}
        for s in self.schemes:
            for f in self.models.get(s, []):
                k = _model_identity(f)
                count[k] = count.get(k, 0) + 1
        shared = [k for k, n in count.items() if n > 1]
        return shared[0] if len(shared) == 1 else None

    @property
    def param_col(self) -> dict[str, str]:
        return {s: param_column(s, self.study.frame) for s in self.schemes}

    def all_fitted(self) -> list[Fitted]:
        """Every distinct fitted curve (the base model once)."""
        seen: dict[str, Fitted] = {}
        for s in self.schemes:
            for f in self.models.get(s, []):
                seen.setdefault(_model_identity(f), f)
        out = list(seen.values())
        out += list(self.frontiers.values())
        for s in self.schemes:
            out += self.param_slices.get(s, [])
        return out

    def floor_checks(self) -> list[dict[str, Any]]:
        """Free-fit floors of every curve against the known floor (empty without one)."""
        b = self.study.floor
        if b is None:
            return []
        out = []
        lvl = self.options.level
        lower = floor_lower(self.study)
        for f in self.all_fitted():
            if f.free is None:
                continue
            ci = f.free.ci(lvl)["gamma"] if f.free.draws else (f.free.gamma, f.free.gamma)
            below = ci[1] < lower
            out.append({"curve": f.key, "gamma_free": f.free.gamma, "gamma_free_ci": ci, "floor": b,
                        "floor_name": self.study.floor_name, "bayes_ne": self.study.bayes_ne,
                        "below_floor": bool(below), "below_bayes": bool(below), "gap": f.free.gamma - b})
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form: what ``fits.json`` holds."""
        lvl = self.options.level
        st = self.study
        models = []
        seen = set()
        for s in self.schemes:
            for f in self.models.get(s, []):
                d = f.to_dict(lvl)
                ident = _model_identity(f)
                d["shared_with"] = ident if ident in seen else None
                seen.add(ident)
                models.append(d)
        return plain({
            "format": "recscale-report", "version": 1,
            "study": {"name": st.name, "source": st.source, "kind": st.kind, "rows": int(len(st.frame)),
                      "schemes": list(self.schemes)},
            "bayes": None if st.bayes_ne is None else {"ne": st.bayes_ne, "se": st.bayes_ne_se, "source": st.bayes_source},
            "eval_floor": None if st.eval_floor is None else {"ne": st.eval_floor, "se": st.eval_floor_se,
                                                               "rows": st.eval_rows, "bounds_gamma": True},
            "floor": {"ne": st.floor, "name": st.floor_name, "lower": floor_lower(st)} if st.floor is not None else None,
            "options": self.options.to_dict(),
            "param_axis": self.param_col,
            "headlines": [h.to_dict(lvl) for h in self.headlines.values()],
            "model_curves": models,
            "frontiers": [f.to_dict(lvl) for f in self.frontiers.values()],
            "param_slices": [f.to_dict(lvl) for s in self.schemes for f in self.param_slices.get(s, [])],
            "extrapolation": [e.to_dict() for e in self.extrapolations.values()],
            "model_backtests": self.model_backtests,
            "joint": [j.to_dict(lvl) for j in self.joint.values()],
            "floor_checks": self.floor_checks(),
            "warnings": [w.to_dict() for w in self.warnings],
            "notes": self.notes,
            "provenance": st.provenance,
            "analysis_wall_s": self.elapsed_s,
        } | ({"architectures": self.architectures.to_dict(lvl)} if self.architectures is not None else {}))


def _num_key(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _model_identity(f: Fitted) -> str:
    return "|".join(sorted(set(map(str, f.curve.trial_ids or ()))))


# ---- helpers ------------------------------------------------------------------------------------


def _curve_from_rows(rows, x_col: str, selection: str) -> Curve:
    rows = rows.sort_values([x_col, "seed"]).reset_index(drop=True)
    return Curve(x=rows[x_col].to_numpy(dtype=float), y=rows["ne"].to_numpy(dtype=float), seeds=rows["seed"].to_numpy(),
                 trial_ids=tuple(rows["trial_id"].tolist()), selection=selection, rows=rows)


def _fit_kwargs(curve: Curve, opts: ReportOptions, seed_offset: int) -> dict[str, Any]:
    return {"seeds": curve.seeds, "trial_ids": curve.trial_ids, "bootstrap": opts.bootstrap, "seed": opts.seed + seed_offset}


def _subset(curve: Curve, mask: np.ndarray, selection: str) -> Curve:
    rows = curve.rows[mask].reset_index(drop=True) if curve.rows is not None else None
    ids = tuple(t for t, m in zip(curve.trial_ids, mask) if m) if curve.trial_ids is not None else None
    return Curve(x=curve.x[mask], y=curve.y[mask], seeds=None if curve.seeds is None else curve.seeds[mask],
                 trial_ids=ids, selection=selection, rows=rows)


def _fit_curve(key, kind, scheme, axis, x_col, curve, study: Study, opts, *, value=None, samples=None, seed_offset=0) -> Fitted:
    bounded = free = None
    errors = []
    floor_kw = {"gamma_bounds": (study.floor, math.inf)} if study.floor is not None else {}
    fr = resolve_fit_range(curve.x, curve.y, opts.fit_from, fit_fn=fit_power_law, seeds=curve.seeds, level=opts.level,
                           **floor_kw)
    inside = fr.mask(curve.x)
    left_out = None
    if not inside.all():
        left_out = _subset(curve, ~inside, f"{curve.selection} (left out: {fr.reason})")
        curve = _subset(curve, inside, curve.selection)
    kw = _fit_kwargs(curve, opts, seed_offset)
    try:
        free = fit_power_law(curve.x, curve.y, **kw)
    except RecscaleError as e:
        errors.append(str(e))
    if study.floor is not None:
        try:
            bounded = fit_power_law(curve.x, curve.y, **floor_kw, **kw)
        except RecscaleError as e:
            errors.append(str(e))
    mx, my, sd, n = means_by_x(curve.x, curve.y)
    primary = bounded if bounded is not None else free
    rmse = start = None
    if primary is not None:
        rmse = float(np.sqrt(np.mean((np.log(my) - np.log(primary.predict(mx))) ** 2)))
        start = start_sensitivity(fit_power_law, primary, curve.x, curve.y, seeds=curve.seeds, level=opts.level, **floor_kw)
        if start.flag() is not None:
            flagged = dataclasses.replace(primary, flags=primary.flags + (start.flag(),))
            bounded, free = (flagged, free) if bounded is not None else (bounded, flagged)
    return Fitted(key=key, kind=kind, scheme=scheme, axis=axis, x_col=x_col, value=value, samples=samples, curve=curve,
                  bounded=bounded, free=free, error="; ".join(dict.fromkeys(errors)) or None,
                  mean_x=mx, mean_y=my, sd_y=sd, n_y=n, curve_rmse_log=rmse, left_out=left_out, fit_range=fr, start=start)


def param_column(scheme: str, frame) -> str:
    """The column a scheme's parameter laws use: the parameters the scheme grows (see the module docstring)."""
    col = SCHEME_PARAMS.get(scheme.split(ARCH_SEP)[-1], "params_total")
    if col not in frame.columns or frame[col].isna().any():
        col = PARAM_FALLBACK.get(col, col)
    return col


def floor_lower(study: Study) -> float | None:
    """The value a free floor's interval must reach: the eval-rows floor itself (the measured NEs share its rows,
    so its sampling SE does not apply to them), else the lower end of the Bayes NE's 95% interval."""
    if study.eval_floor is not None:
        return study.eval_floor
    return study.bayes_lower


def _regime_and_plan(f: Fitted, opts: ReportOptions, alternatives: dict[str, dict[str, float]] | None = None,
                     x_end: float | None = None) -> Headline:
    """Regime and plan of a headline curve; ``alternatives``: forms that backtest as well (their disagreement is noted);
    ``x_end``: where the curve's axis ends (embedding rows: every id its own row), read by the regime and the plan."""
    fit = f.primary
    if fit is None:
        return Headline(f.scheme, f.axis, f, None, None, None, None, None, None, f.error or "no fit")
    try:
        reg = regime(fit, x_end=x_end, level=opts.level)
    except RecscaleError as e:
        return Headline(f.scheme, f.axis, f, None, None, None, None, None, None, str(e))
    if not is_flat(fit) and (beta_at_bound(fit) or (fit.draws and not beta_determined(fit, opts.level))):
        # The exponent is the search bound, or its interval spans more than a factor of 3: a plan read
        # off it would be an artefact of the bound or of one draw, so none is given (a parameter law at
        # 0.005 [0.001, 3.0] would otherwise "plan" millions of times more parameters). The regime is
        # kept: it is decided from the gains' intervals, which a flat curve bounds even when β is free.
        why = "β at its search bound" if beta_at_bound(fit) else "β not determined (interval wider than 3×)"
        return Headline(f.scheme, f.axis, f, reg, None, None, None, None, None, f"{why}: {LAW_NOT_DETERMINED}")
    try:
        p = plan_for_gain(fit, opts.plan_rel_gain, level=opts.level, axis=f.x_col, resources=f.curve.rows,
                          alternatives=alternatives, x_end=x_end)
    except RecscaleError as e:
        return Headline(f.scheme, f.axis, f, reg, None, None, None, None, None, str(e))
    lo, hi = p.factor_interval if p.factor_interval is not None else (None, None)
    return Headline(f.scheme, f.axis, f, reg, p.target_ne, p, p.factor, lo, hi, None)


def _extrapolate(f: Fitted, study: Study, opts: ReportOptions, bootstrap: int) -> Extrapolation:
    """The laws' backtest of this curve (fit on the lower part of its log-range, scored on seed means beyond)."""
    empty = np.array([])
    c = f.curve
    k = 3  # free parameters of the law with a bounded floor: α, β, γ
    x_cut = holdout_cut(c.x, opts.holdout, k)
    if x_cut is None:
        return Extrapolation(f.key, f.scheme, f.axis, f.x_col, None, None, empty, empty, empty, None, None, None, None,
                             None, None, f"too few distinct x ({np.unique(c.x).size}) to hold any out")
    kw: dict[str, Any] = {"bootstrap": bootstrap, "seed": opts.seed}
    if study.floor is not None:
        kw["gamma_bounds"] = (study.floor, math.inf)
    try:
        bt = backtest(fit_power_law, c.x, c.y, x_cut, seeds=c.seeds, aggregate="means", level=opts.level, **kw)
    except RecscaleError as e:
        return Extrapolation(f.key, f.scheme, f.axis, f.x_col, x_cut, None, empty, empty, empty, None, None, None, None,
                             None, None, str(e))
    return Extrapolation(f.key, f.scheme, f.axis, f.x_col, x_cut, bt.fit, bt.x_test, bt.y_test, bt.predicted, bt.lo, bt.hi,
                         bt.rmse_log, bt.bias_log, bt.max_abs_log, bt.inside, None)


def _forms_evidence(f: Fitted, study: Study, opts: ReportOptions) -> dict[str, Any] | str:
    """Each law form's backtest on this curve: the evidence of ``form=FORMS_CHECK`` fitted on all of it (or why not).

    Fitted without bootstrap (only the backtests' point predictions and the forms' full-data
    parameters are used), with the same floor bound and seeds as the report's other fits.
    """
    c = f.curve
    kw: dict[str, Any] = {"seeds": c.seeds, "bootstrap": 0, "seed": opts.seed}
    if study.floor is not None:
        kw["gamma_bounds"] = (study.floor, math.inf)
    try:
        return fit_power_law(c.x, c.y, form=FORMS_CHECK, **kw).method.extra["auto"]
    except RecscaleError as err:
        return str(err)


def _with_forms(e: Extrapolation, ev: dict[str, Any] | str) -> Extrapolation:
    """Add each law form's backtest (:func:`_forms_evidence`) to this curve's extrapolation check.

    The automatic form backtests every candidate at its own cut; its evidence (not a refit here) is
    what the figure and the table show, so they show what ``form="auto"`` decided on.
    """
    if isinstance(ev, str):
        return dataclasses.replace(e, forms_error=ev)
    return dataclasses.replace(e, forms=ev["backtests"], chosen=ev["chosen"] if ev["x_cut"] is not None else None,
                               forms_cut=ev["x_cut"], forms_rule=ev["rule"],
                               forms_error=None if ev["x_cut"] is not None else _first_error(ev["backtests"]))


def _first_error(backtests: dict[str, dict[str, Any]]) -> str | None:
    return next((b["error"] for b in backtests.values() if "error" in b), None)


def _not_decreasing(f: Fitted, rise_tol: float) -> str | None:
    """Describe rises of the seed-mean curve beyond noise (the laws' check), or None."""
    r = seed_mean_rises(f.mean_y, f.sd_y, f.n_y, rise_tol)
    if r is None:
        return None
    m, i = f.mean_y, r.largest
    return (f"seed-mean NE rises {r.count} time(s) beyond noise; largest: {m[i]:.4f} → {m[i + 1]:.4f} "
            f"(+{(m[i + 1] / m[i] - 1):.2%}) from {f.x_col} = {fmt_num(f.mean_x[i], 2)} to {fmt_num(f.mean_x[i + 1], 2)}")


def _untrained(study: Study) -> list[Warning_]:
    """The trials :func:`~recscale.report.study.load_study` left out because they never trained."""
    return [Warning_("did_not_train", f"{', '.join(u['schemes'])} (trial {tid})",
                     f"trial {tid} never trained: NE ≥ {UNTRAINED_NE} at all {u['checkpoints']} checkpoints up to "
                     f"{u['max_samples']:.4g} samples (a base-rate predictor scores 1); it is left out of every fit, seed "
                     "mean and plan", u["schemes"][0] if len(u["schemes"]) == 1 else None)
            for tid, u in study.untrained.items()]


def _warnings(models, frontiers, slices, headlines, study: Study, opts: ReportOptions, extrap=None) -> list[Warning_]:
    out: list[Warning_] = _untrained(study)
    lvl = opts.level
    # 1. A free floor below the known floor, beyond its interval: the law (or the data) is wrong.
    if study.floor is not None:
        lower = floor_lower(study)
        se_txt = f" ± {1.96 * study.bayes_ne_se:.4f}" if study.eval_floor is None and study.bayes_ne_se else ""
        for f in _distinct(models, frontiers, slices):
            if f.free is None:
                continue
            ci = f.free.ci(lvl)["gamma"] if f.free.draws else (f.free.gamma, f.free.gamma)
            iv = f"interval {ci[0]:.4f} to {ci[1]:.4f}" if f.free.draws else "no interval: bootstrap = 0"
            if ci[1] < lower:
                out.append(Warning_("floor_below_bayes", f"{f.key} (free fit)",
                                    f"fitted floor γ = {f.free.gamma:.4f} ({iv}) lies below the "
                                    f"{study.floor_name} {study.floor:.4f}{se_txt}: impossible for any model; the free law "
                                    "extrapolates this curve too optimistically", f.scheme, f.key, "free"))
    # 2. Curves that do not decrease.
    for s, fs in models.items():
        for f in fs:
            msg = _not_decreasing(f, opts.rise_tol)
            if msg:
                out.append(Warning_("not_decreasing", f.key, f"data curve: {msg}", f.scheme, f.key))
    for s, fs in slices.items():
        if fs:
            f = fs[-1]
            msg = _not_decreasing(f, opts.rise_tol)
            if msg:
                out.append(Warning_("not_decreasing", f.key,
                                    f"NE does not fall with {PARAM_TITLES.get(f.x_col, f.x_col)} at {f.samples:.4g} samples: {msg}",
                                    f.scheme, f.key))
    # 3. Fits the laws engine flagged.
    for f in _distinct(models, frontiers, slices):
        for which, fit in (("γ ≥ floor", f.bounded), ("free", f.free)):
            if fit is None:
                continue
            for fl in fit.flags:
                out.append(Warning_(fl.code, f"{f.key} ({which} fit)", fl.message, f.scheme, f.key, which))
        if f.error:
            out.append(Warning_("fit_failed", f.key, f.error, f.scheme, f.key))
    for h in headlines.values():
        if h.error and h.fitted.error is None and not h.error.endswith(LAW_NOT_DETERMINED):
            out.append(Warning_("plan_failed", h.fitted.key, h.error, h.scheme, h.fitted.key, "plan"))
        for note in (h.plan.notes if h.plan is not None else ()):
            if note.startswith("extrapolation unreliable"):
                out.append(Warning_("forms_disagree", f"{h.fitted.key} (plan)", note, h.scheme, h.fitted.key, "plan"))
    for e in (extrap or {}).values():
        if e.inside_interval is not None and e.inside_interval < e.x_test.size:
            miss = np.abs(np.log(e.predicted / e.y_test))
            out.append(Warning_("backtest_outside_interval", f"{e.key} (backtest)",
                                f"{e.x_test.size - e.inside_interval} of {e.x_test.size} held-out seed means fall outside "
                                f"the {lvl:.0%} prediction interval of the law fitted without them (largest miss "
                                f"{np.expm1(miss.max()):.1%}): extrapolating this curve is less certain than its interval says",
                                e.scheme, e.key, "backtest"))
    return _dedupe(out)


def _dedupe(ws: list[Warning_]) -> list[Warning_]:
    seen = set()
    out = []
    for w in ws:
        k = (w.code, w.where, w.message)
        if k not in seen:
            seen.add(k)
            out.append(w)
    return out


def _distinct(models, frontiers, slices) -> list[Fitted]:
    seen: dict[str, Fitted] = {}
    for fs in models.values():
        for f in fs:
            seen.setdefault(_model_identity(f), f)
    return list(seen.values()) + list(frontiers.values()) + [f for fs in slices.values() for f in fs]


# ---- the analysis -------------------------------------------------------------------------------


def analyze(study: Study, options: ReportOptions | None = None, progress: Callable[[str], None] | None = None) -> Analysis:
    """Fit every curve of a study, judge regimes, plan, check extrapolation and sanity.

    Args:
        study: From :func:`recscale.report.study.load_study`.
        options: :class:`ReportOptions` (defaults documented there).
        progress: Called with a short message as each step starts (each scheme's curves, each
            joint law), so a caller can show progress; None: silent.

    Returns:
        An :class:`Analysis`.
    """
    opts = options or ReportOptions()
    t0 = time.perf_counter()
    comparison = None
    if len(architectures_of(study.frame)) > 1:
        # Several architectures: compare them, and give each (architecture, scheme) its own sections below.
        comparison = compare_architectures(study, level=opts.level, bootstrap=opts.bootstrap, seed=opts.seed,
                                           determined=beta_determined)
        f = with_architecture(study.frame)
        study = dataclasses.replace(study, frame=f.assign(scheme=f[ARCH_COL] + ARCH_SEP + f["scheme"]))
    df = study.frame
    schemes = tuple(study.schemes)
    models: dict[str, list[Fitted]] = {}
    frontiers: dict[tuple[str, str], Fitted] = {}
    slices: dict[str, list[Fitted]] = {}
    headlines: dict[tuple[str, str], Headline] = {}
    extrap: dict[tuple[str, str], Extrapolation] = {}
    notes: list[str] = []
    cache: dict[str, Fitted] = {}
    say = progress or (lambda msg: None)
    # The joint laws need only the rows and are dear (batched refits): started now in worker processes
    # where possible, they are fitted while this process fits the curves, and collected below.
    jobs = [(s, df[df["scheme"] == s], param_column(s, df[df["scheme"] == s]), opts, si) for si, s in enumerate(schemes)]
    pending_joint = fork_start(_joint_job, jobs, opts.workers)
    for si, s in enumerate(schemes):
        say(f"fitting {s}'s curves ({si + 1}/{len(schemes)} schemes)")
        part = df[df["scheme"] == s]
        # Model data curves (the base model is fitted once and reused by every scheme).
        fs = []
        for value, rows in part.groupby("value", sort=True):
            curve = _curve_from_rows(rows, "samples", f"{s} = {value}: every seed's evaluations")
            ident = "|".join(sorted(set(map(str, curve.trial_ids))))
            if ident in cache:
                f0 = cache[ident]
                fs.append(Fitted(**{**f0.__dict__, "key": f"model:{s}:{_num_key(value)}", "scheme": s, "value": float(value)}))
                continue
            f = _fit_curve(f"model:{s}:{_num_key(value)}", "model", s, "data", "samples", curve, study, opts, value=float(value),
                           seed_offset=len(cache))
            cache[ident] = f
            fs.append(f)
        models[s] = fs
        # Frontiers along data and compute.
        for axis, col in (("data", "samples"), ("compute", "train_flops")):
            try:
                curve = frontier_curve(part, col)
                frontiers[(s, axis)] = _fit_curve(f"frontier:{axis}:{s}", "frontier", s, axis, col, curve, study, opts,
                                                  seed_offset=1000 + si)
            except RecscaleError as e:
                notes.append(f"{s}, {AXIS_NOUN[axis]}: no frontier law ({e})")
        # Parameter slices at several data sizes.
        pcol = param_column(s, part)
        sl = []
        n_sizes = part[pcol].nunique()
        n_seeds = part["seed"].nunique()
        slice_at = slice_samples(part, opts.param_slices) if n_sizes >= 3 and n_sizes * n_seeds >= 4 else []
        if 1 < n_sizes and not slice_at:
            notes.append(f"{s}: {n_sizes} model sizes × {n_seeds} seed(s); a parameter law needs at least 3 sizes and "
                         "4 points")
        for samples in slice_at:
            rows = part[part["samples"] == samples]
            curve = _curve_from_rows(rows, pcol, f"{s}: rows at samples = {samples:.6g}")
            sl.append(_fit_curve(f"params:{s}:{_num_key(samples)}", "param_slice", s, "params", pcol, curve, study, opts,
                                 samples=samples, seed_offset=2000 + si))
        if n_sizes < 2:
            notes.append(f"{s}: the models do not differ in {pcol}; no parameter law")
        slices[s] = sl
        # Headlines: regime, plan, extrapolation.
        head = {"data": frontiers.get((s, "data")), "params": sl[-1] if sl else None,
                "compute": frontiers.get((s, "compute"))}
        for axis, f in head.items():
            if f is None:
                continue
            ev = _forms_evidence(f, study, opts)
            end = study.axis_end(s) if axis == "params" and f.x_col == "params_sparse" else None
            headlines[(s, axis)] = _regime_and_plan(f, opts, comparable_to(ev) if isinstance(ev, dict) else None, end)
            extrap[(s, axis)] = _with_forms(_extrapolate(f, study, opts, opts.bootstrap), ev)
    # Every model's data curve, backtested without bootstrap (a table, not a figure).
    backtests = []
    for f in cache.values():
        e = _extrapolate(f, study, opts, 0)
        backtests.append({"curve": f.key, "identity": _model_identity(f), "x_cut": e.x_cut, "n_test": int(e.x_test.size), "rmse_log": e.rmse_log,
                          "bias_log": e.bias_log, "max_abs_log": e.max_abs_log, "error": e.error})
    if study.floor is None:
        notes.append("the Bayes NE is unknown (not a synthetic world, or not recorded): floors are free (γ ≥ 0)")
    elif study.eval_floor is None:
        notes.append("no eval-rows floor is recorded (an older ledger, or a table): γ is bounded by the population Bayes NE, "
                     "which differs from the floor of these eval rows by their sampling noise")
    fits = pending_joint.results(on_start=lambda i: say(
        f"joint law of {schemes[i]} ({i + 1}/{len(schemes)}, {opts.joint_refits} bootstrap refits)"))
    joint = dict(zip(schemes, fits))
    warnings = _warnings(models, frontiers, slices, headlines, study, opts, extrap)
    return Analysis(study=study, options=opts, schemes=schemes, models=models, frontiers=frontiers, param_slices=slices,
                    headlines=headlines, extrapolations=extrap, model_backtests=backtests, joint=joint, warnings=warnings,
                    notes=notes, elapsed_s=time.perf_counter() - t0, architectures=comparison)


def _joint_job(job) -> Joint:
    return _joint(*job)


def _joint(scheme: str, part, n_col: str, opts: ReportOptions, seed_offset: int) -> Joint:
    """Fit the scheme's joint law to its seed means and, where FLOPs per sample depend on N, allocate compute.

    Seed means (one point per model and data size) are fitted, so the bootstrap resamples
    measurements, not seeds of one measurement. Training FLOPs per sample are each model's own,
    train_flops / samples from the table (a DLRM's embeddings cost memory, not FLOPs), interpolated
    in log-log between the scheme's models by :func:`recscale.laws.compute_optimal`.
    """
    # Training FLOPs per sample of each model, from the table's own training FLOPs (3 × forward, from
    # model/cost.py through the ledger), so budgets C and D* = C / FLOPs per sample agree.
    has_flops = "train_flops" in part.columns and part["train_flops"].notna().all() and (part["train_flops"] > 0).all()
    part = part.assign(_train_fps=part["train_flops"] / part["samples"]) if has_flops else part
    agg = {"ne": ("ne", "mean")} | ({"flops": ("_train_fps", "mean")} if has_flops else {})
    g = part.groupby([n_col, "samples"], as_index=False).agg(**agg)
    N, D, y = (g[c].to_numpy(dtype=float) for c in (n_col, "samples", "ne"))
    per_model = g.groupby(n_col)["flops"].mean() if has_flops else None
    ratio = float(per_model.max() / per_model.min()) if has_flops and len(per_model) and per_model.min() > 0 else 1.0
    n_range = (float(N.min()), float(N.max())) if N.size else (math.nan, math.nan)
    empty = Joint(scheme, n_col, None, False, None, N, D, y, None, ratio, None, None, n_range)
    if np.unique(N).size < 3 or np.unique(D).size < 3:
        return dataclasses.replace(empty, reason=f"{np.unique(N).size} model sizes and {np.unique(D).size} data sizes; "
                                                 "the joint law needs at least 3 of each")
    try:
        fit = fit_joint_law(N, D, y, bootstrap=opts.joint_refits, seed=opts.seed + 3000 + seed_offset,
                            trial_ids=sorted(set(map(str, part["trial_id"]))))
    except RecscaleError as e:
        return dataclasses.replace(empty, reason=str(e))
    pred = fit.predict(N, D)
    reason, short = _joint_unidentified(fit, opts.level) or (None, None)
    out = dataclasses.replace(empty, fit=fit, identified=reason is None, reason=reason, short_reason=short, predicted=pred)
    if reason is not None:
        return dataclasses.replace(out, optimal_reason="the joint law is not identified")
    if not has_flops:
        return dataclasses.replace(out, optimal_reason="the table has no training FLOPs, so compute cannot be split "
                                                       "between model size and data")
    if ratio < opts.min_flops_ratio:
        return dataclasses.replace(out, optimal_reason=(
            f"the scheme's models differ in FLOPs per sample by only {ratio:.2f}× (< {opts.min_flops_ratio:g}×): growing "
            "the model costs (almost) no compute, so the law cannot say how to split a compute budget"))
    tf = part["train_flops"].to_numpy(dtype=float)
    budgets = np.geomspace(tf.min(), tf.max(), opts.joint_budgets)
    lo, hi = n_range
    opt = compute_optimal(fit, budgets, flops_per_sample=(per_model.index.to_numpy(dtype=float), per_model.to_numpy()),
                          n_bounds=(lo / 10, hi * 10))
    return dataclasses.replace(out, optimal=opt)


def _joint_unidentified(fit: JointLawFit, level: float) -> tuple[str, str] | None:
    """Why the joint law's exponents are not determined by its points (in a sentence, and in a few words),
    or None when both are."""
    if not fit.draws:
        return "no bootstrap refits, so no intervals to judge α and β by", "no bootstrap refits"
    ci = fit.ci(level)
    bad = []
    for k, sym in (("alpha", "α"), ("beta", "β")):
        lo, hi = ci[k]
        if not (lo > 0 and hi / lo <= BETA_RATIO_MAX):
            bad.append(f"{sym} = {getattr(fit, k):.3g} with {level:.0%} interval [{lo:.3g}, {hi:.3g}]")
    if bad:
        return ("the points do not identify the joint law: " + "; ".join(bad)
                + f" (an exponent counts as determined when its interval's ends are within {BETA_RATIO_MAX:g}×)",
                "exponents not determined")
    top = FitOptions().beta_bounds[1]  # an exponent above the largest β the one-x laws search is a step, not a power law
    steep = [(sym, var, float(getattr(fit, k))) for k, sym, var in (("alpha", "α", "N"), ("beta", "β", "D"))
             if getattr(fit, k) > top]
    if steep:
        return ("; ".join(f"{sym} = {v:.3g} lies above {top:g}, the largest exponent the one-x laws search: the {var} term is a "
                          f"step at the smallest {var}, not a power law, so NE does not depend on {var} above it within "
                          "these points (saturation along it)" for sym, var, v in steep),
                "\n".join(f"{sym} = {v:.3g}: a step in {var}, not a power law" for sym, var, v in steep))
    return None


# ---- text helpers shared by the writers ---------------------------------------------------------


def fmt_num(v: float | None, digits: int = 3) -> str:
    """A number for people: ``digits`` significant digits, ``4.1e3`` style outside [1e-3, 1e4)."""
    if v is None or not math.isfinite(v):
        return "–"
    a = abs(v)
    if a != 0 and (a >= 1e4 or a < 1e-3):
        m, e = f"{v:.{digits - 1}e}".split("e")
        return f"{m}e{int(e)}"
    out = f"{v:.{digits}g}"
    if "e" in out:  # e.g. 4096 with 2 digits
        m, e = out.split("e")
        out = f"{m}e{int(e)}"
    return out


def is_flat(fit: PowerLawFit) -> bool:
    """True when the law is a constant over its data (α = 0: no decrease with x)."""
    return fit.alpha <= 0 or not math.isfinite(fit.alpha)


def beta_at_bound(fit: PowerLawFit) -> bool:
    """True when β sits on the search bound: the points do not determine it."""
    lo, hi = fit.method.beta_bounds
    return fit.beta <= lo * (1 + 1e-6) or fit.beta >= hi * (1 - 1e-6)


BETA_RATIO_MAX = 3.0  # an exponent is "determined" when its interval's ends are within this factor


def beta_determined(fit: PowerLawFit | None, level: float) -> bool:
    """True when the data pin β down: off its search bound, with an interval [lo, hi], lo > 0, hi/lo ≤ 3.

    A key-findings table prints β only then; otherwise it says "not determined" and the details
    tables give the numbers. Without bootstrap draws there is no interval, so no β is determined.
    """
    if fit is None or is_flat(fit) or beta_at_bound(fit) or not fit.draws:
        return False
    lo, hi = fit.ci(level)["beta"]
    return bool(lo > 0 and hi / lo <= BETA_RATIO_MAX)


def law_text(fit: PowerLawFit, var: str) -> str:
    """``0.512·D^-0.213 + 0.757`` (plain text)."""
    if is_flat(fit):
        return f"flat: {fit.gamma:.4f}"
    return f"{fmt_num(fit.alpha)}·{var}^-{fit.beta:.3f} + {fit.gamma:.4f}"


def law_tex(fit: PowerLawFit, var: str) -> str:
    """The law in matplotlib mathtext."""
    if is_flat(fit):
        return f"flat at {fit.gamma:.4f}"
    if beta_at_bound(fit):  # the exponent is the search bound, not a measurement: do not print it as one
        return f"β at bound (not determined), floor {fit.gamma:.4f}"
    a = fit.alpha
    e = int(math.floor(math.log10(a))) if a > 0 else 0
    if a > 0 and (e >= 4 or e <= -3):
        at = f"{a / 10**e:.2f}{{\\times}}10^{{{e}}}"
    else:
        at = fmt_num(a)
    return f"${at}\\,{var}^{{-{fit.beta:.3f}}} + {fit.gamma:.4f}$"


def value_label(scheme: str, value: float) -> str:
    sym = SCHEME_SYMBOL.get(scheme.split(ARCH_SEP)[-1], "v")
    v = int(value) if float(value).is_integer() else value
    return f"{sym}={v:,}" if isinstance(v, int) and v >= 10_000 else f"{sym}={v}"
