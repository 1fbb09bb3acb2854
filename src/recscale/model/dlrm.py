"""DLRM (Naumov et al. 2019), the model family whose scaling Ardalani et al. (2022) study.

Shapes used throughout:
    B: batch size
    F: number of sparse (categorical) features, one embedding table each
    D: embedding dimension (also the bottom MLP's output width, so dense and sparse vectors interact)
    n_dense: number of dense features

Data flow::

    dense [B, n_dense] ─► bottom MLP ─► x [B, D] ─┐
    sparse [B, F] ─► hash ─► embeddings [B, F, D] ─┴► interaction [B, I] ─► top MLP ─► logit [B]

Embedding tables have ``min(cardinality, embedding_rows)`` rows. Ids of features whose cardinality
exceeds the cap are hashed with a fixed universal hash (not ``id % rows``, which would make the
frequent low ids of a Zipf feature never collide). All tables live in one weight matrix with row
offsets, so a lookup is one gather and a sparse optimiser updates one tensor; this is an
implementation detail (TorchRec fuses tables the same way), not a model change.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from recscale.model.config import DLRMConfig

_HASH_PRIME = 2_147_483_647  # 2**31 - 1; (id mod P) * A stays below 2**62, inside int64


def _mlp(widths: list[int], final_relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2 or final_relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class DLRM(nn.Module):
    """DLRM with fused embedding tables.

    Args:
        config: The architecture. The constructor only builds and initialises parameters.

    Example:
        >>> cfg = DLRMConfig(n_dense=13, cardinalities=(10, 1000), embedding_dim=8)
        >>> model = DLRM(cfg)
        >>> model(torch.zeros(4, 13), torch.zeros(4, 2, dtype=torch.long)).shape
        torch.Size([4])
    """

    def __init__(self, config: DLRMConfig):
        super().__init__()
        self.config = config
        rows = config.table_rows
        d = config.embedding_dim
        self.bottom = _mlp([config.n_dense, *config.bottom_mlp, d], final_relu=True)
        self.top = _mlp([config.interaction_width, *config.top_mlp, 1], final_relu=False)
        self.embedding = nn.Embedding(sum(rows), d)

        offsets = torch.tensor([0, *rows[:-1]], dtype=torch.long).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        hashed = torch.tensor([c > r for c, r in zip(config.cardinalities, rows)])
        self._any_hashed = bool(hashed.any())
        self.register_buffer("hashed", hashed, persistent=False)
        self.register_buffer("rows", torch.tensor(rows, dtype=torch.long), persistent=False)
        # Fixed per-feature multipliers of the universal hash ((id mod P) * a + b) mod P mod rows.
        gen = torch.Generator().manual_seed(0x5EED)
        self.register_buffer("hash_a", torch.randint(1, _HASH_PRIME, (len(rows),), generator=gen), persistent=False)
        self.register_buffer("hash_b", torch.randint(0, _HASH_PRIME, (len(rows),), generator=gen), persistent=False)
        f = len(rows) + 1
        li, lj = torch.tril_indices(f, f, offset=-1)
        # Flat positions of the strict lower triangle of the [F+1, F+1] Gram matrix: index_select on
        # a flat view is much cheaper forward and backward than advanced indexing with two tensors.
        self.register_buffer("tri_flat", li * f + lj, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Initialise as the DLRM reference: U(±1/sqrt(rows)) per table, N(0, 2/(fan_in+fan_out))."""
        for start, n in zip(self.offsets.tolist(), self.config.table_rows):
            bound = math.sqrt(1.0 / n)
            self.embedding.weight[start : start + n].uniform_(-bound, bound)
        for layer in [*self.bottom, *self.top]:
            if isinstance(layer, nn.Linear):
                fan_out, fan_in = layer.weight.shape
                layer.weight.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)))
                layer.bias.normal_(0.0, math.sqrt(1.0 / fan_out))
        if self.config.base_ctr is not None:
            p = self.config.base_ctr
            last = self.top[-1]
            last.weight.mul_(0.1)  # start close to the base rate, not at a random tilt around it
            last.bias.fill_(math.log(p / (1 - p)))

    def embedding_ids(self, sparse: torch.Tensor) -> torch.Tensor:
        """Raw ids [B, F] (any integer dtype) → rows of the fused table [B, F] (int64)."""
        ids = sparse.long()
        if self._any_hashed:  # a Python bool: no device sync on the hot path
            h = ((ids % _HASH_PRIME) * self.hash_a + self.hash_b) % _HASH_PRIME % self.rows
            ids = torch.where(self.hashed, h, ids)
        return ids + self.offsets

    def forward_embedded(self, dense: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """Logits from dense features [B, n_dense] and looked-up embeddings [B, F, D] → [B].

        The trainer calls this with embeddings gathered outside autograd, so it can update the
        touched rows with a fused sparse optimiser instead of materialising a table-sized gradient.
        """
        x = self.bottom(dense)  # [B, D]
        if self.config.interaction == "dot":
            t = torch.cat([x.unsqueeze(1), emb], dim=1)  # [B, F+1, D]
            z = torch.bmm(t, t.transpose(1, 2))  # [B, F+1, F+1]
            r = torch.cat([x, z.flatten(1).index_select(1, self.tri_flat)], dim=1)  # [B, D + (F+1)F/2]
        else:
            r = torch.cat([x, emb.flatten(1)], dim=1)  # [B, D(F+1)]
        return self.top(r).squeeze(1)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        """Logits [B] from dense features [B, n_dense] and raw sparse ids [B, F]."""
        return self.forward_embedded(dense, self.embedding(self.embedding_ids(sparse)))
