"""Architectures compared: each one's compute and parameter frontier, its laws, and the differences of β.

Used by :func:`recscale.report.analysis.analyze` only when a study's table has more than one value
in its ``architecture`` column (a table without the column is all ``"dlrm"``), so a
single-architecture report is unchanged. Every number comes from :mod:`recscale.laws`
(frontiers, :func:`~recscale.laws.fit_power_law`, :func:`~recscale.laws.regime`,
:func:`~recscale.laws.compare_betas`); this module only chooses the rows and looks values up.

Curves per architecture, over all its trials (every scheme) and checkpoints:

* **compute**: the Pareto frontier of (training FLOPs, seed-mean NE) over its models × data sizes.
* **params**: at the largest data size every one of its models reached, the Pareto frontier of
  (dense parameters, seed-mean NE). Dense (non-embedding) parameters, as scaling studies of
  language models count them: the architectures share their embedding tables, which dominate the
  total. In ``examples/architectures.toml`` every model has 264,664 embedding parameters
  (``recscale.model.cost``), so each architecture's models span 0.11-0.19 decades of total
  parameters but 1.05-1.39 decades of dense ones. A table whose ``params_dense`` is missing, zero or negative anywhere falls back
  to total parameters, and says so. Within one architecture the per-scheme sections use the part
  each scheme grows.

The base model stands in every scheme of an architecture, so its rows appear once per scheme in an
export; they are counted once here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Callable

import numpy as np

from recscale.errors import RecscaleError
from recscale.laws import (
    BetaDifference,
    Curve,
    PowerLawFit,
    Regime,
    compare_betas,
    fit_power_law,
    regime,
)
from recscale.laws._common import plain
from recscale.laws.backtest import means_by_x
from recscale.laws.table import frontier_curve

ARCH_COL = "architecture"
DEFAULT_ARCH = "dlrm"
ARCH_ORDER = ("dlrm", "dcnv2", "wukong")
ARCH_TITLES = {"dlrm": "DLRM", "dcnv2": "DCNv2", "wukong": "Wukong"}
ARCH_AXES = {"compute": "train_flops", "params": "params_dense"}
FALLBACK_PARAMS = "params_total"  # when a table's dense parameters are not all positive
ARCH_PARAM_TITLES = {"params_dense": "dense (non-embedding) parameters", "params_total": "total parameters"}
NOISE_Z = 1.96  # a gap is "beyond noise" when larger than this many SEs of a single NE on the eval rows


def arch_title(a: str) -> str:
    return ARCH_TITLES.get(a, a)


def architectures_of(frame: Any) -> list[str]:
    """Architectures in a study table, DLRM first (a table without the column is all DLRM)."""
    if ARCH_COL not in frame.columns:
        return [DEFAULT_ARCH]
    present = {str(v) for v in frame[ARCH_COL].fillna(DEFAULT_ARCH).unique()}
    return [a for a in ARCH_ORDER if a in present] + sorted(present - set(ARCH_ORDER))


def with_architecture(frame: Any) -> Any:
    """The table with a string ``architecture`` column (``"dlrm"`` where absent or empty)."""
    if ARCH_COL not in frame.columns:
        return frame.assign(**{ARCH_COL: DEFAULT_ARCH})
    return frame.assign(**{ARCH_COL: frame[ARCH_COL].fillna(DEFAULT_ARCH).astype(str)})


@dataclass(frozen=True)
class ArchLaw:
    """One architecture along one axis: its frontier and law.

    Attributes:
        architecture, axis, x_col: Which (axis "compute" or "params").
        curve: The frontier's rows (every seed of the chosen configurations).
        mean_x, mean_y: Seed means at the frontier's distinct x (what the figure draws).
        fit: NE = α·x^-β + γ with γ ≥ the known floor (free without one), or None.
        regime: :func:`recscale.laws.regime` at the largest x measured (``x_measured``), or None.
        determined: Whether β is determined (off its bound, interval ends within 3×).
        samples: Data size of the parameter frontier (None for compute).
        error: Why there is no law, else None.
        x_measured: Largest x of any of its rows (the frontier can stop earlier once NE stops falling).
    """

    architecture: str
    axis: str
    x_col: str
    curve: Curve | None = field(repr=False, compare=False)
    mean_x: np.ndarray = field(repr=False, compare=False)
    mean_y: np.ndarray = field(repr=False, compare=False)
    fit: PowerLawFit | None = field(repr=False, compare=False)
    regime: Regime | None = field(repr=False, compare=False)
    determined: bool
    samples: float | None
    error: str | None
    x_measured: float | None = None

    @property
    def regime_label(self) -> str | None:
        """The regime's name, only where β is determined."""
        return self.regime.label if (self.regime is not None and self.determined) else None

    def to_dict(self, level: float) -> dict[str, Any]:
        ci = self.fit.ci(level) if (self.fit is not None and self.fit.draws) else {}
        return plain({
            "architecture": self.architecture, "axis": self.axis, "x_col": self.x_col, "samples": self.samples,
            "selection": self.curve.selection if self.curve is not None else None,
            "points": {"x": self.mean_x, "ne_mean": self.mean_y},
            "beta": self.fit.beta if self.fit else None, "beta_ci": ci.get("beta"),
            "gamma": self.fit.gamma if self.fit else None, "gamma_ci": ci.get("gamma"),
            "determined": self.determined, "regime": self.regime.to_dict() if self.regime else None,
            "regime_label": self.regime_label, "x_measured": self.x_measured, "fit": self.fit.to_dict(level) if self.fit else None, "error": self.error,
        })


@dataclass(frozen=True)
class ArchPair:
    """β_b − β_a of two architectures along one axis (paired bootstrap where their grids agree).

    Attributes:
        a, b, axis: Which.
        diff: :class:`recscale.laws.BetaDifference`, or None.
        overlap: Whether the two β intervals overlap (None without both intervals).
        error: Why there is no difference, else None.
    """

    a: str
    b: str
    axis: str
    diff: BetaDifference | None = field(repr=False, compare=False)
    overlap: bool | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return plain({"a": self.a, "b": self.b, "axis": self.axis, "overlap": self.overlap, "error": self.error,
                      "difference": self.diff.to_dict() if self.diff else None})


@dataclass(frozen=True)
class AtBudget:
    """Each architecture's best NE within a common compute budget (the top of the common range).

    Attributes:
        compute: The budget C: the smallest of the architectures' largest measured training FLOPs.
        measured: {arch: (FLOPs, seed-mean NE) of its best frontier point with FLOPs ≤ C}.
        predicted: {arch: (NE, lo, hi)}: its compute law at C with the band (lo, hi None without draws).
        order: Architectures from lowest to highest measured NE.
        gap: NE of the second best minus the best (measured).
        noise_se: SE of a single NE on the eval rows (None when unknown).
        beyond_noise: gap > 1.96 × noise_se (None when the SE is unknown).
    """

    compute: float
    measured: dict[str, tuple[float, float]]
    predicted: dict[str, tuple[float, float | None, float | None]]
    order: tuple[str, ...]
    gap: float | None
    noise_se: float | None
    beyond_noise: bool | None

    def to_dict(self) -> dict[str, Any]:
        return plain(dict(self.__dict__))


@dataclass(frozen=True)
class Comparison:
    """Everything the architecture section shows (``param_col``: the parameter frontier's x column)."""

    architectures: tuple[str, ...]
    laws: dict[tuple[str, str], ArchLaw] = field(repr=False, compare=False)
    pairs: list[ArchPair] = field(repr=False, compare=False)
    at_budget: AtBudget | None = field(repr=False, compare=False)
    notes: list[str] = field(repr=False, compare=False)
    param_col: str = ARCH_AXES["params"]

    @property
    def param_title(self) -> str:
        """What the parameter frontier's x counts, in words."""
        return ARCH_PARAM_TITLES.get(self.param_col, self.param_col)

    def to_dict(self, level: float) -> dict[str, Any]:
        return plain({
            "architectures": list(self.architectures), "param_col": self.param_col,
            "laws": [v.to_dict(level) for v in self.laws.values()],
            "beta_differences": [p.to_dict() for p in self.pairs],
            "at_common_compute": self.at_budget.to_dict() if self.at_budget else None,
            "notes": self.notes,
        })


def _model_rows(frame: Any) -> Any:
    """One row per (trial, evaluation), ``value`` replaced by a model identity (so schemes don't collide)."""
    d = frame.drop_duplicates(subset=["trial_id", "samples"])
    if "label" in d.columns and d["label"].notna().all():
        ident = d["label"].astype(str)
    else:  # the trial id without its seed suffix
        ident = d["trial_id"].astype(str).str.replace(r"-s\d+$", "", regex=True)
    return d.assign(value=ident)


def param_axis(frame: Any) -> str:
    """The column of the parameter frontier: dense parameters where every row has a positive count, else the total."""
    col = ARCH_AXES["params"]
    if col not in frame.columns:
        return FALLBACK_PARAMS
    v = frame[col].to_numpy(dtype=float)
    return col if v.size and bool(np.all(np.isfinite(v) & (v > 0))) else FALLBACK_PARAMS


def _law(arch: str, axis: str, col: str, rows: Any, floor: float | None, level: float, bootstrap: int, seed: int,
         determined: Callable[[PowerLawFit, float], bool], samples: float | None = None) -> ArchLaw:
    empty = np.array([])
    xm = float(rows[col].max()) if len(rows) else None
    try:
        curve = frontier_curve(rows, col)
    except RecscaleError as e:
        return ArchLaw(arch, axis, col, None, empty, empty, None, None, False, samples, str(e), xm)
    mx, my, _, _ = means_by_x(curve.x, curve.y)
    if mx.size < 4:
        return ArchLaw(arch, axis, col, curve, mx, my, None, None, False, samples,
                       f"the frontier has {mx.size} distinct points; a law needs at least 4", xm)
    kw: dict[str, Any] = {"seeds": curve.seeds, "trial_ids": curve.trial_ids, "bootstrap": bootstrap, "seed": seed}
    if floor is not None:
        kw["gamma_bounds"] = (floor, math.inf)
    try:
        fit = fit_power_law(curve.x, curve.y, **kw)
        # Judged at the largest x measured, not the frontier's last point: a frontier stops where NE stops falling.
        reg = regime(fit, x_max=max(xm, float(mx.max())), level=level)
    except RecscaleError as e:
        return ArchLaw(arch, axis, col, curve, mx, my, None, None, False, samples, str(e), xm)
    return ArchLaw(arch, axis, col, curve, mx, my, fit, reg, determined(fit, level), samples, None, xm)


def _pair(la: ArchLaw, lb: ArchLaw, floor: float | None, level: float, bootstrap: int, seed: int) -> ArchPair:
    overlap = None
    if la.fit is not None and lb.fit is not None and la.fit.draws and lb.fit.draws:
        (alo, ahi), (blo, bhi) = la.fit.ci(level)["beta"], lb.fit.ci(level)["beta"]
        overlap = bool(alo <= bhi and blo <= ahi)
    if la.fit is None or lb.fit is None:
        return ArchPair(la.architecture, lb.architecture, la.axis, None, overlap, "no law for one of the two")
    if bootstrap < 1:
        return ArchPair(la.architecture, lb.architecture, la.axis, None, overlap, "bootstrap = 0: no interval")
    kw: dict[str, Any] = {"gamma_bounds": (floor, math.inf)} if floor is not None else {}
    try:
        d = compare_betas(la.curve.x, la.curve.y, lb.curve.x, lb.curve.y, seeds_a=la.curve.seeds, seeds_b=lb.curve.seeds,
                          level=level, bootstrap=bootstrap, seed=seed, **kw)
    except RecscaleError as e:
        return ArchPair(la.architecture, lb.architecture, la.axis, None, overlap, str(e))
    return ArchPair(la.architecture, lb.architecture, la.axis, d, overlap, None)


def _at_budget(laws: dict[tuple[str, str], ArchLaw], archs: list[str], noise_se: float | None, level: float) -> AtBudget | None:
    comp = [laws[(a, "compute")] for a in archs if laws[(a, "compute")].mean_x.size]
    if len(comp) < 2:
        return None
    c = float(min(l.x_measured for l in comp))
    measured, predicted = {}, {}
    for l in comp:
        ok = l.mean_x <= c * (1 + 1e-9)
        if not ok.any():
            continue
        i = int(np.flatnonzero(ok)[-1])  # frontier NE falls with x: the last point within budget is the best
        measured[l.architecture] = (float(l.mean_x[i]), float(l.mean_y[i]))
        if l.fit is not None:
            lo = hi = None
            if l.fit.draws:
                band = l.fit.predict_interval(np.array([c]), level=level)
                lo, hi = float(band[0][0]), float(band[1][0])
            predicted[l.architecture] = (float(l.fit.predict(np.array([c]))[0]), lo, hi)
    if len(measured) < 2:
        return None
    order = tuple(sorted(measured, key=lambda a: measured[a][1]))
    gap = measured[order[1]][1] - measured[order[0]][1]
    beyond = None if not noise_se else bool(gap > NOISE_Z * noise_se)
    return AtBudget(c, measured, predicted, order, gap, noise_se, beyond)


def compare_architectures(study: Any, *, level: float, bootstrap: int, seed: int,
                          determined: Callable[[PowerLawFit, float], bool]) -> Comparison:
    """Each architecture's compute and parameter law, pairwise β differences, and the best NE at a common budget.

    Args:
        study: A :class:`recscale.report.study.Study` with two or more architectures.
        level, bootstrap, seed: As in :class:`recscale.report.analysis.ReportOptions`.
        determined: Whether a fit's β is determined (the report's one rule,
            :func:`recscale.report.analysis.beta_determined`, passed in so the two modules don't import each other).
    """
    frame = with_architecture(study.frame)
    archs = architectures_of(frame)
    floor = study.floor
    laws: dict[tuple[str, str], ArchLaw] = {}
    notes: list[str] = []
    pcol = param_axis(frame)
    if pcol != ARCH_AXES["params"]:
        notes.append("the parameter frontiers are along total parameters: the table's params_dense is missing, zero or "
                     "negative in some rows, so dense parameters cannot be compared")
    for i, a in enumerate(archs):
        rows = _model_rows(frame[frame[ARCH_COL] == a])
        laws[(a, "compute")] = _law(a, "compute", ARCH_AXES["compute"], rows, floor, level, bootstrap, seed + 5000 + i,
                                    determined)
        common = set.intersection(*[set(g["samples"].tolist()) for _, g in rows.groupby("value")])
        if not common:
            laws[(a, "params")] = ArchLaw(a, "params", pcol, None, np.array([]), np.array([]), None, None,
                                          False, None, "no data size is shared by all of its models")
            continue
        s_ref = float(max(common))
        laws[(a, "params")] = _law(a, "params", pcol, rows[rows["samples"] == s_ref], floor, level, bootstrap,
                                   seed + 5100 + i, determined, samples=s_ref)
    for key, l in laws.items():
        if l.error:
            notes.append(f"{arch_title(key[0])}, {key[1]}: no law ({l.error})")
    pairs = [_pair(laws[(a, ax)], laws[(b, ax)], floor, level, bootstrap, seed + 5200 + k)
             for ax in ARCH_AXES for k, (a, b) in enumerate(combinations(archs, 2))]
    return Comparison(tuple(archs), laws, pairs, _at_budget(laws, archs, study.eval_floor_se, level), notes, pcol)
