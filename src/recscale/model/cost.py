"""Exact parameter counts and analytic FLOPs of every architecture, from its config alone (no torch).

Conventions (the ones scaling-law papers use, so numbers compare):
    * A FLOP is one multiply or one add: a matrix product [m, k] @ [k, n] costs 2·m·k·n. Only the
      matrix products are counted (linear layers, DLRM's Gram matrix, DCNv2's cross products
      U_l (V_l^T x_l), Wukong's FM X (X^T Y), its LCB W_L X and residual projection W_R X); gathers,
      biases, activations, LayerNorms, DCNv2's Hadamard product and residual add (2·(F+1)·D per
      layer) and Wukong's residual add are O(width) and left out, exactly as
      ``torch.utils.flop_counter.FlopCounterMode`` counts, which the tests check against.
    * Training FLOPs per sample = 3 × forward (backward costs two forward passes: gradients with
      respect to activations and to weights). The embedding update touches rows, not FLOPs.
    * Embedding parameters cost memory, not FLOPs: a recommender's compute is set by its MLPs and
      interaction, which is why C = 6·N·D does not hold for it.
    * The convention's backward computes the gradient of every input of every matrix product, the
      dense features' included. The trainer does not need the dense features' gradient, so a real
      step skips 2·n_dense·h_1 FLOPs per sample (h_1: the first bottom layer's width); FlopCounterMode
      on a training step counts that much less (measured on the built-ins: 0.06-10% of the backward on
      the sizes of tests/model/test_plugin_cost.py). Both counts are right about different things;
      recscale keeps the convention, so its compute axis is the papers', and measures a plugin's
      FLOPs under the same convention (every input requiring a gradient), where forward + backward
      equals 3 × forward exactly on all three built-ins.
    * A plugin (:class:`PluginConfig`) has no closed form: its cost is measured once per
      configuration by :func:`measured_cost` (this imports torch, only then),
      and ``ModelCost.flops_source`` says which way a count was made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from recscale.model.config import DCNConfig, DLRMConfig, ModelConfig, PluginConfig, WukongConfig

TRAIN_FLOPS_PER_FORWARD = 3


@dataclass(frozen=True)
class ModelCost:
    """Size and cost of one model.

    Attributes:
        params_dense: Every parameter outside the embedding tables (MLPs, interaction layers).
        params_sparse: Embedding parameters: sum of table rows × D.
        params_total: Their sum; equals ``sum(p.numel() for p in model.parameters())``.
        flops_per_sample: Forward FLOPs per sample (matrix products only).
        train_flops_per_sample: 3 × forward.
        embedding_bytes: float32 embedding storage, without optimiser state.
        flops_source: "closed_form" (this module, the built-ins) or "measured" (FlopCounterMode on
            a probe batch, plugins).
    """

    params_dense: int
    params_sparse: int
    params_total: int
    flops_per_sample: int
    train_flops_per_sample: int
    embedding_bytes: int
    flops_source: str = "closed_form"

    def to_dict(self) -> dict:
        return asdict(self)


def _linear(widths: list[int]) -> tuple[int, int]:
    """Parameters and forward FLOPs of an MLP with these layer widths."""
    pairs = list(zip(widths[:-1], widths[1:]))
    return sum(a * b + b for a, b in pairs), sum(2 * a * b for a, b in pairs)


def _dlrm(cfg: DLRMConfig) -> tuple[int, int]:
    p1, f1 = _linear([cfg.n_dense, *cfg.bottom_mlp, cfg.embedding_dim])
    p2, f2 = _linear([cfg.interaction_width, *cfg.top_mlp, 1])
    flops = f1 + f2
    if cfg.interaction == "dot":
        f = len(cfg.cardinalities) + 1
        flops += 2 * f * f * cfg.embedding_dim  # bmm [F+1, D] @ [D, F+1]
    return p1 + p2, flops


def _dcn(cfg: DCNConfig) -> tuple[int, int]:
    w, r, layers = cfg.interaction_width, cfg.cross_rank, cfg.cross_layers
    p1, f1 = _linear([cfg.n_dense, *cfg.bottom_mlp, cfg.embedding_dim])
    p2, f2 = _linear([w, *cfg.top_mlp, 1])
    if r is None:  # W_l [W, W] and b_l
        p3, f3 = layers * (w * w + w), layers * 2 * w * w
    else:  # V_l [W, r], U_l [r, W] and b_l
        p3, f3 = layers * (2 * w * r + w), layers * 4 * w * r
    return p1 + p2 + p3, f1 + f2 + f3


def _wukong(cfg: WukongConfig) -> tuple[int, int]:
    d, k, nf, nl = cfg.embedding_dim, cfg.fm_rank, cfg.fmb_embeddings, cfg.lcb_embeddings
    p, f = _linear([cfg.n_dense, *cfg.bottom_mlp, cfg.dense_embeddings * d])
    p2, f2 = _linear([cfg.interaction_width, *cfg.top_mlp, 1])
    p, f = p + p2, f + f2
    for n in cfg.layer_embeddings[:-1]:
        n_out = nf + nl
        proj = n_out if n != n_out else 0  # W_R only when the number of embeddings changes
        pm, fm = _linear([n * k, *cfg.fmb_mlp, nf * d])
        # Y [n, k], FM LayerNorm (2·n·k), FMB MLP, W_L [n_L, n], W_R, output LayerNorm (2·D).
        p += n * k + 2 * n * k + pm + nl * n + proj * n + 2 * d
        # X^T [D, n] @ [Y | W_L^T | W_R^T], then X [n, D] @ (X^T Y) [D, k], then the FMB MLP.
        f += 2 * d * n * (k + nl + proj) + 2 * n * d * k + fm
    return p, f


def embedding_params(cardinalities: Sequence[int], embedding_dim: int, embedding_rows: int | None = None) -> int:
    """Embedding parameters of the built-in architectures: a table of min(cardinality, rows) rows × dim per feature.

    With ``embedding_rows=None`` every id has its own row: the most a hash size can ever give, which
    is where the embedding-rows axis ends (:func:`recscale.study.table_reader.param_axis_ends`).
    """
    cap = embedding_rows if embedding_rows is not None else max(cardinalities, default=0)
    return sum(min(int(c), int(cap)) for c in cardinalities) * int(embedding_dim)


def model_cost(cfg: ModelConfig) -> ModelCost:
    """Parameters and FLOPs of the model described by ``cfg`` (any architecture; a plugin's measured)."""
    if isinstance(cfg, PluginConfig):
        return measured_cost(cfg)
    if isinstance(cfg, DLRMConfig):
        dense, flops = _dlrm(cfg)
    elif isinstance(cfg, DCNConfig):
        dense, flops = _dcn(cfg)
    elif isinstance(cfg, WukongConfig):
        dense, flops = _wukong(cfg)
    else:
        raise TypeError(f"model_cost: unknown config type {type(cfg).__name__}")
    sparse = embedding_params(cfg.cardinalities, cfg.embedding_dim, cfg.embedding_rows)
    return ModelCost(
        params_dense=dense,
        params_sparse=sparse,
        params_total=dense + sparse,
        flops_per_sample=flops,
        train_flops_per_sample=TRAIN_FLOPS_PER_FORWARD * flops,
        embedding_bytes=4 * sparse,
    )


def measured_cost(cfg: PluginConfig) -> ModelCost:
    """Parameters and FLOPs of a plugin model, measured by :func:`recscale.model.plugin.probe` (cached).

    Training FLOPs per sample follow the built-ins' convention, 3 × forward: the probe's backward,
    with every input requiring a gradient, is 2 × forward for any model made of matrix products
    (tested equal to the closed form on all three built-ins).
    """
    from recscale.model.plugin import probe  # imports torch: only a plugin's cost needs it

    p = probe(cfg.with_(base_ctr=None))
    sparse = embedding_params(cfg.cardinalities, cfg.embedding_dim, cfg.embedding_rows)
    return ModelCost(
        params_dense=p.params_dense,
        params_sparse=sparse,
        params_total=p.params_dense + sparse,
        flops_per_sample=p.flops_forward,
        train_flops_per_sample=TRAIN_FLOPS_PER_FORWARD * p.flops_forward,
        embedding_bytes=4 * sparse,
        flops_source="measured",
    )
