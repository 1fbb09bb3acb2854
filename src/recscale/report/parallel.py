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
    global _JOB
    n = min(default_workers() if workers is None else workers, len(items))
    if n <= 1 or "fork" not in mp.get_all_start_methods():
        out = []
        for i, x in enumerate(items):
            if on_start is not None:
                on_start(i)
            out.append(fn(x))
        return out
    _JOB = (fn, items)
    try:
        with ProcessPoolExecutor(n, mp_context=mp.get_context("fork")) as pool:
            futures = [pool.submit(_run, i) for i in range(len(items))]
            out = []
            for i, fut in enumerate(futures):
                if on_start is not None:
                    on_start(i)
                out.append(fut.result())
            return out
    finally:
        _JOB = None


def _run(i: int) -> Any:
    fn, items = _JOB
    return fn(items[i])
