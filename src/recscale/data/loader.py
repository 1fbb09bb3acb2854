"""Contiguous training batches from a shards split, with no per-row Python.

The training stream is read in file order (for real logs that is time order, as one-pass training
in production sees it), or in a fixed permutation of it (``stream_order``: one per seed, so seeds
sample the stream as well as the initialisation). Rows are copied from the memory map a block at a
time into torch tensors, then sliced into batches without further copies; on a GPU the block is
pinned and copied asynchronously, and (with ``prefetch``) the next block is read by a background
thread meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from recscale.data.shards import Split

BLOCK_ROWS = 1 << 16
_STREAM_KEY = 0x5EED_0D3  # mixed with the seed, so the order's generator is not the model's


def stream_order(rows: int, seed: int) -> np.ndarray:
    """The permutation of a split's ``rows`` that seed ``seed`` reads (``train.stream = "per_seed"``).

    A function of (rows, seed) alone, so a resumed or extended run reads the order it started with,
    and every trial of one seed reads the same one (common random numbers within a seed).
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _STREAM_KEY]))
    dtype = np.int32 if rows < 2**31 else np.int64
    return rng.permutation(rows).astype(dtype, copy=False)


@dataclass(frozen=True)
class Batch:
    """One batch: dense [B, n_dense] float32, sparse [B, F] int64, labels [B] float32."""

    dense: torch.Tensor
    sparse: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def load_rows(split: Split, start: int, stop: int, device: torch.device | str = "cpu") -> Batch:
    """Rows [start, stop) of a split as one batch on ``device``."""
    device = torch.device(device)
    return _to_device(_host_rows(split, start, stop, pin=device.type == "cuda"), device)


def _host_rows(split: Split, start: int, stop: int, pin: bool, order: np.ndarray | None = None) -> Batch:
    # Copy out of the memory map into (pinned, for an asynchronous copy to a GPU) host tensors.
    if order is not None:
        # Read the block's rows in file order (sequential reads), then put them in stream order.
        idx = order[start:stop]
        sorted_idx = np.sort(idx)
        back = np.searchsorted(sorted_idx, idx)

    def t(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        rows = np.array(a[start:stop]) if order is None else np.asarray(a[sorted_idx])[back]
        x = torch.from_numpy(rows).to(dtype)
        return x.pin_memory() if pin else x

    return Batch(t(split.dense, torch.float32), t(split.sparse, torch.int64), t(split.labels, torch.float32))


def _to_device(b: Batch, device: torch.device) -> Batch:
    if device.type == "cpu":
        return b
    # From pinned memory this returns at once; the copy runs on the device's stream before the
    # kernels that use it, so the host can go on preparing the next block.
    return Batch(*(x.to(device, non_blocking=True) for x in (b.dense, b.sparse, b.labels)))


def iter_batches(
    split: Split,
    batch_size: int,
    stop: int,
    *,
    start: int = 0,
    device: torch.device | str = "cpu",
    block_rows: int = BLOCK_ROWS,
    prefetch: bool = False,
    size_at: Callable[[int], int] | None = None,
    order: np.ndarray | None = None,
) -> Iterator[Batch]:
    """Yield consecutive batches covering rows [start, stop) of ``split``; the last may be short.

    With ``prefetch``, a background thread reads (and pins) the next block from the memory map
    while the current one trains; the batches are the same either way. ``size_at(row)``, when
    given, is the size of the batch that starts at ``row``: a divisor of ``batch_size`` that ``row``
    is a multiple of, so no batch straddles two blocks. ``order``, when given, is the permutation of
    the split's rows to read (:func:`stream_order`): row i of the stream is file row ``order[i]``.
    """
    if stop > split.rows:
        raise ValueError(f"asked for rows up to {stop:,} but split {split.name!r} has {split.rows:,}")
    device = torch.device(device)
    pin = device.type == "cuda"
    block_rows = max(batch_size, block_rows // batch_size * batch_size)
    starts = range(start, stop, block_rows)

    def host(b0: int) -> Batch:
        return _host_rows(split, b0, min(b0 + block_rows, stop), pin, order)

    if prefetch:
        blocks = _prefetched(host, starts)
    else:
        blocks = (host(b0) for b0 in starts)
    for b0, block in zip(starts, blocks):
        block = _to_device(block, device)
        i = 0
        while i < len(block):
            b = batch_size if size_at is None else size_at(b0 + i)
            yield Batch(block.dense[i : i + b], block.sparse[i : i + b], block.labels[i : i + b])
            i += b


def _prefetched(host: Callable[[int], Batch], starts: range) -> Iterator[Batch]:
    """``host(b0)`` for each start, computed one block ahead in a background thread."""
    if not starts:
        return
    with ThreadPoolExecutor(1, thread_name_prefix="recscale-prefetch") as pool:
        nxt = pool.submit(host, starts[0])
        for b0 in starts[1:]:
            cur, nxt = nxt, pool.submit(host, b0)
            yield cur.result()
        yield nxt.result()
