"""Where trials run: inline, in a local process pool, (or on Ray, see ray_executor.py).

Every executor runs the same pure function, :func:`run_trial`: a :class:`TrialTask` in, a
:class:`TrialResult` out. Executors never touch the ledger; the driver writes results as they come
back, so a lost worker or a killed driver can never leave a half-written trial.

Progress: a trial reports ``(trial_id, samples_done, samples_total)`` events through an optional
queue; executors forward them to the driver's ``on_progress`` callback.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import queue as queue_mod
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recscale.model.config import DLRMConfig
from recscale.train.config import TrainConfig

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrialTask:
    """Everything a worker needs to train one trial (picklable, no open files)."""

    trial_id: str
    model: DLRMConfig
    train: TrainConfig
    dataset: str
    checkpoints: tuple[int, ...]
    seed: int
    snapshot: str | None = None  # training-state file: resume from it if present, delete when done
    snapshot_every_s: float = 60.0


@dataclass(frozen=True)
class TrialResult:
    """Evaluations of a finished trial, or the error that stopped it."""

    trial_id: str
    points: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    error: str | None = None


def run_trial(task: TrialTask, progress: Any = None) -> TrialResult:
    """Train one trial and return its evaluations; exceptions become ``TrialResult.error``.

    Args:
        task: The trial.
        progress: Anything with ``put((trial_id, done, total))`` (a queue), or None.
    """
    t0 = time.perf_counter()
    try:
        from recscale.data.shards import Dataset
        from recscale.train.trainer import Trainer

        trainer = Trainer(task.model, task.train, Dataset(task.dataset), task.seed)
        total = max(task.checkpoints)

        def on_eval(point) -> None:
            if progress is not None:
                progress.put((task.trial_id, point.samples, total))

        points = trainer.run(task.checkpoints, on_eval=on_eval, snapshot=task.snapshot, snapshot_every_s=task.snapshot_every_s)
        if task.snapshot is not None:  # finished: the driver commits the points; a rerun starts clean
            Path(task.snapshot).unlink(missing_ok=True)
        return TrialResult(task.trial_id, [p.to_dict() for p in points], time.perf_counter() - t0)
    except Exception:  # noqa: BLE001 - reported to the driver, which records the trial as failed
        return TrialResult(task.trial_id, wall_s=time.perf_counter() - t0, error=traceback.format_exc(limit=6))


class _CallbackQueue:
    def __init__(self, fn: ProgressFn | None):
        self.fn = fn

    def put(self, item: tuple[str, int, int]) -> None:
        if self.fn is not None:
            self.fn(*item)


class InlineExecutor:
    """Runs trials one after another in this process (debugging, tests, one core)."""

    name = "inline"

    def run(self, tasks: Sequence[TrialTask], on_progress: ProgressFn | None = None) -> Iterator[TrialResult]:
        q = _CallbackQueue(on_progress)
        for task in tasks:
            yield run_trial(task, q)


def _init_worker() -> None:
    # A worker trains with the trial's own thread count; keep BLAS pools from oversubscribing too.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


class ProcessExecutor:
    """Runs trials in ``workers`` local processes (spawned, so each starts clean of torch state).

    With one thread per trial (the default), two 1-thread processes on a 2-core machine train about
    1.7× faster than one 2-thread process: small DLRMs do not parallelise well inside one step.
    """

    name = "process"

    def __init__(self, workers: int):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers

    def run(self, tasks: Sequence[TrialTask], on_progress: ProgressFn | None = None) -> Iterator[TrialResult]:
        ctx = mp.get_context("spawn")
        with ctx.Manager() as manager:
            q = manager.Queue()
            with cf.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker) as pool:
                pending = {pool.submit(run_trial, t, q): t for t in tasks}
                try:
                    while pending:
                        done, _ = cf.wait(pending, timeout=0.25, return_when=cf.FIRST_COMPLETED)
                        _drain(q, on_progress)
                        for fut in done:
                            task = pending.pop(fut)
                            try:
                                yield fut.result()
                            except cf.process.BrokenProcessPool as e:
                                yield TrialResult(task.trial_id, error=f"worker process died: {e}")
                finally:
                    for fut in pending:
                        fut.cancel()
                _drain(q, on_progress)


def _drain(q: Any, on_progress: ProgressFn | None) -> None:
    while True:
        try:
            item = q.get_nowait()
        except (queue_mod.Empty, EOFError, OSError):
            return
        if on_progress is not None:
            on_progress(*item)


def make_executor(kind: str, workers: int, **options: Any):
    """The executor called ``kind`` ("inline", "process", "ray")."""
    if kind == "inline":
        return InlineExecutor()
    if kind == "process":
        return ProcessExecutor(workers)
    if kind == "ray":
        from recscale.study.ray_executor import RayExecutor

        return RayExecutor(workers=workers, **options)
    from recscale.errors import RecscaleError

    raise RecscaleError(f"--executor must be one of inline, process, ray; got {kind!r}")
