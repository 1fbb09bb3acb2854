"""Measured forward FLOPs per sample, the independent count the analytic cost is tested against."""

import torch
from torch.utils.flop_counter import FlopCounterMode


def measured_flops_per_sample(model, cfg, batch: int) -> float:
    """FlopCounterMode's total for one forward pass of random inputs, divided by the batch size."""
    dense = torch.randn(batch, cfg.n_dense)
    sparse = torch.stack([torch.randint(0, c, (batch,)) for c in cfg.cardinalities], 1)
    with FlopCounterMode(display=False) as counter:
        model(dense, sparse)
    return counter.get_total_flops() / batch
