"""The one on-disk dataset format every source becomes, and the only one the trainer reads.

A dataset is a directory::

    DIR/meta.json              schema, splits, row counts, CTR, cardinalities, provenance
    DIR/<split>/dense.npy      float32 [N, n_dense]   (already transformed, e.g. log1p of counts)
    DIR/<split>/sparse.npy     int32 or int64 [N, n_sparse], ids in [0, cardinality)
    DIR/<split>/labels.npy     float32 [N], 0 or 1
    DIR/<split>/prob.npy       float32 [N], optional: the true click probability (synthetic data)

Splits are usually ``train`` (read in file order: the training stream) and ``eval`` (held out).
Arrays are plain ``.npy`` files, so they open memory-mapped with ``numpy.load(mmap_mode="r")`` and
any tool can read them. Rows are appended in chunks of any size; the row count is written into each
header when the split is closed, so a writer never needs to know N in advance.

Writes are atomic: a :class:`DatasetWriter` builds the dataset in a hidden sibling directory and
renames it into place only in :meth:`DatasetWriter.commit`. An exception (or a killed process)
leaves no half dataset at ``DIR``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recscale.errors import DataError

FORMAT = "recscale-shards"
FORMAT_VERSION = 1
_ARRAYS = ("dense", "sparse", "labels", "prob")
_HEADER_BYTES = 256  # reserved .npy header; rewritten in place with the final row count


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """A version-1.0 .npy header padded to exactly ``_HEADER_BYTES`` bytes."""
    d = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    text = repr(d).encode("latin1")
    pad = _HEADER_BYTES - 10 - len(text) - 1
    if pad < 0:
        raise ValueError(f"shape {shape} does not fit the reserved .npy header")
    header = text + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def _writer_alive(tmp_name: str) -> bool:
    """Whether the process that owns a ``.NAME.tmp-PID-XXXX`` directory is still running."""
    try:
        pid = int(tmp_name.rsplit(".tmp-", 1)[1].split("-")[0])
    except (IndexError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def still_being_written(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a dataset yet, if a live process is still writing it (its ``.NAME.tmp-PID-*`` folder).

    A dataset appears at its path only when its writer finishes (one rename), so until then the
    path is missing or holds the previous version; this tells a reader why. None otherwise.
    """
    p = Path(path)
    for tmp in p.parent.glob(f".{p.name}.tmp-*"):
        if _writer_alive(tmp.name):
            pid = tmp.name.rsplit(".tmp-", 1)[1].split("-")[0]
            return f"still being written by process {pid} (a `recscale data` run); wait for it to finish"
    return None


class _ArrayAppender:
    """Appends row blocks to one .npy file whose header is finalised on close."""

    def __init__(self, path: Path, dtype: np.dtype, row_shape: tuple[int, ...]):
        self.path, self.dtype, self.row_shape = path, np.dtype(dtype), row_shape
        self.rows = 0
        self._f = open(path, "wb")
        self._f.write(_npy_header(self.dtype, (0, *row_shape)))

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path.name}: expected rows of shape {self.row_shape}, got {block.shape[1:]}")
        self._f.write(block.tobytes())
        self.rows += block.shape[0]

    def close(self) -> None:
        self._f.seek(0)
        self._f.write(_npy_header(self.dtype, (self.rows, *self.row_shape)))
        self._f.close()


@dataclass
class SplitStats:
    """Running statistics of a split, filled as chunks are appended."""

    rows: int = 0
    clicks: float = 0.0
    max_id: np.ndarray | None = None  # per sparse feature


class DatasetWriter:
    """Write a dataset in chunks; nothing appears at ``out`` until :meth:`commit`.

    Args:
        out: Final dataset directory.
        dense_names: Names of the dense features (columns of ``dense.npy``).
        sparse_names: Names of the sparse features (columns of ``sparse.npy``).
        sparse_dtype: ``int32`` when every id fits, else ``int64``.
        with_prob: Whether chunks carry the true click probability.
        overwrite: Replace an existing dataset at ``out`` (only at commit time).

    Example:
        >>> with DatasetWriter(path, ["I1"], ["C1"]) as w:          # doctest: +SKIP
        ...     w.append("train", dense, sparse, labels)
        ...     w.commit({"source": {"kind": "example"}})
    """

    def __init__(
        self,
        out: str | os.PathLike,
        dense_names: list[str],
        sparse_names: list[str],
        *,
        sparse_dtype: str = "int32",
        with_prob: bool = False,
        overwrite: bool = False,
    ):
        self.out = Path(out)
        if self.out.exists() and not overwrite:
            raise DataError(f"{self.out} already exists; choose another --out or pass --overwrite")
        self.dense_names, self.sparse_names = list(dense_names), list(sparse_names)
        self.sparse_dtype = np.dtype(sparse_dtype)
        if self.sparse_dtype not in (np.dtype("int32"), np.dtype("int64")):
            raise ValueError(f"sparse_dtype must be int32 or int64, got {sparse_dtype}")
        self.with_prob = with_prob
        self.overwrite = overwrite
        self.out.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.out.parent.glob(f".{self.out.name}.tmp-*"):
            if not _writer_alive(stale.name):  # left by a killed writer, not one still writing
                shutil.rmtree(stale, ignore_errors=True)
        self.tmp = self.out.parent / f".{self.out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.tmp.mkdir()
        self._arrays: dict[str, dict[str, _ArrayAppender]] = {}
        self.stats: dict[str, SplitStats] = {}
        self._committed = False

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._committed:
            self.abort()

    def _open_split(self, split: str) -> dict[str, _ArrayAppender]:
        d = self.tmp / split
        d.mkdir()
        arrays = {
            "dense": _ArrayAppender(d / "dense.npy", np.float32, (len(self.dense_names),)),
            "sparse": _ArrayAppender(d / "sparse.npy", self.sparse_dtype, (len(self.sparse_names),)),
            "labels": _ArrayAppender(d / "labels.npy", np.float32, ()),
        }
        if self.with_prob:
            arrays["prob"] = _ArrayAppender(d / "prob.npy", np.float32, ())
        self.stats[split] = SplitStats(max_id=np.full(len(self.sparse_names), -1, dtype=np.int64))
        return arrays

    def append(
        self,
        split: str,
        dense: np.ndarray,
        sparse: np.ndarray,
        labels: np.ndarray,
        prob: np.ndarray | None = None,
    ) -> None:
        """Append rows to ``split``; all arrays must have the same number of rows."""
        n = len(labels)
        if len(dense) != n or len(sparse) != n or (prob is not None and len(prob) != n):
            raise ValueError(
                f"row counts differ: dense {len(dense)}, sparse {len(sparse)}, labels {n}"
                + (f", prob {len(prob)}" if prob is not None else "")
            )
        if (prob is None) == self.with_prob:
            raise ValueError(f"this writer was opened with with_prob={self.with_prob}")
        if split not in self._arrays:
            self._arrays[split] = self._open_split(split)
        arrays, st = self._arrays[split], self.stats[split]
        if n == 0:
            return
        if sparse.size and sparse.min() < 0:
            raise ValueError("sparse ids must be non-negative")
        if self.sparse_dtype == np.int32 and sparse.size and sparse.max() > np.iinfo(np.int32).max:
            raise ValueError("sparse ids exceed int32; open the writer with sparse_dtype='int64'")
        arrays["dense"].append(dense)
        arrays["sparse"].append(sparse)
        arrays["labels"].append(labels)
        if prob is not None:
            arrays["prob"].append(prob)
        st.rows += n
        st.clicks += float(np.sum(labels, dtype=np.float64))
        if sparse.size:
            np.maximum(st.max_id, sparse.max(axis=0), out=st.max_id)

    def commit(self, extra: dict[str, Any] | None = None, cardinalities: list[int] | None = None) -> "Dataset":
        """Close every split, write ``meta.json`` and move the dataset into place.

        Args:
            extra: JSON-ready provenance merged into ``meta.json`` (source, options, world, ...).
            cardinalities: Per-feature id space sizes; default: max id seen in any split + 1.
        """
        if not self._arrays:
            raise DataError(f"no rows were written to {self.out}")
        for arrays in self._arrays.values():
            for a in arrays.values():
                a.close()
        if cardinalities is None:
            seen = np.max(np.stack([s.max_id for s in self.stats.values()]), axis=0)
            cardinalities = [int(m) + 1 for m in seen]
        if len(cardinalities) != len(self.sparse_names):
            raise ValueError(f"{len(cardinalities)} cardinalities for {len(self.sparse_names)} sparse features")
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "dense_names": self.dense_names,
            "sparse_names": self.sparse_names,
            "sparse_dtype": self.sparse_dtype.name,
            "cardinalities": [int(c) for c in cardinalities],
            "has_prob": self.with_prob,
            "splits": {
                name: {"rows": st.rows, "ctr": st.clicks / st.rows if st.rows else None}
                for name, st in self.stats.items()
            },
        }
        meta.update(extra or {})
        (self.tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=False))
        if self.out.exists():
            if not self.overwrite:
                raise DataError(f"{self.out} appeared while writing; not replacing it")
            old = self.out.parent / f".{self.out.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(self.out, old)
            os.rename(self.tmp, self.out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(self.tmp, self.out)
        self._committed = True
        return Dataset(self.out)

    def abort(self) -> None:
        """Discard everything written so far."""
        for arrays in self._arrays.values():
            for a in arrays.values():
                if not a._f.closed:
                    try:
                        a._f.close()
                    except OSError:  # its flush failed (a full disk): the folder goes anyway, freeing the space
                        pass
        shutil.rmtree(self.tmp, ignore_errors=True)


@dataclass(frozen=True)
class Split:
    """Memory-mapped arrays of one split. ``prob`` is None unless the source knows it."""

    name: str
    dense: np.ndarray
    sparse: np.ndarray
    labels: np.ndarray
    prob: np.ndarray | None

    @property
    def rows(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class Dataset:
    """An opened dataset directory. Arrays are memory-mapped on first access to a split."""

    path: Path
    meta: dict[str, Any] = field(init=False)

    def __init__(self, path: str | os.PathLike):
        object.__setattr__(self, "path", Path(path))
        meta_path = self.path / "meta.json"
        if not meta_path.is_file():
            busy = still_being_written(self.path)
            raise DataError(f"{self.path} is {busy}" if busy else
                            f"{self.path} is not a recscale dataset (no meta.json); create one with `recscale data ...`")
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as e:
            raise DataError(f"{meta_path}: invalid JSON ({e})") from None
        if meta.get("format") != FORMAT:
            raise DataError(f"{meta_path}: format is {meta.get('format')!r}, expected {FORMAT!r}")
        object.__setattr__(self, "meta", meta)

    @property
    def n_dense(self) -> int:
        return len(self.meta["dense_names"])

    @property
    def n_sparse(self) -> int:
        return len(self.meta["sparse_names"])

    @property
    def cardinalities(self) -> list[int]:
        return list(self.meta["cardinalities"])

    def rows(self, split: str) -> int:
        return int(self.meta["splits"][split]["rows"]) if split in self.meta["splits"] else 0

    def split(self, name: str) -> Split:
        """Open split ``name`` memory-mapped; raises DataError if it does not exist."""
        if name not in self.meta["splits"]:
            raise DataError(f"{self.path} has no split {name!r}; it has {sorted(self.meta['splits'])}")
        d = self.path / name
        arrays = {}
        for a in _ARRAYS:
            p = d / f"{a}.npy"
            arrays[a] = np.load(p, mmap_mode="r") if p.exists() else None
        return Split(name, arrays["dense"], arrays["sparse"], arrays["labels"], arrays["prob"])
