"""DeepFM (Guo et al., IJCAI 2017) as a recscale plugin: a factorisation machine and a DNN side by side.

Shapes: B batch, F sparse features, D embedding width, n = F + 1 fields (the dense features become
one D-wide field, v_0 = ReLU(W_0 x_dense), as DLRM's bottom layer; the other fields are e_1..e_F).

The paper's model, on the fields' embeddings v_1..v_n::

    ŷ = σ(y_FM + y_DNN)
    y_FM  = <w, x> + Σ_{i<j} <v_i, v_j>          first order + pairwise interactions
          = <w, x> + ½ Σ_d [(Σ_i v_id)² − Σ_i v_id²]   (the O(n·D) form of the pairwise sum)
    y_DNN = W_L σ(... σ(W_1 a⁽⁰⁾ + b_1) ...),  a⁽⁰⁾ = [v_1, ..., v_n]   (the same embeddings: shared input)

recscale's tables hold D-wide embeddings, not the paper's per-id scalar weights, so the first-order
term <w, x> is a learned linear form of the raw dense features and the embeddings (one weight per
embedding coordinate); the bias is recscale's. The pairwise term is elementwise, so FlopCounterMode
(which counts matrix products, as recscale's cost convention) counts only the linear layers.

Keywords: ``hidden`` (width of each DNN layer) and ``layers`` (DNN depth).
"""

from __future__ import annotations

import torch
from torch import nn

from recscale.model.parts import init_linears, mlp
from recscale.model.plugin import Architecture, Context


class DeepFM(Architecture):
    """DeepFM's FM and DNN over recscale's embeddings (see the module docstring for the equations).

    Args:
        context: n_dense, F and D from recscale.
        hidden: Width of every hidden layer of the DNN.
        layers: Number of hidden layers of the DNN.
    """

    def __init__(self, context: Context, hidden: int = 64, layers: int = 2):
        super().__init__()
        d, n = context.embedding_dim, context.n_sparse + 1
        self.bottom = mlp([context.n_dense, d], final_relu=True)  # v_0 [B, D]
        self.first_order = nn.Linear(context.n_dense + context.n_sparse * d, 1, bias=False)  # <w, x>
        self.dnn = mlp([n * d, *[hidden] * layers, 1], final_relu=False)
        self.dnn[-1] = nn.Linear(hidden if layers else n * d, 1, bias=False)  # recscale adds the output bias
        init_linears([*self.bottom, *self.dnn[:-1]])
        nn.init.normal_(self.dnn[-1].weight, 0.0, 0.01)
        nn.init.normal_(self.first_order.weight, 0.0, 0.01)

    def forward_embedded(self, dense: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """Logits [B] from dense features [B, n_dense] and embeddings [B, F, D]."""
        v = torch.cat([self.bottom(dense).unsqueeze(1), emb], dim=1)  # [B, n, D]
        first = self.first_order(torch.cat([dense, emb.flatten(1)], dim=1)).squeeze(1)  # [B]
        pairwise = 0.5 * (v.sum(1).square() - v.square().sum(1)).sum(1)  # [B]
        return first + pairwise + self.dnn(v.flatten(1)).squeeze(1)
