"""Criteo Display Advertising logs (Kaggle ``train.txt``, Terabyte ``day_N``, plain or gzip) → shards.

Each line is ``label \\t I1..I13 \\t C1..C26``: a 0/1 label, 13 integer counts (possibly negative or
empty) and 26 categorical values of exactly 8 hex digits (possibly empty). Transforms, ids, split and
bad-line handling follow :mod:`recscale.data.ingest`; the 32-bit integer of a hex field is its key.

Why it is fast (no per-line Python on clean input): the file is read in newline-aligned chunks of a
few MB; each chunk goes to a worker thread, which parses it with ``pyarrow.csv`` (C++, releases the
GIL) into typed columns and turns hex into integers with a few vectorised 64-bit operations per
column (SWAR). A chunk is accepted only if it passes checks that make the fast path agree exactly
with the per-line parser (:func:`parse_line`): every byte is one of ``0-9 a-f A-F - \\t \\n`` (so
pyarrow's laxer integer grammar, e.g. ``" 5"`` or ``"0x10"``, never applies), the row count equals
the newline count, labels are 0/1 and hex fields are 0 or 8 digits. A chunk that fails is
recovered without a slow pass: rows with a bad label or hex field are known by position; if pyarrow
could not parse the chunk at all, a vectorised screen flags the lines that cannot be clean (not 39
tabs, a byte outside the set, a letter or stray '-' in an integer field). Flagged lines go to the
per-line parser, which gives each one's number, kind and field; the rest go back to the fast path;
anything still unexplained is bisected down to LEAF_LINES lines. A test checks that this recovery
gives exactly what the per-line parser gives on a chunk full of odd lines.

Files as they circulate: many copies have trailing empty fields stripped, so a line whose last
categorical values are missing has 37 or 38 fields. A line with fewer than 40 fields is read as
missing its trailing fields (empty categoricals, missing dense), as pandas reads it, and counted in
the report's notes (``trailing_fields_missing``), not as an error; short lines are padded with tabs in
one vectorised pass, so they stay on the fast path (``benchmarks/ingest_throughput.py --circulating``:
1M lines, 44% short, CRLF and a header in 1.3x the canonical file's time on a shared 2-core machine).
``--strict`` accepts them too: it stops at *bad* records, and a short line is how the data
circulates, not a damaged one.

The last line, when it has no newline, is judged by the same rules as every other line, short or
not: a stripped line ends on a field boundary and is read (and noted if short); a download cut off
mid-line almost always ends inside a field, which leaves a categorical value of fewer than 8 hex
digits, and the line is ``truncated_line`` (skipped, or under ``--strict`` an error). A cut that
ends exactly on a field boundary, or inside a count, cannot be told from a stripped line and is
read. A first line whose fields are all names
(``label``, ``I1``, ...) is a header: skipped, noted (``header``), and records are numbered after
it, so the split is the same as without it. CRLF line endings are accepted.

Bad lines, checked in this order (the first problem of a line decides its kind):
``undecodable`` (not UTF-8), ``wrong_field_count`` (an empty line, or more than 40 tab-separated fields), ``bad_label``
(not the integer 0 or 1), ``bad_dense`` (not an integer ``-?[0-9]+`` within int64), ``bad_hex``
(not exactly 8 hex digits); a bad last line without a newline is ``truncated_line`` instead, and a
gzip stream that breaks off is ``truncated_gzip`` / ``corrupt_gzip`` (its partial last line is
dropped with it). A final line without newline that is otherwise valid is kept.

TorchRec interop (:func:`ingest_torchrec`) reads the arrays TorchRec's ``npy_preproc_criteo.py``
writes, ``day_N_{dense,sparse,labels}.npy``, and applies the same transforms: TorchRec stores dense
as float32 ``log(x + 3)`` (missing already 0), which is inverted (``rint(exp(d) - 3)``, exact for
counts up to about 4 million and within float32 rounding above) before our ``log(1 + max(x, 0))``;
sparse int32 values are the hex integers wrapped to int32, read back as uint32. TorchRec writes a
missing categorical as 0, so a raw 0 is treated as missing (``00000000`` cannot be told apart).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from recscale.data.badlines import Problem, clip
from recscale.data.ingest import IngestResult, run_ingest
from recscale.data.ingest_options import IngestOptions
from recscale.data.lines import LineReader
from recscale.data.sources import Block, InputFile, ordered_map, resolve_inputs, transform_dense
from recscale.errors import DataError

N_DENSE, N_SPARSE = 13, 26
N_FIELDS = 1 + N_DENSE + N_SPARSE
DENSE_NAMES = [f"I{i}" for i in range(1, N_DENSE + 1)]
SPARSE_NAMES = [f"C{i}" for i in range(1, N_SPARSE + 1)]
COLUMN_NAMES = ["label", *DENSE_NAMES, *SPARSE_NAMES]

_ALLOWED = b"0123456789abcdefABCDEF-\t\n"
_INT = re.compile(r"-?[0-9]+")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
LEAF_LINES = 256  # below this many lines a failing piece is parsed line by line


# --------------------------------------------------------------------------------------------
# The per-line parser: the definition of a valid line


def parse_line(raw: bytes) -> tuple[int, list[int | None], list[int]] | tuple[str, str]:
    """Parse one line (without its newline): ``(label, dense, keys)`` or ``(kind, message)``.

    ``dense`` holds an int or None (empty) per feature; ``keys`` the hex value or -1 (empty). A line
    with fewer than 40 fields has its trailing fields missing (read as empty). This is the slow,
    exact definition of a valid line; the fast path is checked against it.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return "undecodable", f"bytes {clip(raw[e.start:e.end])} at column {e.start + 1} are not UTF-8"
    if text.endswith("\r"):
        text = text[:-1]
    if not text:
        return "wrong_field_count", f"empty line (expected {N_FIELDS} tab-separated fields)"
    fields = text.split("\t")
    if len(fields) > N_FIELDS:
        return "wrong_field_count", f"expected at most {N_FIELDS} tab-separated fields, got {len(fields)}"
    fields += [""] * (N_FIELDS - len(fields))  # trailing fields missing: read as empty
    f = fields[0]
    if not _INT.fullmatch(f) or int(f) not in (0, 1):
        return "bad_label", f"field label: {clip(f)} is not 0 or 1"
    dense: list[int | None] = []
    for name, f in zip(DENSE_NAMES, fields[1 : 1 + N_DENSE]):
        if not f:
            dense.append(None)
            continue
        v = int(f) if _INT.fullmatch(f) else None
        if v is None or not _I64_MIN <= v <= _I64_MAX:
            return "bad_dense", f"field {name}: {clip(f)} is not an integer" + ("" if v is None else " within int64")
        dense.append(v)
    keys: list[int] = []
    for name, f in zip(SPARSE_NAMES, fields[1 + N_DENSE :]):
        if not f:
            keys.append(-1)
        elif _HEX8.fullmatch(f):
            keys.append(int(f, 16))
        else:
            return "bad_hex", f"field {name}: {clip(f)} is not 8 hex digits"
    return int(fields[0]), dense, keys


def _slow(lines: list[bytes], numbers: np.ndarray, chunk: "_Chunk", name: str) -> Block:
    """Line-by-line parse (lines without newline, with their record numbers): the reference behaviour.

    A last line without newline follows the same rules; if it is bad, its kind is ``truncated_line``.
    """
    records, labels, dense, keys, problems = [], [], [], [], []
    short = 0
    for raw, record in zip(lines, numbers.tolist()):
        r = parse_line(raw)
        n_fields = raw.count(b"\t") + 1
        if isinstance(r[0], str):
            kind, msg = r
            if record == chunk.unterminated_line:
                kind, msg = "truncated_line", f"last line has no newline and is incomplete ({msg})"
            problems.append(Problem(kind, name, record + chunk.line_offset, msg))
            continue
        short += n_fields < N_FIELDS
        records.append(record)
        labels.append(r[0])
        dense.append(r[1])
        keys.append(r[2])
    if not records:
        return Block.empty(N_DENSE, N_SPARSE, problems, len(lines))
    notes = {"trailing_fields_missing": short} if short else {}
    d_missing = np.array([[v is None for v in row] for row in dense], dtype=bool)
    d_values = np.array([[0 if v is None else v for v in row] for row in dense], dtype=np.int64)
    k = np.array(keys, dtype=np.int64)
    return Block(
        records=np.array(records, dtype=np.int64),
        labels=np.array(labels, dtype=np.float32),
        dense=transform_dense(d_values, d_missing),
        keys=np.where(k < 0, 0, k).astype(np.uint64),
        missing=k < 0,
        problems=problems,
        n_records=len(lines),
        dense_missing=d_missing.sum(axis=0),
        dense_negative=((d_values < 0) & ~d_missing).sum(axis=0),
        sparse_missing=(k < 0).sum(axis=0),
        notes=notes,
    )


# --------------------------------------------------------------------------------------------
# The fast path


def _arrow():
    import pyarrow as pa
    import pyarrow.csv as pcsv

    return pa, pcsv


_CSV_OPTIONS: dict[str, Any] = {}


def _csv_options():
    """pyarrow CSV options built once: tab-separated, no quoting, only the empty string is null."""
    if not _CSV_OPTIONS:
        pa, pcsv = _arrow()
        types = {"label": pa.int8(), **{n: pa.int64() for n in DENSE_NAMES}, **{n: pa.binary() for n in SPARSE_NAMES}}
        _CSV_OPTIONS["parse"] = pcsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False, double_quote=False)
        _CSV_OPTIONS["convert"] = pcsv.ConvertOptions(
            column_types=types, null_values=[""], strings_can_be_null=False, quoted_strings_can_be_null=False
        )
    return _CSV_OPTIONS["parse"], _CSV_OPTIONS["convert"]


_U = np.uint64


def hex8_to_int(data: np.ndarray) -> np.ndarray:
    """Values of 8-hex-digit ASCII strings, given as one little-endian uint64 per string (SWAR).

    Assumes valid digits. Each byte becomes its nibble (``c & 0xF``, plus 9 for letters, whose bit 6
    is set), then nibbles are packed pairwise into bytes, 16-bit and 32-bit lanes, most significant
    first (the first character is the low byte of the little-endian word).
    """
    v = (data & _U(0x0F0F0F0F0F0F0F0F)) + _U(9) * ((data >> _U(6)) & _U(0x0101010101010101))
    v = ((v << _U(4)) | (v >> _U(8))) & _U(0x00FF00FF00FF00FF)
    v = ((v << _U(8)) | (v >> _U(16))) & _U(0x0000FFFF0000FFFF)
    return ((v << _U(16)) | (v >> _U(32))) & _U(0xFFFFFFFF)


def _hex_column(col) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
    """(keys uint64, missing bool) of a binary column, or the rows that are not empty or 8 hex digits.

    Called after the byte check, so the only non-hex byte that can occur is '-'.
    """
    arr = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    n = len(arr)
    bufs = arr.buffers()
    off = np.frombuffer(bufs[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4)
    lens = np.diff(off)
    present = lens == 8
    data = np.frombuffer(bufs[2], dtype=np.uint8)[off[0] : off[-1]] if bufs[2] is not None else np.zeros(0, np.uint8)
    bad = ~(present | (lens == 0))
    dash = np.flatnonzero(data == 45)
    if dash.size:
        bad[np.searchsorted(off[1:] - off[0], dash, side="right")] = True
    if bad.any():
        return np.flatnonzero(bad)
    keys = np.zeros(n, dtype=_U)
    keys[present] = hex8_to_int(data.view("<u8"))
    return keys, ~present


def _fast(buf: bytes | bytearray, records: np.ndarray) -> Block | np.ndarray | None:
    """Parse whole lines in C/numpy (see module docstring).

    Returns:
        The block; or, when pyarrow parsed every line but some rows have a bad label or hex field,
        the positions of those rows (the caller parses them line by line and the rest again);
        or None when pyarrow could not parse the piece or anything else is unusual.
    """
    n_lines = len(records)
    rest = buf.translate(None, _ALLOWED)
    if rest and (rest != b"\r" * len(rest) or buf.count(b"\r") != buf.count(b"\r\n")):
        return None
    pa, pcsv = _arrow()
    parse, convert = _csv_options()
    try:
        table = pcsv.read_csv(
            pa.py_buffer(buf),
            read_options=pcsv.ReadOptions(column_names=COLUMN_NAMES, use_threads=False, block_size=len(buf) + 1),
            parse_options=parse,
            convert_options=convert,
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    if table.num_rows != n_lines:
        return None
    lab = table.column(0)
    labels = lab.fill_null(-1).to_numpy() if lab.null_count else lab.to_numpy()
    suspects = [np.flatnonzero((labels != 0) & (labels != 1))]
    keys = np.empty((n_lines, N_SPARSE), dtype=_U)
    missing = np.empty((n_lines, N_SPARSE), dtype=bool)
    for j in range(N_SPARSE):
        r = _hex_column(table.column(1 + N_DENSE + j))
        if isinstance(r, np.ndarray):
            suspects.append(r)
        else:
            keys[:, j], missing[:, j] = r
    sus = np.unique(np.concatenate(suspects))
    if sus.size:
        return sus
    dense = np.empty((n_lines, N_DENSE), dtype=np.float32)
    d_missing = np.empty(N_DENSE, dtype=np.int64)
    d_negative = np.empty(N_DENSE, dtype=np.int64)
    for j in range(N_DENSE):
        col = table.column(1 + j)
        d_missing[j] = col.null_count
        x = col.fill_null(0).to_numpy() if col.null_count else col.to_numpy()
        d_negative[j] = np.count_nonzero(x < 0)
        dense[:, j] = transform_dense(x)
    return Block(
        records=records,
        labels=labels.astype(np.float32),
        dense=dense,
        keys=keys,
        missing=missing,
        problems=[],
        n_records=n_lines,
        dense_missing=d_missing,
        dense_negative=d_negative,
        sparse_missing=missing.sum(axis=0),
    )


# Byte classes for the screen: one table lookup, then cheap comparisons on small integers.
_DIGIT, _TAB, _NL, _DASH, _HEXLETTER, _CR, _OTHER = range(7)
_CLASS = np.full(256, _OTHER, dtype=np.uint8)
_CLASS[np.frombuffer(b"0123456789", np.uint8)] = _DIGIT
_CLASS[np.frombuffer(b"abcdefABCDEF", np.uint8)] = _HEXLETTER
_CLASS[[9, 10, 45, 13]] = [_TAB, _NL, _DASH, _CR]


def _screen(a: np.ndarray, nl: np.ndarray) -> np.ndarray:
    """Lines that cannot be clean, found with a few vectorised passes; the others are likely clean.

    Flags a line with other than 39 tabs, a byte outside ``0-9 a-f A-F - \\t`` (but a CR before
    the newline), a label other than ``0``/``1``, a letter or stray '-' in an integer field, an
    integer field of more than 18 characters, a categorical field of other than 0 or 8 characters
    or with a '-'. ``a`` is the piece's bytes, ``nl`` the
    positions of its newlines. A flagged line is parsed line by line, so a false alarm costs time,
    never correctness.
    """
    c = _CLASS[a]
    starts = np.concatenate(([0], nl[:-1] + 1))
    tabs = np.flatnonzero(c == _TAB)
    first_tab = np.searchsorted(tabs, starts)
    sus = np.diff(np.concatenate((first_tab, [len(tabs)]))) != N_FIELDS - 1
    other = np.flatnonzero(c >= _CR)
    if other.size:
        crlf = (c[other] == _CR) & (c[np.minimum(other + 1, len(c) - 1)] == _NL)
        sus[np.searchsorted(nl, other[~crlf])] = True
    ok = np.flatnonzero(~sus)
    if ok.size:
        t = tabs[first_tab[ok, None] + np.arange(N_FIELDS - 1)]  # [lines, 39] tab positions
        lab = a[starts[ok]]
        sus[ok[(t[:, 0] - starts[ok] != 1) | ((lab != 48) & (lab != 49))]] = True
        ends = np.concatenate((t[:, 1 + N_DENSE :], nl[ok, None]), axis=1)  # ends of C1..C26
        widths = np.diff(np.concatenate((t[:, N_DENSE : N_DENSE + 1], ends), axis=1), axis=1) - 1
        widths[:, -1] -= c[np.maximum(nl[ok] - 1, 0)] == _CR  # a CRLF line's CR is not part of C26
        sus[ok[((widths != 0) & (widths != 8)).any(axis=1)]] = True
        sus[ok[(np.diff(t[:, : N_DENSE + 1], axis=1) > 19).any(axis=1)]] = True  # may overflow int64
        # Integer fields (before the 14th tab) hold digits, and '-' only first and before a digit.
        end_int = np.full(len(nl), -1, dtype=np.int64)
        end_int[ok] = t[:, N_DENSE]
        odd = np.flatnonzero(c == _HEXLETTER)
        if odd.size:
            line = np.searchsorted(nl, odd)
            sus[line[odd < end_int[line]]] = True
        dashes = np.flatnonzero(c == _DASH)
        if dashes.size:  # never in a hex field; in an integer field only first and before a digit
            prev = c[np.maximum(dashes - 1, 0)]
            nxt = c[np.minimum(dashes + 1, len(c) - 1)]
            lone = ~(((prev == _TAB) | (prev == _NL) | (dashes == 0)) & (nxt == _DIGIT))
            line = np.searchsorted(nl, dashes)
            sus[line[lone | (dashes > end_int[line])]] = True
    return sus


@dataclass(frozen=True)
class _Chunk:
    """Newline-terminated lines of one input, the first being record ``first_line``.

    Records are numbered 1, 2, ... after any header line, so a file with a header gets the same
    split as one without; a record's line in the file is ``record + line_offset``.
    """

    buf: bytes | bytearray
    first_line: int
    n_lines: int
    unterminated_line: int  # record number of a final line that had no newline (0: none here)
    tail_problem: Problem | None = None  # a gzip stream that broke off after these lines
    line_offset: int = 0  # 1 when the file starts with a header line
    header: bool = False  # this chunk follows the (skipped) header line


def _pad_short_lines(chunk: _Chunk) -> tuple[_Chunk, np.ndarray | None]:
    """The chunk with tabs added to lines of fewer than 40 fields, and which lines were padded.

    Files in circulation often have trailing empty fields stripped; padding them in one vectorised
    pass keeps such files on the fast path. Empty lines are left alone (they are bad). A chunk with
    39 tabs a line costs one count.
    """
    if chunk.buf.count(b"\t") == (N_FIELDS - 1) * chunk.n_lines:
        return chunk, None
    a = np.frombuffer(chunk.buf, dtype=np.uint8)
    nl = np.flatnonzero(a == 10)
    starts = np.concatenate(([0], nl[:-1] + 1))
    ends = nl - ((a[np.maximum(nl - 1, 0)] == 13) & (nl > starts))  # before a CRLF line's CR
    tabs = np.searchsorted(np.flatnonzero(a == 9), nl)
    tabs = np.diff(np.concatenate(([0], tabs)))
    short = (tabs < N_FIELDS - 1) & (ends > starts)
    if not short.any():
        return chunk, None
    pad = np.repeat(ends[short], N_FIELDS - 1 - tabs[short])
    return replace(chunk, buf=np.insert(a, pad, 9).tobytes()), short


def _parse_chunk(chunk: _Chunk, name: str) -> Block:
    """Fast path on the whole chunk; if it fails, recover around the bad lines (see :func:`_recover`)."""
    block = Block.empty(N_DENSE, N_SPARSE, [])
    if chunk.n_lines:
        chunk, short = _pad_short_lines(chunk)
        records = np.arange(chunk.first_line, chunk.first_line + chunk.n_lines, dtype=np.int64)
        r = _fast(chunk.buf, records)
        if isinstance(r, Block):
            block = r
        else:
            a = np.frombuffer(chunk.buf, dtype=np.uint8)
            nl = np.flatnonzero(a == 10)
            idx = np.arange(chunk.n_lines)
            parts = _recover(a, nl, idx, r, chunk, name, screened=False)
            block = Block.concat(parts)
            order = np.argsort(block.records, kind="stable")  # back to file order
            for f in ("records", "labels", "dense", "keys", "missing"):
                setattr(block, f, getattr(block, f)[order])
            block.problems.sort(key=lambda p: p.line)
        if short is not None:
            n = int(np.count_nonzero(short[block.records - chunk.first_line]))
            block.notes = {"trailing_fields_missing": block.notes.get("trailing_fields_missing", 0) + n}
    if chunk.header:
        block.notes = {"header": 1, **block.notes}
    if chunk.tail_problem is not None:
        block.problems.append(chunk.tail_problem)
    return block


def _lines(buf: bytes | bytearray, nl: np.ndarray, idx: np.ndarray) -> bytes:
    """The bytes of lines ``idx`` (0-based, sorted) of a piece, newline-terminated.

    Joins runs of consecutive lines, so the cost is one copy plus one slice per run.
    """
    if not len(idx):
        return b""
    breaks = np.flatnonzero(np.diff(idx) != 1)
    first = np.concatenate(([idx[0]], idx[breaks + 1]))
    last = np.concatenate((idx[breaks], [idx[-1]]))
    lo = np.where(first == 0, 0, nl[np.maximum(first - 1, 0)] + 1)
    hi = nl[last] + 1
    mv = memoryview(buf)
    return b"".join(mv[x:y] for x, y in zip(lo.tolist(), hi.tolist()))


def _slow_lines(a: np.ndarray, nl: np.ndarray, idx: np.ndarray, chunk: _Chunk, name: str) -> Block:
    starts = np.concatenate(([0], nl[:-1] + 1))[idx]
    lines = [a[s:e].tobytes() for s, e in zip(starts.tolist(), nl[idx].tolist())]
    return _slow(lines, chunk.first_line + idx, chunk, name)


def _recover(a, nl, idx, failed, chunk: _Chunk, name: str, screened: bool) -> list[Block]:
    """Blocks for lines ``idx`` of a chunk whose fast parse gave ``failed`` (suspect rows, or None).

    Known suspect rows are parsed line by line and the rest again by the fast path. If pyarrow
    could not parse the piece at all, a vectorised screen (:func:`_screen`) picks the lines that
    cannot be clean; if that finds nothing, the piece is bisected down to LEAF_LINES lines. Each
    step removes lines or halves the piece, so this ends, and bad lines cost little beyond themselves.
    """
    if failed is None and not screened:
        piece = a if len(idx) == len(nl) else np.frombuffer(_lines(chunk.buf, nl, idx), dtype=np.uint8)
        sus = np.flatnonzero(_screen(piece, nl if len(idx) == len(nl) else np.flatnonzero(piece == 10)))
        failed = sus if sus.size else None
        screened = True
    if failed is not None:
        good = np.delete(idx, failed)
        out = [_slow_lines(a, nl, idx[failed], chunk, name)]
        if good.size:
            r = _fast(_lines(chunk.buf, nl, good), chunk.first_line + good)
            out += [r] if isinstance(r, Block) else _recover(a, nl, good, r, chunk, name, screened)
        return out
    if len(idx) <= LEAF_LINES:
        return [_slow_lines(a, nl, idx, chunk, name)]
    parts = []
    for half in (idx[: len(idx) // 2], idx[len(idx) // 2 :]):
        r = _fast(_lines(chunk.buf, nl, half), chunk.first_line + half)
        parts += [r] if isinstance(r, Block) else _recover(a, nl, half, r, chunk, name, screened=True)
    return parts


# --------------------------------------------------------------------------------------------
# Sources

_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_.\-]*")


def not_criteo(buf: bytes | bytearray, name: str) -> str | None:
    """Why the first line shows the input is not a Criteo TSV (comma-separated, no tab), or None.

    Every line of such a file would be a bad label, so the whole ingest would report one error per
    line; the message names the command that reads it instead.
    """
    end = buf.find(b"\n")
    first = bytes(buf[: end if end >= 0 else len(buf)]).rstrip(b"\r").removeprefix(b"\xef\xbb\xbf")
    if b"\t" in first or first.count(b",") < 2:
        return None
    fields = first.split(b",")
    header = all(_NAME.fullmatch(f.strip(b'"')) for f in fields)
    shown = first[:60].decode("utf-8", "replace") + ("..." if len(first) > 60 else "")
    what = "a CSV with a header" if header else "comma-separated (CSV), not tab-separated"
    return (
        f"{name}: this looks like {what} ({shown!r}), not a Criteo TSV; use recscale data table {name} "
        "--out DIR --label COLUMN --dense ... --sparse ... (the Kaggle CSV layout: --label Label --dense I1-I13 "
        "--sparse C1-C26)"
    )


def is_header(buf: bytes | bytearray) -> bool:
    """True if the first line is a header: two or more fields, each a name such as ``label`` or ``C26``.

    A data line's first field is its label, 0 or 1, which is never a name, so a data line (good or
    bad) is never taken for a header. A UTF-8 byte-order mark before it is allowed.
    """
    end = buf.find(b"\n")
    first = bytes(buf[: end if end >= 0 else len(buf)]).rstrip(b"\r").removeprefix(b"\xef\xbb\xbf")
    fields = first.split(b"\t")
    return len(fields) >= 2 and all(_NAME.fullmatch(f) for f in fields)


class CriteoSource:
    """Criteo TSV inputs (plain or gzip, detected by content), parsed in chunks on a thread pool."""

    kind = "criteo"
    dense_names = DENSE_NAMES
    sparse_names = SPARSE_NAMES

    def __init__(self, files: list[InputFile], chunk_bytes: int):
        self.files = files
        self.chunk_bytes = chunk_bytes

    def _chunks(self, file: InputFile) -> Iterator[_Chunk]:
        reader = LineReader(file)
        try:
            line, offset = 1, 0  # the next record's number; header lines before record 1
            while True:
                buf = reader.read_lines(self.chunk_bytes)
                if not buf:
                    break
                if line == 1 and not offset and (why := not_criteo(buf, file.name)):
                    raise DataError(why)
                if line == 1 and not offset and is_header(buf):
                    del buf[: buf.find(b"\n") + 1 or len(buf)]
                    offset = 1
                    yield _Chunk(b"", 1, 0, 0, line_offset=1, header=True)
                n = reader.lines - offset - line + 1
                unterminated = 0
                if reader.unterminated and buf and not buf.endswith(b"\n"):  # the file's last line, without newline
                    buf += b"\n"  # in place: buf is a bytearray
                    unterminated = line + n - 1
                if n:
                    yield _Chunk(buf, line, n, unterminated, line_offset=offset)
                line += n
            if reader.problem is not None:
                yield _Chunk(b"", line, 0, 0, reader.problem, line_offset=offset)
            elif line == 1:
                what = " after the header" if offset else (" after gzip decompression" if reader.gzip else "")
                raise DataError(f"{file.name}: empty input (no lines{what})")
        finally:
            reader.close()

    def blocks(self, file: InputFile, finish: Callable[[Block], Any], pool: Executor | None, in_flight: int) -> Iterator[Any]:
        return ordered_map(pool, lambda c: finish(_parse_chunk(c, file.name)), self._chunks(file), in_flight)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format": "label \\t I1..I13 \\t C1..C26 (Criteo Display Advertising), plain or gzip",
            "inputs": [str(f.path) for f in self.files],
            "keys": "categorical key = the 32-bit integer of the 8-hex-digit field",
        }


def ingest_criteo(
    inputs: list[str | os.PathLike],
    out: str | os.PathLike,
    options: IngestOptions = IngestOptions(),
    *,
    overwrite: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> IngestResult:
    """Criteo TSV files (Kaggle ``train.txt``, Terabyte ``day_N``, plain or gzip) → a shards dataset.

    Args:
        inputs: Input files in stream order (with ``eval_files``, the last ones are the eval split).
        out: Dataset directory to create.
        options: Ids, split, strictness, parallelism (see :class:`~recscale.data.ingest_options.IngestOptions`).
        overwrite: Replace an existing dataset at ``out``.
        progress: Called as ``progress(file_name, lines_so_far)``.

    Returns:
        The dataset and the report of bad lines.

    Example:
        >>> ingest_criteo(["day_0.gz", "day_1.gz"], "data/criteo", IngestOptions(eval_files=1))  # doctest: +SKIP
    """
    files = resolve_inputs(inputs)
    return run_ingest(CriteoSource(files, options.chunk_bytes), out, options, overwrite=overwrite, progress=progress)


# --------------------------------------------------------------------------------------------
# TorchRec's preprocessed arrays

_DAY = re.compile(r"day_(\d+)_(dense|sparse|labels)\.npy$")
TORCHREC_BLOCK_ROWS = 1 << 18


def _open_npy(path: Path, ndim_cols: int | None) -> np.ndarray:
    try:
        a = np.load(path, mmap_mode="r")
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: not a readable .npy array ({e})") from None
    if ndim_cols is not None and (a.ndim != 2 or a.shape[1] != ndim_cols):
        raise DataError(f"{path}: expected shape (rows, {ndim_cols}), got {a.shape}")
    return a


class TorchRecSource:
    """TorchRec's ``day_N_{dense,sparse,labels}.npy`` arrays (one input per day), read memory-mapped."""

    kind = "torchrec"
    dense_names = DENSE_NAMES
    sparse_names = SPARSE_NAMES

    def __init__(self, directory: str | os.PathLike, days: list[int] | None = None):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise DataError(f"{self.directory}: no such directory")
        found: dict[int, set[str]] = {}
        for p in self.directory.iterdir():
            m = _DAY.match(p.name)
            if m:
                found.setdefault(int(m.group(1)), set()).add(m.group(2))
        if not found:
            raise DataError(f"{self.directory}: no day_N_dense.npy / day_N_sparse.npy / day_N_labels.npy files")
        if days is None:
            days = sorted(found)
        self.days = list(days)
        files = []
        for i, d in enumerate(self.days):
            lacking = sorted({"dense", "sparse", "labels"} - found.get(d, set()))
            if lacking:
                raise DataError(
                    f"{self.directory}: day {d} lacks "
                    + ", ".join(f"day_{d}_{k}.npy" for k in lacking)
                    + f"; days with files: {sorted(found)}"
                )
            files.append(InputFile(self.directory / f"day_{d}_dense.npy", f"day_{d}", i))
        self.files = files

    def _arrays(self, file: InputFile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        stem = file.path.name[: -len("_dense.npy")]
        dense = _open_npy(file.path, N_DENSE)
        sparse = _open_npy(self.directory / f"{stem}_sparse.npy", N_SPARSE)
        labels = _open_npy(self.directory / f"{stem}_labels.npy", None)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise DataError(f"{self.directory / (stem + '_labels.npy')}: expected shape (rows,) or (rows, 1), got {labels.shape}")
        if not (len(dense) == len(sparse) == len(labels)):
            raise DataError(
                f"{self.directory}: {stem} arrays differ in rows: dense {len(dense):,}, sparse {len(sparse):,}, labels {len(labels):,}"
            )
        if not np.issubdtype(sparse.dtype, np.integer) or sparse.dtype.itemsize > 8:
            raise DataError(f"{self.directory / (stem + '_sparse.npy')}: expected integer ids, got dtype {sparse.dtype}")
        if len(labels) == 0:
            raise DataError(f"{self.directory}: {stem} is empty (0 rows)")
        return dense, sparse, labels

    def _parse(self, arrays, name: str, a: int, b: int) -> Block:
        dense_a, sparse_a, labels_a = arrays
        lab = np.asarray(labels_a[a:b])
        d = np.asarray(dense_a[a:b])
        if np.issubdtype(d.dtype, np.floating):
            with np.errstate(over="ignore", invalid="ignore"):
                x = np.rint(np.exp(d.astype(np.float64)) - 3.0)  # undo TorchRec's log(x + 3)
            bad_dense = ~np.isfinite(x).all(axis=1)
        else:
            x = d.astype(np.int64)
            bad_dense = np.zeros(len(lab), bool)
        bad_label = (lab != 0) & (lab != 1)
        bad_dense &= ~bad_label
        ok = ~(bad_label | bad_dense)
        problems, unlisted = [], {}
        for kind, mask, what in (
            ("bad_label", bad_label, lambda r: f"field label: {lab[r].item()!r} is not 0 or 1"),
            ("bad_dense", bad_dense, lambda r: f"dense {d[r].tolist()} is not finite after undoing log(x + 3)"),
        ):
            rows = np.flatnonzero(mask)
            problems += [Problem(kind, f"{name}_{'labels' if kind == 'bad_label' else 'dense'}.npy", a + int(r) + 1, what(r), "row") for r in rows[:5]]
            if len(rows) > 5:
                unlisted[kind] = len(rows) - 5
        problems.sort(key=lambda p: p.line)
        s = np.asarray(sparse_a[a:b])[ok]
        keys = (s.astype(np.int64) & 0xFFFFFFFF).astype(np.uint64) if s.dtype.itemsize <= 4 else s.astype(np.uint64)
        missing = keys == 0
        x = x[ok]
        return Block(
            records=np.arange(a + 1, b + 1, dtype=np.int64)[ok],
            labels=lab[ok].astype(np.float32),
            dense=transform_dense(x),
            keys=keys,
            missing=missing,
            problems=problems,
            n_records=b - a,
            dense_missing=None,
            dense_negative=(x < 0).sum(axis=0),
            sparse_missing=missing.sum(axis=0),
            unlisted=unlisted,
        )

    def blocks(self, file: InputFile, finish: Callable[[Block], Any], pool: Executor | None, in_flight: int) -> Iterator[Any]:
        arrays = self._arrays(file)
        n = len(arrays[2])
        ranges = [(a, min(a + TORCHREC_BLOCK_ROWS, n)) for a in range(0, n, TORCHREC_BLOCK_ROWS)]
        return ordered_map(pool, lambda r: finish(self._parse(arrays, file.name, *r)), ranges, in_flight)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format": "TorchRec preprocessed Criteo arrays day_N_{dense,sparse,labels}.npy",
            "directory": str(self.directory),
            "days": self.days,
            "keys": "categorical key = the int32 id read as uint32; 0 is missing (TorchRec's fill value)",
            "dense_input": "float32 log(x + 3) inverted to counts, or integer counts as stored",
        }


def ingest_torchrec(
    directory: str | os.PathLike,
    out: str | os.PathLike,
    options: IngestOptions = IngestOptions(),
    *,
    days: list[int] | None = None,
    overwrite: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> IngestResult:
    """TorchRec's preprocessed Criteo arrays in ``directory`` → a shards dataset.

    Args:
        directory: Folder holding ``day_N_dense.npy``, ``day_N_sparse.npy``, ``day_N_labels.npy``.
        out: Dataset directory to create.
        options: As for :func:`ingest_criteo` (``eval_files=1`` makes the last day the eval split).
        days: Days to read, in stream order (default: every day found, ascending).
        overwrite: Replace an existing dataset at ``out``.
        progress: Called as ``progress(day_name, rows_so_far)``.
    """
    return run_ingest(TorchRecSource(directory, days), out, options, overwrite=overwrite, progress=progress)
