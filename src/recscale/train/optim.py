"""Optimisers: fused row-sparse updates for the embedding table, torch optimisers for the rest.

Three choices (``[train] sparse_optimizer``). Adagrad is the usual one for sparse CTR features (DLRM
practice, TorchRec's fused optimisers): each row's step shrinks with its own gradient history, so
frequent ids settle while rare ids still move a lot when they finally appear, which matters for
one-pass training on Zipf ids, where most rows are touched a handful of times. Row-wise Adagrad
(FBGEMM/TorchRec's default) keeps one accumulator per row: D times less state. Lazy Adam
(``torch.optim.SparseAdam``'s update: only touched rows' moments move) is the default: with Adam on
the MLPs it reached the lowest mean NE on the demo world (benchmarks/RESULTS.md, "Optimiser defaults").

Every sparse update is fused: gradients of the gathered rows are summed per unique row and applied
in place, without building a sparse tensor or a table-sized gradient. Each equals its torch
reference on a sparse gradient (tests/train/test_optim.py). Optimiser state is part of the
trainer's snapshots, so a resumed run continues bitwise.
"""

from __future__ import annotations

import math

import torch

from recscale.train.config import DENSE_OPTIMIZERS, SPARSE_OPTIMIZERS


class SparseRowOptimizer:
    """Base of the fused sparse optimisers: sums a batch's gradients per touched row, then updates them.

    Args:
        weight: The table [rows, D], updated in place.
        lr: Learning rate.
    """

    def __init__(self, weight: torch.Tensor, lr: float):
        self.weight = weight
        self.lr = lr
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
        self._apply(uniq, g, self.lr if lr is None else lr)

    def _apply(self, rows: torch.Tensor, g: torch.Tensor, lr: float) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, d: dict) -> None:
        raise NotImplementedError


class SparseRowAdagrad(SparseRowOptimizer):
    """Adagrad on the rows a batch touched: exactly ``torch.optim.Adagrad`` on a sparse gradient.

    Args:
        weight: The table [rows, D], updated in place.
        lr: Learning rate.
        eps: Added to the root of the accumulator (torch.optim.Adagrad's default).
    """

    def __init__(self, weight: torch.Tensor, lr: float, eps: float = 1e-10):
        super().__init__(weight, lr)
        self.eps = eps
        self.state = torch.zeros_like(weight)  # sum of squared gradients, per element

    def _apply(self, rows: torch.Tensor, g: torch.Tensor, lr: float) -> None:
        s = self.state.index_select(0, rows).addcmul_(g, g)
        self.state.index_copy_(0, rows, s)
        self.weight.index_add_(0, rows, g.div_(s.sqrt_().add_(self.eps)), alpha=-lr)

    def state_dict(self) -> dict:
        return {"sum": self.state}

    def load_state_dict(self, d: dict | torch.Tensor) -> None:
        self.state.copy_(d if isinstance(d, torch.Tensor) else d["sum"])  # a bare tensor: older snapshots


class SparseRowwiseAdagrad(SparseRowOptimizer):
    """Row-wise Adagrad (FBGEMM's ``EXACT_ROWWISE_ADAGRAD``): one accumulator per row.

    s_r += mean_d(g_rd²); w_r -= lr · g_r / (sqrt(s_r) + eps). D times less state than Adagrad, and
    every coordinate of a row takes the same step size.

    Args:
        weight: The table [rows, D], updated in place.
        lr: Learning rate.
        eps: Added to the root of the accumulator.
    """

    def __init__(self, weight: torch.Tensor, lr: float, eps: float = 1e-10):
        super().__init__(weight, lr)
        self.eps = eps
        self.state = torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device)  # [rows]

    def _apply(self, rows: torch.Tensor, g: torch.Tensor, lr: float) -> None:
        s = self.state.index_select(0, rows).add_(g.square().mean(1))
        self.state.index_copy_(0, rows, s)
        self.weight.index_add_(0, rows, g.div_(s.sqrt_().add_(self.eps).unsqueeze(1)), alpha=-lr)

    def state_dict(self) -> dict:
        return {"sum": self.state}

    def load_state_dict(self, d: dict) -> None:
        self.state.copy_(d["sum"])


class SparseLazyAdam(SparseRowOptimizer):
    """Lazy Adam: ``torch.optim.SparseAdam``'s update, fused. Only touched rows' moments decay.

    The bias correction uses the global step count (as SparseAdam), so a row's first update after a
    long absence is not inflated.

    Args:
        weight: The table [rows, D], updated in place.
        lr: Learning rate.
        betas: Decay of the first and second moments.
        eps: Added to the root of the second moment.
    """

    def __init__(self, weight: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(weight, lr)
        self.betas, self.eps = betas, eps
        self.exp_avg = torch.zeros_like(weight)
        self.exp_avg_sq = torch.zeros_like(weight)
        self.steps = 0

    def _apply(self, rows: torch.Tensor, g: torch.Tensor, lr: float) -> None:
        b1, b2 = self.betas
        self.steps += 1
        m = self.exp_avg.index_select(0, rows).lerp_(g, 1 - b1)
        v = self.exp_avg_sq.index_select(0, rows).mul_(b2).addcmul_(g, g, value=1 - b2)
        self.exp_avg.index_copy_(0, rows, m)
        self.exp_avg_sq.index_copy_(0, rows, v)
        step_size = lr * math.sqrt(1 - b2**self.steps) / (1 - b1**self.steps)
        self.weight.index_add_(0, rows, m.div_(v.sqrt_().add_(self.eps)), alpha=-step_size)

    def state_dict(self) -> dict:
        return {"exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq, "steps": self.steps}

    def load_state_dict(self, d: dict) -> None:
        self.exp_avg.copy_(d["exp_avg"])
        self.exp_avg_sq.copy_(d["exp_avg_sq"])
        self.steps = int(d["steps"])


_SPARSE = {"adagrad": SparseRowAdagrad, "rowwise_adagrad": SparseRowwiseAdagrad, "adam": SparseLazyAdam}  # SPARSE_OPTIMIZERS


def make_sparse_optimizer(name: str, weight: torch.Tensor, lr: float) -> SparseRowOptimizer:
    """The fused sparse optimiser ``name`` (one of SPARSE_OPTIMIZERS) for the embedding table."""
    if name not in _SPARSE:
        raise ValueError(f"sparse_optimizer must be one of {', '.join(SPARSE_OPTIMIZERS)}; got {name!r}")
    return _SPARSE[name](weight, lr)


def make_dense_optimizer(name: str, params: list[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    """The torch optimiser ``name`` (one of DENSE_OPTIMIZERS) for every non-embedding parameter."""
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, foreach=True)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, foreach=True)
    raise ValueError(f"dense_optimizer must be one of {', '.join(DENSE_OPTIMIZERS)}; got {name!r}")
