"""Exact duplicate records, and eval records that also occur in train, counted in bounded memory.

Why: a sample that is the same few hundred rows repeated, or an eval file that is a copy of a
training file, ingests without a single bad record, and every eval row then sits in train: the
eval NE measures memorisation. The counts go into ``meta.json`` (``stats.duplicates``), and the
ingest warns above :data:`WARN_SHARE`.

What is compared: a record's *features* are its dense values after the transform (float32 bits)
and its categorical keys before hashing (missing is its own value); a *record* is its features and
its label. Each row gets a 64-bit hash of its features (:func:`feature_hash`), computed in the
parsing threads.

Memory: hashes are kept only for rows whose feature hash has its lowest ``shift`` bits zero. While
fewer than :data:`MAX_KEPT` rows are kept, ``shift`` is 0 and the counts are exact (up to 64-bit
hash collisions, about 1 in 10^19 per pair). Beyond that, ``shift`` grows by one at a time and the
counts are scaled up by 2^shift: rows with equal features have equal hashes, so a duplicate and its
copy are always kept or dropped together, and the estimate is unbiased (``meta.json`` says
``exact: false`` and the sampling rate).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recscale.data.hashing import splitmix64

WARN_SHARE = 0.01  # warn when more than this share of records are duplicates, or of eval rows are in train
MAX_KEPT = 1 << 23  # row hashes kept (9 bytes each: about 75 MB)

_U64 = np.uint64
_MUL = _U64(0x100000001B3)  # the FNV prime: one xor and one multiply per column
_MISSING = _U64(0xA5A5_5A5A_C3C3_3C3C)  # the key of a missing categorical value
_LABEL = _U64(0x9E37_79B9_7F4A_7C15)


def feature_hash(dense: np.ndarray, keys: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's features ([n] uint64); equal features give equal hashes."""
    n = len(keys) if keys.ndim == 2 else len(dense)
    h = np.full(n, 0xCBF29CE484222325, dtype=_U64)
    bits = np.ascontiguousarray(dense, dtype=np.float32).view(np.uint32)
    with np.errstate(over="ignore"):
        for j in range(bits.shape[1]):
            h = (h ^ bits[:, j].astype(_U64)) * _MUL
        for j in range(keys.shape[1]):
            h = (h ^ np.where(missing[:, j], _MISSING, keys[:, j])) * _MUL
    return splitmix64(h)


def distinct(a: np.ndarray) -> int:
    """Number of distinct values, by sorting (numpy's hash-based ``unique`` is several times slower on uint64)."""
    if not len(a):
        return 0
    s = np.sort(a)
    return 1 + int(np.count_nonzero(s[1:] != s[:-1]))


def occurs_in(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which values of ``a`` occur in ``b`` (a sorted search; the same as ``np.isin``, faster on uint64)."""
    if not len(b):
        return np.zeros(len(a), bool)
    s = np.sort(b)
    i = np.minimum(np.searchsorted(s, a), len(s) - 1)
    return s[i] == a


class DuplicateCounter:
    """Collects feature hashes and labels of each split's rows, then counts duplicates and overlap."""

    def __init__(self, max_kept: int = MAX_KEPT):
        self.max_kept = max_kept
        self.shift = 0
        self.rows = {"train": 0, "eval": 0}
        self._hashes: dict[str, list[np.ndarray]] = {"train": [], "eval": []}
        self._labels: dict[str, list[np.ndarray]] = {"train": [], "eval": []}
        self._kept = 0

    def _mask(self, h: np.ndarray) -> np.ndarray:
        return (h & _U64((1 << self.shift) - 1)) == 0

    def add(self, split: str, hashes: np.ndarray, labels: np.ndarray) -> None:
        """Rows of ``split`` ("train" or "eval") with their feature hashes and 0/1 labels."""
        self.rows[split] += len(hashes)
        keep = self._mask(hashes)
        self._hashes[split].append(hashes[keep])
        self._labels[split].append(labels[keep].astype(np.uint8))
        self._kept += int(keep.sum())
        while self._kept > self.max_kept:
            self.shift += 1
            self._kept = 0
            for s in self._hashes:
                h, y = self._joined(s)
                m = self._mask(h)
                self._hashes[s], self._labels[s] = [h[m]], [y[m]]
                self._kept += int(m.sum())

    def _joined(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        h = np.concatenate(self._hashes[split]) if self._hashes[split] else np.zeros(0, _U64)
        y = np.concatenate(self._labels[split]) if self._labels[split] else np.zeros(0, np.uint8)
        return h, y

    def result(self) -> dict[str, Any]:
        """The counts, as stored in meta.json (estimates scaled by the sampling rate when not exact)."""
        scale = 1 << self.shift
        (ht, yt), (he, ye) = self._joined("train"), self._joined("eval")
        rec_t = np.where(yt == 1, splitmix64(ht ^ _LABEL), ht)
        rec_e = np.where(ye == 1, splitmix64(he ^ _LABEL), he)
        everything = np.concatenate([rec_t, rec_e])
        duplicates = (len(everything) - distinct(everything)) * scale
        in_train = int(occurs_in(rec_e, rec_t).sum()) * scale
        features_in_train = int(occurs_in(he, ht).sum()) * scale
        rows = self.rows["train"] + self.rows["eval"]
        return {
            "records": rows,
            "duplicate_records": min(duplicates, rows),
            "duplicate_share": round(min(duplicates, rows) / rows, 6) if rows else 0.0,
            "eval_records": self.rows["eval"],
            "eval_in_train": min(in_train, self.rows["eval"]),
            "eval_in_train_share": round(min(in_train, self.rows["eval"]) / self.rows["eval"], 6) if self.rows["eval"] else 0.0,
            "eval_features_in_train": min(features_in_train, self.rows["eval"]),
            "exact": self.shift == 0,
            "sampling_rate": 1.0 / scale,
            "compared": "dense values after the transform, categorical keys before hashing, and the label",
        }


def warnings(counts: dict[str, Any]) -> list[str]:
    """One line per share above :data:`WARN_SHARE`, saying what it means and what to check."""
    out = []
    approx = "" if counts["exact"] else "about "
    if counts["duplicate_share"] > WARN_SHARE:
        out.append(
            f"{approx}{counts['duplicate_records']:,} of {counts['records']:,} records "
            f"({counts['duplicate_share']:.1%}) are exact copies of another record (same features and label); "
            "a sample of repeated rows measures less than its size suggests: check how the file was made"
        )
    if counts["eval_in_train_share"] > WARN_SHARE:
        out.append(
            f"{approx}{counts['eval_in_train']:,} of {counts['eval_records']:,} eval records "
            f"({counts['eval_in_train_share']:.1%}) also occur in train with the same features and label, "
            "so eval NE rewards memorising them: check that the eval input is not a copy of a training input, "
            "and remove repeated rows"
        )
    return out
