"""Exact parameter counts and analytic FLOPs of a DLRM, from its config alone (no torch needed).

Conventions (the ones scaling-law papers use, so numbers compare):
    * A FLOP is one multiply or one add: a matrix product [m, k] @ [k, n] costs 2·m·k·n. Only the
      matrix products are counted (linear layers and the interaction's batched product); gathers,
      biases and activations are O(width) and left out, exactly as
      ``torch.utils.flop_counter.FlopCounterMode`` counts, which the tests check against.
    * Training FLOPs per sample = 3 × forward (backward costs two forward passes: gradients with
      respect to activations and to weights). The embedding update touches rows, not FLOPs.
    * Embedding parameters cost memory, not FLOPs: a DLRM's compute is set by its MLPs and
      interaction, which is why C = 6·N·D does not hold for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from recscale.model.config import DLRMConfig

TRAIN_FLOPS_PER_FORWARD = 3


@dataclass(frozen=True)
class ModelCost:
    """Size and cost of one DLRM.

    Attributes:
        params_dense: Parameters of the bottom and top MLPs (weights and biases).
        params_sparse: Embedding parameters: sum of table rows × D.
        params_total: Their sum; equals ``sum(p.numel() for p in model.parameters())``.
        flops_per_sample: Forward FLOPs per sample (matrix products only).
        train_flops_per_sample: 3 × forward.
        embedding_bytes: float32 embedding storage, without optimiser state.
    """

    params_dense: int
    params_sparse: int
    params_total: int
    flops_per_sample: int
    train_flops_per_sample: int
    embedding_bytes: int

    def to_dict(self) -> dict:
        return asdict(self)


def _mlp_widths(cfg: DLRMConfig) -> tuple[list[int], list[int]]:
    bottom = [cfg.n_dense, *cfg.bottom_mlp, cfg.embedding_dim]
    top = [cfg.interaction_width, *cfg.top_mlp, 1]
    return bottom, top


def model_cost(cfg: DLRMConfig) -> ModelCost:
    """Parameters and FLOPs of the DLRM described by ``cfg``."""
    bottom, top = _mlp_widths(cfg)
    dense = sum(a * b + b for w in (bottom, top) for a, b in zip(w[:-1], w[1:]))
    sparse = sum(cfg.table_rows) * cfg.embedding_dim
    flops = sum(2 * a * b for w in (bottom, top) for a, b in zip(w[:-1], w[1:]))
    if cfg.interaction == "dot":
        f1 = len(cfg.cardinalities) + 1
        flops += 2 * f1 * f1 * cfg.embedding_dim  # bmm [F+1, D] @ [D, F+1]
    return ModelCost(
        params_dense=dense,
        params_sparse=sparse,
        params_total=dense + sparse,
        flops_per_sample=flops,
        train_flops_per_sample=TRAIN_FLOPS_PER_FORWARD * flops,
        embedding_bytes=4 * sparse,
    )
