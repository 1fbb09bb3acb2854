"""The study driver: spec → dataset → ledger → executor → ledger.

Order matters for "nothing written on bad input": everything that can be checked (the spec, the
dataset, the checkpoints against it, the ledger's numbers identity, a plan) is checked before the
first byte is written. Then the synthetic dataset is generated if it is not cached, trials are
registered, and the pending ones run; each result is committed as it arrives. Rerunning the same
command resumes.

A ledger grows with its spec. A spec whose numbers identity (:func:`recscale.study.spec.numbers_identity`:
data, recipe, base models, the grid's start and spacing) equals that of every spec the ledger was
run with is accepted: only trials the ledger lacks run, and finished trials keep their ids, rows and
numbers (a new scheme may make the base model a member of more schemes: only its memberships grow).
Any other change is refused with one line naming the first field that changed. What a spec drops
(seeds, sizes, schemes, architectures) stays in the ledger: the ledger is the truth, and the dry run
lists those trials as "kept, no longer in the spec". The study's checkpoint grid is the union of the
grids of every stop it was run with (a grid for a larger stop holds the smaller one's points, plus
the smaller stop itself when it was not a grid point), so a lowered stop keeps the points beyond it
and new trials stop at the lower stop.

Extension: a trial whose last point is below its target (the spec's stop, or ``RunOptions.plan``)
continues from its kept state (``<db>.states/<numbers_hash16>/<trial>.pt``, verified: trial, seed,
numbers hash, samples = its last point) and its new points are appended; without one it is
retrained from scratch with the same seed, and its recomputed points must equal the ledger's
bitwise (NE and log loss), or the trial fails loudly and the ledger keeps what it had. Because the
schedule never depends on the total, an extended curve equals one that never stopped (tested).
"""

from __future__ import annotations

import errno
import json
import math
import os
import platform
import shutil
import sqlite3
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from recscale import __version__
from recscale.data.shards import Dataset, still_being_written
from recscale.errors import RecscaleError, SpecError
from recscale.model.cost import model_cost
from recscale.study.executors import InlineExecutor, ProcessExecutor
from recscale.study.ledger import Ledger, TrialRow, open_existing
from recscale.study.lock import hold, lock_path
from recscale.study.spec import StudySpec, check_plugins
from recscale.study.trial import TrialTask
from recscale.train.device import check_precision, default_trials_per_device, resolve_device


@dataclass(frozen=True)
class RunOptions:
    """How (not what) to run: none of this changes the numbers, except ``precision`` (tf32, bf16)
    and, in the last bits, ``compile`` and a GPU ``device`` (see docs/scale-out.md).

    Attributes:
        workers: Concurrent trials; None means trials_per_device (one device locally).
        executor: "inline", "process" or "ray"; None picks inline for one worker, else process.
        device: Torch device for training ("auto": cuda when available, else cpu; "cpu", "cuda", ...).
        trials_per_device: Trials run concurrently on one device (None: cores // train.threads on a
            CPU, recscale.train.device.GPU_TRIALS_PER_DEVICE on a GPU). With Ray, each trial asks
            for 1/K of a GPU.
        precision: "fp32", "tf32" (CUDA) or "bf16"; see recscale.train.device.
        compile: Train through torch.compile.
        new: Discard an existing ledger (and its results) instead of resuming.
        snapshot_every_s: How often a running trial saves its training state beside the ledger
            (``<db>.snapshots/``), so a killed trial resumes where it stopped with the same numbers.
        progress: Show a live progress display.
        ray_address: Ray cluster address for the ray executor (None: start a local instance).
        wait: If another driver holds the ledger, wait for it to finish instead of refusing.
        keep_state: Keep each finished trial's final training state (``<db>.states/``) so that a
            later run can extend it to more samples without retraining it. It costs, per trial, the
            fp32 weights plus the optimisers' state: 3× the parameters with Adam on both, 12 bytes
            per parameter (the ``quick`` example: 243 MB for its 26 trials, 61.5 MB for its largest;
            :func:`recscale.study.dryrun.state_bytes`); off, an extension retrains the trial.
        plan: trial_id → the samples to train it to (a checkpoint of the study's grid, at most the
            spec's stop). Only these trials run, each to its own target: a new one from scratch, one
            whose last point is below its target extended. None: every trial of the spec to its stop.
        decision: A goal-driven study's choice (a JSON object with its ``step``), written to the
            ledger's decisions under the driver's lock before the plan's trials start, so that a
            killed study knows what it was doing (:mod:`recscale.study.goal`).
    """

    workers: int | None = None
    executor: str | None = None
    device: str = "auto"
    trials_per_device: int | None = None
    precision: str = "fp32"
    compile: bool = False
    new: bool = False
    progress: bool = True
    snapshot_every_s: float = 60.0
    ray_address: str | None = None
    wait: bool = False
    keep_state: bool = True
    plan: dict[str, int] | None = None
    decision: dict[str, Any] | None = None


@dataclass(frozen=True)
class RunSummary:
    """What a run did: ``ran`` = ``new`` (trained from scratch) + ``extended`` (continued past their
    last point) trials, of ``trials`` in the spec; ``failed`` lists the trials that failed (an
    extension that failed keeps its committed points)."""

    db: Path
    trials: int
    ran: int
    failed: list[str]
    wall_s: float
    new: int = 0
    extended: int = 0


def dataset_path(spec: StudySpec, db: Path) -> Path:
    """Where the study's dataset lives: data.path, or the synthetic cache beside the ledger."""
    if spec.data.path is not None:
        return Path(spec.data.path)
    return db.parent / f"synthetic-{spec.data.synthetic.key()}"


def check_dataset(spec: StudySpec, ds: Dataset) -> None:
    """Raise SpecError if the study cannot run on ``ds`` (missing splits, too few rows)."""
    problems = []
    for split in ("train", "eval"):
        if ds.rows(split) == 0:
            if split in ds.meta["splits"]:
                problems.append(f"data.path: the {split!r} split of {ds.path} is empty (0 rows); "
                                "make the dataset again with rows in both splits (see its --eval-fraction / --eval-files)")
            else:
                problems.append(f"data.path: {ds.path} has no {split!r} split; it has {sorted(ds.meta['splits'])}")
    stop = max(spec.checkpoint_samples())
    if ds.rows("train") and stop > ds.rows("train"):
        problems.append(
            f"train.checkpoints.stop: {spec.checkpoints.stop:,} exceeds the dataset's {ds.rows('train'):,} training rows ({ds.path})"
        )
    if problems:
        raise SpecError(problems, source=spec.source)


def _open_dataset_if_any(spec: StudySpec, path: Path) -> Dataset | None:
    if spec.data.path is not None:
        if not path.exists():
            busy = still_being_written(path)
            why = f"is {busy}" if busy else f"does not exist; create it with `recscale data synth|criteo|table ... --out {path}`"
            raise SpecError([f"data.path: {path} {why}"], source=spec.source)
        ds = Dataset(path)
        check_dataset(spec, ds)
        return ds
    return Dataset(path) if (path / "meta.json").exists() else None


def _show(v: Any) -> str:
    return "unset" if v is None else json.dumps(v) if isinstance(v, (list, dict, str)) else repr(v)


def spec_history(led: Ledger) -> list[dict[str, Any]]:
    """Every spec a ledger was run with, oldest first: ``{"spec_hash", "spec", "spec_toml", "at"}``
    (a ledger from before growth has only the spec it was created with)."""
    history = led.get_meta("spec_history")
    if history is None and led.get_meta("spec") is not None:
        history = [{"spec_hash": led.get_meta("spec_hash"), "spec": led.get_meta("spec"),
                    "spec_toml": led.get_meta("spec_toml"), "at": led.get_meta("created_at")}]  # fmt: skip
    return list(history or [])


def check_growth(spec: StudySpec, db: Path, led: Ledger) -> None:
    """Refuse ``spec`` on the ledger ``led`` if it changes what a finished trial's numbers depend on.

    Raises:
        RecscaleError: One line naming the first field that changed since any spec the ledger was
            run with, its old and new value, and the fix.
    """
    from recscale.study.spec import first_numbers_change

    new = spec.to_dict()
    for h in reversed(spec_history(led)):
        if not isinstance(h, dict) or not isinstance(h.get("spec"), dict):
            continue
        try:
            change = first_numbers_change(h["spec"], new)
        except (KeyError, TypeError, AttributeError):  # a stored spec this recscale cannot read
            change = ("spec", "(unreadable)", "(this spec)")
        if change is not None:
            field, old, now = change
            keep = f"set {field.removeprefix('train.')} = {_show(old)} in [train] to grow it as it was, " if field.startswith("train.") and old is not None else ""
            raise RecscaleError(f"{field} changed from {_show(old)} to {_show(now)} since {db} was made: it changes every "
                                f"finished trial's numbers; {keep}pass --new to start over, or use another --db")  # fmt: skip


def _check_ledger(spec: StudySpec, db: Path, new: bool, precision: str) -> list[int]:
    """Refuse to grow a ledger with a spec that changes finished trials' numbers (:func:`check_growth`),
    or at another precision; returns the ledger's checkpoint grid ([] for a new ledger)."""
    if not db.exists() or new or db.stat().st_size == 0:  # an empty file is a new database to SQLite too
        return []
    try:  # read-only: a database that is not a ledger is refused with its bytes unchanged
        led = open_existing(db)
    except RecscaleError as e:
        raise RecscaleError(f"{e}; or choose another --db") from None
    with led:
        old_precision = led.get_meta("precision")
        check_growth(spec, db, led)
        grid = led.get_meta("checkpoints") or []
    if old_precision is not None and old_precision != precision:
        raise RecscaleError(
            f"{db} was trained with --precision {old_precision}, not {precision}: one ledger holds one precision; "
            f"resume with --precision {old_precision}, or pass --new to start over"
        )
    return [int(c) for c in grid if isinstance(c, int)]


def study_grid(spec: StudySpec, ledger_grid: list[int]) -> list[int]:
    """The checkpoints a trial of this study is evaluated at: the spec's grid and the ledger's (every
    stop it was run with), together."""
    return sorted(set(spec.checkpoint_samples()) | set(ledger_grid))


def check_plan(spec: StudySpec, plan: dict[str, int] | None, grid: list[int]) -> None:
    """Refuse a plan naming a trial the spec does not have, or a target off the grid or past the stop."""
    if plan is None:
        return
    ids = {t.trial_id for t in spec.trials()}
    stop = max(spec.checkpoint_samples())
    for tid, n in plan.items():
        if tid not in ids:
            raise RecscaleError(f"plan: {tid!r} is not a trial of spec {spec.name!r}; plan trials it lists (`study run --dry-run`)")
        if not isinstance(n, int) or isinstance(n, bool) or n not in grid or n > stop:
            raise RecscaleError(f"plan: trial {tid!r} to {n!r} samples: must be a checkpoint of the study's grid up to its "
                                f"stop {stop:,} ({', '.join(f'{c:,}' for c in grid if c <= stop)})")  # fmt: skip


def snapshot_dir(db: Path) -> Path:
    """Where running trials keep their training state (one file per trial, deleted when done)."""
    return db.parent / f"{db.name}.snapshots"


def state_dir(db: Path) -> Path:
    """Where finished trials keep their final training state (``RunOptions.keep_state``), to be extended."""
    return db.parent / f"{db.name}.states"


def state_path(db: Path, numbers_hash: str, trial_id: str) -> Path:
    """The kept state of one trial: ``<db>.states/<numbers_hash16>/<trial_id>.pt``."""
    return state_dir(db) / numbers_hash[:16] / f"{trial_id}.pt"


def _remove_ledger(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(db) + suffix)
        if p.exists():
            p.unlink()
    shutil.rmtree(snapshot_dir(db), ignore_errors=True)
    shutil.rmtree(state_dir(db), ignore_errors=True)


def trial_rows(spec: StudySpec, ds_meta: dict[str, Any]) -> list[TrialRow]:
    """Trials with their exact sizes and costs for a dataset's schema."""
    n_dense, cards = len(ds_meta["dense_names"]), ds_meta["cardinalities"]
    rows = []
    for t in spec.trials():
        cfg = t.model.config(n_dense, cards)
        cost = model_cost(cfg)
        model = _model_dict(t.model) | _mlp_params(cfg) | {"flops_source": cost.flops_source}
        if cost.flops_source == "measured":  # a plugin: which code trained it
            from recscale.model.plugin import source_digest

            model["source_sha256"] = source_digest(cfg.target, cfg.search_path)
        rows.append(
            TrialRow(
                t.trial_id, t.seed, t.model.label(), model, cost.params_dense, cost.params_sparse,
                cost.params_total, cost.flops_per_sample, t.memberships, t.architecture,
            )
        )
    return rows


def _model_dict(m) -> dict[str, Any]:
    """The trial's resolved, dataset-independent config (every field of its architecture's spec).

    A plugin's keywords become a table, and its MLPs (which recscale does not know) read as empty.
    """
    d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(m).items()}
    if "kwargs" in d:
        d = {k: v for k, v in d.items() if k not in ("kwargs", "search_path")} | {
            "kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in m.kwargs}, "bottom_mlp": [], "top_mlp": []}
    return d


def _mlp_params(cfg) -> dict[str, int]:
    """Parameters (weights and biases) of each MLP, so a parameter law can use the part its scheme grows.

    The bottom MLP maps the dense features to its embeddings (one for DLRM and DCNv2, Wukong's
    dense_embeddings), the top MLP the interaction to a logit; for a DLRM their sum is
    ``model_cost(cfg).params_dense`` (tested). A plugin's layers are its own: none are reported.
    """
    if not hasattr(cfg, "interaction_width"):
        return {}
    def count(widths: list[int]) -> int:
        return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))

    bottom_out = getattr(cfg, "dense_embeddings", 1) * cfg.embedding_dim
    return {"params_bottom_mlp": count([cfg.n_dense, *cfg.bottom_mlp, bottom_out]),
            "params_top_mlp": count([cfg.interaction_width, *cfg.top_mlp, 1])}


def eval_rows_floor(ds: Dataset, eval_rows: int | None) -> dict[str, Any]:
    """NE of the true probabilities on the eval rows a study uses (the first ``eval_rows``, as the trainer).

    This, not the population Bayes NE, is the floor of the NEs measured on those rows. Its standard
    error is the delta-method SE of a ratio of means, NE = mean(ℓ) / H(mean(y)) with ℓ the per-row
    log loss of the true probabilities: the spread of an NE measured on this many rows around its
    population value, so a difference between two NEs on other rows smaller than ~2 SE is noise.
    """
    from recscale.metrics import binary_entropy, normalized_entropy

    ev = ds.split("eval")
    n = ev.rows if eval_rows is None else min(eval_rows, ev.rows)
    y = np.asarray(ev.labels[:n], dtype=np.float64)
    p = np.clip(np.asarray(ev.prob[:n], dtype=np.float64), 1e-15, 1 - 1e-15)
    ne = normalized_entropy(y, p)
    loss = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    ctr = float(y.mean())
    h = float(binary_entropy(ctr))
    grad = np.array([1.0 / h, -float(loss.mean()) * math.log((1 - ctr) / ctr) / h**2])
    cov = np.cov(np.stack([loss, y])) / n
    return {"ne": float(ne), "se": float(math.sqrt(grad @ cov @ grad)), "rows": int(n), "ctr": ctr,
            "method": "NE of the shards' prob on the first eval_rows eval rows; SE by the delta method"}


def run_study(spec: StudySpec, db: str | Path, opts: RunOptions = RunOptions()) -> RunSummary:
    """Run (or resume) ``spec`` into the ledger ``db``; returns what ran.

    The driver holds ``<db>.lock`` while it runs (:mod:`recscale.study.lock`): a second driver on
    the same ledger refuses at once naming the holder, or waits with ``opts.wait``.
    """
    t0 = time.perf_counter()
    db = Path(db)
    ds_path = dataset_path(spec, db)
    ds = _open_dataset_if_any(spec, ds_path)
    if ds is not None:  # a plugin that does not build or train on this schema: say so before anything is written
        check_plugins(spec, ds.n_dense, ds.cardinalities)
    if opts.executor == "ray":  # the device is checked against the cluster's GPUs, not the driver's
        from recscale.study.ray_executor import check_ray_run

        check_ray_run(opts.device, opts.precision)  # Ray missing, cuda:N: say so before anything is written
        device = opts.device
    else:
        device = resolve_device(opts.device)
        check_precision(opts.precision, device)
    with hold(lock_path(db), what=f"ledger {db}", wait=opts.wait, on_wait=_say_waiting(opts, f"ledger {db}"),
              hint="; wait for it to finish, or rerun with --wait"):
        grid = _check_ledger(spec, db, opts.new, opts.precision)  # under the lock: no driver is changing it
        check_plan(spec, opts.plan, study_grid(spec, grid))
        # ---- nothing but the lock file has been written before this line ----------------------
        try:
            if opts.new:
                _remove_ledger(db)
            if ds is None:
                ds = _synthetic_dataset(spec, ds_path, opts)
            return _drive(spec, db, ds, ds_path, device, opts, t0)
        except (OSError, sqlite3.OperationalError) as e:
            if not is_disk_full(e):
                raise
            raise _disk_full(db, getattr(e, "filename", None) or (db if isinstance(e, sqlite3.OperationalError) else None)) from None


class _NoSpace(OSError):
    """A trial's worker ran out of disk space (its snapshot): stops the study like the driver's own."""

    def __init__(self, where: str):
        super().__init__(errno.ENOSPC, os.strerror(errno.ENOSPC), where)


def is_disk_full(e: BaseException) -> bool:
    """Whether ``e`` is a full disk: ENOSPC, or SQLite's "database or disk is full"."""
    if isinstance(e, _NoSpace):
        return True
    if isinstance(e, OSError):
        return e.errno == errno.ENOSPC
    return isinstance(e, sqlite3.OperationalError) and "disk is full" in str(e)


def _disk_full(db: Path, what: Any) -> RecscaleError:
    """One line for a full disk, after removing temp files and checkpointing the ledger's WAL if it can."""
    for folder in (snapshot_dir(db), state_dir(db)):
        for tmp in folder.rglob(".*.tmp") if folder.is_dir() else ():
            tmp.unlink(missing_ok=True)
    done, wal_note = "no", ""
    if db.is_file():
        try:
            conn = sqlite3.connect(db, timeout=5)
            try:
                done = str(conn.execute("SELECT COUNT(*) FROM trials WHERE status = 'done'").fetchone()[0])
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                conn.close()
            if busy:
                raise sqlite3.OperationalError("checkpoint blocked")
        except sqlite3.Error:
            pass
        wal = Path(f"{db}-wal")
        if wal.is_file() and wal.stat().st_size > 0:  # the checkpoint needed room too: say where the results are
            wal_note = f" (some are still in {wal}: copy it with the .db, or let the rerun fold it in)"
    where = what if what is not None else db
    return RecscaleError(
        f"no space left on device writing {where}; {done} finished trials are safe in the ledger {db}{wal_note}; "
        "free space and rerun the same command to resume"
    )


def dataset_lock_path(ds_path: Path) -> Path:
    """The lock a driver holds while it generates the synthetic dataset ``ds_path``."""
    return ds_path.parent / f".{ds_path.name}.lock"


def _say_waiting(opts: RunOptions, what: str):
    def say(holder: str) -> None:
        if opts.progress:
            print(f"waiting for {what}, in use by {holder}", file=sys.stderr)

    return say


def _synthetic_dataset(spec: StudySpec, ds_path: Path, opts: RunOptions) -> Dataset:
    """The study's synthetic dataset, generated unless cached; another driver generating it (a
    study with another ledger in the same folder) is waited for, not taken for an ``--out`` clash."""
    # Hidden, like the writer's .NAME.tmp-* folders, so that nothing else matches synthetic-*.
    with hold(dataset_lock_path(ds_path), what=f"synthetic dataset {ds_path}", wait=True,
              on_wait=_say_waiting(opts, f"synthetic dataset {ds_path} being generated")):
        if (ds_path / "meta.json").exists():
            ds = Dataset(ds_path)
        else:
            from recscale.data.synthetic import generate

            s = spec.data.synthetic
            ds = generate(s.world, ds_path, rows=s.rows, eval_rows=s.eval_rows, seed=s.seed, progress=opts.progress)
    check_dataset(spec, ds)
    return ds


def _record_spec(spec: StudySpec, led: Ledger, ds: Dataset, ds_path: Path, opts: RunOptions, grid: list[int]) -> None:
    """Write the spec into the ledger's meta: all of it for a new ledger; for a grown one the latest
    spec (spec, spec_hash, spec_toml, spec_name), the grid, and one more ``spec_history`` entry."""
    toml = Path(spec.source).read_text() if spec.source and Path(spec.source).is_file() else None
    entry = {"spec_hash": spec.hash(), "spec": spec.to_dict(), "spec_toml": toml, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    latest = {"spec_hash": spec.hash(), "spec": spec.to_dict(), "spec_name": spec.name, "spec_toml": toml, "checkpoints": grid}
    if led.get_meta("spec_hash") is None:
        led.set_meta(latest | {
            "precision": opts.precision, "spec_history": [entry],
            "dataset": str(ds_path.resolve()), "dataset_meta": {k: v for k, v in ds.meta.items() if k != "world"} | {"world": ds.meta.get("world")},
            "created_at": entry["at"], "versions": _versions(), "machine": _machine(),
        })  # fmt: skip
    elif led.get_meta("spec_hash") != spec.hash() or led.get_meta("checkpoints") != grid:
        history = spec_history(led)
        led.set_meta(latest | {"spec_history": history + [entry] if not history or history[-1].get("spec_hash") != spec.hash() else history})


def _drive(spec: StudySpec, db: Path, ds: Dataset, ds_path: Path, device: str, opts: RunOptions, t0: float) -> RunSummary:
    """Register the trials, run the pending and extended ones and commit each result as it arrives (lock held)."""
    rows = trial_rows(spec, ds.meta)
    with Ledger(db) as led:
        grid = study_grid(spec, led.get_meta("checkpoints") or [])
        _record_spec(spec, led, ds, ds_path, opts, grid)
        led.add_trials(rows)  # new trials, and new memberships of existing ones; existing rows untouched
        if "world" in ds.meta and (missing := sorted(set(grid) - led.reference_samples())):
            from recscale.study.reference import reference_rows

            led.set_reference(reference_rows(ds, missing, spec.train.eval_rows))  # oracle at D: rows before D only
        if "world" in ds.meta and led.eval_floor() is None and ds.split("eval").prob is not None:
            led.set_eval_floor(eval_rows_floor(ds, spec.train.eval_rows))
        if opts.decision is not None:
            led.record_decision(int(opts.decision["step"]), opts.decision)
        work = pending_work(spec, grid, led.samples_done(), opts.plan)
        threads = spec.train.threads
        workers = opts.workers or opts.trials_per_device or default_trials_per_device(device, threads)
        workers = max(1, min(workers, len(work) or 1))
        kind = opts.executor or ("inline" if workers == 1 else "process")
        train_cfgs = {a: replace(spec.train_for(a), device=device, precision=opts.precision, compile=opts.compile)
                      for a in spec.architectures}  # [train] with each architecture's [train.<architecture>]
        hashes = {a: spec.numbers_hash(a) for a in spec.architectures}
        trials = {t.trial_id: t for t in spec.trials()}
        by_id = {r.trial_id: r for r in rows}
        tasks = []
        for w in work:
            r, h = by_id[w.trial_id], hashes[by_id[w.trial_id].architecture]
            tasks.append(TrialTask(
                r.trial_id, trials[r.trial_id].model.config(ds.n_dense, ds.cardinalities), train_cfgs[r.architecture],
                str(ds_path.resolve()), tuple(w.checkpoints), r.seed,
                # keyed by the numbers hash: a snapshot or state never outlives what its numbers depend on
                str((snapshot_dir(db) / h[:16] / f"{r.trial_id}.pt").resolve()), opts.snapshot_every_s, h,
                state=str(state_path(db, h, r.trial_id).resolve()), start_samples=w.start, keep_state=opts.keep_state,
            ))  # fmt: skip
        starts = {w.trial_id: w.start for w in work}
        failed: list[str] = []
        counts = {"new": 0, "extended": 0}
        if kind == "ray":  # Ray schedules by declared resources; --workers only caps trials in flight
            executor = make_executor(kind, opts.workers, address=opts.ray_address, trials_per_device=opts.trials_per_device)
        else:
            executor = make_executor(kind, workers)
        # A plan (a goal's step) runs some of the trials only part of the way: count its runs, not the grid's trials.
        done, total, noun = (0, len(tasks), "runs of this step") if opts.plan is not None else (len(rows) - len(tasks), len(rows), "trials")
        with _Display(opts.progress, tasks, done, total, noun) as display:
            snapshots = {t.trial_id: Path(t.snapshot) for t in tasks if t.snapshot is not None}
            states = {t.trial_id: Path(t.state) for t in tasks if t.state is not None}
            for result in executor.run(tasks, display.update):
                tid = result.trial_id
                for line in result.warnings:
                    display.warn(line)
                if result.no_space:
                    raise _NoSpace(str(snapshots.get(tid, snapshot_dir(db))))
                error = result.error
                if error is None and starts[tid] > 0:  # an extension: the points it shares with the ledger must agree
                    error = _prefix_mismatch(tid, led.trial_points(tid), result.points, starts[tid], result.resumed_samples)
                    if error is not None:
                        display.warn(f"error: {error}")
                        for stale in (states.get(tid), snapshots.get(tid)):  # they hold the disagreeing numbers
                            if stale is not None:
                                stale.unlink(missing_ok=True)
                if error is None:
                    if starts[tid] > 0:
                        led.append_points(tid, result.points, result.wall_s)
                    else:
                        led.record_trial(tid, result.points, result.wall_s)
                    counts["extended" if starts[tid] > 0 else "new"] += 1
                    if not opts.keep_state and tid in states:  # a state from an earlier run no longer matches
                        states[tid].unlink(missing_ok=True)
                    if tid in snapshots:  # committed: only now may its snapshot go
                        snapshots[tid].unlink(missing_ok=True)
                else:  # a failed trial keeps its snapshot: the rerun resumes from it
                    led.record_failure(tid, error)
                    failed.append(tid)
                display.finish(tid, error is None)
        wall = time.perf_counter() - t0
        led.set_meta({"last_run_wall_s": wall, "last_run_workers": workers, "last_run_executor": kind,
                      "last_run_device": device, "last_run_precision": opts.precision})
    return RunSummary(db, len(rows), len(tasks), failed, wall, counts["new"], counts["extended"])


@dataclass(frozen=True)
class Work:
    """One trial to train now: from ``start`` samples (its last committed point; 0 for a new trial)
    through ``checkpoints`` (the study's grid up to its target)."""

    trial_id: str
    start: int
    target: int
    checkpoints: list[int]


def pending_work(spec: StudySpec, grid: list[int], samples_done: dict[str, int], plan: dict[str, int] | None) -> list[Work]:
    """The trials a run trains: each of the plan's (in its order) or else each of the spec's, whose last
    committed point is below its target (the plan's samples, or the spec's stop)."""
    stop = max(spec.checkpoint_samples())
    targets = dict(plan) if plan is not None else {t.trial_id: stop for t in spec.trials()}
    out = []
    for tid, target in targets.items():
        start = samples_done.get(tid, 0)
        if start < target:
            out.append(Work(tid, start, target, [c for c in grid if c <= target]))
    return out


def _prefix_mismatch(trial_id: str, ledger: list[dict[str, Any]], points: list[dict[str, Any]], start: int,
                     resumed: int = 0) -> str | None:  # fmt: skip
    """Why an extension's points up to ``start`` disagree with the ledger's (bitwise NE and log loss), or None."""
    got = {p["samples"]: p for p in points}
    how = "retrained from scratch" if resumed == 0 else f"continued from a saved state at {resumed:,} samples"
    for p in ledger:
        q = got.get(p["samples"])
        if q is None or q["ne"] != p["ne"] or q["logloss"] != p["logloss"]:
            what = "no point" if q is None else f"NE {q['ne']!r}"
            return (f"trial {trial_id}: {how} to extend it past {start:,} samples, it gives {what} at "
                    f"{p['samples']:,} samples where the ledger has NE {p['ne']!r}; nothing was added (the ledger's points "
                    "stand). Not reproducible here (another torch, device or thread count?): keep states, or rerun on the "
                    "machine that trained it")  # fmt: skip
    return None


def make_executor(kind: str, workers: int, **options: Any):
    """The executor called ``kind`` ("inline", "process", "ray"); ``options`` go to Ray's."""
    if kind == "inline":
        return InlineExecutor()
    if kind == "process":
        return ProcessExecutor(workers)
    if kind == "ray":
        from recscale.study.ray_executor import RayExecutor

        return RayExecutor(workers=workers, **options)
    raise RecscaleError(f"--executor must be one of inline, process, ray; got {kind!r}")


def _versions() -> dict[str, str]:
    import numpy

    out = {"recscale": __version__, "python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def _machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()}


class _Display:
    """Live progress: one bar per running trial and an overall bar, each with its ETA."""

    def __init__(self, enabled: bool, tasks: list[TrialTask], done: int, total: int, noun: str = "trials"):
        self.enabled = enabled and bool(tasks)
        self.noun = noun
        self.totals = {t.trial_id: max(t.checkpoints) for t in tasks}
        self.bars: dict[str, Any] = {}
        self.seen: dict[str, int] = {t.trial_id: t.start_samples for t in tasks}  # an extension starts part-way
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("samples"),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            )  # fmt: skip
            self.done, self.total = done, total
            self.overall = self.progress.add_task(self._overall_text(), total=sum(self.totals[k] - self.seen[k] for k in self.totals))

    def _overall_text(self) -> str:
        return f"study: {self.done}/{self.total} {self.noun} finished"

    def __enter__(self) -> "_Display":
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.progress.stop()

    def update(self, trial_id: str, samples: int, total: int) -> None:
        if not self.enabled:
            return
        if trial_id not in self.bars:
            self.bars[trial_id] = self.progress.add_task(f"  {trial_id}", total=total)
        step = max(0, samples - self.seen.get(trial_id, 0))  # a retrained extension re-passes its old points
        self.seen[trial_id] = max(samples, self.seen.get(trial_id, 0))
        self.progress.update(self.bars[trial_id], completed=samples)
        self.progress.advance(self.overall, step)

    def warn(self, line: str) -> None:
        """A one-line warning: always shown, above the bars when they are live."""
        if self.enabled:
            self.progress.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=sys.stderr)

    def finish(self, trial_id: str, ok: bool) -> None:
        if not self.enabled:
            return
        rest = self.totals.get(trial_id, 0) - self.seen.get(trial_id, 0)
        self.done += 1
        self.progress.update(self.overall, advance=rest, description=self._overall_text())
        if trial_id in self.bars:
            self.progress.remove_task(self.bars.pop(trial_id))
        if not ok:
            self.progress.console.print(f"[red]trial {trial_id} failed[/red]")
