"""What a study will cost before it starts: trials, samples, FLOPs, and a measured time estimate.

The estimate comes from a short calibration on this machine: every distinct model trains a few
steps on random data of the study's shape (same batch size, threads and device), and one forward
pass over an evaluation-sized batch is timed. A trial's time is then
``steps × step_time + checkpoints × eval_time``, and the study's is the sum over trials divided by
the number of concurrent workers (trials are many and similar, so they pack well). Under a batch ramp
(``train.batch_ramp``) the first batch size is timed too, and a step of a size between it and the
full batch is costed by linear interpolation between the two.

Only the timing imports torch: ``dry_run(..., steps=0)`` sizes a study (trials, samples, FLOPs)
without it, unless the study has a plugin, whose FLOPs are measured (and whose configurations are
probed) with torch.

Against an existing ledger the dry run says what a run would do (:func:`recscale.study.runner.pending_work`):
which trials are new, which are extended (from X to Y samples, from their kept state or retrained
from scratch), which are kept (already at their stop, or no longer in the spec), and the cost of that
new work alone. A spec the ledger would refuse is refused here too, with the same line.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from recscale.data.shards import Dataset
from recscale.model.cost import model_cost
from recscale.study.ledger import train_flops
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
    first_step_s: float | None = None  # a step at the batch ramp's first size (step_s without a ramp)


@dataclass(frozen=True)
class TrialWork:
    """One trial a run would train: ``start`` → ``target`` samples (``start`` 0: a new trial)."""

    trial_id: str
    start: int
    target: int
    from_state: bool  # continues from its kept state; False for an extension: retrained from scratch
    samples: int  # samples it trains now (target - start from a kept state, else target)
    train_flops: float
    estimated_s: float | None


@dataclass(frozen=True)
class DryRun:
    """The study's size and its estimated wall time on this machine, and what a run would do now.

    ``samples``, ``train_flops`` and ``estimated_s`` are the whole spec's, as if run from scratch;
    ``work`` and the ``work_*`` totals are what a run on the ledger would train now (all of it
    without a ledger). ``kept`` are trials already at their stop; ``kept_not_in_spec`` are the
    ledger's trials the spec no longer has (they stay in the ledger). ``state_bytes``: the disk the
    kept states of the trials trained now will take (fp32 weights + optimiser state, per trial).
    """

    trials: int
    models: list[ModelEstimate]
    samples: int
    train_flops: float
    checkpoints: list[int]
    workers: int
    estimated_s: float | None  # None: not timed (steps=0)
    work: list[TrialWork] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    kept_not_in_spec: list[str] = field(default_factory=list)
    work_samples: int = 0
    work_train_flops: float = 0.0
    work_estimated_s: float | None = None
    state_bytes: int = 0
    ledger: bool = False  # the ledger exists (else everything is new)

    @property
    def new(self) -> list[TrialWork]:
        return [w for w in self.work if w.start == 0]

    @property
    def extended(self) -> list[TrialWork]:
        return [w for w in self.work if w.start > 0]


_SLOTS = {"adam": 2, "adagrad": 1}  # optimiser state per parameter (Adam's two moments; Adagrad's sum)


def state_bytes(cost, train, embedding_dim: int) -> int:
    """Bytes of a trial's kept state: fp32 weights and its optimisers' state, from parameter counts.

    Dense: 1 + (2 Adam | 1 Adagrad) floats per parameter; embeddings: 1 + (2 lazy Adam | 1 Adagrad)
    per parameter, or 1 per parameter + 1 per row (row-wise Adagrad). torch.save's framing (a few
    kB) is not counted.
    """
    sparse_slots = cost.params_sparse // max(1, embedding_dim) if train.sparse_optimizer == "rowwise_adagrad" \
        else _SLOTS[train.sparse_optimizer] * cost.params_sparse
    return 4 * (cost.params_total + _SLOTS[train.dense_optimizer] * cost.params_dense + sparse_slots)


def _schema(spec: StudySpec, db: Path) -> tuple[int, list[int]]:
    if spec.data.synthetic is not None:
        w = spec.data.synthetic.world
        return w.n_dense, w.cardinalities
    from recscale.study.runner import _open_dataset_if_any, dataset_path

    ds: Dataset = _open_dataset_if_any(spec, dataset_path(spec, db))
    return ds.n_dense, ds.cardinalities


def _train_s(train, start: int, stop: int, step_s: float, first_step_s: float) -> float:
    """Seconds to train samples [start, stop): each batch size's steps, costed between the timed sizes."""
    b0, big = train.batch_size_at(0), train.batch_size
    per = (lambda b: first_step_s + (step_s - first_step_s) * (b - b0) / (big - b0)) if big > b0 else (lambda b: step_s)
    return sum(n * per(b) for b, n in train.steps_by_size(start, stop).items())


def _time_model(cfg, spec: StudySpec, device: str, steps: int) -> tuple[float, float, float]:
    """Seconds per training step (at the full batch, then at the batch ramp's first size) and per
    evaluation pass of one model, on random inputs.

    The only place a dry run imports torch; it times with the study's ``train.threads``.
    """
    import torch

    from recscale.train.device import torch_threads
    from recscale.train.trainer import TrainState

    gen = torch.Generator().manual_seed(0)
    train = spec.train_for(cfg.architecture)
    b, b0 = train.batch_size, train.batch_size_at(0)

    def batch(n):
        dense = torch.rand(n, cfg.n_dense, generator=gen).to(device)
        sparse = torch.stack([torch.randint(0, c, (n,), generator=gen) for c in cfg.cardinalities], 1).to(device)
        return dense, sparse, (torch.rand(n, generator=gen) < 0.2).float().to(device)

    state = TrainState(cfg, replace(train, device=device), seed=0)
    n_eval = min(spec.train.eval_rows or 100_000, 100_000)
    dense, sparse, _ = batch(n_eval)

    def seconds_per_step(size: int) -> float:
        data = [batch(size) for _ in range(steps + 2)]
        for d in data[:2]:
            state.step(*d)
        t0 = time.perf_counter()
        for d in data[2:]:
            state.step(*d)
        return (time.perf_counter() - t0) / steps

    with torch_threads(spec.train.threads):
        step_s = seconds_per_step(b)
        first_step_s = seconds_per_step(b0) if b0 < b else step_s
        with torch.no_grad():
            t0 = time.perf_counter()
            state.model(dense, sparse)
            eval_s = time.perf_counter() - t0
    scale = (spec.train.eval_rows or n_eval) / n_eval
    return step_s, eval_s * scale, first_step_s


def _ledger_view(spec: StudySpec, db: Path, plan: dict[str, int] | None):
    """(exists, grid, samples_done, kept states' samples, ledger trial ids) of the ledger at ``db``,
    read-only; a spec the ledger would refuse raises the run's one line."""
    from recscale.study.ledger import open_existing
    from recscale.study.runner import check_growth, check_plan, state_path, study_grid
    from recscale.study.trial import read_snapshot_header

    if not db.is_file() or db.stat().st_size == 0:
        grid = study_grid(spec, [])
        check_plan(spec, plan, grid)
        return False, grid, {}, {}, set()
    with open_existing(db) as led:
        check_growth(spec, db, led)
        grid = study_grid(spec, led.get_meta("checkpoints") or [])
        done, ids = led.samples_done(), led.trial_ids()
    check_plan(spec, plan, grid)
    hashes = {a: spec.numbers_hash(a) for a in spec.architectures}
    states = {}
    for t in spec.trials():
        if done.get(t.trial_id):
            header = read_snapshot_header(state_path(db, hashes[t.architecture], t.trial_id))
            states[t.trial_id] = header.get("samples") if header else None
    return True, grid, done, states, ids


def dry_run(spec: StudySpec, db: str | Path, *, workers: int | None = None, device: str = "cpu", steps: int = 10,
            plan: dict[str, int] | None = None) -> DryRun:  # fmt: skip
    """Size and estimated wall time of ``spec``, and of what a run on the ledger ``db`` (with ``plan``)
    would train now; trains ``steps`` steps of each distinct model.

    With ``steps=0`` nothing is timed (``estimated_s`` and the step times are None) and torch is
    not imported.
    """
    from recscale.study.runner import pending_work

    db = Path(db)
    n_dense, cards = _schema(spec, db)
    check_plugins(spec, n_dense, cards)  # a plugin that does not build or train: one line per configuration
    exists, grid, done, states, ledger_ids = _ledger_view(spec, db, plan)
    checkpoints = spec.checkpoint_samples()
    stop = max(checkpoints)
    trials = spec.trials()
    by_model: dict = {}
    for t in trials:
        by_model.setdefault(t.model, []).append(t)
    models = []
    total_s = 0.0
    flops = 0.0
    per_trial: dict[str, tuple] = {}  # trial_id → (train flops per sample, train config, step_s, first_s, eval_s, state bytes)
    for m, ts in by_model.items():
        cfg = m.config(n_dense, cards)
        cost = model_cost(cfg)
        step_s, eval_s, first_s = _time_model(cfg, spec, device, steps) if steps > 0 else (None, None, None)
        train = spec.train_for(m.architecture)
        models.append(ModelEstimate(m.label(), len(ts), cost.params_total, cost.flops_per_sample, step_s, eval_s,
                                    m.architecture, cost.flops_source, first_s))  # fmt: skip
        if steps > 0:
            total_s += len(ts) * (_train_s(train, 0, stop, step_s, first_s) + len(checkpoints) * eval_s)
        flops += len(ts) * cost.train_flops_per_sample * stop
        nbytes = state_bytes(cost, train, m.embedding_dim)
        per_trial |= {t.trial_id: (cost.flops_per_sample, train, step_s, first_s, eval_s, nbytes) for t in ts}
    w = workers or max(1, (os.cpu_count() or 1) // spec.train.threads)
    w = min(w, len(trials))
    work, work_s, nbytes = [], 0.0, 0
    for job in pending_work(spec, grid, done, plan):
        fps, train, step_s, first_s, eval_s, size = per_trial[job.trial_id]
        from_state = job.start > 0 and states.get(job.trial_id) == job.start
        first = job.start if from_state else 0
        samples = job.target - first
        evals = sum(first < c <= job.target for c in grid)
        est = _train_s(train, first, job.target, step_s, first_s) + evals * eval_s if steps > 0 else None
        work.append(TrialWork(job.trial_id, job.start, job.target, from_state, samples, float(train_flops(fps, samples)), est))
        work_s += est or 0.0
        nbytes += size
    busy = {j.trial_id for j in work}
    ids = {t.trial_id for t in trials}
    targets = plan if plan is not None else {t: stop for t in ids}
    kept = sorted(t for t in ids if t not in busy and done.get(t, 0) >= targets.get(t, stop) and t in done)
    ww = max(1, min(w, len(work))) if work else w
    return DryRun(len(trials), models, stop * len(trials), flops, checkpoints, w, total_s / w if steps > 0 else None,
                  work, kept, sorted(ledger_ids - ids), sum(j.samples for j in work), sum(j.train_flops for j in work),
                  work_s / ww if steps > 0 else None, nbytes, exists)  # fmt: skip
