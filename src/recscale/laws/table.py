"""Tables of runs for the laws: picking curves from a DataFrame (files are read outside the laws,
by :func:`recscale.study.table_reader.read_table`).

The study export (one row per evaluation) has the columns in :data:`STUDY_COLUMNS`. Any table with
an x and a y column can be fitted; the study-specific helpers here turn a study table into the
curves the paper fits:

* data axis (``samples``) and compute axis (``train_flops``): the Pareto frontier of the scheme's
  configurations (value, samples), with NE averaged over seeds to choose the frontier (choosing on
  single noisy runs would bias the frontier down), then all seeds' rows of the chosen
  configurations;
* parameter axes (``params_total``, ``params_dense``, ``params_sparse``): the rows at the largest
  ``samples`` that every value of the scheme reached, so that models are compared at equal data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recscale.errors import RecscaleError
from recscale.laws._common import plain

STUDY_COLUMNS = (
    "trial_id", "scheme", "value", "seed", "params_dense", "params_sparse", "params_total", "flops_per_sample",
    "samples", "train_flops", "ne", "logloss", "auc", "calibration", "wall_s",
)
PARAM_AXES = ("params_total", "params_dense", "params_sparse")
# A trial whose NE never falls below UNTRAINED_NE and never moves by more than UNTRAINED_SPREAD, over 3
# or more checkpoints, never trained (a base-rate predictor scores 1): its curve measures a dead model,
# not scaling, so fits, seed means, plans and designs leave it out. (A curve that starts above 1 and falls
# is learning.)
UNTRAINED_NE = 0.999
UNTRAINED_SPREAD = 0.01
UNTRAINED_MIN_CHECKPOINTS = 3


def require_columns(df: Any, columns: tuple[str, ...] | list[str], *, where: str) -> None:
    """Raise naming the missing columns and the ones available."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise RecscaleError(f"{where}: missing column(s) {', '.join(map(repr, missing))}; "
                            f"available: {', '.join(map(str, df.columns))}")


@dataclass(frozen=True)
class Curve:
    """Points of one curve picked from a table.

    Attributes:
        x, y: The points (one per row; several seeds give several rows at one x).
        seeds: Seed per row, or None if the table has no ``seed`` column.
        trial_ids: Trial id per row, or None.
        selection: How the rows were chosen, in words.
        rows: The chosen rows (a DataFrame), e.g. for implied resources in planning.
    """

    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    seeds: np.ndarray | None = field(repr=False)
    trial_ids: tuple[Any, ...] | None = field(repr=False)
    selection: str
    rows: Any = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (without the rows)."""
        return plain({"x": self.x, "y": self.y, "seeds": None if self.seeds is None else list(self.seeds),
                      "trial_ids": self.trial_ids, "selection": self.selection})


def untrained_trials(df: Any, *, run: str = "trial_id", x: str = "samples", y: str = "ne",
                     peers_learned: bool = False) -> dict[Any, dict[str, Any]]:
    """Runs whose ``y`` stayed flat (:data:`UNTRAINED_SPREAD`) at or above :data:`UNTRAINED_NE` over at
    least :data:`UNTRAINED_MIN_CHECKPOINTS` distinct ``x``: run id → what a warning says of it.

    ``peers_learned`` also asks that the other runs measured at the run's last ``x`` have learned there
    (their median ``y`` below UNTRAINED_NE − UNTRAINED_SPREAD). A goal-driven study needs it: it judges
    runs after their first few checkpoints, where a recipe without a warm-up leaves every model near
    NE = 1; a run is dead only when the others, at the same data, are not.
    """
    out = {}
    ys = df[y].to_numpy(dtype=float)
    for rid, g in df[np.isfinite(ys)].groupby(run, sort=True):
        n, lo, hi = g[x].nunique(), float(g[y].min()), float(g[y].max())
        if n < UNTRAINED_MIN_CHECKPOINTS or lo < UNTRAINED_NE or hi - lo > UNTRAINED_SPREAD:
            continue
        last = float(g[x].max())
        if peers_learned:
            peers = df[(df[run] != rid) & (df[x] == last) & np.isfinite(ys)][y]
            if peers.empty or float(peers.median()) >= UNTRAINED_NE - UNTRAINED_SPREAD:
                continue
        out[rid] = {"checkpoints": int(n), "max_samples": last, "min_y": lo}
        if "scheme" in g.columns:
            out[rid]["schemes"] = sorted(g["scheme"].astype(str).unique())
    return out


def pareto_frontier(x: Any, y: Any) -> np.ndarray:
    """Indices of the Pareto-optimal points for minimising both x (resource) and y (NE).

    A point is kept if no other point has x' ≤ x and y' ≤ y with one strict; ties in x keep the
    lowest y. Returned in increasing x (so y strictly decreases along them).

    Raises:
        RecscaleError: lengths differ or values are not finite.
    """
    xa = np.asarray(x, dtype=float).reshape(-1)
    ya = np.asarray(y, dtype=float).reshape(-1)
    if xa.size != ya.size:
        raise RecscaleError(f"pareto_frontier: x and y must have the same length; got {xa.size} and {ya.size}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise RecscaleError("pareto_frontier: x and y must be finite")
    order = np.lexsort((ya, xa))
    keep = []
    best = np.inf
    for i in order:
        if ya[i] < best:
            keep.append(i)
            best = ya[i]
    return np.array(keep, dtype=int)


def _row_arrays(rows, x: str, y: str, selection: str) -> Curve:
    seeds = rows["seed"].to_numpy() if "seed" in rows.columns else None
    tids = tuple(rows["trial_id"].tolist()) if "trial_id" in rows.columns else None
    return Curve(x=rows[x].to_numpy(dtype=float), y=rows[y].to_numpy(dtype=float), seeds=seeds, trial_ids=tids,
                 selection=selection, rows=rows.reset_index(drop=True))


def frontier_curve(df: Any, x: str, y: str = "ne") -> Curve:
    """The Pareto frontier of (x, seed-mean y) over configurations, with all seeds of those rows.

    Configurations are (value, samples) when those columns exist (a study table), else distinct x.
    """
    require_columns(df, [x, y], where="frontier_curve")
    keys = [c for c in ("value", "samples") if c in df.columns] or [x]
    if x not in keys:
        keys = keys + [x]
    d = df.dropna(subset=[x, y])
    g = d.groupby(keys, sort=True, dropna=False)[[y]].mean().reset_index()
    idx = pareto_frontier(g[x].to_numpy(dtype=float), g[y].to_numpy(dtype=float))
    chosen = g.iloc[idx][keys]
    rows = d.merge(chosen, on=keys, how="inner").sort_values([x] + (["seed"] if "seed" in d.columns else []))
    sel = (f"Pareto frontier of ({x}, mean {y} over seeds) across {len(g)} configurations "
           f"({', '.join(keys)}): {len(idx)} on the frontier")
    return _row_arrays(rows, x, y, sel)


def param_curve(df: Any, x: str, y: str = "ne") -> Curve:
    """Rows at the largest ``samples`` reached by every value, as a parameter-scaling curve."""
    require_columns(df, [x, y, "samples"], where="param_curve")
    d = df.dropna(subset=[x, y])
    if "value" in d.columns:
        sets = [set(v["samples"].tolist()) for _, v in d.groupby("value")]
        common = set.intersection(*sets) if sets else set()
        n_values = len(sets)
    else:
        common = set(d["samples"].tolist())
        n_values = d[x].nunique()
    if not common:
        raise RecscaleError(f"param_curve: no samples value is shared by all {n_values} values of the scheme, so "
                            f"models cannot be compared at equal data along {x!r}")
    s_ref = max(common)
    rows = d[d["samples"] == s_ref].sort_values([x] + (["seed"] if "seed" in d.columns else []))
    return _row_arrays(rows, x, y, f"rows at samples = {s_ref:.6g} (the largest reached by all {n_values} values)")


def slice_samples(df: Any, n_slices: int) -> list[float]:
    """Data sizes at which to slice a scheme into parameter curves: shared by every value, log-spaced.

    The largest shared ``samples`` is always included (it is the one :func:`param_curve` uses), so
    the last slice is the scheme's parameter curve; at most ``n_slices`` (plus that one) are returned.
    """
    require_columns(df, ["samples", "value"], where="slice_samples")
    sets = [set(g["samples"].tolist()) for _, g in df.groupby("value")]
    common = np.array(sorted(set.intersection(*sets))) if sets else np.array([])
    if common.size == 0:
        return []
    if common.size <= n_slices:
        return [float(v) for v in common]
    targets = np.geomspace(common[0], common[-1], n_slices)
    idx = sorted({int(np.argmin(np.abs(np.log(common) - math.log(t)))) for t in targets} | {common.size - 1})
    return [float(common[i]) for i in idx]


def axis_curve(df: Any, axis: str, y: str = "ne") -> Curve:
    """The curve for one axis of one scheme: :func:`param_curve` for parameter axes, else :func:`frontier_curve`."""
    if axis in PARAM_AXES:
        return param_curve(df, axis, y)
    return frontier_curve(df, axis, y)
