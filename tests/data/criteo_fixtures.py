"""Tiny (or, for benchmarks, large) Criteo-format TSVs with realistic missing rates and negatives.

Missing rates follow the Kaggle data (I1 about 45% empty, I12 76%, C22 76%, ...); I2 has a few
negative counts, as in the real logs; categorical values are Zipf-distributed over a per-feature
table of random 32-bit hashes, with cardinalities from 3 to 2 million. Test helpers only: the
library never imports this module.
"""

from __future__ import annotations

import gzip as gzip_module
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

DENSE_MISSING = [0.45, 0, 0.21, 0.22, 0.026, 0.22, 0.04, 0.0005, 0.04, 0.45, 0.04, 0.76, 0.22]
SPARSE_MISSING = [0.0] * 19 + [0.44, 0.44, 0.76, 0.0, 0.44, 0.44, 0.44]
CARDINALITIES = [1400, 550, 2_000_000, 300_000, 300, 20, 12_000, 600, 3, 90_000, 5600, 1_500_000, 3200,
                 26, 11_000, 1_000_000, 10, 5600, 2100, 4, 1_200_000, 17, 15, 100_000, 100, 70_000]


def _hex8(values: np.ndarray) -> np.ndarray:
    """8-digit lowercase hex of uint32 values, vectorised: an [n] array of dtype S8."""
    v = values.astype(np.uint64)
    shifts = np.arange(28, -1, -4, dtype=np.uint64)
    nib = ((v[:, None] >> shifts) & np.uint64(0xF)).astype(np.uint8)
    chars = np.where(nib < 10, nib + ord("0"), nib - 10 + ord("a")).astype(np.uint8)
    return chars.view("S8").ravel()


def criteo_table(n: int, seed: int = 0, scale: float = 1.0) -> pa.Table:
    """``n`` Criteo records as a pyarrow table (nulls where a field is empty).

    ``scale`` < 1 shrinks the categorical cardinalities (small tests need fewer distinct values).
    """
    rng = np.random.default_rng(seed)
    cols = {"label": pa.array((rng.random(n) < 0.25).astype(np.int8))}
    for j, m in enumerate(DENSE_MISSING):
        v = rng.geometric(0.05, n).astype(np.int64) - 1
        if j == 1:  # I2: some negative counts, as in the real data
            v -= (rng.random(n) < 0.1) * rng.integers(1, 4, n)
        if j == 4:  # I5: a long tail of large counts
            v = (v * rng.pareto(1.0, n) * 100).astype(np.int64)
        cols[f"I{j + 1}"] = pa.array(v, mask=rng.random(n) < m)
    for j, (c, m) in enumerate(zip(CARDINALITIES, SPARSE_MISSING)):
        c = max(2, int(c * scale))
        table = pa.array(_hex8(rng.integers(0, 2**32, c, dtype=np.uint64)), pa.binary()).cast(pa.string())
        idx = np.minimum(rng.zipf(1.2, n) - 1, c - 1)
        cols[f"C{j + 1}"] = table.take(pa.array(idx, mask=rng.random(n) < m))
    return pa.table(cols)


def criteo_bytes(n: int, seed: int = 0, scale: float = 1.0) -> bytes:
    """``n`` Criteo lines, newline-terminated, as bytes."""
    sink = pa.BufferOutputStream()
    pcsv.write_csv(criteo_table(n, seed, scale), sink, pcsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none"))
    return sink.getvalue().to_pybytes()


def write_criteo(path: Path, n: int, seed: int = 0, *, gzip: bool = False, scale: float = 1.0, chunk: int = 1_000_000) -> Path:
    """Write ``n`` lines to ``path`` (gzip-compressed if asked), ``chunk`` lines at a time."""
    path = Path(path)
    opener = gzip_module.open if gzip else open
    with opener(path, "wb") as f:
        for i, start in enumerate(range(0, n, chunk)):
            f.write(criteo_bytes(min(chunk, n - start), seed + 1000 * i, scale))
    return path


# Corruptions of one good line, one per kind of bad input, as (kind, function of the line's fields).
def corrupt(line: bytes, kind: str) -> bytes:
    """A bad version of a good line (without newline) for each kind the parser reports."""
    f = line.split(b"\t")
    if kind == "wrong_field_count":  # too many fields (fewer are read as trailing fields missing)
        return b"\t".join([*f, b"1"])
    if kind == "bad_dense":
        f[5] = b"12a"
    elif kind == "bad_label":
        f[0] = b"2"
    elif kind == "bad_hex":
        f[20] = b"xyz12345"
    elif kind == "undecodable":
        f[30] = b"\xff\xfe" + f[30][2:] if f[30] else b"\xff\xfe"
    else:
        raise ValueError(kind)
    return b"\t".join(f)


def write_torchrec_day(directory: Path, day: int, data: bytes) -> None:
    """The arrays TorchRec's tsv_to_npys writes: missing -> 0, dense float32 log(x + 3), sparse int32."""
    dense, sparse, labels = [], [], []
    for line in data.decode().split("\n")[:-1]:
        f = line.split("\t")
        labels.append(int(f[0] or "0"))
        dense.append([int(v or "0") for v in f[1:14]])
        sparse.append([int(v or "0", 16) for v in f[14:]])
    with np.errstate(divide="ignore"):  # TorchRec's own formula gives -inf for a count of -3
        d = np.log(np.array(dense, dtype=np.int32) + 3, dtype=np.float32)
    s = np.array(sparse, dtype=np.int64).astype(np.uint32).view(np.int32)  # wrapped, as numpy 1.x stored it
    np.save(directory / f"day_{day}_dense.npy", d)
    np.save(directory / f"day_{day}_sparse.npy", s)
    np.save(directory / f"day_{day}_labels.npy", np.array(labels, dtype=np.int32).reshape(-1, 1))
