"""Training settings as a plain, torch-free value (specs and dry runs read it without torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained and evaluated; every default lives here.

    Attributes:
        batch_size: Samples per step. Small batches learn faster per sample early on.
        lr_embedding: Adagrad learning rate of the embedding tables.
        lr_dense: Adagrad learning rate of the MLPs.
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

    def to_dict(self) -> dict:
        return asdict(self)
