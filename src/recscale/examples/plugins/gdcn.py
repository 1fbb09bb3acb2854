"""GDCN (Wang et al., CIKM 2023, "Towards Deeper, Lighter and Interpretable Cross Network for CTR
Prediction") as a recscale plugin: gated cross layers, then a DNN (the stacked form, GDCN-S).

Shapes: B batch, F sparse features, D embedding width, W = (F + 1)·D (the dense features become one
D-wide field, ReLU(W_0 x_dense), as DLRM's bottom layer).

The paper's gated cross layer, on c_0 = [v_0, e_1, ..., e_F] ∈ R^W::

    c_{l+1} = c_0 ⊙ (W_l^(c) c_l + b_l) ⊙ σ(W_l^(g) c_l) + c_l,    W_l^(c), W_l^(g) ∈ R^{W×W}

The information gate σ(W^(g) c_l) learns which cross features matter (DCNv2's layer is this without
the gate). GDCN-S feeds c_L to a DNN: ŷ = σ(w^T h_K), h_k = ReLU(U_k h_{k-1} + a_k), h_0 = c_L; the
output bias is recscale's.

Keywords: ``cross_layers`` (L), ``hidden`` (width of each DNN layer), ``layers`` (DNN depth K).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from recscale.model.parts import init_linears, mlp
from recscale.model.plugin import Architecture, Context


class GatedCrossLayer(nn.Module):
    """c_0 ⊙ (W^(c) c + b) ⊙ σ(W^(g) c) + c, on [B, W]."""

    def __init__(self, width: int):
        super().__init__()
        self.cross = nn.Linear(width, width)
        self.gate = nn.Linear(width, width, bias=False)
        for w in (self.cross.weight, self.gate.weight):  # Xavier-normal, as DCNv2's layers here
            nn.init.normal_(w, 0.0, math.sqrt(1.0 / width))
        nn.init.zeros_(self.cross.bias)

    def forward(self, c0: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return c0 * self.cross(c) * torch.sigmoid(self.gate(c)) + c


class GDCN(Architecture):
    """GDCN-S over recscale's embeddings (see the module docstring for the equations).

    Args:
        context: n_dense, F and D from recscale.
        cross_layers: L, gated cross layers.
        hidden: Width of every hidden layer of the DNN.
        layers: K, hidden layers of the DNN.
    """

    def __init__(self, context: Context, cross_layers: int = 2, hidden: int = 64, layers: int = 2):
        super().__init__()
        d = context.embedding_dim
        width = (context.n_sparse + 1) * d
        self.bottom = mlp([context.n_dense, d], final_relu=True)
        self.cross = nn.ModuleList(GatedCrossLayer(width) for _ in range(cross_layers))
        self.dnn = mlp([width, *[hidden] * layers], final_relu=True)
        self.out = nn.Linear(hidden if layers else width, 1, bias=False)  # recscale adds the output bias
        init_linears([*self.bottom, *self.dnn])
        nn.init.normal_(self.out.weight, 0.0, 0.01)

    def forward_embedded(self, dense: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """Logits [B] from dense features [B, n_dense] and embeddings [B, F, D]."""
        c0 = torch.cat([self.bottom(dense), emb.flatten(1)], dim=1)  # [B, W]
        c = c0
        for layer in self.cross:
            c = layer(c0, c)
        return self.out(self.dnn(c)).squeeze(1)
