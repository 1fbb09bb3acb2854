"""Optimisers for DLRM training.

Embeddings get Adagrad, the usual choice for sparse CTR features (DLRM practice, TorchRec's fused
optimisers): each row's step shrinks with its own gradient history, so frequent ids settle while
rare ids still move a lot when they finally appear. That matters for one-pass training on Zipf
ids, where most rows are touched a handful of times. The update here is exactly
``torch.optim.Adagrad`` on a sparse gradient, fused: gradients of the gathered rows are summed per
unique row and applied in place, without building a sparse tensor or a table-sized gradient.
"""

from __future__ import annotations

import torch


class SparseRowAdagrad:
    """Adagrad on the rows of one embedding table that a batch touched.

    Args:
        weight: The table [rows, D], updated in place.
        lr: Learning rate.
        eps: Added to the root of the accumulator (torch.optim.Adagrad's default).
    """

    def __init__(self, weight: torch.Tensor, lr: float, eps: float = 1e-10):
        self.weight = weight
        self.lr = lr
        self.eps = eps
        self.state = torch.zeros_like(weight)
        # Scratch for a sort-free unique when the table is small next to a batch's ids.
        self._mark: torch.Tensor | None = None
        self._pos: torch.Tensor | None = None

    def _unique(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sorted unique rows and each id's position among them (same result as torch.unique).

        For tables up to ~32× the number of ids, marking rows in a table-sized bitmap is several times
        faster than sorting the ids; beyond that the sort wins.
        """
        rows = self.weight.shape[0]
        if rows > 32 * ids.numel():
            return torch.unique(ids, return_inverse=True)
        if self._mark is None:
            self._mark = torch.zeros(rows, dtype=torch.bool, device=ids.device)
            self._pos = torch.empty(rows, dtype=torch.long, device=ids.device)
        self._mark[ids] = True
        uniq = self._mark.nonzero().squeeze(1)
        self._mark[uniq] = False
        self._pos[uniq] = torch.arange(uniq.numel(), device=ids.device)
        return uniq, self._pos[ids]

    @torch.no_grad()
    def step(self, ids: torch.Tensor, grad: torch.Tensor, lr: float | None = None) -> None:
        """Apply the update for gathered rows ``ids`` [N] with gradients ``grad`` [N, D]."""
        uniq, inv = self._unique(ids)
        g = torch.zeros(uniq.shape[0], grad.shape[1], dtype=grad.dtype, device=grad.device)
        g.index_add_(0, inv, grad)
        s = self.state.index_select(0, uniq).addcmul_(g, g)
        self.state.index_copy_(0, uniq, s)
        self.weight.index_add_(0, uniq, g.div_(s.sqrt_().add_(self.eps)), alpha=-(self.lr if lr is None else lr))
