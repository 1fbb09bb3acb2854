"""A user's own table (Parquet, or CSV/TSV plain or gzip) → shards, with the Criteo transforms.

The user names the label column, the dense (numeric) columns and the sparse (categorical) columns;
everything after that follows :mod:`recscale.data.ingest`: dense values get ``log(1 + max(x, 0))``
(missing, empty and NaN → 0), categorical values are hashed or mapped through a vocabulary with the
same options as ``recscale data criteo``, and the split, the bad-record report and the atomic write
are the same too.

Why categorical keys hash the value's *text* (FNV-1a 64 of its UTF-8 form, the number 196 as
``"196"``): a CSV knows no types, so hashing the text makes a CSV and a Parquet file of the same
table give the same ids. Empty strings and nulls are missing (id 0).

Reading: Parquet in row batches; CSV with pyarrow's streaming reader, every used column read as
raw bytes (so an undecodable byte is one bad record, not a crash, and no type is guessed from the
first block). Numbers are parsed by pyarrow's ``cast`` (accepting ``1``, ``-2.5``, ``1e3``, ``nan``);
a batch with an unparsable value is bisected down to that value, so its row is found exactly.

Bad records (the first problem of a row decides its kind): ``wrong_field_count`` (CSV row with too
few or too many fields; ``truncated_line`` if it is a last line without newline), ``undecodable``
(a used CSV field that is not UTF-8), ``bad_label`` (label not 0 or 1, or missing), ``bad_dense``
(a dense value that is not a finite number), ``truncated_gzip`` / ``corrupt_gzip``. CSV problems are
located by line (the header is line 1; a quoted field spanning lines would shift the count after it);
Parquet problems by row (1-based). The split hashes the 1-based *data row* number, the same for a
CSV and a Parquet file of the same table.

What it checks before trusting the columns: a first line that looks like data rather than names is
an error (a headerless file, e.g. a Criteo TSV, which ``recscale data criteo`` reads); a label named
in the wrong case gets "did you mean". Labels ``true``/``false`` (any case) are read as 1/0, as a
Parquet boolean is. A feature column that looks like a row id in the first input's first rows
(:data:`ID_SAMPLE_ROWS`): a strictly monotone integer sequence, or all values distinct, is a
warning (the Kaggle Criteo CSV's ``Id`` matched by ``--dense 'I*'``), naming ``--ignore``.

Files as they circulate: CRLF (and CR) line endings are read as LF. The first line of a CSV is
always its header; a later line that repeats it (every used column holding its own name, as
``cat a.csv b.csv`` leaves) is skipped and counted as a note (``header``), and the data rows after it
keep the numbers, so the split, of the same file without it.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recscale.data.badlines import Problem, clip
from recscale.data.columns import ColumnSpec, TableColumns, compact, did_you_mean
from recscale.data.duplicates import distinct
from recscale.data.hashing import fnv1a64
from recscale.data.ingest import IngestResult, run_ingest
from recscale.data.ingest_options import IngestOptions
from recscale.data.lines import LineReader
from recscale.data.sources import Block, InputFile, ordered_map, resolve_inputs, transform_dense
from recscale.errors import DataError

BATCH_ROWS = 1 << 16
CSV_BLOCK_BYTES = 4 << 20
ID_SAMPLE_ROWS = 1 << 16  # rows of the first input checked for row-id columns
ID_MONOTONE_ROWS = 50  # a strictly monotone integer column over at least this many rows is an id
ID_DISTINCT_ROWS = 1000  # all values distinct over at least this many rows is an id
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _pa():
    import pyarrow as pa
    import pyarrow.compute as pc

    return pa, pc


def is_parquet(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PAR1"


def csv_delimiter(file: InputFile, delimiter: str | None) -> str:
    """The given delimiter, else tab for .tsv/.tab/.txt (gzip too), else comma."""
    if delimiter is not None:
        return delimiter
    n = file.path.name.lower()
    return "\t" if n.endswith((".tsv", ".tsv.gz", ".tab", ".txt", ".txt.gz")) else ","


def csv_header(file: InputFile, delimiter: str) -> tuple[list[str], bool]:
    """The column names on a CSV's first line, and whether the file is gzip."""
    head = LineReader(file)
    try:
        first = re.split(rb"\r\n|\r|\n", head.read_lines(1), maxsplit=1)[0]
    finally:
        head.close()
    if not first:
        raise DataError(f"{file.name}: empty input (no header line)")
    text = first.decode("utf-8", "replace").removeprefix("\ufeff")  # a byte-order mark (pyarrow skips it too)
    names = next(csv.reader([text], delimiter=delimiter))
    _check_header(file, names, delimiter)
    return names, head.gzip


def _check_header(file: InputFile, names: list[str], delimiter: str) -> None:
    """Raise DataError if the first line looks like data, not column names.

    It does when it has a number and at least half its fields are numbers, empty, or 8 hex digits
    (a Criteo line); column names 0..n-1 or 1..n (as pandas writes a frame without names) are a header.
    """
    stripped = [n.strip() for n in names]
    numeric = [n for n in stripped if _NUMBER.fullmatch(n)]
    data_like = [n for n in stripped if not n or _NUMBER.fullmatch(n) or _HEX8.fullmatch(n)]
    if not numeric or 2 * len(data_like) < len(names):
        return
    if stripped in ([str(i) for i in range(len(names))], [str(i) for i in range(1, len(names) + 1)]):
        return
    shown = ", ".join(repr(n) for n in names[:4]) + (", ..." if len(names) > 4 else "")
    criteo = (
        "; a Criteo TSV (label, I1-I13, C1-C26, no header) is read by recscale data criteo"
        if delimiter == "\t" and len(names) <= 40 else ""
    )
    raise DataError(
        f"{file.name}: the first line ({shown}) looks like data, not a header: {len(data_like)} of its {len(names)} "
        f"fields are numbers, empty or hex values. recscale data table takes the column names from the first line; "
        f"add a header line{criteo}"
    )


def _parquet_file(file: InputFile):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(file.path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise DataError(f"{file.name}: not a readable Parquet file ({e})") from None


def column_names(file: InputFile, delimiter: str | None = None) -> list[str]:
    """The columns of a Parquet or CSV input, in the file's order."""
    if is_parquet(file.path):
        return list(_parquet_file(file).schema_arrow.names)
    return csv_header(file, csv_delimiter(file, delimiter))[0]


# --------------------------------------------------------------------------------------------
# Column conversions, with exact rows of bad values


def _cast_floats(arr) -> tuple[np.ndarray, np.ndarray]:
    """float64 values of a string array (NaN where null) and a mask of unparsable values.

    A failing cast is bisected, so a bad value costs O(log n) casts and is found exactly.
    """
    pa, pc = _pa()
    n = len(arr)
    out = np.full(n, np.nan)
    bad = np.zeros(n, dtype=bool)
    stack = [(0, n)]
    while stack:
        a, b = stack.pop()
        try:
            out[a:b] = pc.cast(arr.slice(a, b - a), pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if b - a == 1:
                bad[a] = True
            else:
                m = (a + b) // 2
                stack += [(m, b), (a, m)]
    return out, bad


def _numbers(arr, column: str, name: str, boolean_words: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values float64 with NaN where missing, missing mask, unparsable mask) of one column.

    With ``boolean_words`` (the label), text ``true``/``false`` in any case counts as 1/0.
    """
    pa, pc = _pa()
    t = arr.type
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_string(t) or pa.types.is_large_string(t):
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            arr = arr.cast(pa.large_binary()).view(pa.large_string())  # validity was checked by the caller
        if boolean_words:  # true/false as a Parquet boolean is read: 1/0
            low = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
            arr = pc.if_else(pc.equal(low, "true"), "1", pc.if_else(pc.equal(low, "false"), "0", arr))
        empty = pc.fill_null(pc.equal(pc.binary_length(arr), 0), True).to_numpy(zero_copy_only=False)
        values, bad = _cast_floats(arr)
        missing = empty | (np.isnan(values) & ~bad)
        return values, missing, bad & ~empty
    if pa.types.is_boolean(t):
        arr = arr.cast(pa.int8())
    elif not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
        raise DataError(f"{name}: column {column!r} has type {t}, which is not a number; list it under --sparse instead")
    values = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
    missing = np.isnan(values)
    return values, missing, np.zeros(len(values), dtype=bool)


def _keys(arr) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 keys, missing mask): FNV-1a 64 of each value's UTF-8 text; null and "" are missing."""
    pa, pc = _pa()
    t = arr.type
    if not (pa.types.is_binary(t) or pa.types.is_string(t) or pa.types.is_large_binary(t) or pa.types.is_large_string(t)):
        if pa.types.is_dictionary(t):
            arr = arr.cast(t.value_type)
            return _keys(arr)
        arr = pc.cast(arr, pa.string())
    arr = arr.cast(pa.large_binary()) if not pa.types.is_large_binary(arr.type) else arr
    n = len(arr)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    keys = fnv1a64(offsets, data)
    missing = (np.diff(offsets) == 0) | arr.is_null().to_numpy(zero_copy_only=False)
    return keys, missing


def _undecodable(arr) -> np.ndarray:
    """Rows of a binary column that are not valid UTF-8."""
    pa, _ = _pa()
    try:
        arr.cast(pa.string())
        return np.zeros(len(arr), dtype=bool)
    except pa.ArrowInvalid:
        return np.array([v is not None and not _utf8(v) for v in arr.to_pylist()], dtype=bool)


def _utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _show(arr, i: int) -> str:
    v = arr[i].as_py()
    if isinstance(v, bytes):
        try:
            v = v.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return clip(v)


def parse_batch(
    batch, columns: TableColumns, name: str, records: np.ndarray, where: np.ndarray, unit: str, check_utf8: bool
) -> Block:
    """Turn one record batch into a :class:`Block`.

    Args:
        batch: pyarrow RecordBatch with (at least) the used columns.
        columns: The column roles.
        name: The input's name, for messages.
        records: 1-based data-row number of each row (the split key).
        where: Line (CSV) or row (Parquet) number of each row, for messages.
        unit: "line" or "row".
        check_utf8: Whether columns are raw bytes to be checked for UTF-8 (CSV).
    """
    pa, pc = _pa()
    n = batch.num_rows
    first_bad = np.full(n, -1, dtype=np.int64)  # index into `reasons` of each row's first problem
    reasons: list[tuple[str, str, Any]] = []  # (kind, column, array)

    def flag(mask: np.ndarray, kind: str, column: str, arr) -> None:
        new = mask & (first_bad < 0)
        if new.any():
            first_bad[new] = len(reasons)
            reasons.append((kind, column, arr))

    cols = {c: batch.column(c) for c in columns.all}
    if check_utf8:
        for c in columns.all:
            bad = _undecodable(cols[c])
            if bad.any():
                flag(bad, "undecodable", c, cols[c])
                cols[c] = pc.if_else(pa.array(bad), pa.scalar(None, cols[c].type), cols[c])
    lv, lmissing, lbad = _numbers(cols[columns.label], columns.label, name, boolean_words=True)
    flag(lmissing | lbad | ((lv != 0) & (lv != 1)), "bad_label", columns.label, cols[columns.label])
    dense = np.empty((n, len(columns.dense)), dtype=np.float32)
    d_missing = np.zeros(len(columns.dense), np.int64)
    d_negative = np.zeros(len(columns.dense), np.int64)
    d_masks = []
    for j, c in enumerate(columns.dense):
        v, missing, bad = _numbers(cols[c], c, name)
        flag(bad | np.isinf(v), "bad_dense", c, cols[c])
        dense[:, j] = transform_dense(v, missing)
        d_masks.append((missing, v < 0))
    keys = np.empty((n, len(columns.sparse)), dtype=np.uint64)
    missing_s = np.empty((n, len(columns.sparse)), dtype=bool)
    for j, c in enumerate(columns.sparse):
        keys[:, j], missing_s[:, j] = _keys(cols[c])
    ok = first_bad < 0
    problems = []
    for i in np.flatnonzero(~ok):
        kind, c, arr = reasons[first_bad[i]]
        if kind == "undecodable":
            msg = f"field {c}: bytes {clip(arr[int(i)].as_py())} are not UTF-8"
        elif kind == "bad_label":
            shown = _show(arr, int(i))
            msg = f"field {c} is empty; the label must be 0 or 1" if shown == "None" else f"field {c}: {shown} is not 0 or 1"
        else:
            msg = f"field {c}: {_show(arr, int(i))} is not a finite number"
        problems.append(Problem(kind, name, int(where[i]), msg, unit))
    for j, (missing, negative) in enumerate(d_masks):
        d_missing[j] = np.count_nonzero(missing & ok)
        d_negative[j] = np.count_nonzero(negative & ok & ~missing)
    return Block(
        records=records[ok],
        labels=lv[ok].astype(np.float32),
        dense=dense[ok],
        keys=keys[ok],
        missing=missing_s[ok],
        problems=problems,
        n_records=n,
        dense_missing=d_missing,
        dense_negative=d_negative,
        sparse_missing=missing_s[ok].sum(axis=0),
    )


def _id_like(values: np.ndarray) -> str | None:
    """Why a column's values (float64, no NaN) look like row ids, or None."""
    n = len(values)
    if n < ID_MONOTONE_ROWS or not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
        return None
    d = np.diff(values)
    if np.all(d > 0) or np.all(d < 0):
        return f"a strictly {'increasing' if d[0] > 0 else 'decreasing'} integer sequence"
    if n >= ID_DISTINCT_ROWS and distinct(values) == n:
        return "all values distinct"
    return None


def id_like_warnings(batch, columns: TableColumns, name: str) -> list[str]:
    """A warning for each feature column of ``batch`` that looks like a row id (see module docstring)."""
    pa, _ = _pa()
    out = []
    for role, cols in (("dense", columns.dense), ("sparse", columns.sparse)):
        for c in cols:
            arr = batch.column(c)
            if pa.types.is_binary(arr.type):
                if len(_undecodable(arr).nonzero()[0]):
                    continue
            values, missing, bad = _numbers(arr, c, name) if _number_like(arr) else (None, None, None)
            why = None
            if values is not None and not missing.any() and not bad.any():
                why = _id_like(values)
            if why is None and role == "sparse" and len(arr) >= ID_DISTINCT_ROWS:
                keys, kmissing = _keys(arr)
                if not kmissing.any() and distinct(keys) == len(keys):
                    why = "all values distinct"
            if why is not None:
                out.append(
                    f"column {c!r} (--{role}) looks like a row id ({why} in the first {len(arr):,} rows of {name}): "
                    f"as a feature it can only memorise rows; leave it out with --ignore {c}"
                )
    return out


def _number_like(arr) -> bool:
    """True unless the column is text that is not numbers (a cheap look at its first value)."""
    pa, _ = _pa()
    if not (pa.types.is_binary(arr.type) or pa.types.is_string(arr.type) or pa.types.is_large_binary(arr.type)
            or pa.types.is_large_string(arr.type)):
        return pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_decimal(arr.type)
    first = next((v for v in arr.drop_null().slice(0, 1).to_pylist()), None)
    text = first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first)
    return bool(_NUMBER.fullmatch(text.strip()))


# --------------------------------------------------------------------------------------------
# The source


@dataclass(frozen=True)
class _Piece:
    """One record batch of an input (or only problems), handed from the reader to a parsing thread.

    Attributes:
        batch: pyarrow RecordBatch of the used columns, or None when the piece carries only problems.
        records: 1-based data-row number of each row (the split key).
        where: Line (CSV) or row (Parquet) number of each row, for messages.
        unit: "line" or "row".
        check_utf8: Columns are raw bytes to be checked for UTF-8 (CSV).
        problems: Bad records found while reading (wrong field count, a broken gzip stream).
        notes: Rows skipped with a remark (repeated header lines).
    """

    batch: Any
    records: np.ndarray | None
    where: np.ndarray | None
    unit: str
    check_utf8: bool
    problems: list[Problem]
    notes: dict[str, int] = field(default_factory=dict)


def _drop_repeated_headers(batch, lines: np.ndarray, columns: TableColumns, headers: list[int]) -> tuple[Any, np.ndarray, int]:
    """The batch without rows that repeat the header (as ``cat a.csv b.csv`` leaves), their lines added to ``headers``.

    A row repeats the header when every used column holds its own name; it is skipped with a note,
    not reported as a bad label, and the data rows after it keep the numbers (and split) they would
    have without it.
    """
    pa, pc = _pa()
    is_header = None
    for c in columns.all:
        eq = pc.fill_null(pc.equal(batch.column(c), pa.scalar(c.encode(), pa.binary())), False)
        is_header = eq if is_header is None else pc.and_(is_header, eq)
    mask = is_header.to_numpy(zero_copy_only=False)
    if not mask.any():
        return batch, lines, 0
    headers.extend(lines[mask].tolist())
    return batch.filter(pa.array(~mask)), lines[~mask], int(mask.sum())


class TableSource:
    """Parquet or CSV inputs with named columns."""

    kind = "table"

    def __init__(self, files: list[InputFile], columns: TableColumns, delimiter: str | None = None, selectors: dict | None = None):
        self.files = files
        self.selectors = selectors
        self.columns = columns
        self.delimiter = delimiter
        self.dense_names = list(columns.dense)
        self.sparse_names = list(columns.sparse)
        self.label_name = columns.label
        self.ignored_names: list[str] = []  # columns of the first input that no role uses
        self.warnings: list[str] = []  # filled while the first input is read (columns that look like row ids)
        self.formats: dict[str, str] = {}

    def _check_columns(self, file: InputFile, available: list[str]) -> None:
        lacking = [c for c in self.columns.all if c not in available]
        if lacking:
            raise DataError(
                f"{file.name}: no column {', '.join(repr(c) for c in lacking)}{did_you_mean(lacking[0], available)}; "
                f"its columns are: {', '.join(available)}"
            )
        if file.index == 0:
            used = set(self.columns.all)
            self.ignored_names = [c for c in available if c not in used]

    def _parquet(self, file: InputFile) -> Iterator[tuple]:
        pf = _parquet_file(file)
        self._check_columns(file, pf.schema_arrow.names)
        if pf.metadata.num_rows == 0:
            raise DataError(f"{file.name}: empty input (no rows)")
        self.formats[file.name] = "parquet"
        start = 0
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=self.columns.all):
            rows = np.arange(start + 1, start + batch.num_rows + 1, dtype=np.int64)
            start += batch.num_rows
            yield _Piece(batch, rows, rows, "row", False, [])

    def _csv(self, file: InputFile) -> Iterator[tuple]:
        import pyarrow as pa
        import pyarrow.csv as pcsv

        delim = csv_delimiter(file, self.delimiter)
        available, gz = csv_header(file, delim)
        self._check_columns(file, available)
        self.formats[file.name] = "csv" + ("+gzip" if gz else "")

        reader = LineReader(file)
        invalid: list[Problem] = []
        invalid_lines: list[int] = []

        def on_invalid(row) -> str:
            last = reader._done and reader.unterminated and row.number == reader.lines
            kind = "truncated_line" if last else "wrong_field_count"
            msg = f"expected {row.expected_columns} fields, got {row.actual_columns}"
            if last:
                msg = f"last line has no newline and is incomplete ({msg})"
            line = int(row.number) if row.number is not None else -1
            invalid.append(Problem(kind, file.name, line, msg))
            invalid_lines.append(line)
            return "skip"

        try:  # no parse error can stop the stream: bad rows go to on_invalid, values are raw bytes
            stream = pcsv.open_csv(
                reader,
                read_options=pcsv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES),
                parse_options=pcsv.ParseOptions(delimiter=delim, invalid_row_handler=on_invalid, ignore_empty_lines=False),
                convert_options=pcsv.ConvertOptions(
                    include_columns=self.columns.all,
                    column_types={c: pa.binary() for c in self.columns.all},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
            k = 0  # valid data rows so far
            headers: list[int] = []  # lines that repeat the header
            while True:
                try:
                    batch = stream.read_next_batch()
                except StopIteration:
                    break
                # Line of the k-th valid row: skip over the invalid lines before it (header is line 1).
                w = np.array(invalid_lines, dtype=np.int64) - 2 - np.arange(len(invalid_lines))
                idx = np.arange(k, k + batch.num_rows, dtype=np.int64)
                lines = idx + 2 + np.searchsorted(w, idx, side="right")
                k += batch.num_rows
                problems, invalid[:] = list(invalid), []
                batch, lines, n_headers = _drop_repeated_headers(batch, lines, self.columns, headers)
                records = lines - 1 - np.searchsorted(np.array(headers, dtype=np.int64), lines)
                yield _Piece(batch, records, lines, "line", True, problems, {"header": n_headers})
            if invalid:
                yield _Piece(None, None, None, "line", True, list(invalid))
        finally:
            reader.close()
        if reader.problem is not None:
            yield _Piece(None, None, None, "line", True, [reader.problem])
        if k == 0 and not invalid_lines and reader.problem is None:
            raise DataError(f"{file.name}: empty input (no rows after the header)")

    def _parse(self, piece: _Piece, name: str) -> Block:
        if piece.batch is None:
            block = Block.empty(len(self.dense_names), len(self.sparse_names), [], 0)
        else:
            block = parse_batch(piece.batch, self.columns, name, piece.records, piece.where, piece.unit, piece.check_utf8)
        extra = piece.problems
        if extra:
            block.problems = sorted(block.problems + extra, key=lambda p: p.line)
            block.n_records += sum(p.kind in ("wrong_field_count", "truncated_line") for p in extra)
        block.notes = piece.notes
        return block

    def _parse_first(self, piece: _Piece, file: InputFile) -> Block:
        """:meth:`_parse`, and on the first input's first rows, the check for row-id columns."""
        if file.index == 0 and piece.batch is not None and len(piece.records) and piece.records[0] == 1:
            self.warnings.extend(id_like_warnings(piece.batch.slice(0, ID_SAMPLE_ROWS), self.columns, file.name))
        return self._parse(piece, file.name)

    def blocks(self, file: InputFile, finish: Callable[[Block], Any], pool: Executor | None, in_flight: int) -> Iterator[Any]:
        items = self._parquet(file) if is_parquet(file.path) else self._csv(file)
        return ordered_map(pool, lambda it: finish(self._parse_first(it, file)), items, in_flight)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "inputs": [str(f.path) for f in self.files],
            "formats": dict(self.formats),
            "columns": {"label": self.columns.label, "dense": list(self.columns.dense), "sparse": list(self.columns.sparse),
                        "ignored": list(self.ignored_names)},
            **({"column_selectors": self.selectors} if self.selectors else {}),
            "keys": "categorical key = FNV-1a 64 of the value's UTF-8 text; null and '' are missing",
        }


def ingest_table(
    inputs: list[str | os.PathLike],
    out: str | os.PathLike,
    columns: TableColumns | ColumnSpec,
    options: IngestOptions = IngestOptions(),
    *,
    delimiter: str | None = None,
    overwrite: bool = False,
    progress: Callable[[str, int], None] | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> IngestResult:
    """A user's Parquet or CSV files → a shards dataset (see module docstring).

    Args:
        inputs: Parquet or CSV/TSV files (gzip allowed for CSV), in stream order.
        out: Dataset directory to create.
        columns: Label, dense and sparse columns: exact (:class:`TableColumns`), or names, ranges and
            patterns resolved against the first input's columns (:class:`~recscale.data.columns.ColumnSpec`).
        options: Ids, split, strictness, parallelism, as for Criteo.
        delimiter: CSV field separator (default: tab for .tsv/.txt/.tab, else comma).
        overwrite: Replace an existing dataset at ``out``.
        progress: Called as ``progress(file_name, records_so_far)``.
        extra_meta: More provenance for meta.json.

    Example:
        >>> ingest_table(["clicks.parquet"], "data/mine", TableColumns("clicked", ("price",), ("user", "item")))  # doctest: +SKIP
    """
    files = resolve_inputs(inputs)
    selectors = None
    if isinstance(columns, ColumnSpec):
        selectors = {k: list(getattr(columns, k)) for k in ("dense", "sparse", "ignore")}
        columns = columns.resolve(column_names(files[0], delimiter), files[0].name)
    src = TableSource(files, columns, delimiter, selectors)
    return run_ingest(src, out, options, overwrite=overwrite, progress=progress, extra_meta=extra_meta)
