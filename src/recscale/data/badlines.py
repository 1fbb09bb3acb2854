"""The bad-record report: kinds of bad input, where each bad record is, counts and first examples.

Why a builder: sources find problems in worker threads, piece by piece; the driver feeds them here
in input order, so the report (and ``--strict``'s first error) does not depend on chunking.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from recscale.errors import DataError

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

#: Records read with a remark but kept (not errors, not stopped by ``--strict``), with the report's words.
NOTES: dict[str, str] = {
    "header": "header line(s) detected and skipped",
    "trailing_fields_missing": "lines had trailing fields missing; read as empty",
}


def clip(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to about ``limit`` characters, so one huge bad field cannot flood a report."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 1] + "…"



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
        notes: Records kept with a remark, by kind (keys of :data:`NOTES`); absent kinds did not occur.
    """

    records: int
    valid: int
    counts: dict[str, int]
    examples: dict[str, tuple[str, ...]]
    files: tuple[FileReport, ...]
    notes: dict[str, int] = field(default_factory=dict)

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
            "notes": dict(self.notes),
        }

    def lines(self) -> list[str]:
        """Human-readable summary: one line per note, then per kind of bad record and example."""
        out = [f"{n:,} {NOTES[kind]}" for kind, n in self.notes.items()]
        for kind, n in self.counts.items():
            out.append(f"{n:,} × {KINDS[kind]} ({kind}), skipped; first:")
            out.extend(f"    {e}" for e in self.examples[kind])
        return out


class ReportBuilder:
    """Fills an :class:`IngestReport` as records stream by; raises on the first problem if strict."""

    def __init__(self, strict: bool):
        self.strict = strict
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}
        self.records = 0
        self.valid = 0
        self.files: list[FileReport] = []
        self.notes: dict[str, int] = {}

    def add(self, problems: Iterable[Problem]) -> None:
        for p in problems:
            if self.strict:
                raise DataError(f"{p} [{p.kind}; --strict stops at the first bad record, without it bad records are skipped and reported]")
            self.counts[p.kind] = self.counts.get(p.kind, 0) + 1
            ex = self.examples.setdefault(p.kind, [])
            if len(ex) < MAX_EXAMPLES:
                ex.append(str(p))

    def add_counts(self, counts: dict[str, int]) -> None:
        """Bad records counted but not listed (see :attr:`~recscale.data.sources.Block.unlisted`)."""
        for kind, n in counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n

    def add_notes(self, notes: dict[str, int]) -> None:
        """Records kept with a remark (see :data:`NOTES`); never an error, even under ``strict``."""
        for kind, n in notes.items():
            if n:
                self.notes[kind] = self.notes.get(kind, 0) + n

    def build(self) -> IngestReport:
        order = [k for k in KINDS if k in self.counts]
        return IngestReport(
            records=self.records,
            valid=self.valid,
            counts={k: self.counts[k] for k in order},
            examples={k: tuple(self.examples[k]) for k in order},
            files=tuple(self.files),
            notes={k: self.notes[k] for k in NOTES if k in self.notes},
        )

