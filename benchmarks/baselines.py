"""What the throughput benchmarks share: Criteo-shaped benchmark data and straightforward models.

The baselines are the models a PyTorch user writes first: one nn.EmbeddingBag (sparse gradients)
per feature, nn.Sequential MLPs, and the interaction written from its equations (torch.bmm for the
DLRM, x_0 * (U(V x) + b) + x for DCNv2's cross layers, Wukong's blocks as in its paper). Benchmarks
time them beside recscale's trainer in the same process, with the same optimiser (Adagrad) and the
same batches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from recscale.data.shards import Dataset, DatasetWriter

N_DENSE, N_SPARSE = 13, 26
LR_EMB, LR_DENSE = 0.05, 0.02  # recscale's default Adagrad rates (train/config.py)


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


def _seq(widths: list[int], final_relu: bool) -> nn.Sequential:
    mods = [m for a, b in zip(widths[:-1], widths[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
    return nn.Sequential(*(mods if final_relu else mods[:-1]))


class _Tables(nn.Module):
    """One nn.EmbeddingBag per feature with sparse gradients, and Adagrad on tables and the rest."""

    def _tables(self, rows: int, dim: int) -> None:
        self.embs = nn.ModuleList(nn.EmbeddingBag(rows, dim, mode="sum", sparse=True) for _ in range(N_SPARSE))

    def lookup(self, sparse: torch.Tensor) -> list[torch.Tensor]:
        offsets = torch.arange(sparse.shape[0], device=sparse.device)
        return [e(sparse[:, i], offsets) for i, e in enumerate(self.embs)]

    def optimizers(self) -> list[torch.optim.Optimizer]:
        """Adagrad on the tables (sparse) and on everything else, at recscale's default rates."""
        table = {id(p) for p in self.embs.parameters()}
        return [
            torch.optim.Adagrad(list(self.embs.parameters()), lr=LR_EMB),
            torch.optim.Adagrad([p for p in self.parameters() if id(p) not in table], lr=LR_DENSE),
        ]


class StraightforwardDCN(_Tables):
    """DCNv2 stacked as TorchRec's DLRM_DCN: bottom MLP, L low-rank cross layers on [x, e_1..e_F], top MLP."""

    def __init__(self, rows: int, dim: int, bottom: tuple[int, ...], top: tuple[int, ...], layers: int, rank: int):
        super().__init__()
        self._tables(rows, dim)
        self.bottom = _seq([N_DENSE, *bottom, dim], final_relu=True)
        width = (N_SPARSE + 1) * dim
        self.v = nn.ModuleList(nn.Linear(width, rank, bias=False) for _ in range(layers))
        self.u = nn.ModuleList(nn.Linear(rank, width) for _ in range(layers))
        self.top = _seq([width, *top, 1], final_relu=False)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        x0 = torch.cat([self.bottom(dense), *self.lookup(sparse)], dim=1)
        x = x0
        for v, u in zip(self.v, self.u):
            x = x0 * u(v(x)) + x
        return self.top(x).squeeze(1)


class _WukongLayer(nn.Module):
    def __init__(self, n_in: int, dim: int, n_f: int, n_l: int, k: int, hidden: tuple[int, ...]):
        super().__init__()
        self.n_f, self.dim = n_f, dim
        self.y = nn.Parameter(torch.randn(n_in, k) / n_in**0.5)
        self.fm_norm = nn.LayerNorm(n_in * k)
        self.fm_mlp = _seq([n_in * k, *hidden, n_f * dim], final_relu=False)
        self.w_l = nn.Parameter(torch.randn(n_l, n_in) / n_in**0.5)
        self.w_r = nn.Parameter(torch.randn(n_f + n_l, n_in) / n_in**0.5) if n_in != n_f + n_l else None
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, n, D]
        fm = torch.bmm(x, torch.matmul(x.transpose(1, 2), self.y))  # X (X^T Y) [B, n, k]
        fmb = self.fm_mlp(self.fm_norm(fm.flatten(1))).view(x.shape[0], self.n_f, self.dim)
        lcb = torch.matmul(self.w_l, x)  # [B, n_L, D]
        res = x if self.w_r is None else torch.matmul(self.w_r, x)
        return self.norm(torch.cat([fmb, lcb], dim=1) + res)


class StraightforwardWukong(_Tables):
    """Wukong: X_0 = [bottom(dense), e_1..e_F] [B, F+1, D], L layers of FMB and LCB, top MLP on the flattened output."""

    def __init__(self, rows: int, dim: int, bottom: tuple[int, ...], top: tuple[int, ...], layers: int,
                 n_f: int, n_l: int, k: int, hidden: tuple[int, ...]):  # fmt: skip
        super().__init__()
        self._tables(rows, dim)
        self.bottom = _seq([N_DENSE, *bottom, dim], final_relu=True)
        ns = [N_SPARSE + 1] + [n_f + n_l] * layers
        self.layers = nn.ModuleList(_WukongLayer(n, dim, n_f, n_l, k, hidden) for n in ns[:-1])
        self.top = _seq([ns[-1] * dim, *top, 1], final_relu=False)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        x = torch.stack([self.bottom(dense), *self.lookup(sparse)], dim=1)
        for layer in self.layers:
            x = layer(x)
        return self.top(x.flatten(1)).squeeze(1)


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
