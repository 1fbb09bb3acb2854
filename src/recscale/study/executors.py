"""Where trials run locally: inline, or in a process pool (Ray: see ray_executor.py).

Every executor runs the same pure function, :func:`recscale.study.trial.run_trial`: a
:class:`~recscale.study.trial.TrialTask` in, a :class:`~recscale.study.trial.TrialResult` out.
Executors never touch the ledger; the driver writes results as they come back, so a lost worker
or a killed driver can never leave a half-written trial.

A killed driver takes its workers with it: every process the pool starts (the workers and the
manager behind the progress queue) watches its parent and exits when the parent is gone (see
:func:`exit_with_parent`), on Linux and macOS alike.

Progress: a trial reports ``(trial_id, samples_done, samples_total)`` events through an optional
queue; executors forward them to the driver's ``on_progress`` callback.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import queue as queue_mod
import threading
import time
from collections.abc import Iterator, Sequence
from multiprocessing.managers import SyncManager
from typing import Any

from recscale.study.trial import ProgressFn, TrialResult, TrialTask, run_trial

PARENT_POLL_S = 0.5  # how often a worker checks that its driver is still alive


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


def exit_with_parent(parent: int, poll_s: float = PARENT_POLL_S) -> None:
    """Exit this process (``os._exit``) soon after its parent, process ``parent``, dies.

    A daemon thread polls ``os.getppid()``: when the parent dies the kernel re-parents the process
    (to init or a subreaper), so the parent pid changes. The driver passes its own pid, so a driver
    that dies before the worker starts is noticed too. Portable where ``prctl(PR_SET_PDEATHSIG)``
    is not (macOS), and it costs one wake-up per ``poll_s``.
    """
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="recscale-exit-with-parent", daemon=True).start()


def _init_worker(driver: int) -> None:
    exit_with_parent(driver)
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
        manager = SyncManager(ctx=ctx)
        manager.start(initializer=exit_with_parent, initargs=(os.getpid(),))
        with manager:
            q = manager.Queue()
            pool = cf.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(),))
            with pool:
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
