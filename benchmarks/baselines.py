"""What the throughput benchmarks share: Criteo-shaped benchmark data and the straightforward DLRM.

The baseline is the DLRM a PyTorch user writes first: one nn.EmbeddingBag (sparse gradients) per
feature, nn.Sequential MLPs and a torch.bmm interaction. Benchmarks time it beside recscale's
trainer in the same process, with the same optimiser (Adagrad) and the same batches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from recscale.data.shards import Dataset, DatasetWriter

N_DENSE, N_SPARSE = 13, 26
LR_EMB, LR_DENSE = 0.05, 0.02  # recscale's TrainConfig defaults


def make_data(path: Path, rows: int, card: int, seed: int = 0) -> Dataset:
    """A shards dataset of ``rows`` training rows: uniform dense features, Zipf ids, 20% positives."""
    rng = np.random.default_rng(seed)
    with DatasetWriter(path, [f"I{i}" for i in range(N_DENSE)], [f"C{i}" for i in range(N_SPARSE)], overwrite=True) as w:
        for split, n in (("train", rows), ("eval", 1024)):
            for s in range(0, n, 1 << 20):  # in chunks: 2M x 26 Zipf draws at once is memory-hungry
                m = min(1 << 20, n - s)
                ids = np.minimum(rng.zipf(1.2, (m, N_SPARSE)) - 1, card - 1).astype(np.int32)
                w.append(split, rng.random((m, N_DENSE), dtype=np.float32), ids, (rng.random(m) < 0.2).astype(np.float32))
        return w.commit(cardinalities=[card] * N_SPARSE)


class StraightforwardDLRM(nn.Module):
    """One nn.EmbeddingBag per feature (sparse gradients), nn.Sequential MLPs, torch.bmm interaction.

    Args:
        rows: Rows per table.
        dim: Embedding dimension D.
        bottom: Hidden widths of the bottom MLP (its last layer outputs D).
        top: Hidden widths of the top MLP (its last layer outputs 1).
    """

    def __init__(self, rows: int, dim: int, bottom: tuple[int, ...], top: tuple[int, ...]):
        super().__init__()
        self.embs = nn.ModuleList(nn.EmbeddingBag(rows, dim, mode="sum", sparse=True) for _ in range(N_SPARSE))
        w = [N_DENSE, *bottom, dim]
        self.bottom = nn.Sequential(*[m for a, b in zip(w[:-1], w[1:]) for m in (nn.Linear(a, b), nn.ReLU())])
        f = N_SPARSE + 1
        w = [dim + f * (f - 1) // 2, *top, 1]
        self.top = nn.Sequential(*[m for a, b in zip(w[:-1], w[1:]) for m in (nn.Linear(a, b), nn.ReLU())][:-1])
        li, lj = torch.tril_indices(f, f, offset=-1)
        self.register_buffer("li", li, persistent=False)
        self.register_buffer("lj", lj, persistent=False)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        x = self.bottom(dense)  # [B, D]
        offsets = torch.arange(sparse.shape[0], device=sparse.device)
        t = torch.stack([x, *(e(sparse[:, i], offsets) for i, e in enumerate(self.embs))], dim=1)  # [B, F+1, D]
        z = torch.bmm(t, t.transpose(1, 2))
        return self.top(torch.cat([x, z[:, self.li, self.lj]], dim=1)).squeeze(1)

    def optimizers(self) -> list[torch.optim.Optimizer]:
        """Adagrad on the tables (sparse) and on the MLPs, at recscale's default rates."""
        return [
            torch.optim.Adagrad(list(self.embs.parameters()), lr=LR_EMB),
            torch.optim.Adagrad([*self.bottom.parameters(), *self.top.parameters()], lr=LR_DENSE),
        ]
