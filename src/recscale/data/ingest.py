"""What every real-data source shares once its lines are parsed: transforms, ids, split, bad-line report.

Sources (Criteo TSV in :mod:`recscale.data.criteo`, TorchRec arrays, tables in
:mod:`recscale.data.tabular`, MovieLens in :mod:`recscale.data.movielens`) differ only in how they
parse. Everything after parsing lives here, once, so the same values give the same shards whichever
file they came from, and a test of one source tests the others' transforms too.

Conventions (every source follows them; ``meta.json`` records them with the options used):

Dense features
    A missing value and a negative count both become 0 (the DLRM reference clamps negatives the same
    way: Criteo's I2 has a few), then ``log(1 + x)``, computed in float64 and stored as float32.
    NaN counts as missing. Infinite values are bad input.

Categorical keys
    Each present categorical value becomes an unsigned 64-bit *key*: the 32-bit integer of a Criteo
    hex field, or for tables the FNV-1a 64-bit hash of the value's UTF-8 text (so a CSV's ``196`` and
    a Parquet integer 196 are the same key). An empty or null value is *missing*.

Embedding ids (id 0 is reserved in every mode: it means missing, and in vocabulary mode also rare)
    hash mode (``--hash-size H``, the default with H = 1,000,000)
        ``id = 1 + splitmix64(key) mod (H - 1)``, cardinality H. ``splitmix64`` is the first output
        of Steele, Lea and Flood's SplitMix64 generator seeded with the key: a fixed bijection of
        64-bit integers, so ids never depend on Python's hash seed, the platform or the version, and
        distinct keys share an id only through the modulo.
    vocabulary mode (``--min-count M``, the DLRM reference's and TorchRec's frequency threshold)
        Two passes. Keys seen at least M times in *training* rows get ids 1..V, most frequent first
        (ties by ascending key, so the order is deterministic); every other key, and missing, is 0.
        Cardinality V + 1. With ``--hash-size`` too, keys are first hashed to buckets 1..H-1 as above
        and the buckets are counted, which bounds the vocabulary's memory (the DLRM reference's
        ``--max-ind-range``); otherwise the counts take about 16 bytes per distinct key.

Train/eval split
    ``--eval-files K``: the last K inputs are the eval split (the Terabyte convention: day 23).
    ``--eval-fraction F`` (default 0.1): each record goes to eval with probability F, decided by
    ``splitmix64(splitmix64(seed) ^ (file_index << 40 | record_number))``, so a record's split
    depends only on the seed, its file's position and its line number, never on chunking or on
    other lines being bad. Training rows keep file order (the training stream).

Bad input
    Every malformed record is counted by kind (see :data:`KINDS`) and the first few of each kind
    are kept with file, line and field. By default bad records are skipped and reported; with
    ``strict`` the first one raises :class:`~recscale.errors.DataError`. An empty input, or one with
    no valid record, is always an error. Writes go through :class:`~recscale.data.shards.DatasetWriter`,
    so a failed or interrupted ingest leaves no dataset behind.
"""

from __future__ import annotations

import io
import os
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from recscale.data.shards import Dataset, DatasetWriter
from recscale.errors import DataError

DEFAULT_HASH_SIZE = 1_000_000
DEFAULT_EVAL_FRACTION = 0.1
MAX_EXAMPLES = 5  # examples kept per kind of bad record

#: Kinds of bad input, in the order a line is checked, with the phrase used in reports.
KINDS: dict[str, str] = {
    "undecodable": "undecodable bytes",
    "wrong_field_count": "wrong field count",
    "bad_label": "label not 0/1",
    "bad_dense": "bad dense value",
    "bad_hex": "invalid hex",
    "truncated_line": "truncated last line",
    "truncated_gzip": "truncated gzip",
    "corrupt_gzip": "corrupt gzip",
}

_U64 = np.uint64
_GAMMA = _U64(0x9E3779B97F4A7C15)
_M1, _M2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_FNV_OFFSET, _FNV_PRIME = _U64(0xCBF29CE484222325), _U64(0x100000001B3)


# --------------------------------------------------------------------------------------------
# Hashing and transforms


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The first SplitMix64 output for each seed in ``x`` (uint64 in, uint64 out, wrapping arithmetic)."""
    z = np.asarray(x, dtype=_U64) + _GAMMA
    z = (z ^ (z >> _U64(30))) * _M1
    z = (z ^ (z >> _U64(27))) * _M2
    return z ^ (z >> _U64(31))


def fnv1a64(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """FNV-1a 64-bit hash of each byte string ``data[offsets[i]:offsets[i+1]]``.

    Vectorised over strings: step j hashes byte j of every string longer than j, so the work is the
    total number of bytes and the Python loop runs once per byte of the longest string.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    starts, lens = offsets[:-1], np.diff(offsets)
    h = np.full(len(lens), _FNV_OFFSET, dtype=_U64)
    active = np.flatnonzero(lens > 0)
    j = 0
    while active.size:
        h[active] = (h[active] ^ data[starts[active] + j].astype(_U64)) * _FNV_PRIME
        j += 1
        active = active[lens[active] > j]
    return h


def clip(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to about ``limit`` characters, so one huge bad field cannot flood a report."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 1] + "…"


def transform_dense(values: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    """Missing, NaN and negative values become 0, then log(1 + x) as float32 (see module docstring)."""
    x = np.array(values, dtype=np.float64)
    bad = ~(x > 0)  # negative, zero or NaN
    if missing is not None:
        bad |= missing
    x[bad] = 0.0
    return np.log1p(x).astype(np.float32)


def hash_buckets(keys: np.ndarray, hash_size: int) -> np.ndarray:
    """Ids 1..hash_size-1 of present keys: ``1 + splitmix64(key) mod (hash_size - 1)``, as uint64."""
    return splitmix64(keys) % _U64(hash_size - 1) + _U64(1)


def eval_mask(file_index: int, records: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Which records go to eval under ``--eval-fraction``; a pure function of (seed, file, record)."""
    if fraction <= 0.0:
        return np.zeros(len(records), dtype=bool)
    salt = splitmix64(np.array([seed], dtype=np.int64).view(_U64))[0]
    key = (np.asarray(records, dtype=np.int64).view(_U64) | _U64(file_index << 40)) ^ salt
    u = (splitmix64(key) >> _U64(11)).astype(np.float64) * 2.0**-53
    return u < fraction


# --------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class IngestOptions:
    """Options shared by every source; the defaults live here and nowhere else.

    Attributes:
        hash_size: Buckets per categorical feature (ids 0..hash_size-1, 0 = missing). Default
            DEFAULT_HASH_SIZE when ``min_count`` is not given, else no hashing.
        min_count: Vocabulary mode: keys seen at least this often in training rows get their own id.
        eval_files: The last ``eval_files`` inputs form the eval split.
        eval_fraction: Fraction of records sent to eval by a seeded per-record hash (default 0.1
            when ``eval_files`` is not given).
        seed: Seed of the ``eval_fraction`` split.
        strict: Stop at the first bad record instead of skipping and reporting it.
        workers: Parsing threads (parsers release the GIL, so threads use several cores).
        chunk_bytes: Bytes of input parsed per task; bounds memory at about 8 times this per worker.
    """

    hash_size: int | None = None
    min_count: int | None = None
    eval_files: int | None = None
    eval_fraction: float | None = None
    seed: int = 0
    strict: bool = False
    workers: int = 2
    chunk_bytes: int = 8 << 20

    def __post_init__(self) -> None:
        problems = []
        if self.hash_size is not None and self.hash_size < 2:
            problems.append(f"--hash-size must be at least 2 (id 0 is reserved for missing), got {self.hash_size}")
        if self.min_count is not None and self.min_count < 1:
            problems.append(f"--min-count must be at least 1, got {self.min_count}")
        if self.eval_files is not None and self.eval_fraction is not None:
            problems.append(
                f"--eval-files {self.eval_files} and --eval-fraction {self.eval_fraction} conflict; choose one"
            )
        if self.eval_files is not None and self.eval_files < 0:
            problems.append(f"--eval-files must be 0 or more, got {self.eval_files}")
        if self.eval_fraction is not None and not 0.0 <= self.eval_fraction < 1.0:
            problems.append(f"--eval-fraction must be in [0, 1), got {self.eval_fraction}")
        if self.workers < 1:
            problems.append(f"--workers must be at least 1, got {self.workers}")
        if self.chunk_bytes < 1024:
            problems.append(f"chunk_bytes must be at least 1024, got {self.chunk_bytes}")
        if problems:
            raise DataError("; ".join(problems))

    @property
    def mode(self) -> str:
        """``"vocab"`` if ``min_count`` is set, else ``"hash"``."""
        return "vocab" if self.min_count is not None else "hash"

    @property
    def resolved_hash_size(self) -> int | None:
        """The hash size in effect (DEFAULT_HASH_SIZE in hash mode when not given)."""
        if self.hash_size is None and self.min_count is None:
            return DEFAULT_HASH_SIZE
        return self.hash_size

    @property
    def resolved_eval_fraction(self) -> float:
        """The eval fraction in effect (0 when splitting by file)."""
        if self.eval_files is not None:
            return 0.0
        return DEFAULT_EVAL_FRACTION if self.eval_fraction is None else self.eval_fraction

    def to_dict(self) -> dict[str, Any]:
        """Every option, resolved, as plain JSON-ready Python (stored in meta.json)."""
        return {
            "categorical": self.mode,
            "hash_size": self.resolved_hash_size,
            "min_count": self.min_count,
            "eval_files": self.eval_files,
            "eval_fraction": self.resolved_eval_fraction,
            "seed": self.seed,
            "strict": self.strict,
            "workers": self.workers,
            "chunk_bytes": self.chunk_bytes,
        }


# --------------------------------------------------------------------------------------------
# Bad-record report


@dataclass(frozen=True)
class Problem:
    """One bad record: where it is (file, line or row) and what is wrong with it."""

    kind: str
    file: str
    line: int
    message: str
    unit: str = "line"  # "line" for text files, "row" for arrays and Parquet

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.unit == "line" else f"{self.file}: row {self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class FileReport:
    """Records read and kept from one input."""

    file: str
    records: int
    valid: int
    split: str  # "train", "eval" or "train+eval"


@dataclass(frozen=True)
class IngestReport:
    """What an ingest read, kept and skipped: counts by kind and the first few examples of each.

    Attributes:
        records: Records (lines or rows) read, bad ones included.
        valid: Records written.
        counts: Bad records by kind (keys of :data:`KINDS`); kinds that did not occur are absent.
        examples: Up to MAX_EXAMPLES ``"file:line: message"`` strings per kind, in input order.
        files: Per-input counts.
    """

    records: int
    valid: int
    counts: dict[str, int]
    examples: dict[str, tuple[str, ...]]
    files: tuple[FileReport, ...]

    @property
    def bad(self) -> int:
        """Records skipped (stream-level problems such as a truncated gzip count once)."""
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready Python (stored in meta.json under ``ingest_report``)."""
        return {
            "records": self.records,
            "valid": self.valid,
            "bad": self.bad,
            "counts": dict(self.counts),
            "examples": {k: list(v) for k, v in self.examples.items()},
            "files": [f.__dict__ for f in self.files],
        }

    def lines(self) -> list[str]:
        """Human-readable summary, one line per kind and example (empty when nothing was bad)."""
        out = []
        for kind, n in self.counts.items():
            out.append(f"{n:,} × {KINDS[kind]} ({kind}), skipped; first:")
            out.extend(f"    {e}" for e in self.examples[kind])
        return out


class _ReportBuilder:
    """Fills an :class:`IngestReport` as records stream by; raises on the first problem if strict."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}
        self.records = 0
        self.valid = 0
        self.files: list[FileReport] = []

    def add(self, problems: Iterable[Problem]) -> None:
        for p in problems:
            if self.strict:
                raise DataError(f"{p} [{p.kind}; --strict stops at the first bad record, without it bad records are skipped and reported]")
            self.counts[p.kind] = self.counts.get(p.kind, 0) + 1
            ex = self.examples.setdefault(p.kind, [])
            if len(ex) < MAX_EXAMPLES:
                ex.append(str(p))

    def add_counts(self, counts: dict[str, int]) -> None:
        """Bad records counted but not listed (see :attr:`Block.unlisted`)."""
        for kind, n in counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n

    def build(self) -> IngestReport:
        order = [k for k in KINDS if k in self.counts]
        return IngestReport(
            records=self.records,
            valid=self.valid,
            counts={k: self.counts[k] for k in order},
            examples={k: tuple(self.examples[k]) for k in order},
            files=tuple(self.files),
        )


# --------------------------------------------------------------------------------------------
# Parsed blocks, sources and the driver


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

    @classmethod
    def empty(cls, n_dense: int, n_sparse: int, problems: list[Problem], n_records: int = 0) -> "Block":
        """A block with no valid record (only problems)."""
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.float32),
            np.zeros((0, n_dense), np.float32),
            np.zeros((0, n_sparse), _U64),
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
            {k: sum(b.unlisted.get(k, 0) for b in blocks) for k in {k for b in blocks for k in b.unlisted}},
        )


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


class VocabCounter:
    """Occurrence counts of the keys of each feature, merged as chunks arrive (vocabulary pass 1)."""

    MERGE_AT = 1 << 21  # pending (key, count) pairs of a feature that trigger a merge

    def __init__(self, n_features: int):
        self._merged = [(np.zeros(0, _U64), np.zeros(0, np.int64)) for _ in range(n_features)]
        self._pending: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(n_features)]
        self._pending_size = [0] * n_features

    @staticmethod
    def unique_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sorted distinct keys and how often each occurs."""
        return np.unique(keys, return_counts=True)

    def add(self, feature: int, uniq: np.ndarray, counts: np.ndarray) -> None:
        self._pending[feature].append((uniq, counts.astype(np.int64)))
        self._pending_size[feature] += len(uniq)
        # Merge when the pending lists outgrow the merged table: amortised O(n log n), bounded memory.
        if self._pending_size[feature] > max(self.MERGE_AT, len(self._merged[feature][0])):
            self._merge(feature)

    def _merge(self, f: int) -> None:
        parts = [self._merged[f], *self._pending[f]]
        k = np.concatenate([p[0] for p in parts])
        c = np.concatenate([p[1] for p in parts])
        self._pending[f], self._pending_size[f] = [], 0
        if not len(k):
            return
        order = np.argsort(k, kind="stable")
        k, c = k[order], c[order]
        starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
        self._merged[f] = (k[starts], np.add.reduceat(c, starts))

    def finalize(self, min_count: int) -> "Vocabulary":
        """Keys seen at least ``min_count`` times get ids 1..V, most frequent first, ties by key."""
        tables, distinct = [], []
        for f in range(len(self._merged)):
            self._merge(f)
            k, c = self._merged[f]
            distinct.append(len(k))
            keep = c >= min_count
            k, c = k[keep], c[keep]
            ids = np.empty(len(k), np.int64)
            ids[np.lexsort((k, -c))] = np.arange(1, len(k) + 1)
            tables.append((k, ids))  # k is sorted ascending, for searchsorted
        return Vocabulary(tables, distinct)


class Vocabulary:
    """Per-feature map from key to id 1..V (0 for everything else); built by :class:`VocabCounter`."""

    def __init__(self, tables: list[tuple[np.ndarray, np.ndarray]], distinct: list[int]):
        self.tables = tables
        self.distinct = distinct

    @property
    def sizes(self) -> list[int]:
        return [len(k) for k, _ in self.tables]

    def lookup(self, feature: int, keys: np.ndarray) -> np.ndarray:
        sorted_keys, ids = self.tables[feature]
        if not len(sorted_keys):
            return np.zeros(len(keys), np.int64)
        pos = np.searchsorted(sorted_keys, keys)
        pos[pos == len(sorted_keys)] = 0
        return np.where(sorted_keys[pos] == keys, ids[pos], 0)


class Encoder:
    """Turns categorical keys into embedding ids (hash or vocabulary mode, see module docstring)."""

    def __init__(self, n_features: int, hash_size: int | None, vocab: Vocabulary | None):
        self.n_features, self.hash_size, self.vocab = n_features, hash_size, vocab

    def prepare(self, keys: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """Keys as counted by the vocabulary: hashed to buckets first when a hash size is set."""
        return hash_buckets(keys, self.hash_size) if self.hash_size is not None else keys

    def encode(self, keys: np.ndarray, missing: np.ndarray) -> np.ndarray:
        """[n, F] ids, int64; 0 wherever ``missing``."""
        k = self.prepare(keys, missing)
        if self.vocab is None:
            ids = k.astype(np.int64)
        else:
            ids = np.empty(k.shape, np.int64)
            for f in range(self.n_features):
                ids[:, f] = self.vocab.lookup(f, k[:, f])
        ids[missing] = 0
        return ids

    @property
    def cardinalities(self) -> list[int]:
        if self.vocab is not None:
            return [v + 1 for v in self.vocab.sizes]
        return [int(self.hash_size)] * self.n_features


@dataclass
class _Stats:
    """Per-feature counts over all valid records (None once a source could not know them)."""

    n_dense: int
    n_sparse: int
    rows: int = 0
    clicks: float = 0.0
    dense_missing: np.ndarray | None = None
    dense_negative: np.ndarray | None = None
    sparse_missing: np.ndarray | None = None
    _unknown: set = field(default_factory=set)

    def add(self, b: Block) -> None:
        self.rows += len(b.labels)
        self.clicks += float(np.sum(b.labels, dtype=np.float64))
        for name, n in (("dense_missing", self.n_dense), ("dense_negative", self.n_dense), ("sparse_missing", self.n_sparse)):
            v = getattr(b, name)
            if v is None:
                self._unknown.add(name)
            elif name not in self._unknown:
                cur = getattr(self, name)
                setattr(self, name, (np.zeros(n, np.int64) if cur is None else cur) + v)

    def rates(self, name: str, names: list[str]) -> dict[str, float] | None:
        v = getattr(self, name)
        if name in self._unknown or v is None or not self.rows:
            return None
        return {n: round(float(x) / self.rows, 6) for n, x in zip(names, v)}


@dataclass(frozen=True)
class IngestResult:
    """A committed dataset and the report of the ingest that made it."""

    dataset: Dataset
    report: IngestReport


def _file_splits(n_files: int, options: IngestOptions) -> list[str]:
    """Split of each input: "eval" for the last ``eval_files``, else "train" (or both with a fraction)."""
    if options.eval_files is not None:
        if options.eval_files >= n_files:
            raise DataError(
                f"--eval-files {options.eval_files} leaves no training input: only {n_files} input(s) given"
            )
        return ["train"] * (n_files - options.eval_files) + ["eval"] * options.eval_files
    return ["train+eval" if options.resolved_eval_fraction > 0 else "train"] * n_files


def run_ingest(
    source: Source,
    out: str | os.PathLike,
    options: IngestOptions,
    *,
    overwrite: bool = False,
    extra_meta: dict[str, Any] | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> IngestResult:
    """Parse every input of ``source`` into a shards dataset at ``out`` (see module docstring).

    Args:
        source: The parser of the inputs.
        out: Dataset directory; nothing appears there unless the whole ingest succeeds.
        options: Ids, split, strictness, parallelism.
        overwrite: Replace an existing dataset at ``out``.
        extra_meta: More provenance merged into meta.json.
        progress: Called as ``progress(file_name, records_so_far)`` after each piece.

    Returns:
        The dataset and its :class:`IngestReport`.

    Raises:
        DataError: An input is missing or empty or has no valid record, or (``strict``) any bad record.
    """
    splits = _file_splits(len(source.files), options)
    fraction, seed = options.resolved_eval_fraction, options.seed
    n_sparse = len(source.sparse_names)
    hash_size = options.resolved_hash_size
    in_flight = options.workers + 1

    pool = ThreadPoolExecutor(options.workers, thread_name_prefix="recscale-ingest") if options.workers > 1 else None
    try:
        vocab = None
        if options.mode == "vocab":
            vocab = _count_vocabulary(source, splits, options, pool, in_flight, progress)
        encoder = Encoder(n_sparse, hash_size, vocab)
        cards = encoder.cardinalities
        sparse_dtype = "int32" if max(cards, default=1) <= np.iinfo(np.int32).max + 1 else "int64"

        def finish(b: Block, split: str, file_index: int) -> tuple[Block, list[tuple]]:
            """Ids and split, in the worker: the main thread only appends (it is the serial part)."""
            ids = encoder.encode(b.keys, b.missing)
            if split != "train+eval":
                return b, [(split, b.dense, ids, b.labels)]
            is_eval = eval_mask(file_index, b.records, fraction, seed)
            return b, [(name, b.dense[m], ids[m], b.labels[m]) for name, m in (("train", ~is_eval), ("eval", is_eval))]

        report = _ReportBuilder(options.strict)
        stats = _Stats(len(source.dense_names), n_sparse)
        with DatasetWriter(out, source.dense_names, source.sparse_names, sparse_dtype=sparse_dtype, overwrite=overwrite) as w:
            for file, split in zip(source.files, splits):
                records = valid = 0
                first_problem = None
                fn = lambda b, s=split, i=file.index: finish(b, s, i)  # noqa: E731
                for b, parts in source.blocks(file, fn, pool, in_flight):
                    report.add(b.problems)
                    report.add_counts(b.unlisted)
                    if first_problem is None and b.problems:
                        first_problem = b.problems[0]
                    records += b.n_records
                    valid += len(b.labels)
                    stats.add(b)
                    for name, dense, ids, labels in parts:
                        if len(labels):
                            w.append(name, dense, ids, labels)
                    if progress is not None:
                        progress(file.name, records)
                if valid == 0:
                    raise DataError(
                        f"{file.name}: none of its {records:,} records is valid"
                        + (f"; the first problem: {first_problem}" if first_problem else "")
                    )
                report.records += records
                report.valid += valid
                report.files.append(FileReport(file.name, records, valid, split))
            rep = report.build()
            for name in ("train", "eval"):
                if name not in w.stats:  # keep both splits present, so readers need no special case
                    w.append(name, np.zeros((0, len(source.dense_names)), np.float32), np.zeros((0, n_sparse), np.int64), np.zeros(0, np.float32))
            meta = {
                "source": source.describe(),
                "options": options.to_dict(),
                "transforms": {
                    "dense": "missing, NaN or negative -> 0; then log(1 + x); float32",
                    "sparse": (
                        "id 0 = missing; "
                        + (f"1 + splitmix64(key) mod {hash_size - 1}" if hash_size is not None else "raw key")
                        + (f"; vocabulary of keys seen >= {options.min_count} times in train rows, ids 1..V by descending count, others 0" if vocab is not None else "")
                    ),
                },
                "stats": {
                    "rows": stats.rows,
                    "ctr": stats.clicks / stats.rows if stats.rows else None,
                    "dense_missing_rate": stats.rates("dense_missing", source.dense_names),
                    "dense_negative_rate": stats.rates("dense_negative", source.dense_names),
                    "sparse_missing_rate": stats.rates("sparse_missing", source.sparse_names),
                    **(
                        {
                            "vocab_sizes": dict(zip(source.sparse_names, vocab.sizes)),
                            "distinct_train_keys": dict(zip(source.sparse_names, vocab.distinct)),
                        }
                        if vocab is not None
                        else {}
                    ),
                },
                "ingest_report": rep.to_dict(),
                **(extra_meta or {}),
            }
            ds = w.commit(meta, cardinalities=cards)
        return IngestResult(ds, rep)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _count_vocabulary(source: Source, splits: list[str], options: IngestOptions, pool, in_flight: int, progress) -> Vocabulary:
    """Pass 1 of vocabulary mode: count keys of training records only."""
    fraction, seed = options.resolved_eval_fraction, options.seed
    n_sparse = len(source.sparse_names)
    encoder = Encoder(n_sparse, options.resolved_hash_size, None)
    counter = VocabCounter(n_sparse)
    strict = _ReportBuilder(options.strict)  # only to stop at the first bad record under --strict

    def count(b: Block, split: str, file_index: int):
        train = ~eval_mask(file_index, b.records, fraction, seed) if split == "train+eval" else np.ones(len(b.labels), bool)
        k = encoder.prepare(b.keys, b.missing)
        out = []
        for f in range(n_sparse):
            sel = train & ~b.missing[:, f]
            out.append(VocabCounter.unique_counts(k[sel, f]))
        return b.problems, b.n_records, out

    for file, split in zip(source.files, splits):
        if split == "eval":
            continue
        records = 0
        fn = lambda b, s=split, i=file.index: count(b, s, i)  # noqa: E731
        for problems, n, uniq in source.blocks(file, fn, pool, in_flight):
            strict.add(problems if options.strict else [])
            for f, (u, c) in enumerate(uniq):
                counter.add(f, u, c)
            records += n
            if progress is not None:
                progress(f"{file.name} (pass 1 of 2: counting ids)", records)
    return counter.finalize(int(options.min_count))


# --------------------------------------------------------------------------------------------
# Reading text inputs: plain or gzip, in whole lines, with stream errors turned into problems


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


def is_gzip(path: Path) -> bool:
    """True if the file starts with the gzip magic bytes (whatever its name)."""
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


class LineReader(io.RawIOBase):
    """A plain or gzip file read in whole lines, where a broken gzip stream ends the file cleanly.

    :meth:`read_lines` returns data ending at a line break, except the last piece of a file whose
    last line has no newline (then :attr:`unterminated` is True). If the gzip stream is truncated or
    corrupt, the partial line before the break is dropped, reading stops, and :attr:`problem` says
    what happened and where; so callers see only complete lines and decide what to do. It is also a
    readable raw stream (for pyarrow's CSV reader), with the same guarantees.

    Attributes:
        lines: Lines returned so far (a final line without newline included).
        gzip: The file is gzip-compressed (detected from its first bytes, not its name).
        unterminated: The file ends with a line that has no newline (returned by the last read).
        problem: A ``truncated_gzip`` / ``corrupt_gzip`` :class:`Problem`, or None.
    """

    _PIECE = 1 << 20  # compressed bytes read at a time
    _STEP = 1 << 16  # compressed bytes inflated at a time

    def __init__(self, file: InputFile):
        super().__init__()
        self.file = file
        self.gzip = is_gzip(file.path)
        self._raw = open(file.path, "rb")
        self._z = zlib.decompressobj(wbits=31) if self.gzip else None
        self._fed = False  # the current gzip member has started but not ended
        self._error: tuple[str, str] | None = None  # (kind, what) of a broken gzip stream
        self._tail = b""  # bytes after the last newline returned so far
        self._done = False
        self._pending = memoryview(b"")  # for readinto
        self.lines = 0
        self.unterminated = False
        self.problem: Problem | None = None

    def readable(self) -> bool:
        return True

    def _decompress(self, data: bytes) -> bytes:
        """Inflate in small steps, so the lines before a corrupt spot survive zlib's error.

        gzip members may be concatenated (as ``cat a.gz b.gz`` makes); each gets a fresh inflater.
        """
        out, pos = [], 0
        while pos < len(data):
            piece = data[pos : pos + self._STEP]
            pos += len(piece)
            self._fed = True
            try:
                out.append(self._z.decompress(piece))
            except zlib.error as e:
                self._error = ("corrupt_gzip", f"gzip stream is corrupt ({e})")
                break
            if self._z.eof:
                data, pos = (self._z.unused_data + data[pos:]).lstrip(b"\x00"), 0  # zero padding is allowed
                self._z = zlib.decompressobj(wbits=31)
                self._fed = False
        return b"".join(out)

    def _append(self, ba: bytearray, size: int) -> int:
        """Append about ``size`` more bytes of content to ``ba``; 0 at the end or where the stream broke.

        A plain file is read straight into ``ba`` (one copy); gzip is inflated piece by piece.
        """
        if not self.gzip:
            old = len(ba)
            ba.extend(bytes(size))
            with memoryview(ba) as mv:
                n = self._raw.readinto(mv[old:])
            del ba[old + n :]
            return n
        have = 0
        while have < size and self._error is None:
            raw = self._raw.read(self._PIECE)
            if not raw:
                if self._fed:
                    self._error = ("truncated_gzip", "gzip stream ends early (truncated file?)")
                break
            data = self._decompress(raw)
            ba += data
            have += len(data)
        return have

    def read_lines(self, size: int) -> bytearray:
        """At least ``size`` bytes of whole lines (fewer at the end, more if a line is long); empty at the end.

        Returns a fresh bytearray the caller may keep (and extend); it is never reused here.
        """
        if self._done:
            return bytearray()
        buf = bytearray(self._tail)
        self._tail = b""
        while True:
            start = len(buf)
            if not self._append(buf, max(size - start, 1 << 16)):
                self._done = True
                if self._error is not None:
                    cut = buf.rfind(b"\n") + 1
                    lost = " and the partial line before it" if cut < len(buf) else ""
                    del buf[cut:]
                    lines = self.lines + buf.count(b"\n")
                    kind, what = self._error
                    self.problem = Problem(
                        kind, self.file.name, lines + 1,
                        f"{what} after {lines:,} complete lines; the rest of the file{lost} is lost",
                    )
                elif buf and not buf.endswith(b"\n"):
                    self.unterminated = True
                    self.lines += 1
                break
            if len(buf) >= size and buf.find(b"\n", start) >= 0:
                cut = buf.rfind(b"\n") + 1
                self._tail = bytes(buf[cut:])
                del buf[cut:]  # truncating a bytearray's end copies nothing
                break
        self.lines += buf.count(b"\n")
        return buf

    def readinto(self, b) -> int:
        if not len(self._pending):
            self._pending = memoryview(self.read_lines(len(b)))
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self._raw.closed:
            self._raw.close()
        super().close()
