"""Independent report steps (figures, joint laws) in forked worker processes, in order, same results.

A report on a 2-core laptop spends most of its time in steps that do not depend on each other. Where
processes can be forked (Linux), :func:`fork_map` runs them in up to ``workers`` children that inherit
the inputs (nothing is pickled on the way in; each result is pickled back); elsewhere, or with one
worker, it runs them one after another. Either way the results are the same and in input order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

MAX_WORKERS = 4
_JOB: tuple[Callable[[Any], Any], Sequence[Any]] | None = None  # what forked children read


def default_workers() -> int:
    """The CPUs this process may use, at most :data:`MAX_WORKERS`."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, n))


def fork_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: int | None = None,
             on_start: Callable[[int], None] | None = None) -> list[Any]:
    """``[fn(x) for x in items]``, in forked processes where possible.

    Args:
        workers: Processes at most (None: :func:`default_workers`); 1 runs here, in order.
        on_start: Called with each item's index as its result is awaited (serially: before it runs),
            for progress messages.
    """
    return fork_start(fn, items, workers).results(on_start)


class Pending:
    """Work started by :func:`fork_start`: its results, in order, when asked for."""

    def __init__(self, fn: Callable[[Any], Any], items: Sequence[Any], pool: ProcessPoolExecutor | None, futures: list):
        self._fn, self._items, self._pool, self._futures = fn, items, pool, futures

    def __del__(self) -> None:  # abandoned (the caller raised first): stop what has not started
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def results(self, on_start: Callable[[int], None] | None = None) -> list[Any]:
        """Wait for every result (serially: compute them now), calling ``on_start(i)`` before each."""
        out = []
        try:
            for i, x in enumerate(self._items):
                if on_start is not None:
                    on_start(i)
                out.append(self._fn(x) if self._pool is None else self._futures[i].result())
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None
        return out


def fork_start(fn: Callable[[Any], Any], items: Sequence[Any], workers: int | None = None) -> Pending:
    """Start ``fn`` on every item in forked workers now (so this process can do other work meanwhile);
    with one worker, or where fork does not exist, nothing starts until :meth:`Pending.results`."""
    global _JOB
    n = min(default_workers() if workers is None else workers, len(items))
    if n <= 1 or "fork" not in mp.get_all_start_methods():
        return Pending(fn, items, None, [])
    _JOB = (fn, items)
    try:  # with fork, every worker is forked at the first submit, so each holds _JOB from here on
        pool = ProcessPoolExecutor(n, mp_context=mp.get_context("fork"))
        futures = [pool.submit(_run, i) for i in range(len(items))]
    finally:
        _JOB = None
    return Pending(fn, items, pool, futures)


def _run(i: int) -> Any:
    fn, items = _JOB
    return fn(items[i])
