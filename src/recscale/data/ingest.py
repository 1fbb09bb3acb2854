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

Empty splits
    A split with no row is an error (nothing is written): a study cannot train or evaluate on it,
    and it happens quietly when most records of a small input are bad. The one exception is an eval
    split left empty on request (``--eval-fraction 0``).

Duplicates and leakage
    Exact duplicate records, and eval records that also occur in train (same features and label),
    are counted (:mod:`~recscale.data.duplicates`) into ``stats.duplicates`` of ``meta.json``; above
    1% of records (of eval records) the ingest warns. Warnings, with those of the source (a column
    that looks like a row id), are in ``meta.json`` under ``warnings`` and in
    :attr:`IngestResult.warnings`.

Bad input
    Every malformed record is counted by kind (see :data:`~recscale.data.badlines.KINDS`) and the first few of each kind
    are kept with file, line and field. By default bad records are skipped and reported; with
    ``strict`` the first one raises :class:`~recscale.errors.DataError`. An empty input, or one with
    no valid record, is always an error. Writes go through :class:`~recscale.data.shards.DatasetWriter`,
    so a failed or interrupted ingest leaves no dataset behind.

Where each part lives: hashes in :mod:`~recscale.data.hashing`, options in
:mod:`~recscale.data.ingest_options`, the bad-record report in :mod:`~recscale.data.badlines`,
inputs, blocks and the thread pool's ordering in :mod:`~recscale.data.sources`, ids in
:mod:`~recscale.data.vocab`, plain/gzip line reading in :mod:`~recscale.data.lines`. This module is
the driver that runs a source through them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recscale.data import duplicates
from recscale.data.badlines import FileReport, IngestReport, ReportBuilder
from recscale.data.columns import compact
from recscale.data.hashing import eval_mask
from recscale.data.ingest_options import IngestOptions
from recscale.data.shards import Dataset, DatasetWriter
from recscale.data.sources import Block, InputFile, Source
from recscale.data.vocab import Encoder, VocabCounter, Vocabulary
from recscale.errors import DataError

__all__ = ["IngestOptions", "IngestResult", "run_ingest"]


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
    """A committed dataset, the report of the ingest that made it, and what it warns about."""

    dataset: Dataset
    report: IngestReport
    warnings: tuple[str, ...] = ()



@dataclass(frozen=True)
class _Pass:
    """What every pass over the inputs shares: the source, each input's split, the options and the pool."""

    source: Source
    splits: list[str]
    options: IngestOptions
    pool: Executor | None
    progress: Callable[[str, int], None] | None

    def inputs(self) -> Iterator[tuple[InputFile, str]]:
        return zip(self.source.files, self.splits)

    def blocks(self, file: InputFile, split: str, fn: Callable[[Block, str, int], Any]) -> Iterator[Any]:
        """``fn(block, split, file_index)`` for each piece of ``file``, in input order (``fn`` runs in a worker)."""
        in_flight = self.options.workers + 1
        return self.source.blocks(file, lambda b: fn(b, split, file.index), self.pool, in_flight)


@dataclass
class _Sinks:
    """Where the writing pass puts what it reads: the dataset, the bad-record report and the statistics."""

    writer: DatasetWriter
    report: ReportBuilder
    stats: _Stats
    duplicates: duplicates.DuplicateCounter = field(default_factory=duplicates.DuplicateCounter)


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
        The dataset, its :class:`IngestReport` and its warnings (duplicates, eval rows in train, columns that look like row ids).

    Raises:
        DataError: An input is missing or empty or has no valid record, a split would be empty, or
            (``strict``) any bad record.
    """
    splits = _file_splits(len(source.files), options)
    pool = ThreadPoolExecutor(options.workers, thread_name_prefix="recscale-ingest") if options.workers > 1 else None
    try:
        run = _Pass(source, splits, options, pool, progress)
        vocab = _count_vocabulary(run) if options.mode == "vocab" else None
        encoder = Encoder(len(source.sparse_names), options.resolved_hash_size, vocab)
        cards = encoder.cardinalities
        sparse_dtype = "int32" if max(cards, default=1) <= np.iinfo(np.int32).max + 1 else "int64"
        with DatasetWriter(out, source.dense_names, source.sparse_names, sparse_dtype=sparse_dtype, overwrite=overwrite) as w:
            sinks = _Sinks(w, ReportBuilder(options.strict), _Stats(len(source.dense_names), len(source.sparse_names)))
            for file, split in run.inputs():
                _write_file(run, encoder, sinks, file, split)
            rep = sinks.report.build()
            _check_splits(w, rep, options)
            for name in ("train", "eval"):
                if name not in w.stats:  # an eval split empty on request: kept present, so readers need no special case
                    n_dense, n_sparse = len(source.dense_names), len(source.sparse_names)
                    w.append(name, np.zeros((0, n_dense), np.float32), np.zeros((0, n_sparse), np.int64), np.zeros(0, np.float32))
            dups = sinks.duplicates.result()
            warns = [*getattr(source, "warnings", []), *duplicates.warnings(dups)]
            ds = w.commit(_meta(run, vocab, sinks.stats, rep, extra_meta, dups, warns), cardinalities=cards)
        return IngestResult(ds, rep, tuple(warns))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _check_splits(w: DatasetWriter, rep: IngestReport, options: IngestOptions) -> None:
    """Raise DataError if a split got no row (but an eval split left empty by ``--eval-fraction 0``)."""
    rows = {name: (w.stats[name].rows if name in w.stats else 0) for name in ("train", "eval")}
    read = f"{rep.valid:,} valid of {rep.records:,} records read"
    fraction = options.resolved_eval_fraction
    if rows["train"] == 0:
        why = f"every one of the {read} fell in the --eval-fraction {fraction:g} sample"
        raise DataError(f"the train split would be empty ({why}); nothing was written: give more rows or a smaller --eval-fraction")
    if rows["eval"] == 0 and fraction > 0:
        raise DataError(
            f"the eval split would be empty ({read}; none fell in the --eval-fraction {fraction:g} sample); nothing was "
            "written: give more rows, a larger --eval-fraction, or an eval input with --eval-files 1"
        )


def _finish(encoder: Encoder, options: IngestOptions, b: Block, split: str, file_index: int) -> tuple[Block, list[tuple]]:
    """Ids, split and feature hashes of one block, in the worker: the main thread only appends (the serial part)."""
    ids = encoder.encode(b.keys, b.missing)
    fh = duplicates.feature_hash(b.dense, b.keys, b.missing)
    if split != "train+eval":
        return b, [(split, b.dense, ids, b.labels, fh)]
    is_eval = eval_mask(file_index, b.records, options.resolved_eval_fraction, options.seed)
    return b, [(name, b.dense[m], ids[m], b.labels[m], fh[m]) for name, m in (("train", ~is_eval), ("eval", is_eval))]


def _write_file(run: _Pass, encoder: Encoder, sinks: _Sinks, file: InputFile, split: str) -> None:
    """The writing pass over one input: report its problems, append its rows, count its records."""
    records = valid = 0
    first_problem = None
    fn = lambda b, s, i: _finish(encoder, run.options, b, s, i)  # noqa: E731
    for b, parts in run.blocks(file, split, fn):
        sinks.report.add(b.problems)
        sinks.report.add_counts(b.unlisted)
        sinks.report.add_notes(b.notes)
        if first_problem is None and b.problems:
            first_problem = b.problems[0]
        records += b.n_records
        valid += len(b.labels)
        sinks.stats.add(b)
        for name, dense, ids, labels, fh in parts:
            if len(labels):
                sinks.writer.append(name, dense, ids, labels)
                sinks.duplicates.add(name, fh, labels)
        if run.progress is not None:
            run.progress(file.name, records)
    if valid == 0:
        raise DataError(
            f"{file.name}: none of its {records:,} records is valid"
            + (f"; the first problem: {first_problem}" if first_problem else "")
        )
    sinks.report.records += records
    sinks.report.valid += valid
    sinks.report.files.append(FileReport(file.name, records, valid, split))


def _meta(
    run: _Pass, vocab: Vocabulary | None, stats: _Stats, rep: IngestReport, extra: dict[str, Any] | None,
    dups: dict[str, Any], warns: list[str],
) -> dict[str, Any]:
    """meta.json's provenance: source, columns, resolved options, transforms, statistics, the report, warnings."""
    source, options = run.source, run.options
    hash_size = options.resolved_hash_size
    return {
        "source": source.describe(),
        "columns": {
            "label": getattr(source, "label_name", "label"),
            "dense": compact(source.dense_names),
            "sparse": compact(source.sparse_names),
            "ignored": compact(list(getattr(source, "ignored_names", []))),
        },
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
            "duplicates": dups,
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
        "warnings": list(warns),
        **(extra or {}),
    }


def _count_vocabulary(run: _Pass) -> Vocabulary:
    """Pass 1 of vocabulary mode: count keys of training records only."""
    options = run.options
    n_sparse = len(run.source.sparse_names)
    encoder = Encoder(n_sparse, options.resolved_hash_size, None)
    counter = VocabCounter(n_sparse)
    strict = ReportBuilder(options.strict)  # only to stop at the first bad record under --strict

    def count(b: Block, split: str, file_index: int):
        if split == "train+eval":
            train = ~eval_mask(file_index, b.records, options.resolved_eval_fraction, options.seed)
        else:
            train = np.ones(len(b.labels), bool)
        k = encoder.prepare(b.keys, b.missing)
        out = []
        for f in range(n_sparse):
            sel = train & ~b.missing[:, f]
            out.append(VocabCounter.unique_counts(k[sel, f]))
        return b.problems, b.n_records, out

    for file, split in run.inputs():
        if split == "eval":
            continue
        records = 0
        for problems, n, uniq in run.blocks(file, split, count):
            strict.add(problems if options.strict else [])
            for f, (u, c) in enumerate(uniq):
                counter.add(f, u, c)
            records += n
            if run.progress is not None:
                run.progress(f"{file.name} (pass 1 of 2: counting ids)", records)
    return counter.finalize(int(options.min_count))
