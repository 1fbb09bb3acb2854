"""What a study will cost before it starts: trials, samples, FLOPs, and a measured time estimate.

The estimate comes from a short calibration on this machine: every distinct model trains a few
steps on random data of the study's shape (same batch size, threads and device), and one forward
pass over an evaluation-sized batch is timed. A trial's time is then
``steps × step_time + checkpoints × eval_time``, and the study's is the sum over trials divided by
the number of concurrent workers (trials are many and similar, so they pack well).

Only the timing imports torch: ``dry_run(..., steps=0)`` sizes a study (trials, samples, FLOPs)
without it, unless the study has a plugin, whose FLOPs are measured (and whose configurations are
probed) with torch.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from recscale.data.shards import Dataset
from recscale.model.cost import model_cost
from recscale.study.spec import StudySpec, check_plugins


@dataclass(frozen=True)
class ModelEstimate:
    label: str
    trials: int
    params_total: int
    flops_per_sample: int
    step_s: float | None  # None: not timed (steps=0)
    eval_s: float | None
    architecture: str = "dlrm"
    flops_source: str = "closed_form"  # "measured" for a plugin (FlopCounterMode on a probe batch)


@dataclass(frozen=True)
class DryRun:
    """The study's size and its estimated wall time on this machine."""

    trials: int
    models: list[ModelEstimate]
    samples: int
    train_flops: float
    checkpoints: list[int]
    workers: int
    estimated_s: float | None  # None: not timed (steps=0)


def _schema(spec: StudySpec, db: Path) -> tuple[int, list[int]]:
    if spec.data.synthetic is not None:
        w = spec.data.synthetic.world
        return w.n_dense, w.cardinalities
    from recscale.study.runner import _open_dataset_if_any, dataset_path

    ds: Dataset = _open_dataset_if_any(spec, dataset_path(spec, db))
    return ds.n_dense, ds.cardinalities


def _time_model(cfg, spec: StudySpec, device: str, steps: int) -> tuple[float, float]:
    """Seconds per training step and per evaluation pass of one model, on random inputs.

    The only place a dry run imports torch; it times with the study's ``train.threads``.
    """
    import torch

    from recscale.train.device import torch_threads
    from recscale.train.trainer import TrainState

    gen = torch.Generator().manual_seed(0)
    b = spec.train.batch_size

    def batch(n):
        dense = torch.rand(n, cfg.n_dense, generator=gen).to(device)
        sparse = torch.stack([torch.randint(0, c, (n,), generator=gen) for c in cfg.cardinalities], 1).to(device)
        return dense, sparse, (torch.rand(n, generator=gen) < 0.2).float().to(device)

    state = TrainState(cfg, replace(spec.train_for(cfg.architecture), device=device), seed=0)
    data = [batch(b) for _ in range(steps + 2)]
    n_eval = min(spec.train.eval_rows or 100_000, 100_000)
    dense, sparse, _ = batch(n_eval)
    with torch_threads(spec.train.threads):
        for d in data[:2]:
            state.step(*d)
        t0 = time.perf_counter()
        for d in data[2:]:
            state.step(*d)
        step_s = (time.perf_counter() - t0) / steps
        with torch.no_grad():
            t0 = time.perf_counter()
            state.model(dense, sparse)
            eval_s = time.perf_counter() - t0
    scale = (spec.train.eval_rows or n_eval) / n_eval
    return step_s, eval_s * scale


def dry_run(spec: StudySpec, db: str | Path, *, workers: int | None = None, device: str = "cpu", steps: int = 10) -> DryRun:
    """Size and estimated wall time of ``spec``; trains ``steps`` steps of each distinct model.

    With ``steps=0`` nothing is timed (``estimated_s`` and the step times are None) and torch is
    not imported.
    """
    n_dense, cards = _schema(spec, Path(db))
    check_plugins(spec, n_dense, cards)  # a plugin that does not build or train: one line per configuration
    checkpoints = spec.checkpoint_samples()
    stop = max(checkpoints)
    trials = spec.trials()
    by_model: dict = {}
    for t in trials:
        by_model.setdefault(t.model, []).append(t)
    models = []
    total_s = 0.0
    flops = 0.0
    for m, ts in by_model.items():
        cfg = m.config(n_dense, cards)
        cost = model_cost(cfg)
        step_s, eval_s = _time_model(cfg, spec, device, steps) if steps > 0 else (None, None)
        models.append(ModelEstimate(m.label(), len(ts), cost.params_total, cost.flops_per_sample, step_s, eval_s,
                                    m.architecture, cost.flops_source))  # fmt: skip
        if steps > 0:
            total_s += len(ts) * (stop / spec.train.batch_size * step_s + len(checkpoints) * eval_s)
        flops += len(ts) * cost.train_flops_per_sample * stop
    w = workers or max(1, (os.cpu_count() or 1) // spec.train.threads)
    w = min(w, len(trials))
    return DryRun(len(trials), models, stop * len(trials), flops, checkpoints, w, total_s / w if steps > 0 else None)
