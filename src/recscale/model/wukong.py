"""Wukong (Zhang et al., ICML 2024): a stack of factorisation-machine and linear-compress blocks.

Shapes used throughout:
    B: batch size
    F: number of sparse features, one embedding table each
    D: embedding dimension
    n_i: embeddings entering layer i (n_0 = F + dense_embeddings; n_{i>0} = n_F + n_L)
    n_F, n_L: embeddings out of each factorisation-machine block (FMB) and linear-compress block (LCB)
    k: the FM's rank (columns of its learned projection Y)

Data flow::

    dense [B, n_dense] ─► bottom MLP ─► [B, dense_embeddings, D] ─┐
    sparse [B, F] ─► embeddings [B, F, D] ─────────────────────────┴► X_0 [B, n_0, D]
        ─► L layers X_{i+1} = LN(concat(FMB_i(X_i), LCB_i(X_i)) + residual_i(X_i)) [B, n_F + n_L, D]
        ─► flatten ─► top MLP ─► logit [B]

    FMB(X) = reshape(MLP(LN(flatten(X (X^T Y)))), [n_F, D]),  Y [n_i, k]: the optimised FM, X X^T Y
             computed right to left so it costs O(n·k·D), not O(n²·D)
    LCB(X) = W_L X,  W_L [n_L, n_i]: a learned recombination along the embedding axis
    residual(X) = X when n_i = n_F + n_L, else W_R X with a learned W_R [n_F + n_L, n_i]

LN is a LayerNorm over each embedding's D values in the layer output and over the n_i·k FM values
inside the FMB (the paper leaves the axes open; this is the common reading). The three products
along the embedding axis (X^T Y, LCB, residual projection) share one matrix product per layer.
Embedding tables, hashing and MLPs are shared with the DLRM (:mod:`recscale.model.parts`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from recscale.model.config import WukongConfig
from recscale.model.parts import EmbeddingModel, init_linears, init_output_bias, mlp


class WukongLayer(nn.Module):
    """One Wukong layer: X_i [B, n_i, D] → X_{i+1} [B, n_F + n_L, D].

    Args:
        n_in: n_i.
        dim: D.
        n_fmb: n_F.
        n_lcb: n_L.
        rank: k.
        hidden: Hidden widths of the FMB's MLP.
    """

    def __init__(self, n_in: int, dim: int, n_fmb: int, n_lcb: int, rank: int, hidden: tuple[int, ...]):
        super().__init__()
        self.n_fmb, self.n_lcb, self.rank = n_fmb, n_lcb, rank
        n_out = n_fmb + n_lcb
        self.fm_proj = nn.Parameter(torch.empty(n_in, rank))  # Y
        self.fm_norm = nn.LayerNorm(n_in * rank)
        self.fm_mlp = mlp([n_in * rank, *hidden, n_fmb * dim], final_relu=False)
        self.lcb = nn.Parameter(torch.empty(n_lcb, n_in))  # W_L
        self.res_proj = nn.Parameter(torch.empty(n_out, n_in)) if n_in != n_out else None  # W_R
        self.norm = nn.LayerNorm(dim)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Xavier-normal projections, DLRM-reference MLP, unit LayerNorms."""
        for w in (self.fm_proj, self.lcb, self.res_proj):
            if w is not None:
                w.normal_(0.0, math.sqrt(2.0 / sum(w.shape)))
        init_linears(self.fm_mlp)
        for ln in (self.fm_norm, self.norm):
            ln.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """X_i [B, n_i, D] → X_{i+1} [B, n_F + n_L, D]."""
        b, _, d = x.shape
        k, nl = self.rank, self.n_lcb
        mats = [self.fm_proj, self.lcb.t()] + ([] if self.res_proj is None else [self.res_proj.t()])
        # One product along the embedding axis: X^T [B, D, n_i] @ [Y | W_L^T | W_R^T].
        xt = torch.matmul(x.transpose(1, 2), torch.cat(mats, dim=1))  # [B, D, k + n_L (+ n_out)]
        fm = torch.bmm(x, xt[:, :, :k])  # X (X^T Y) [B, n_i, k]
        fmb = self.fm_mlp(self.fm_norm(fm.flatten(1))).view(b, self.n_fmb, d)  # [B, n_F, D]
        lcb = xt[:, :, k : k + nl].transpose(1, 2)  # W_L X [B, n_L, D]
        res = x if self.res_proj is None else xt[:, :, k + nl :].transpose(1, 2)  # [B, n_out, D]
        return self.norm(torch.cat([fmb, lcb], dim=1) + res)


class Wukong(EmbeddingModel):
    """Wukong with fused embedding tables.

    Args:
        config: The architecture. The constructor only builds and initialises parameters.

    Example:
        >>> model = Wukong(WukongConfig(n_dense=13, cardinalities=(10, 1000), embedding_dim=8))
        >>> model(torch.zeros(4, 13), torch.zeros(4, 2, dtype=torch.long)).shape
        torch.Size([4])
    """

    def __init__(self, config: WukongConfig):
        super().__init__()
        self.config = config
        d, ns = config.embedding_dim, config.layer_embeddings
        self.bottom = mlp([config.n_dense, *config.bottom_mlp, config.dense_embeddings * d], final_relu=True)
        self.layers = nn.ModuleList(
            WukongLayer(n, d, config.fmb_embeddings, config.lcb_embeddings, config.fm_rank, config.fmb_mlp)
            for n in ns[:-1]
        )
        self.top = mlp([config.interaction_width, *config.top_mlp, 1], final_relu=False)
        self._build_embedding(config.cardinalities, config.table_rows, d)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """DLRM-reference tables and MLPs, Xavier-normal layer projections, output bias at the base rate."""
        self._init_embedding(self.config.table_rows)
        init_linears([*self.bottom, *self.top])
        for layer in self.layers:
            layer.reset_parameters()
        init_output_bias(self.top[-1], self.config.base_ctr)

    def forward_embedded(self, dense: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """Logits from dense features [B, n_dense] and looked-up embeddings [B, F, D] → [B]."""
        b, _, d = emb.shape
        x = torch.cat([self.bottom(dense).view(b, -1, d), emb], dim=1)  # X_0 [B, n_0, D]
        for layer in self.layers:
            x = layer(x)
        return self.top(x.flatten(1)).squeeze(1)
