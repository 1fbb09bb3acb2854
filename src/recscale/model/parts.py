"""Parts every architecture shares: MLPs, the fused hashed embedding tables, and their initialisation.

All tables live in one weight matrix ``embedding.weight`` with row offsets, so a lookup is one
gather and the trainer's fused sparse optimiser updates one tensor (the trainer finds it by the name
``embedding.``). Ids of features whose cardinality exceeds the table's rows are hashed with a fixed
universal hash (not ``id % rows``, which would make the frequent low ids of a Zipf feature never
collide). Every architecture subclasses :class:`EmbeddingModel` and only writes
``forward_embedded``; the trainer calls that with embeddings gathered outside autograd.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

_HASH_PRIME = 2_147_483_647  # 2**31 - 1; (id mod P) * A stays below 2**62, inside int64


def mlp(widths: list[int], final_relu: bool) -> nn.Sequential:
    """Linear layers of the given widths with ReLU between them (and after the last if asked)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2 or final_relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@torch.no_grad()
def init_linears(modules: Iterable[nn.Module]) -> None:
    """The DLRM reference's initialisation of linear layers: N(0, 2/(fan_in+fan_out)), bias N(0, 1/fan_out)."""
    for layer in modules:
        if isinstance(layer, nn.Linear):
            fan_out, fan_in = layer.weight.shape
            layer.weight.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)))
            layer.bias.normal_(0.0, math.sqrt(1.0 / fan_out))


@torch.no_grad()
def init_output_bias(last: nn.Linear, base_ctr: float | None) -> None:
    """Start the output near the base rate (NE near 1), not at a random tilt around it.

    The bias is the base rate's logit and the weights are scaled by 0.1. (Keeping the weights as
    initialised learned a little sooner on the demo's base model, but started small top MLPs above
    NE = 1 and left a 256-wide bottom MLP stuck near NE = 1 for 60 steps on one seed:
    benchmarks/RESULTS.md, "Training recipe".)
    """
    if base_ctr is not None:
        last.weight.mul_(0.1)
        last.bias.fill_(math.log(base_ctr / (1 - base_ctr)))


class EmbeddingModel(nn.Module):
    """Base of every architecture: fused, hashed embedding tables and the raw-id forward.

    Subclasses build their own layers, call :meth:`_build_embedding` (the order of module creation
    decides which random numbers each parameter draws, so it is the subclass's choice), and define
    ``forward_embedded(dense [B, n_dense], emb [B, F, D]) -> logits [B]``.
    """

    def _build_embedding(self, cardinalities: tuple[int, ...], table_rows: tuple[int, ...], dim: int) -> None:
        rows = table_rows
        self.embedding = nn.Embedding(sum(rows), dim)
        offsets = torch.tensor([0, *rows[:-1]], dtype=torch.long).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        hashed = torch.tensor([c > r for c, r in zip(cardinalities, rows)])
        self._any_hashed = bool(hashed.any())
        self.register_buffer("hashed", hashed, persistent=False)
        self.register_buffer("rows", torch.tensor(rows, dtype=torch.long), persistent=False)
        # Fixed per-feature multipliers of the universal hash ((id mod P) * a + b) mod P mod rows.
        gen = torch.Generator().manual_seed(0x5EED)
        self.register_buffer("hash_a", torch.randint(1, _HASH_PRIME, (len(rows),), generator=gen), persistent=False)
        self.register_buffer("hash_b", torch.randint(0, _HASH_PRIME, (len(rows),), generator=gen), persistent=False)

    @torch.no_grad()
    def _init_embedding(self, table_rows: tuple[int, ...]) -> None:
        """U(±1/sqrt(rows)) per table, as the DLRM reference (the trainer may redraw it: :meth:`reinit_embedding`)."""
        for start, n in zip(self.offsets.tolist(), table_rows):
            bound = math.sqrt(1.0 / n)
            self.embedding.weight[start : start + n].uniform_(-bound, bound)

    @torch.no_grad()
    def reinit_embedding(self, bound: float) -> None:
        """Redraw every table's rows from U(±bound), whatever the table's size (``train.embedding_init``)."""
        self.embedding.weight.uniform_(-bound, bound)

    @torch.no_grad()
    def zero_hidden_biases(self) -> None:
        """Zero the bias of every linear layer but the output (``train.mlp_bias_init = "zero"``).

        Every built-in ends in ``self.top``, whose last layer keeps the base rate's logit.
        """
        out = self.top[-1]
        for m in self.modules():
            if isinstance(m, nn.Linear) and m is not out and m.bias is not None:
                m.bias.zero_()

    def embedding_ids(self, sparse: torch.Tensor) -> torch.Tensor:
        """Raw ids [B, F] (any integer dtype) → rows of the fused table [B, F] (int64)."""
        ids = sparse.long()
        if self._any_hashed:  # a Python bool: no device sync on the hot path
            h = ((ids % _HASH_PRIME) * self.hash_a + self.hash_b) % _HASH_PRIME % self.rows
            ids = torch.where(self.hashed, h, ids)
        return ids + self.offsets

    def forward_embedded(self, dense: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        """Logits [B] from dense features [B, n_dense] and raw sparse ids [B, F]."""
        return self.forward_embedded(dense, self.embedding(self.embedding_ids(sparse)))
