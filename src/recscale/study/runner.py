"""The study driver: spec → dataset → ledger → executor → ledger.

Order matters for "nothing written on bad input": everything that can be checked (the spec, the
dataset, the checkpoints against it, the ledger's spec hash) is checked before the first byte is
written. Then the synthetic dataset is generated if it is not cached, trials are registered, and
the pending ones run; each result is committed as it arrives. Rerunning the same command resumes.
"""

from __future__ import annotations

import errno
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


@dataclass(frozen=True)
class RunSummary:
    db: Path
    trials: int
    ran: int
    failed: list[str]
    wall_s: float


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


def _check_ledger(spec: StudySpec, db: Path, new: bool, precision: str) -> None:
    """Refuse to resume a ledger made from another spec, or trained at another precision."""
    if not db.exists() or new or db.stat().st_size == 0:  # an empty file is a new database to SQLite too
        return
    try:  # read-only: a database that is not a ledger is refused with its bytes unchanged
        with open_existing(db) as led:
            old, old_precision = led.get_meta("spec_hash"), led.get_meta("precision")
    except RecscaleError as e:
        raise RecscaleError(f"{e}; or choose another --db") from None
    if old is not None and old != spec.hash():
        raise RecscaleError(
            f"{db} was created from a different spec (the spec changed since); "
            "pass --new to discard its results and start over, or use another --db"
        )
    if old_precision is not None and old_precision != precision:
        raise RecscaleError(
            f"{db} was trained with --precision {old_precision}, not {precision}: one ledger holds one precision; "
            f"resume with --precision {old_precision}, or pass --new to start over"
        )


def snapshot_dir(db: Path) -> Path:
    """Where running trials keep their training state (one file per trial, deleted when done)."""
    return db.parent / f"{db.name}.snapshots"


def _remove_ledger(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(db) + suffix)
        if p.exists():
            p.unlink()
    shutil.rmtree(snapshot_dir(db), ignore_errors=True)


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
        _check_ledger(spec, db, opts.new, opts.precision)  # under the lock: no driver is changing it
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
    for tmp in snapshot_dir(db).rglob(".*.tmp") if snapshot_dir(db).is_dir() else ():
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


def _drive(spec: StudySpec, db: Path, ds: Dataset, ds_path: Path, device: str, opts: RunOptions, t0: float) -> RunSummary:
    """Register the trials, run the pending ones and commit each result as it arrives (lock held)."""
    checkpoints = spec.checkpoint_samples()
    rows = trial_rows(spec, ds.meta)
    with Ledger(db) as led:
        if led.get_meta("spec_hash") is None:
            led.set_meta({
                "spec_hash": spec.hash(), "spec": spec.to_dict(), "spec_name": spec.name, "precision": opts.precision,
                "spec_toml": Path(spec.source).read_text() if spec.source and Path(spec.source).is_file() else None,
                "dataset": str(ds_path.resolve()), "dataset_meta": {k: v for k, v in ds.meta.items() if k != "world"} | {"world": ds.meta.get("world")},
                "checkpoints": checkpoints, "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "versions": _versions(), "machine": _machine(),
            })  # fmt: skip
        led.add_trials(rows)
        if "world" in ds.meta and not led.has_reference():
            from recscale.study.reference import reference_rows

            led.set_reference(reference_rows(ds, checkpoints, spec.train.eval_rows))
        if "world" in ds.meta and led.eval_floor() is None and ds.split("eval").prob is not None:
            led.set_eval_floor(eval_rows_floor(ds, spec.train.eval_rows))
        done = led.done_ids()
        todo = [r for r in rows if r.trial_id not in done]
        threads = spec.train.threads
        workers = opts.workers or opts.trials_per_device or default_trials_per_device(device, threads)
        workers = max(1, min(workers, len(todo) or 1))
        kind = opts.executor or ("inline" if workers == 1 else "process")
        train_cfgs = {a: replace(spec.train_for(a), device=device, precision=opts.precision, compile=opts.compile)
                      for a in spec.architectures}  # [train] with each architecture's [train.<architecture>]
        trials = {t.trial_id: t for t in spec.trials()}
        tasks = [
            TrialTask(r.trial_id, trials[r.trial_id].model.config(ds.n_dense, ds.cardinalities), train_cfgs[r.architecture],
                      str(ds_path.resolve()), tuple(checkpoints), r.seed,
                      # keyed by the spec hash: a snapshot never outlives the spec it was trained under
                      str((snapshot_dir(db) / spec.hash()[:16] / f"{r.trial_id}.pt").resolve()), opts.snapshot_every_s,
                      spec.hash())
            for r in todo
        ]  # fmt: skip
        failed: list[str] = []
        if kind == "ray":  # Ray schedules by declared resources; --workers only caps trials in flight
            executor = make_executor(kind, opts.workers, address=opts.ray_address, trials_per_device=opts.trials_per_device)
        else:
            executor = make_executor(kind, workers)
        with _Display(opts.progress, tasks, len(rows) - len(todo), len(rows)) as display:
            snapshots = {t.trial_id: Path(t.snapshot) for t in tasks if t.snapshot is not None}
            for result in executor.run(tasks, display.update):
                for line in result.warnings:
                    display.warn(line)
                if result.no_space:
                    raise _NoSpace(str(snapshots.get(result.trial_id, snapshot_dir(db))))
                if result.error is None:
                    led.record_trial(result.trial_id, result.points, result.wall_s)
                    if result.trial_id in snapshots:  # committed: only now may its snapshot go
                        snapshots[result.trial_id].unlink(missing_ok=True)
                else:
                    led.record_failure(result.trial_id, result.error)
                    failed.append(result.trial_id)
                display.finish(result.trial_id, result.error is None)
        wall = time.perf_counter() - t0
        led.set_meta({"last_run_wall_s": wall, "last_run_workers": workers, "last_run_executor": kind,
                      "last_run_device": device, "last_run_precision": opts.precision})
    return RunSummary(db, len(rows), len(todo), failed, wall)


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

    def __init__(self, enabled: bool, tasks: list[TrialTask], done: int, total: int):
        self.enabled = enabled and bool(tasks)
        self.totals = {t.trial_id: max(t.checkpoints) for t in tasks}
        self.bars: dict[str, Any] = {}
        self.seen: dict[str, int] = {}
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("samples"),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            )  # fmt: skip
            self.done, self.total = done, total
            self.overall = self.progress.add_task(self._overall_text(), total=sum(self.totals.values()))

    def _overall_text(self) -> str:
        return f"study: {self.done}/{self.total} trials finished"

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
        step = samples - self.seen.get(trial_id, 0)
        self.seen[trial_id] = samples
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
