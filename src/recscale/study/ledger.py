"""The study ledger: one SQLite file per study holding its spec, trials and evaluations.

The ledger is the truth. Only the driver writes it, and each finished trial is written in one
transaction (its evaluations and its status together), so a killed study leaves only whole trials
behind and a rerun trains exactly the trials that are not ``done``. The spec's hash is stored at
creation; resuming with a different spec is refused (start over with ``--new``).

Tables::

    meta(key, value)                      spec hash and JSON, dataset summary, versions, created_at
    trials(trial_id, seed, label, model_json, params_*, flops_per_sample, status, wall_s, finished_at,
           architecture)              model_json: the trial's resolved config; architecture: dlrm, dcnv2, wukong
    memberships(trial_id, scheme, value)  which schemes a trial stands in (the base model: all)
    evaluations(trial_id, samples, ne, logloss, auc, calibration, base_ctr, wall_s)
                                          primary key (trial_id, samples): never a duplicate
    reference(samples, bayes_ne, bayes_ne_se, oracle_ne)   synthetic worlds only

Every query lives here, behind a named method; nothing else runs SQL on a ledger. One driver at a
time writes it: :func:`recscale.study.lock.hold` keeps a second ``recscale study run`` out.

The export has one row per (scheme membership, evaluation): the base model stands in every scheme,
so its evaluations appear once per scheme (a 4-scheme study repeats them 4 times). Within one
scheme each (trial_id, samples) appears once, which is what every fit uses.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recscale.errors import RecscaleError
from recscale.model.cost import TRAIN_FLOPS_PER_FORWARD

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    trial_id TEXT PRIMARY KEY, seed INTEGER NOT NULL, label TEXT NOT NULL, model_json TEXT NOT NULL,
    params_dense INTEGER NOT NULL, params_sparse INTEGER NOT NULL, params_total INTEGER NOT NULL,
    flops_per_sample INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
    wall_s REAL, finished_at TEXT, architecture TEXT NOT NULL DEFAULT 'dlrm');
CREATE TABLE IF NOT EXISTS memberships (
    trial_id TEXT NOT NULL REFERENCES trials(trial_id), scheme TEXT NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (trial_id, scheme));
CREATE TABLE IF NOT EXISTS evaluations (
    trial_id TEXT NOT NULL REFERENCES trials(trial_id), samples INTEGER NOT NULL, ne REAL NOT NULL,
    logloss REAL NOT NULL, auc REAL, calibration REAL, base_ctr REAL, wall_s REAL,
    PRIMARY KEY (trial_id, samples));
CREATE TABLE IF NOT EXISTS reference (
    samples INTEGER PRIMARY KEY, bayes_ne REAL, bayes_ne_se REAL, oracle_ne REAL);
"""

EXPORT_COLUMNS = [
    "trial_id", "scheme", "value", "seed", "params_dense", "params_sparse", "params_total",
    "flops_per_sample", "samples", "train_flops", "ne", "logloss", "auc", "calibration", "wall_s",
    "label", "embedding_dim", "embedding_rows", "bottom_mlp", "top_mlp", "base_ctr", "bayes_ne", "oracle_ne",
    "params_bottom_mlp", "params_top_mlp", "architecture",
]  # fmt: skip


def train_flops(flops_per_sample: Any, samples: Any) -> Any:
    """Training FLOPs after ``samples``: forward FLOPs per sample × 3 (see :mod:`recscale.model.cost`) × samples."""
    return TRAIN_FLOPS_PER_FORWARD * flops_per_sample * samples


@dataclass(frozen=True)
class TrialRow:
    """What the ledger stores about a trial before it runs."""

    trial_id: str
    seed: int
    label: str
    model: dict[str, Any]
    params_dense: int
    params_sparse: int
    params_total: int
    flops_per_sample: int
    memberships: tuple[tuple[str, int], ...]
    architecture: str = "dlrm"


class Ledger:
    """An open study ledger. Use as a context manager, or call :meth:`close`.

    Args:
        path: The SQLite file; created (with its tables) if missing.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring a ledger written by an older recscale up to this schema (its trials were all DLRMs)."""
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(trials)")}
        if "architecture" not in columns:
            with self.transaction() as c:
                c.execute("ALTER TABLE trials ADD COLUMN architecture TEXT NOT NULL DEFAULT 'dlrm'")

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self):
        """All-or-nothing writes."""
        with self.conn:
            yield self.conn

    # ---- meta -----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, items: dict[str, Any]) -> None:
        with self.transaction() as c:
            c.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in items.items()])

    # ---- trials ---------------------------------------------------------------------------------
    def add_trials(self, rows: Iterable[TrialRow]) -> None:
        """Register trials (idempotent: existing trials keep their status and results)."""
        with self.transaction() as c:
            for r in rows:
                c.execute(
                    "INSERT OR IGNORE INTO trials (trial_id, seed, label, model_json, params_dense, params_sparse,"
                    " params_total, flops_per_sample, architecture) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (r.trial_id, r.seed, r.label, json.dumps(r.model), r.params_dense, r.params_sparse, r.params_total,
                     r.flops_per_sample, r.architecture),
                )
                c.executemany(
                    "INSERT OR IGNORE INTO memberships VALUES (?, ?, ?)", [(r.trial_id, s, int(v)) for s, v in r.memberships]
                )

    def status_counts(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall())

    def done_ids(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT trial_id FROM trials WHERE status = 'done'")}

    def done_wall_s(self) -> float | None:
        """Total training wall time of the finished trials (None before any finished)."""
        return self.conn.execute("SELECT SUM(wall_s) FROM trials WHERE status = 'done'").fetchone()[0]

    def trial_errors(self) -> dict[str, str]:
        """trial_id → error text of the trials that failed (latest failure each)."""
        rows = self.conn.execute("SELECT key, value FROM meta WHERE key LIKE 'error:%' ORDER BY key")
        return {key[len("error:"):]: json.loads(value) for key, value in rows}

    def evaluation_counts(self) -> tuple[int, int]:
        """(evaluations stored, rows of the export): they differ by the base model's extra memberships."""
        evals = self.conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
        rows = self.conn.execute(
            "SELECT COUNT(*) FROM trials t JOIN memberships m USING (trial_id) JOIN evaluations e USING (trial_id)"
            " WHERE t.status = 'done'"
        ).fetchone()[0]
        return evals, rows

    def record_trial(self, trial_id: str, points: list[dict[str, Any]], wall_s: float) -> None:
        """Store a finished trial's evaluations and mark it done, in one transaction."""
        with self.transaction() as c:
            c.execute("DELETE FROM evaluations WHERE trial_id = ?", (trial_id,))
            c.executemany(
                "INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (trial_id, p["samples"], p["ne"], p["logloss"], p["auc"], p["calibration"], p["base_ctr"], p["wall_s"])
                    for p in points
                ],
            )
            c.execute(
                "UPDATE trials SET status = 'done', wall_s = ?, finished_at = ? WHERE trial_id = ?",
                (wall_s, time.strftime("%Y-%m-%dT%H:%M:%S"), trial_id),
            )

    def record_failure(self, trial_id: str, message: str) -> None:
        with self.transaction() as c:
            c.execute("UPDATE trials SET status = 'failed' WHERE trial_id = ?", (trial_id,))
            c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"error:{trial_id}", json.dumps(message)))

    def set_reference(self, rows: list[tuple[int, float | None, float | None, float | None]]) -> None:
        with self.transaction() as c:
            c.executemany("INSERT OR REPLACE INTO reference VALUES (?, ?, ?, ?)", rows)

    def set_eval_floor(self, floor: dict[str, Any]) -> None:
        """Record the NE of the true probabilities on the study's eval rows (``ne``, ``se``, ``rows``, ...)."""
        self.set_meta({"eval_floor": floor})

    def eval_floor(self) -> dict[str, Any] | None:
        """The recorded eval-rows floor (see :meth:`set_eval_floor`), or None (not synthetic, or older ledger)."""
        return self.get_meta("eval_floor")

    def has_reference(self) -> bool:
        return self.conn.execute("SELECT COUNT(*) FROM reference").fetchone()[0] > 0

    # ---- reading --------------------------------------------------------------------------------
    def export_rows(self) -> list[dict[str, Any]]:
        """One row per (scheme membership, evaluation) of finished trials, in a stable order."""
        q = """
        SELECT t.trial_id, m.scheme, m.value, t.seed, t.params_dense, t.params_sparse, t.params_total,
               t.flops_per_sample, e.samples, e.ne, e.logloss, e.auc, e.calibration, e.wall_s,
               t.label, t.model_json, e.base_ctr, r.bayes_ne, r.oracle_ne, t.architecture
        FROM trials t JOIN memberships m USING (trial_id) JOIN evaluations e USING (trial_id)
        LEFT JOIN reference r ON r.samples = e.samples
        WHERE t.status = 'done'
        ORDER BY t.architecture, m.scheme, m.value, t.seed, e.samples
        """
        out = []
        for row in self.conn.execute(q):
            (tid, scheme, value, seed, pd_, ps, pt, fps, samples, ne, ll, auc, cal, wall, label, mj, ctr, bayes, oracle, arch) = row
            model = json.loads(mj)
            out.append({
                "trial_id": tid, "scheme": scheme, "value": value, "seed": seed, "params_dense": pd_,
                "params_sparse": ps, "params_total": pt, "flops_per_sample": fps, "samples": samples,
                "train_flops": train_flops(fps, samples), "ne": ne, "logloss": ll, "auc": auc, "calibration": cal,
                "wall_s": wall, "label": label, "embedding_dim": model["embedding_dim"],
                "embedding_rows": model["embedding_rows"], "bottom_mlp": "x".join(map(str, model["bottom_mlp"])),
                "top_mlp": "x".join(map(str, model["top_mlp"])), "base_ctr": ctr, "bayes_ne": bayes, "oracle_ne": oracle,
                "params_bottom_mlp": model.get("params_bottom_mlp"), "params_top_mlp": model.get("params_top_mlp"),
                "architecture": arch,
            })  # fmt: skip
        return out


def open_existing(path: str | Path) -> Ledger:
    """Open a ledger that must already exist (for status, export, fit, report)."""
    p = Path(path)
    if not p.is_file():
        raise RecscaleError(f"{p}: no such ledger; run `recscale study run SPEC --db {p}` first")
    try:
        led = Ledger(p)
        led.conn.execute("SELECT COUNT(*) FROM trials").fetchone()
    except sqlite3.DatabaseError as e:
        raise RecscaleError(f"{p}: not a recscale ledger ({e})") from None
    return led


def export_frame(path: str | Path):
    """The ledger's evaluations as a pandas DataFrame with :data:`EXPORT_COLUMNS`."""
    import pandas as pd

    with open_existing(path) as led:
        return pd.DataFrame(led.export_rows(), columns=EXPORT_COLUMNS)


def export(path: str | Path, out: str | Path) -> int:
    """Write the ledger's table to ``out`` (.csv or .parquet); returns the number of rows."""
    out = Path(out)
    if out.suffix not in (".csv", ".parquet"):
        raise RecscaleError(f"--out must end in .csv or .parquet, got {out.name!r}")
    df = export_frame(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if out.suffix == ".csv":
        df.to_csv(tmp, index=False)
    else:
        df.to_parquet(tmp, index=False)
    tmp.replace(out)
    return len(df)
