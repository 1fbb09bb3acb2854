"""One trial as a pure function: a :class:`TrialTask` in, a :class:`TrialResult` out.

Every executor (inline, process pool, Ray) runs :func:`run_trial`; this module is what they share,
so none of them imports another. Progress: a trial reports ``(trial_id, samples_done,
samples_total)`` events through an optional queue.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recscale.model.config import ModelConfig
from recscale.train.config import TrainConfig

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrialTask:
    """Everything a worker needs to train one trial (picklable, no open files)."""

    trial_id: str
    model: ModelConfig  # any architecture's config: the worker builds it with build_model
    train: TrainConfig
    dataset: str
    checkpoints: tuple[int, ...]
    seed: int
    snapshot: str | None = None  # training-state file: resume from it if present, delete when done
    snapshot_every_s: float = 60.0


@dataclass(frozen=True)
class TrialResult:
    """Evaluations of a finished trial, or the error that stopped it."""

    trial_id: str
    points: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    error: str | None = None


def run_trial(task: TrialTask, progress: Any = None) -> TrialResult:
    """Train one trial and return its evaluations; exceptions become ``TrialResult.error``.

    Args:
        task: The trial.
        progress: Anything with ``put((trial_id, done, total))`` (a queue), or None.
    """
    t0 = time.perf_counter()
    try:
        from recscale.data.shards import Dataset
        from recscale.train.trainer import Trainer

        trainer = Trainer(task.model, task.train, Dataset(task.dataset), task.seed)
        total = max(task.checkpoints)

        def on_eval(point) -> None:
            if progress is not None:
                progress.put((task.trial_id, point.samples, total))

        points = trainer.run(task.checkpoints, on_eval=on_eval, snapshot=task.snapshot, snapshot_every_s=task.snapshot_every_s)
        if task.snapshot is not None:  # finished: the driver commits the points; a rerun starts clean
            Path(task.snapshot).unlink(missing_ok=True)
        return TrialResult(task.trial_id, [p.to_dict() for p in points], time.perf_counter() - t0)
    except Exception:  # noqa: BLE001 - reported to the driver, which records the trial as failed
        return TrialResult(task.trial_id, wall_s=time.perf_counter() - t0, error=traceback.format_exc(limit=6))
