"""Options shared by every ingest source (ids, split, strictness, parallelism); defaults live here only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recscale.errors import DataError

DEFAULT_HASH_SIZE = 1_000_000
DEFAULT_EVAL_FRACTION = 0.1


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

