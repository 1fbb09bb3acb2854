"""The study ledger: one SQLite file per study holding its spec, trials and evaluations.

The ledger is the truth. Only the driver writes it, and each finished trial is written in one
transaction (its evaluations and its status together), so a killed study leaves only whole trials
behind and a rerun trains exactly the trials that are not ``done``. A ledger grows with its spec
(:mod:`recscale.study.runner`): a trial extended to more samples gains evaluations, appended in one
transaction; rows already written are never rewritten. ``done`` means "its evaluations are
committed": how far a trial got is its last evaluation (:meth:`Ledger.samples_done`, the export's
``samples_done``), which may be below the study's stop (a plan ran it part-way, or the stop was raised).

Tables::

    meta(key, value)                      latest spec (hash, JSON, TOML), spec_history, grid, dataset summary, versions
    trials(trial_id, seed, label, model_json, params_*, flops_per_sample, status, wall_s, finished_at,
           architecture)              model_json: the trial's resolved config; architecture: dlrm, dcnv2, wukong
    memberships(trial_id, scheme, value)  which schemes a trial stands in (the base model: all)
    evaluations(trial_id, samples, ne, logloss, auc, calibration, base_ctr, wall_s)
                                          primary key (trial_id, samples): never a duplicate
    reference(samples, bayes_ne, bayes_ne_se, oracle_ne)   synthetic worlds only
    decisions(step, payload, created_at)  a goal-driven study's choices, one JSON object per step

Every query lives here, behind a named method; nothing else runs SQL on a ledger. One driver at a
time writes it: :func:`recscale.study.lock.hold` keeps a second ``recscale study run`` out.

Readers (status, export, fit, report) never write: :func:`open_existing` opens the file read-only
(SQLite's ``immutable`` URI when no ``-wal`` file says a writer may be live, so not even ``-shm`` or
``-wal`` files appear and a read-only mount works; ``mode=ro`` otherwise), migrates an older
ledger's schema in its queries rather than on disk, and refuses a database that is not a ledger.
It also trusts nothing it reads: the schema objects must be tables (a crafted recursive view would
hang a query), JSON columns must parse, NE and the other numbers must be finite and in range, and
every query has a time limit; any problem is one line naming the table, row and column.

The export has one row per (scheme membership, evaluation): the base model stands in every scheme,
so its evaluations appear once per scheme (a 4-scheme study repeats them 4 times). Within one
scheme each (trial_id, samples) appears once, which is what every fit uses.
"""

from __future__ import annotations

import errno
import json
import math
import sqlite3
import time
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recscale.errors import RecscaleError, printable
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
CREATE TABLE IF NOT EXISTS decisions (step INTEGER PRIMARY KEY, payload TEXT NOT NULL, created_at TEXT NOT NULL);
"""

EXPORT_COLUMNS = [
    "trial_id", "scheme", "value", "seed", "params_dense", "params_sparse", "params_total",
    "flops_per_sample", "samples", "train_flops", "ne", "logloss", "auc", "calibration", "wall_s",
    "label", "embedding_dim", "embedding_rows", "bottom_mlp", "top_mlp", "base_ctr", "bayes_ne", "oracle_ne",
    "params_bottom_mlp", "params_top_mlp", "architecture", "samples_done",
]  # fmt: skip
# samples_done: the samples the row's trial has been trained to (its last evaluation). Below the
# study's stop for a trial a plan ran part-way or one not yet extended to a raised stop.


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


READ_TIMEOUT_S = 60.0  # a reader's query that runs longer is stopped: a crafted ledger cannot hang it

# What a reader needs: the tables and their columns (architecture, reference: added later; optional).
_TABLES = {
    "meta": {"key", "value"},
    "trials": {"trial_id", "seed", "label", "model_json", "params_dense", "params_sparse", "params_total",
               "flops_per_sample", "status", "wall_s", "finished_at"},
    "memberships": {"trial_id", "scheme", "value"},
    "evaluations": {"trial_id", "samples", "ne", "logloss", "auc", "calibration", "base_ctr", "wall_s"},
}  # fmt: skip
_OPTIONAL_TABLES = {"reference": {"samples", "bayes_ne", "bayes_ne_se", "oracle_ne"},
                    "decisions": {"step", "payload", "created_at"}}
_NO_REFERENCE = "(SELECT NULL AS samples, NULL AS bayes_ne, NULL AS bayes_ne_se, NULL AS oracle_ne WHERE 0)"
_FIX = "restore it from a copy, or rerun the study into a new --db"


class Ledger:
    """An open study ledger. Use as a context manager, or call :meth:`close`.

    Args:
        path: The SQLite file; created (with its tables) if missing.
        readonly: Open for reading only (see :func:`open_existing`, which readers use): nothing is
            written, not even the schema or a migration; the schema is checked instead.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self._deadline: float | None = None
        self._arch, self._reference, self._has_decisions = "t.architecture", "reference", True
        if readonly:
            self.conn = _connect_readonly(self.path)
            self.conn.set_progress_handler(self._over_time, 10_000)
            try:
                self._check_schema()
            except BaseException:
                self.conn.close()
                raise
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_SCHEMA)
        self._migrate()

    def _over_time(self) -> int:
        return int(self._deadline is not None and time.monotonic() > self._deadline)

    def _q(self, sql: str, params: tuple = (), what: str = "") -> list[tuple]:
        """Run a reading query with the time limit; SQLite's errors become one line naming the file."""
        self._deadline = time.monotonic() + READ_TIMEOUT_S if self.readonly else None
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as e:
            if "interrupted" in str(e):
                raise RecscaleError(f"{self.path}: reading {what or 'the ledger'} took over {READ_TIMEOUT_S:g} s and was "
                                    f"stopped; the ledger is damaged or crafted; {_FIX}") from None
            raise RecscaleError(f"{self.path}: cannot read {what or 'the ledger'} ({e}); {_FIX}") from None
        except sqlite3.DatabaseError as e:
            raise RecscaleError(f"{self.path}: damaged ledger ({e}) reading {what or 'it'}; {_FIX}") from None
        finally:
            self._deadline = None

    def _check_schema(self) -> None:
        """Refuse a database that is not a ledger, or whose tables are views or lack columns."""
        try:
            objects = dict(self.conn.execute("SELECT name, type FROM sqlite_master WHERE name IN "
                                             "('meta', 'trials', 'memberships', 'evaluations', 'reference', 'decisions')").fetchall())
        except sqlite3.DatabaseError as e:
            raise RecscaleError(f"{self.path}: not a recscale ledger ({e}); give a ledger `recscale study run` wrote") from None
        if not objects.keys() & _TABLES.keys():
            raise RecscaleError(f"{self.path}: not a recscale ledger (an SQLite database without the tables "
                                f"{', '.join(_TABLES)}); give a ledger `recscale study run` wrote")
        for name, columns in (_TABLES | _OPTIONAL_TABLES).items():
            kind = objects.get(name)
            if kind is None:
                if name == "reference":
                    self._reference = _NO_REFERENCE
                if name == "decisions":  # older ledger: no goal-driven steps
                    self._has_decisions = False
                if name in _OPTIONAL_TABLES:
                    continue
                raise RecscaleError(f"{self.path}: damaged ledger: table {name} is missing; {_FIX}")
            if kind != "table":
                raise RecscaleError(f"{self.path}: damaged ledger: {name} is a {kind}, not a table; {_FIX}")
            have = {r[1] for r in self._q(f"PRAGMA table_info({name})", what=f"table {name}")}
            if name == "trials" and "architecture" not in have:  # older ledger: all DLRMs (migrated in the query)
                self._arch = "'dlrm'"
            missing = sorted(columns - have)
            if missing:
                raise RecscaleError(f"{self.path}: damaged ledger: table {name} lacks column(s) {', '.join(missing)}; {_FIX}")

    def _migrate(self) -> None:
        """Bring a ledger written by an older recscale up to this schema: its trials were all DLRMs
        (tables it lacks, ``reference`` and ``decisions``, were created empty by the schema script)."""
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

    def _bad(self, table: str, row: str, column: str, value: Any, why: str) -> RecscaleError:
        shown = printable(repr(value), 60)
        return RecscaleError(f"{self.path}: damaged ledger: table {table}, row {printable(row, 120)}, column {column}: "
                             f"{shown} {why}; {_FIX}")

    def _json(self, table: str, row: str, column: str, text: Any) -> Any:
        try:
            if not isinstance(text, str):
                raise ValueError
            return json.loads(text)
        except (ValueError, RecursionError):
            raise self._bad(table, row, column, text, "is not valid JSON") from None

    # ---- meta -----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        rows = self._q("SELECT value FROM meta WHERE key = ?", (key,), "table meta")
        return None if not rows else self._json("meta", f"key={key!r}", "value", rows[0][0])

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
        return {str(k): v for k, v in self._q("SELECT status, COUNT(*) FROM trials GROUP BY status", what="table trials")}

    def done_ids(self) -> set[str]:
        return {r[0] for r in self._q("SELECT trial_id FROM trials WHERE status = 'done'", what="table trials")}

    def done_wall_s(self) -> float | None:
        """Total training wall time of the finished trials (None before any finished)."""
        rows = self._q("SELECT trial_id, wall_s FROM trials WHERE status = 'done'", what="table trials")
        for tid, w in rows:
            _check(self, "trials", f"trial_id={tid!r}", "wall_s", w, "time")
        walls = [w for _, w in rows if w is not None]
        return float(sum(walls)) if walls else None

    def trial_errors(self) -> dict[str, str]:
        """trial_id → error text of the trials that failed (latest failure each)."""
        rows = self._q("SELECT key, value FROM meta WHERE key LIKE 'error:%' ORDER BY key", what="table meta")
        return {key[len("error:"):]: str(self._json("meta", f"key={key!r}", "value", value)) for key, value in rows}

    def evaluation_counts(self) -> tuple[int, int]:
        """(evaluations stored, rows of the export): they differ by the base model's extra memberships."""
        evals = self._q("SELECT COUNT(*) FROM evaluations", what="table evaluations")[0][0]
        rows = self._q(
            "SELECT COUNT(*) FROM trials t JOIN memberships m USING (trial_id) JOIN evaluations e USING (trial_id)"
            " WHERE t.status = 'done'", what="tables trials, memberships, evaluations"
        )[0][0]
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
        """Record why a trial failed. A ``done`` trial (one whose extension failed) stays done: the
        evaluations it has committed stand; only the error is recorded."""
        with self.transaction() as c:
            c.execute("UPDATE trials SET status = 'failed' WHERE trial_id = ? AND status != 'done'", (trial_id,))
            c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"error:{trial_id}", json.dumps(message)))

    def append_points(self, trial_id: str, points: list[dict[str, Any]], wall_s: float) -> int:
        """Add a done trial's evaluations beyond its last one (an extension), in one transaction.

        Points at or below its last evaluation are not written (they are the ledger's already; the
        driver has checked they agree); ``wall_s`` is added to the trial's. Returns the number added.
        """
        with self.transaction() as c:
            last = c.execute("SELECT MAX(samples) FROM evaluations WHERE trial_id = ?", (trial_id,)).fetchone()[0] or 0
            new = [p for p in points if p["samples"] > last]
            c.executemany(  # a plain INSERT: an existing (trial_id, samples) row is never replaced
                "INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(trial_id, p["samples"], p["ne"], p["logloss"], p["auc"], p["calibration"], p["base_ctr"], p["wall_s"])
                 for p in new],
            )  # fmt: skip
            c.execute(
                "UPDATE trials SET status = 'done', wall_s = COALESCE(wall_s, 0) + ?, finished_at = ? WHERE trial_id = ?",
                (wall_s, time.strftime("%Y-%m-%dT%H:%M:%S"), trial_id),
            )
            c.execute("DELETE FROM meta WHERE key = ?", (f"error:{trial_id}",))
        return len(new)

    def samples_done(self) -> dict[str, int]:
        """trial_id → samples of its last committed evaluation, for the done trials."""
        rows = self._q("SELECT e.trial_id, MAX(e.samples) FROM evaluations e JOIN trials t USING (trial_id)"
                       " WHERE t.status = 'done' GROUP BY e.trial_id", what="table evaluations")
        for tid, n in rows:
            _check(self, "evaluations", f"trial_id={tid!r}", "samples", n, "positive_int")
        return {str(tid): int(n) for tid, n in rows}

    def trial_points(self, trial_id: str) -> list[dict[str, Any]]:
        """A trial's committed evaluations (samples, ne, logloss), by samples."""
        rows = self._q("SELECT samples, ne, logloss FROM evaluations WHERE trial_id = ? ORDER BY samples",
                       (trial_id,), "table evaluations")
        return [{"samples": n, "ne": ne, "logloss": ll} for n, ne, ll in rows]

    def trial_wall_s(self) -> dict[str, float]:
        """trial_id → training seconds spent on it so far (extensions included), where recorded."""
        rows = self._q("SELECT trial_id, wall_s FROM trials WHERE wall_s IS NOT NULL", what="table trials")
        return {str(t): float(w) for t, w in rows}

    def trial_ids(self) -> set[str]:
        """Every trial the ledger has registered (in the current spec or not)."""
        return {r[0] for r in self._q("SELECT trial_id FROM trials", what="table trials")}

    # ---- decisions (a goal-driven study's choices) ----------------------------------------------
    def record_decision(self, step: int, payload: dict[str, Any]) -> None:
        """Store step ``step``'s decision (a JSON object). Recording a step again with the same
        payload does nothing (a resumed study replays its choices); with another payload it is refused."""
        text = json.dumps(payload, sort_keys=True)
        with self.transaction() as c:
            row = c.execute("SELECT payload FROM decisions WHERE step = ?", (int(step),)).fetchone()
            if row is not None:
                if json.loads(row[0]) != json.loads(text):
                    raise RecscaleError(f"{self.path}: decision step {step} is already recorded with another payload; "
                                        "a resumed study must replay the same choices (or start over with --new)")
                return
            c.execute("INSERT INTO decisions VALUES (?, ?, ?)", (int(step), text, time.strftime("%Y-%m-%dT%H:%M:%S")))

    def decisions(self) -> list[dict[str, Any]]:
        """Every recorded decision by step: ``{"step", "payload", "created_at"}`` ([] for an older ledger)."""
        if not self._has_decisions:
            return []
        out = []
        for step, text, at in self._q("SELECT step, payload, created_at FROM decisions ORDER BY step", what="table decisions"):
            _check(self, "decisions", f"step={step!r}", "step", step, "int")
            payload = self._json("decisions", f"step={step!r}", "payload", text)
            if not isinstance(payload, dict):
                raise self._bad("decisions", f"step={step!r}", "payload", text, "is not a JSON object")
            out.append({"step": step, "payload": payload, "created_at": at})
        return out

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
        if self._reference != "reference":
            return False
        return self._q("SELECT COUNT(*) FROM reference", what="table reference")[0][0] > 0

    def reference_samples(self) -> set[int]:
        """The sample counts the reference table has rows for (a grown grid adds the rest)."""
        if self._reference != "reference":
            return set()
        return {r[0] for r in self._q("SELECT samples FROM reference", what="table reference")}

    # ---- reading --------------------------------------------------------------------------------
    def export_rows(self) -> list[dict[str, Any]]:
        """One row per (scheme membership, evaluation) of finished trials, in a stable order.

        Every value is checked (types, finite numbers in range, the model's JSON); a bad one is a
        :class:`RecscaleError` naming its table, row and column.
        """
        q = f"""
        SELECT t.trial_id, m.scheme, m.value, t.seed, t.params_dense, t.params_sparse, t.params_total,
               t.flops_per_sample, e.samples, e.ne, e.logloss, e.auc, e.calibration, e.wall_s,
               t.label, t.model_json, e.base_ctr, r.bayes_ne, r.oracle_ne, {self._arch}, d.samples_done
        FROM trials t JOIN memberships m USING (trial_id) JOIN evaluations e USING (trial_id)
        JOIN (SELECT trial_id, MAX(samples) AS samples_done FROM evaluations GROUP BY trial_id) d USING (trial_id)
        LEFT JOIN {self._reference} r ON r.samples = e.samples
        WHERE t.status = 'done'
        ORDER BY {self._arch}, m.scheme, m.value, t.seed, e.samples
        """
        out, models = [], {}
        for row in self._q(q, what="tables trials, memberships, evaluations"):
            (tid, scheme, value, seed, pd_, ps, pt, fps, samples, ne, ll, auc, cal, wall, label, mj, ctr, bayes, oracle, arch,
             done_to) = row
            tr, ev, ms = f"trial_id={tid!r}", f"trial_id={tid!r}, samples={samples!r}", f"trial_id={tid!r}, scheme={scheme!r}"
            for table, where, col, v, kind in (
                ("trials", tr, "trial_id", tid, "text"), ("trials", tr, "label", label, "text"),
                ("trials", tr, "architecture", arch, "text"), ("memberships", ms, "scheme", scheme, "text"),
                ("memberships", ms, "value", value, "int"), ("trials", tr, "seed", seed, "int"),
                ("trials", tr, "params_dense", pd_, "count"), ("trials", tr, "params_sparse", ps, "count"),
                ("trials", tr, "params_total", pt, "count"), ("trials", tr, "flops_per_sample", fps, "positive_int"),
                ("evaluations", ev, "samples", samples, "positive_int"), ("evaluations", ev, "ne", ne, "ne"),
                ("evaluations", ev, "logloss", ll, "ne"), ("evaluations", ev, "auc", auc, "unit"),
                ("evaluations", ev, "calibration", cal, "positive"), ("evaluations", ev, "wall_s", wall, "time"),
                ("evaluations", ev, "base_ctr", ctr, "unit"), ("reference", f"samples={samples!r}", "bayes_ne", bayes, "positive"),
                ("reference", f"samples={samples!r}", "oracle_ne", oracle, "positive"),
            ):  # fmt: skip
                _check(self, table, where, col, v, kind)
            if tid not in models:
                models[tid] = self._model(tid, mj)
            model = models[tid]
            out.append({
                "trial_id": tid, "scheme": scheme, "value": value, "seed": seed, "params_dense": pd_,
                "params_sparse": ps, "params_total": pt, "flops_per_sample": fps, "samples": samples,
                "train_flops": train_flops(fps, samples), "ne": float(ne), "logloss": float(ll), "auc": auc, "calibration": cal,
                "wall_s": wall, "label": label, "embedding_dim": model["embedding_dim"],
                "embedding_rows": model["embedding_rows"], "bottom_mlp": "x".join(map(str, model["bottom_mlp"])),
                "top_mlp": "x".join(map(str, model["top_mlp"])), "base_ctr": ctr, "bayes_ne": bayes, "oracle_ne": oracle,
                "params_bottom_mlp": model.get("params_bottom_mlp"), "params_top_mlp": model.get("params_top_mlp"),
                "architecture": arch, "samples_done": done_to,
            })  # fmt: skip
        return out

    def _model(self, tid: str, text: Any) -> dict[str, Any]:
        """A trial's model JSON, checked for the fields the export takes from it."""
        where = f"trial_id={tid!r}"
        model = self._json("trials", where, "model_json", text)
        if not isinstance(model, dict):
            raise self._bad("trials", where, "model_json", text, "is not a JSON object")
        for key, kind in (("embedding_dim", "positive_int"), ("embedding_rows", "positive_int_or_none"),  # None: no hashing
                          ("bottom_mlp", "widths"), ("top_mlp", "widths"),
                          ("params_bottom_mlp", "count_or_none"), ("params_top_mlp", "count_or_none")):  # fmt: skip
            if key not in model and not kind.endswith("_or_none"):
                raise self._bad("trials", where, "model_json", printable(text, 40), f"has no {key!r}")
            _check(self, "trials", where, f"model_json.{key}", model.get(key), kind)
        return model


_NE_MAX = 100.0  # an NE above this is not a measurement of a trained model; ranges are checked by kind below


def _check(led: Ledger, table: str, row: str, column: str, v: Any, kind: str) -> None:
    """Raise one line naming table, row and column unless ``v`` is a valid value of ``kind``."""
    is_int = isinstance(v, int) and not isinstance(v, bool)
    is_num = is_int or isinstance(v, float)
    if kind == "text":
        ok, why = isinstance(v, str), "is not text"
    elif kind == "int":
        ok, why = is_int, "is not an integer"
    elif kind in ("count", "count_or_none"):
        ok, why = (kind == "count_or_none" and v is None) or (is_int and v >= 0), "is not a count (an integer >= 0)"
    elif kind in ("positive_int", "positive_int_or_none"):
        ok, why = (kind == "positive_int_or_none" and v is None) or (is_int and v > 0), "is not a positive integer"
    elif kind == "widths":
        ok = isinstance(v, list) and all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in v)
        why = "is not a list of positive integers"
    elif kind == "ne":
        ok, why = is_num and math.isfinite(v) and 0 < v <= _NE_MAX, f"is not a finite number in (0, {_NE_MAX:g}]"
    elif kind == "unit":
        ok, why = v is None or (is_num and 0 <= v <= 1), "is not a number in [0, 1]"
    elif kind == "positive":
        ok, why = v is None or (is_num and math.isfinite(v) and v > 0), "is not a finite positive number"
    elif kind == "time":
        ok, why = v is None or (is_num and math.isfinite(v) and v >= 0), "is not a finite number of seconds >= 0"
    else:  # pragma: no cover - a typo here is a bug
        raise ValueError(kind)
    if not ok:
        raise led._bad(table, row, column, v, why)


def _connect_readonly(p: Path) -> sqlite3.Connection:
    """A connection that cannot write ``p`` or create files beside it.

    Without a ``-wal`` file no writer is live and the file is whole (a closing writer checkpoints
    and removes it), so ``immutable=1``: no locks, no ``-shm``, works on a read-only mount. With
    one, a study may be writing, so ``mode=ro``, which shares the writer's ``-wal`` and ``-shm``.
    """
    wal = Path(f"{p}-wal")
    uri = p.resolve().as_uri() + ("?mode=ro" if wal.exists() else "?mode=ro&immutable=1")
    try:
        return sqlite3.connect(uri, uri=True, timeout=30)
    except sqlite3.Error as e:
        hint = (f"; it has a {wal.name} file (a study is running, or one was killed) and cannot be read where it is: "
                "copy the .db and its -wal file to a writable folder") if wal.exists() else ""
        raise RecscaleError(f"{p}: cannot open the ledger ({e}){hint}") from None


def open_existing(path: str | Path) -> Ledger:
    """Open a ledger that must already exist, read-only (for status, export, fit, report)."""
    p = Path(path)
    if not p.is_file():
        raise RecscaleError(f"{p}: no such ledger; run `recscale study run SPEC --db {p}` first")
    with open(p, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise RecscaleError(f"{p}: not a recscale ledger (not an SQLite database); give a ledger `recscale study run` wrote")
    led = Ledger(p, readonly=True)
    led._q("SELECT COUNT(*) FROM trials", what="table trials")
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
    try:
        if out.suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
        tmp.replace(out)
    except OSError as e:  # a full disk or an unwritable folder: no half-written file stays behind
        tmp.unlink(missing_ok=True)
        if e.errno == errno.ENOSPC:
            raise RecscaleError(f"no space left on device writing {out}; the ledger {path} is unchanged; free space and rerun") from None
        raise RecscaleError(f"--out {out}: cannot write ({e.strerror or e})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(df)
