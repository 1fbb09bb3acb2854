"""Training settings as a plain, torch-free value (specs and dry runs read it without torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

DENSE_OPTIMIZERS = ("adagrad", "adam")
SPARSE_OPTIMIZERS = ("adagrad", "rowwise_adagrad", "adam")  # fused, row-sparse (train/optim.py)


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained and evaluated; every default lives here.

    Attributes:
        batch_size: Samples per step. Small batches learn faster per sample early on.
        lr_embedding: Learning rate of the embedding tables' (sparse) optimiser.
        lr_dense: Learning rate of the optimiser of every other parameter (MLPs, interaction).
        dense_optimizer: "adagrad" or "adam" for the non-embedding parameters.
        sparse_optimizer: "adagrad" (per element), "rowwise_adagrad" (one accumulator per row) or
            "adam" (lazy: only touched rows' moments move) for the embedding tables.
        warmup_samples: Linear learning-rate warm-up length W, in samples (not a fraction of the
            run): the step that starts after s samples uses min(1, (s + batch_size) / W) of both
            learning rates, so from W samples on they are exactly lr_embedding and lr_dense.
        eval_rows: Rows of the eval split used (None: all). Every trial uses the same rows.
        eval_batch_size: Rows per forward pass during evaluation (memory only; no effect on numbers).
        threads: torch intra-op threads for this trial (set by ``Trainer.run`` for its duration).
            Part of the numbers' identity: float sums may differ across thread counts, so results
            are reproducible for a fixed value.
        device: "cpu", "cuda", "cuda:1", ... ("auto": cuda when available, see train/device.py).
        precision: "fp32" (default; NE is reported in it), "tf32" (CUDA) or "bf16" (autocast).
        compile: Train through ``torch.compile`` (may change the last bits of the numbers).
    """

    batch_size: int = 256
    lr_embedding: float = 0.05
    lr_dense: float = 0.02
    warmup_samples: int = 0
    eval_rows: int | None = None
    eval_batch_size: int = 65_536
    threads: int = 1
    device: str = "cpu"
    precision: str = "fp32"
    compile: bool = False
    dense_optimizer: str = "adagrad"
    sparse_optimizer: str = "adagrad"

    def __post_init__(self) -> None:
        for name, allowed in (("dense_optimizer", DENSE_OPTIMIZERS), ("sparse_optimizer", SPARSE_OPTIMIZERS)):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"train.{name}: must be one of {', '.join(allowed)}; got {value!r}")

    def to_dict(self) -> dict:
        return asdict(self)
