"""Categorical keys → embedding ids: hash buckets, or a vocabulary counted over training rows.

Why counts are merged in sorted arrays rather than a dict: a Terabyte day has hundreds of millions
of keys; numpy arrays take about 16 bytes per distinct key and merge in amortised O(n log n).
"""

from __future__ import annotations

import numpy as np

from recscale.data.hashing import hash_buckets

_U64 = np.uint64


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
