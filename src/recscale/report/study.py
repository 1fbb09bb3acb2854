"""A study's table of runs plus what is known about where it came from.

A report can be built from a ledger (SQLite, written by ``recscale study run``) or from an exported
table (``recscale study export``: CSV or Parquet). Both give the same rows; only the ledger also
carries provenance (spec, versions, machine, wall time) and the synthetic world's Bayes NE with its
standard error. From a table the Bayes NE is read from its ``bayes_ne`` column when present (no
standard error), and the report says that provenance is unavailable.

Torch-free: files are read by :func:`recscale.study.table_reader.read_table` (pandas, and sqlite3
for a ledger), the one reader the CLI uses too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recscale.errors import RecscaleError
from recscale.laws.table import UNTRAINED_NE, untrained_trials

ARCH_SEP = "/"  # a multi-architecture study's schemes read "dcnv2/cross_layers" in the report

__all__ = ["REQUIRED_COLUMNS", "UNTRAINED_NE", "Study", "load_study", "untrained_trials"]

REQUIRED_COLUMNS = ("scheme", "value", "seed", "samples", "ne", "params_dense", "params_sparse", "params_total")


@dataclass(frozen=True)
class Study:
    """Rows of a study and its provenance.

    Attributes:
        frame: One row per (scheme membership, evaluation), columns as in
            ``recscale.study.ledger.EXPORT_COLUMNS`` (at least :data:`REQUIRED_COLUMNS`).
        source: The file the rows came from.
        kind: ``"ledger"`` or ``"table"`` (CSV/Parquet: no provenance).
        name: The study's name (the spec's ``name``, else the file's stem).
        bayes_ne: The synthetic world's Bayes NE (the floor no model can beat), or None.
        bayes_ne_se: Its standard error, or None when unknown (e.g. read from a table).
        bayes_source: Where ``bayes_ne`` came from, in words, or None.
        provenance: Spec, versions, machine, times and trial counts (ledger only), else None.
        eval_floor: NE of the true probabilities on the eval rows every trial was measured on (the
            floor of the measured NEs: no model beats it on those rows), or None.
        eval_floor_se: Its delta-method standard error: the spread of any single NE measured on
            this many rows around its population value.
        eval_rows: How many eval rows the trials were measured on, or None when unknown.
        untrained: Trials left out of ``frame`` because they never trained (:func:`untrained_trials`):
            trial id → {"checkpoints", "max_samples", "schemes"}.
        axis_ends: (architecture, scheme) → the most parameters the scheme can reach, where its axis
            ends (:func:`recscale.study.table_reader.param_axis_ends`; a ledger only).
    """

    frame: Any = field(repr=False, compare=False)
    source: str
    kind: str
    name: str
    bayes_ne: float | None
    bayes_ne_se: float | None
    bayes_source: str | None
    provenance: dict[str, Any] | None
    eval_floor: float | None = None
    eval_floor_se: float | None = None
    eval_rows: int | None = None
    untrained: dict[Any, dict[str, Any]] = field(default_factory=dict, compare=False)
    axis_ends: dict[tuple[str, str], float] = field(default_factory=dict, compare=False)

    def axis_end(self, scheme: str) -> float | None:
        """Where the parameter axis of ``scheme`` ("embedding_rows", or "dlrm/embedding_rows" in a
        multi-architecture report) ends, or None when it does not (or is not known to)."""
        arch, sep, name = scheme.rpartition(ARCH_SEP)
        if not sep:
            archs = {a for a, s in self.axis_ends if s == name}
            arch = archs.pop() if len(archs) == 1 else ""
        return self.axis_ends.get((arch, name))

    @property
    def floor(self) -> float | None:
        """The floor measured NEs are compared with: the eval-rows floor when known, else the Bayes NE."""
        return self.eval_floor if self.eval_floor is not None else self.bayes_ne

    @property
    def floor_name(self) -> str:
        """What :attr:`floor` is, in words."""
        return "true-probability NE on the eval rows" if self.eval_floor is not None else "Bayes NE"

    @property
    def schemes(self) -> list[str]:
        """Schemes present, in the order of the paper (then any others, sorted)."""
        order = ("mlp_width", "overarch_width", "embedding_dim", "embedding_rows")
        present = set(self.frame["scheme"].unique())
        return [s for s in order if s in present] + sorted(present - set(order))

    @property
    def bayes_lower(self) -> float | None:
        """Lower end of the Bayes NE's 95% interval (the value itself when its error is unknown)."""
        if self.bayes_ne is None:
            return None
        return self.bayes_ne - 1.96 * (self.bayes_ne_se or 0.0)


def load_study(path: str | Path) -> Study:
    """Read a study's runs from a ledger, CSV or Parquet file.

    Raises:
        RecscaleError: missing file, unknown format, missing columns, or no finished trials.
    """
    import pandas as pd

    from recscale.study.table_reader import is_ledger, param_axis_ends, read_table

    p = Path(path)
    df = read_table(p)
    ledger = p.suffix.lower() not in (".csv", ".tsv", ".parquet", ".pq") and is_ledger(p)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise RecscaleError(f"{p}: missing column(s) {', '.join(missing)}; a study table (recscale study export) has "
                            f"{', '.join(REQUIRED_COLUMNS)} and more")
    if "train_flops" not in df.columns:  # read_table derives it from flops_per_sample when it can
        raise RecscaleError(f"{p}: needs train_flops or flops_per_sample (for the compute axis); neither is present")
    df = df.dropna(subset=["ne", "samples"])
    if df.empty:
        hint = f"; check `recscale study status {p}`" if ledger else ""
        raise RecscaleError(f"{p}: no finished evaluations to report on{hint}")
    df = df.assign(scheme=df["scheme"].astype(str)).reset_index(drop=True)
    if "trial_id" not in df.columns:
        df = df.assign(trial_id=[f"{s}-{v}-s{sd}" for s, v, sd in zip(df["scheme"], df["value"], df["seed"])])
    untrained = untrained_trials(df)
    if untrained and len(untrained) == df["trial_id"].nunique():
        raise RecscaleError(f"{p}: no trial trained (NE ≥ {UNTRAINED_NE} at every checkpoint of all {len(untrained)}); "
                            "nothing here measures scaling: check the [train] learning rates")
    df = df[~df["trial_id"].isin(list(untrained))].reset_index(drop=True)

    provenance = None
    floor = floor_se = n_eval = None
    bayes = se = None
    bayes_source = None
    name = p.stem
    ends: dict[tuple[str, str], float] = {}
    if ledger:
        provenance, cardinalities = _ledger_provenance(p)
        ends = param_axis_ends(df, cardinalities)
        name = provenance.get("spec_name") or name
        world = (provenance.get("dataset_meta") or {}).get("world") or {}
        if world.get("bayes_ne") is not None:
            bayes, se = float(world["bayes_ne"]), world.get("bayes_ne_se")
            se = float(se) if se is not None else None
            bayes_source = "the synthetic world's Bayes NE, estimated on a large independent sample (ledger metadata)"
        ef = provenance.get("eval_floor") or {}
        if ef.get("ne") is not None and math.isfinite(ef["ne"]):
            floor, floor_se, n_eval = float(ef["ne"]), ef.get("se"), ef.get("rows")
    if bayes is None and "bayes_ne" in df.columns:
        vals = pd.to_numeric(df["bayes_ne"], errors="coerce").dropna().unique()
        if len(vals):
            bayes = float(vals.mean())
            bayes_source = "the table's bayes_ne column (no standard error available)"
    if bayes is not None and not (math.isfinite(bayes) and 0 < bayes < 1.5):
        bayes = se = bayes_source = None
    return Study(frame=df, source=str(p), kind="ledger" if ledger else "table", name=str(name), bayes_ne=bayes,
                 bayes_ne_se=se, bayes_source=bayes_source, provenance=provenance, eval_floor=floor,
                 eval_floor_se=floor_se, eval_rows=n_eval, untrained=untrained, axis_ends=ends)


def _ledger_provenance(p: Path) -> tuple[dict[str, Any], list[int]]:
    """The ledger's provenance for the report, and its dataset's cardinalities (kept out of it: long, and say little)."""
    from recscale.study.ledger import open_existing

    keys = ("spec_name", "spec", "spec_toml", "dataset", "dataset_meta", "checkpoints", "created_at", "versions",
            "machine", "eval_floor", "goal_result", "last_run_wall_s", "last_run_workers", "last_run_executor", "last_run_device", "last_run_precision")
    with open_existing(p) as led:
        out = {k: led.get_meta(k) for k in keys}
        out["trial_status"] = led.status_counts()
        out["trial_wall_s_total"] = led.done_wall_s()
    meta = out.get("dataset_meta") or {}
    # Cardinalities and feature names are long and say little in a report; keep the summary.
    out["dataset_meta"] = {k: v for k, v in meta.items() if k not in ("dense_names", "sparse_names", "cardinalities")}
    if "cardinalities" in meta:
        c = meta["cardinalities"]
        out["dataset_meta"]["cardinalities_summary"] = {"features": len(c), "min": min(c), "max": max(c), "sum": sum(c)}
    return out, list(meta.get("cardinalities") or [])
