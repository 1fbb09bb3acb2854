"""DCNv2 (Wang et al. 2021) arranged as TorchRec's ``DLRM_DCN``: bottom MLP, cross network, top MLP.

Shapes used throughout:
    B: batch size
    F: number of sparse features, one embedding table each
    D: embedding dimension (also the bottom MLP's output width)
    W: (F+1)·D, the width of the cross network
    r: rank of each cross layer (full rank when the config's ``cross_rank`` is None)

Data flow::

    dense [B, n_dense] ─► bottom MLP ─► x [B, D] ─┐
    sparse [B, F] ─► embeddings [B, F, D] ────────┴► x_0 = concat [B, W]
        ─► L cross layers x_{l+1} = x_0 ⊙ (U_l (V_l^T x_l) + b_l) + x_l ─► top MLP ─► logit [B]

The cross network and the top MLP are *stacked* (the MLPerf DLRM-DCNv2 reference and TorchRec's
``DLRM_DCN``), not DCNv2's "parallel" variant with a deep tower beside the cross tower. Embedding
tables, hashing and MLPs are shared with the DLRM (:mod:`recscale.model.parts`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from recscale.model.config import DCNConfig
from recscale.model.parts import EmbeddingModel, init_linears, init_output_bias, mlp


class CrossNet(nn.Module):
    """L cross layers x_{l+1} = x_0 ⊙ (U_l (V_l^T x_l) + b_l) + x_l, or x_0 ⊙ (W_l x_l + b_l) + x_l.

    Args:
        width: W, the width of x_0.
        layers: L.
        rank: r; None for full-rank W_l [W, W].
    """

    def __init__(self, width: int, layers: int, rank: int | None):
        super().__init__()
        self.rank = rank
        if rank is None:
            self.w = nn.ModuleList(nn.Linear(width, width) for _ in range(layers))
        else:  # V_l^T as a bias-free [W → r] layer, U_l and b_l as one [r → W] layer
            self.v = nn.ModuleList(nn.Linear(width, rank, bias=False) for _ in range(layers))
            self.u = nn.ModuleList(nn.Linear(rank, width) for _ in range(layers))

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Xavier-normal kernels and zero biases, as TorchRec's cross networks."""
        for layer in [*getattr(self, "w", []), *getattr(self, "v", []), *getattr(self, "u", [])]:
            fan_out, fan_in = layer.weight.shape
            layer.weight.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)))
            if layer.bias is not None:
                layer.bias.zero_()

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        """x_0 [B, W] → x_L [B, W]."""
        x = x0
        if self.rank is None:
            for w in self.w:
                x = torch.addcmul(x, x0, w(x))
        else:
            for v, u in zip(self.v, self.u):
                x = torch.addcmul(x, x0, u(v(x)))
        return x


class DCNv2(EmbeddingModel):
    """DCNv2 with fused embedding tables, stacked cross network and top MLP.

    Args:
        config: The architecture. The constructor only builds and initialises parameters.

    Example:
        >>> model = DCNv2(DCNConfig(n_dense=13, cardinalities=(10, 1000), embedding_dim=8, cross_rank=4))
        >>> model(torch.zeros(4, 13), torch.zeros(4, 2, dtype=torch.long)).shape
        torch.Size([4])
    """

    def __init__(self, config: DCNConfig):
        super().__init__()
        self.config = config
        d, w = config.embedding_dim, config.interaction_width
        self.bottom = mlp([config.n_dense, *config.bottom_mlp, d], final_relu=True)
        self.cross = CrossNet(w, config.cross_layers, config.cross_rank)
        self.top = mlp([w, *config.top_mlp, 1], final_relu=False)
        self._build_embedding(config.cardinalities, config.table_rows, d)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """DLRM-reference tables and MLPs, TorchRec cross layers, output bias at the base rate."""
        self._init_embedding(self.config.table_rows)
        init_linears([*self.bottom, *self.top])
        self.cross.reset_parameters()
        init_output_bias(self.top[-1], self.config.base_ctr)

    def forward_embedded(self, dense: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """Logits from dense features [B, n_dense] and looked-up embeddings [B, F, D] → [B]."""
        x = self.bottom(dense)  # [B, D]
        x0 = torch.cat([x, emb.flatten(1)], dim=1)  # [B, W], the same order as DLRM's [x, e_1..e_F]
        return self.top(self.cross(x0)).squeeze(1)
