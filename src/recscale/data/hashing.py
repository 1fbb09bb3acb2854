"""Seeded, platform-independent hashes: categorical keys, hashed ids and the per-record split.

Why not Python's ``hash``: it is salted per process. Everything here is a fixed function of its
inputs (wrapping uint64 arithmetic), so ids and splits never depend on the process, the platform
or the version. The conventions are documented once, in :mod:`recscale.data.ingest`.
"""

from __future__ import annotations

import numpy as np

_U64 = np.uint64
_GAMMA = _U64(0x9E3779B97F4A7C15)
_M1, _M2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_FNV_OFFSET, _FNV_PRIME = _U64(0xCBF29CE484222325), _U64(0x100000001B3)


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
