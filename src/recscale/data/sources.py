"""What every source hands the driver: its inputs, parsed blocks of records, and the thread pool's order.

A source (Criteo TSV, TorchRec arrays, a table, MovieLens) only parses; :func:`run_ingest
<recscale.data.ingest.run_ingest>` does ids, split, report and writing. Parsing runs on a thread
pool (pyarrow and numpy release the GIL); :func:`ordered_map` keeps results in input order with
bounded memory, so the output never depends on the number of workers.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from recscale.data.badlines import Problem
from recscale.errors import DataError


def transform_dense(values: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """Missing, NaN and negative values become 0, then log(1 + x) as float32 (see module docstring)."""
    x = np.array(values, dtype=np.float64)
    bad = ~(x > 0)  # negative, zero or NaN
    if missing is not None:
        bad |= missing
    x[bad] = 0.0
    return np.log1p(x).astype(np.float32)



@dataclass
class Block:
    """Records parsed from one piece of one input, before ids and split.

    Attributes:
        records: Record numbers (1-based line or row) of the valid records, [n] int64.
        labels: [n] float32 0/1.
        dense: [n, n_dense] float32, already transformed (:func:`transform_dense`).
        keys: [n, n_sparse] uint64 categorical keys; meaningless where ``missing``.
        missing: [n, n_sparse] bool.
        problems: Bad records of this piece, in input order.
        n_records: Records read, bad ones included.
        dense_missing, dense_negative, sparse_missing: Per-feature counts over the valid records,
            or None where the source cannot know (TorchRec arrays store missing as 0).
        unlisted: Further bad records by kind, counted but not listed in ``problems`` (vectorised
            sources list only the first few of each kind per block, so a wholly bad input stays cheap).
        notes: Records read with a remark, not skipped, by kind (keys of
            :data:`~recscale.data.badlines.NOTES`), e.g. Criteo lines with trailing fields missing.
    """

    records: np.ndarray
    labels: np.ndarray
    dense: np.ndarray
    keys: np.ndarray
    missing: np.ndarray
    problems: list[Problem]
    n_records: int
    dense_missing: np.ndarray | None
    dense_negative: np.ndarray | None
    sparse_missing: np.ndarray | None
    unlisted: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def empty(cls, n_dense: int, n_sparse: int, problems: list[Problem], n_records: int = 0) -> "Block":
        """A block with no valid record (only problems)."""
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.float32),
            np.zeros((0, n_dense), np.float32),
            np.zeros((0, n_sparse), np.uint64),
            np.zeros((0, n_sparse), bool),
            problems,
            n_records,
            np.zeros(n_dense, np.int64),
            np.zeros(n_dense, np.int64),
            np.zeros(n_sparse, np.int64),
        )

    @classmethod
    def concat(cls, blocks: list["Block"]) -> "Block":
        """Blocks of consecutive pieces joined in order."""
        if len(blocks) == 1:
            return blocks[0]

        def total(name: str) -> np.ndarray | None:
            parts = [getattr(b, name) for b in blocks]
            return None if any(p is None for p in parts) else np.sum(parts, axis=0)

        return cls(
            np.concatenate([b.records for b in blocks]),
            np.concatenate([b.labels for b in blocks]),
            np.concatenate([b.dense for b in blocks]),
            np.concatenate([b.keys for b in blocks]),
            np.concatenate([b.missing for b in blocks]),
            [p for b in blocks for p in b.problems],
            sum(b.n_records for b in blocks),
            total("dense_missing"),
            total("dense_negative"),
            total("sparse_missing"),
            _merge_counts([b.unlisted for b in blocks]),
            _merge_counts([b.notes for b in blocks]),
        )


def _merge_counts(counts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in counts:
        for k, n in c.items():
            out[k] = out.get(k, 0) + n
    return out


@dataclass(frozen=True)
class InputFile:
    """One input of an ingest: its path, the name used in messages, and its position."""

    path: Path
    name: str
    index: int


class Source(Protocol):
    """A parser of one kind of input; the driver (:func:`run_ingest`) does everything else."""

    kind: str
    dense_names: list[str]
    sparse_names: list[str]
    files: list[InputFile]

    def blocks(self, file: InputFile, finish: Callable[[Block], Any], pool: Executor | None, in_flight: int) -> Iterator[Any]:
        """Parse ``file`` and yield ``finish(block)`` for each piece, in input order.

        ``finish`` may run in a worker thread; sources raise DataError for an empty input.
        """
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-ready provenance for meta.json (kind, inputs, conventions specific to the source)."""
        ...


def ordered_map(pool: Executor | None, fn: Callable[[Any], Any], items: Iterable[Any], in_flight: int) -> Iterator[Any]:
    """``map(fn, items)`` on ``pool`` with at most ``in_flight`` items outstanding, results in order.

    Bounded memory whatever the input size: the producer (``items``) is only advanced when a slot is
    free. Outstanding work is cancelled if the consumer stops early (an error, or --strict).
    """
    if pool is None:
        yield from map(fn, items)
        return
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()



def resolve_inputs(paths: list[str | os.PathLike], what: str = "input") -> list[InputFile]:
    """Check that every input exists and is a non-empty file; DataError naming the first that is not."""
    if not paths:
        raise DataError(f"no {what} given")
    files = []
    for i, p in enumerate(paths):
        path = Path(p)
        if not path.exists():
            raise DataError(f"{path}: no such file")
        if not path.is_file():
            raise DataError(f"{path}: not a file")
        if path.stat().st_size == 0:
            raise DataError(f"{path}: empty input (0 bytes)")
        files.append(InputFile(path, str(p), i))
    return files

