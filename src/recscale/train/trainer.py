"""One-pass DLRM training with NE measured at log-spaced sample counts.

Why one pass with a constant learning rate: the paper's data axis is "samples seen". If nothing in
training depends on the total number of samples (no decay schedule, no epoch count), then the model
after D samples of a long run *is* the model of a run that stopped at D. One run per model therefore
gives its whole data-scaling curve, and NE at each checkpoint is exact, not an approximation.
Checkpoints must be multiples of the batch size, so the batches a run sees never depend on where it
is evaluated; evaluation changes no state and draws no random numbers. The first batches are smaller
(``TrainConfig.batch_ramp``), by a schedule of the samples seen alone, for the same reason.

Optimisers (defaults in :class:`TrainConfig`, chosen by measurement: benchmarks/RESULTS.md): lazy
Adam for the embeddings (fused, sparse; see :mod:`recscale.train.optim`) and Adam for the MLPs, at a
constant rate with an optional linear warm-up over a fixed number of samples
(:meth:`TrainState.lr_factor`). Per-parameter step sizes (Adam's, or Adagrad's decaying ones) are
what one-pass CTR training relies on instead of a schedule.

Ownership: :class:`TrainState` owns the model, optimisers, device and precision; :class:`Trainer`
owns the data and the evaluation rows and reaches the rest through ``trainer.state``. Nothing here
sets process-wide torch state for good: the seed only seeds the model's initialisation (the global
RNG is restored after it), and :meth:`Trainer.run` uses ``train.threads`` for its duration.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from recscale.data.loader import iter_batches, load_rows, stream_order
from recscale.data.shards import Dataset
from recscale.metrics import Evaluation, evaluate
from recscale.model import build_model
from recscale.model.config import DLRMConfig
from recscale.train.config import RAMP_LR_POWER, TrainConfig
from recscale.train.device import check_precision, maybe_compile, precision_context, resolve_device, torch_threads
from recscale.train.optim import make_dense_optimizer, make_sparse_optimizer


@dataclass(frozen=True)
class EvalPoint:
    """NE and friends after ``samples`` training samples; ``wall_s`` is training time so far."""

    samples: int
    evaluation: Evaluation
    wall_s: float

    def to_dict(self) -> dict:
        return {"samples": self.samples, **self.evaluation.to_dict(), "wall_s": self.wall_s}

    @classmethod
    def from_dict(cls, d: dict) -> "EvalPoint":
        fields = {k: d[k] for k in ("ne", "logloss", "auc", "calibration", "base_ctr", "rows")}
        return cls(int(d["samples"]), Evaluation(**fields), float(d["wall_s"]))


class TrainState:
    """A model, its optimisers and the samples seen: everything one training step needs.

    Args:
        model_cfg: Architecture (``base_ctr`` should be set; :class:`Trainer` fills it).
        train_cfg: Optimisation settings (device, precision, compile included).
        seed: Seeds the model's initialisation; the process's global RNG is left as it was.

    Training threads are not set here: the caller that runs the steps does (:meth:`Trainer.run`).
    """

    def __init__(self, model_cfg: DLRMConfig, train_cfg: TrainConfig, seed: int):
        self.cfg = train_cfg
        self.seed = int(seed)
        device = resolve_device(train_cfg.device)
        check_precision(train_cfg.precision, device)
        self.device = torch.device(device)
        # The model is built on the CPU, so only the CPU generator is forked (and restored after).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_model(model_cfg)  # any architecture: DLRM, DCNv2, Wukong
            if train_cfg.embedding_init is not None:  # drawn right after the model, from the same seeded stream
                model.reinit_embedding(train_cfg.embedding_init)
            if train_cfg.mlp_bias_init == "zero":  # draws nothing: the weights are as "reference" draws them
                model.zero_hidden_biases()
            self.model = model.to(self.device)
        self.model_cfg = model_cfg
        dense_params = [p for n, p in self.model.named_parameters() if not n.startswith("embedding.")]
        self.dense_opt = make_dense_optimizer(train_cfg.dense_optimizer, dense_params, train_cfg.lr_dense)
        self.sparse_opt = make_sparse_optimizer(train_cfg.sparse_optimizer, self.model.embedding.weight, train_cfg.lr_embedding)
        self.samples = 0
        self._loss = maybe_compile(self._forward_loss, train_cfg.compile)

    def precision(self):
        """A context in which the forward pass computes in ``train.precision`` (training and evaluation)."""
        return precision_context(self.cfg.precision, self.device.type)

    def _forward_loss(self, dense: torch.Tensor, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = self.model.forward_embedded(dense, emb)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)

    def state_dict(self) -> dict:
        """Everything that determines the next step: weights, both optimisers' state, samples seen,
        and the seed (with ``train.stream = "per_seed"`` it picks the rows still to come)."""
        return {
            "samples": self.samples,
            "seed": self.seed,
            "model": self.model.state_dict(),
            "dense_opt": self.dense_opt.state_dict(),
            "sparse_opt": self.sparse_opt.state_dict(),
        }

    def load_state_dict(self, d: dict) -> None:
        self.samples = int(d["samples"])
        self.seed = int(d.get("seed", self.seed))  # a state saved before the seed was kept: the caller's
        self.model.load_state_dict(d["model"])
        self.dense_opt.load_state_dict(d["dense_opt"])
        self.sparse_opt.load_state_dict(d["sparse_opt"])

    def lr_factor(self, batch: int | None = None) -> float:
        """The multiplier of both learning rates in the next step: min(1, (samples + B) / W).

        A linear warm-up over W = ``warmup_samples`` samples (none when W = 0): the step that starts
        after s samples uses the fraction of the warm-up it completes, so the step that reaches W
        (and every one after it) trains at the configured rates. B is the step's batch (by default
        the schedule's, :meth:`TrainConfig.batch_size_at`).
        """
        w = self.cfg.warmup_samples
        b = self.cfg.batch_size_at(self.samples) if batch is None else batch
        return 1.0 if w <= 0 else min(1.0, (self.samples + b) / w)

    def step(self, dense: torch.Tensor, sparse: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """One optimisation step on a batch; returns its training log loss (a 0-d tensor)."""
        model = self.model
        ids = model.embedding_ids(sparse)  # [B, F]
        # Gather outside autograd: the gradient of this leaf is exactly what the sparse optimiser needs.
        weight = model.embedding.weight.detach()
        emb = weight.index_select(0, ids.view(-1)).view(*ids.shape, -1).requires_grad_()  # [B, F, D]
        with self.precision():
            loss = self._loss(dense, emb, labels)
        self.dense_opt.zero_grad(set_to_none=True)
        loss.backward()
        f = self.lr_factor(labels.shape[0])
        ramp = (labels.shape[0] / self.cfg.batch_size) ** RAMP_LR_POWER  # during the batch ramp (MLPs only)
        for g in self.dense_opt.param_groups:  # every step: after warm-up and ramp this writes lr_dense back
            g["lr"] = self.cfg.lr_dense * f * ramp
        self.dense_opt.step()
        self.sparse_opt.step(ids.view(-1), emb.grad.view(-1, emb.shape[-1]), lr=self.cfg.lr_embedding * f)
        self.samples += labels.shape[0]
        return loss.detach()


class Trainer:
    """Train one DLRM in one pass over a dataset's train split, evaluating on its eval split.

    Args:
        model_cfg: Architecture. ``base_ctr`` is filled from the dataset if unset.
        train_cfg: Optimisation and evaluation settings.
        dataset: A shards dataset with ``train`` and ``eval`` splits.
        seed: Seeds the model's initialisation, and with ``train.stream = "per_seed"`` the order in
            which the train split is read (otherwise the file order).

    The model, optimisers, device, settings and samples seen live in ``self.state`` (a
    :class:`TrainState`); the trainer adds the data and the fixed evaluation rows.
    """

    def __init__(self, model_cfg: DLRMConfig, train_cfg: TrainConfig, dataset: Dataset, seed: int):
        if model_cfg.base_ctr is None:
            model_cfg = model_cfg.with_(base_ctr=float(dataset.meta["splits"]["train"]["ctr"]))
        self.dataset = dataset
        self.state = TrainState(model_cfg, train_cfg, seed)
        ev = dataset.split("eval")
        n_eval = ev.rows if train_cfg.eval_rows is None else min(train_cfg.eval_rows, ev.rows)
        self._eval = load_rows(ev, 0, n_eval, self.state.device)
        self._eval_labels = ev.labels[:n_eval].astype(np.float64)

    @torch.no_grad()
    def evaluate(self) -> Evaluation:
        """Metrics on the fixed eval rows (NE normalised by their own CTR)."""
        model, bs, e = self.state.model, self.state.cfg.eval_batch_size, self._eval
        model.eval()
        with self.state.precision():
            logits = torch.cat([model(e.dense[i : i + bs], e.sparse[i : i + bs]) for i in range(0, len(e), bs)])
        model.train()
        return evaluate(self._eval_labels, logits.double().cpu().numpy())

    def run(
        self,
        checkpoints: Sequence[int],
        on_eval: Callable[[EvalPoint], None] | None = None,
        snapshot: str | os.PathLike | None = None,
        snapshot_every_s: float = 60.0,
    ) -> list[EvalPoint]:
        """Train to the last checkpoint, evaluating at each one, with ``train.threads`` torch threads.

        Args:
            checkpoints: Increasing sample counts, each a multiple of the batch size.
            on_eval: Called with each EvalPoint as soon as it is measured (progress, logging).
            snapshot: A file for the training state. If it exists, training resumes from it, with
                exactly the numbers of a run that never stopped (same batches, same optimiser
                state); while training, the state is saved there after an evaluation at most every
                ``snapshot_every_s`` seconds. A killed trial loses at most that much work.
            snapshot_every_s: Minimum seconds between snapshots (0: after every evaluation).
        """
        state = self.state
        bs = state.cfg.batch_size
        cps = sorted(set(int(c) for c in checkpoints))
        bad = [c for c in cps if c <= 0 or c % bs]
        if bad:
            raise ValueError(f"checkpoints must be positive multiples of batch_size {bs}; got {bad[:5]}")
        train = self.dataset.split("train")
        if cps[-1] > train.rows:
            raise ValueError(f"last checkpoint {cps[-1]:,} exceeds the {train.rows:,} training rows")
        points = self._resume(snapshot) if snapshot is not None else []
        nxt = sum(c <= state.samples for c in cps)
        if nxt == len(cps):
            return points
        with torch_threads(state.cfg.threads):
            self._train(train, cps, nxt, points, on_eval, snapshot, snapshot_every_s)
        return points

    def _train(self, train, cps, nxt, points, on_eval, snapshot, snapshot_every_s) -> None:
        """The loop of :meth:`run`: step, evaluate at each checkpoint, snapshot now and then."""
        state = self.state
        t0 = last_save = time.perf_counter()
        train_s = points[-1].wall_s if points else 0.0
        # On a GPU the next block is read from disk and pinned while this one trains.
        prefetch = state.device.type != "cpu"
        order = stream_order(train.rows, state.seed) if state.cfg.stream == "per_seed" else None
        batches = iter_batches(train, state.cfg.batch_size, cps[-1], start=state.samples, device=state.device,
                               prefetch=prefetch, size_at=state.cfg.batch_size_at, order=order)
        for batch in batches:
            state.step(batch.dense, batch.sparse, batch.labels)
            if state.samples == cps[nxt]:
                train_s += time.perf_counter() - t0
                point = EvalPoint(state.samples, self.evaluate(), train_s)
                points.append(point)
                if on_eval is not None:
                    on_eval(point)
                nxt += 1
                if snapshot is not None and nxt < len(cps) and time.perf_counter() - last_save >= snapshot_every_s:
                    self._save(snapshot, points)
                    last_save = time.perf_counter()
                t0 = time.perf_counter()

    def _save(self, path: str | os.PathLike, points: list[EvalPoint]) -> None:
        """Write the snapshot atomically (a killed save leaves the previous one intact)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save({"state": self.state.state_dict(), "points": [p.to_dict() for p in points]}, tmp)
        os.replace(tmp, path)

    def _resume(self, path: str | os.PathLike) -> list[EvalPoint]:
        if not Path(path).is_file():
            return []
        d = torch.load(path, map_location=self.state.device, weights_only=True)
        self.state.load_state_dict(d["state"])
        return [EvalPoint.from_dict(p) for p in d["points"]]
