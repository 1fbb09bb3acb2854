"""DLRM (Naumov et al. 2019), the model family whose scaling Ardalani et al. (2022) study.

Shapes used throughout:
    B: batch size
    F: number of sparse (categorical) features, one embedding table each
    D: embedding dimension (also the bottom MLP's output width, so dense and sparse vectors interact)
    n_dense: number of dense features

Data flow::

    dense [B, n_dense] ─► bottom MLP ─► x [B, D] ─┐
    sparse [B, F] ─► hash ─► embeddings [B, F, D] ─┴► interaction [B, I] ─► top MLP ─► logit [B]

The embedding tables, their hashing and the MLPs are shared with the other architectures
(:mod:`recscale.model.parts`).
"""

from __future__ import annotations

import torch

from recscale.model.config import DLRMConfig
from recscale.model.parts import EmbeddingModel, init_linears, init_output_bias, mlp


class DLRM(EmbeddingModel):
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
        d = config.embedding_dim
        self.bottom = mlp([config.n_dense, *config.bottom_mlp, d], final_relu=True)
        self.top = mlp([config.interaction_width, *config.top_mlp, 1], final_relu=False)
        self._build_embedding(config.cardinalities, config.table_rows, d)
        f = len(config.cardinalities) + 1
        li, lj = torch.tril_indices(f, f, offset=-1)
        # Flat positions of the strict lower triangle of the [F+1, F+1] Gram matrix: index_select on
        # a flat view is much cheaper forward and backward than advanced indexing with two tensors.
        self.register_buffer("tri_flat", li * f + lj, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Initialise as the DLRM reference: U(±1/sqrt(rows)) per table, N(0, 2/(fan_in+fan_out))."""
        self._init_embedding(self.config.table_rows)
        init_linears([*self.bottom, *self.top])
        init_output_bias(self.top[-1], self.config.base_ctr)

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
