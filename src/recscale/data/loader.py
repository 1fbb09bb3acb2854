"""Contiguous training batches from a shards split, with no per-row Python.

The training stream is read in file order (for real logs that is time order, as one-pass training
in production sees it). Rows are copied from the memory map a block at a time into torch tensors,
then sliced into batches without further copies; on a GPU the block is pinned and copied
asynchronously.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from recscale.data.shards import Split

BLOCK_ROWS = 1 << 16


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
    pin = device.type == "cuda"

    def t(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        x = torch.from_numpy(np.array(a[start:stop])).to(dtype)
        return x.pin_memory().to(device, non_blocking=True) if pin else x

    return Batch(t(split.dense, torch.float32), t(split.sparse, torch.int64), t(split.labels, torch.float32))


def iter_batches(
    split: Split,
    batch_size: int,
    stop: int,
    *,
    start: int = 0,
    device: torch.device | str = "cpu",
    block_rows: int = BLOCK_ROWS,
) -> Iterator[Batch]:
    """Yield consecutive batches covering rows [start, stop) of ``split``; the last may be short."""
    if stop > split.rows:
        raise ValueError(f"asked for rows up to {stop:,} but split {split.name!r} has {split.rows:,}")
    block_rows = max(batch_size, block_rows // batch_size * batch_size)
    for b0 in range(start, stop, block_rows):
        block = load_rows(split, b0, min(b0 + block_rows, stop), device)
        for i in range(0, len(block), batch_size):
            yield Batch(block.dense[i : i + batch_size], block.sparse[i : i + batch_size], block.labels[i : i + batch_size])
