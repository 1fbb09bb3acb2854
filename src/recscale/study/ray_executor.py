"""Trials as Ray tasks: the same study on a laptop, one GPU box or a cluster.

Each trial is one Ray task running :func:`recscale.study.trial.run_trial`, with its resources
declared: ``num_cpus = train.threads`` and, on a GPU, ``num_gpus = 1/K`` for K trials per device
(Ray then packs K trials on each GPU and sets ``CUDA_VISIBLE_DEVICES`` for each, so the trial's
``cuda`` is the GPU Ray gave it). Results come back to the driver as they finish (``ray.wait``);
the driver alone writes the ledger, exactly as with the local executors, so a killed driver resumes
by rerunning the same command.

A task whose worker process dies (killed, out of memory, node lost) is retried by Ray up to
``max_retries`` times; a trial is a pure function of its task, so a retry gives the same numbers.
An exception inside a trial is not retried: it is returned as the trial's error, as locally.

Every node needs recscale (and torch) installed, and the study's dataset at the same path (a
shared filesystem); see docs/scale-out.md. Ray is an optional extra: ``pip install "recscale[ray]"``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from recscale.errors import RecscaleError
from recscale.study.trial import ProgressFn, TrialResult, TrialTask, run_trial

RAY_INSTALL = 'pip install "recscale[ray]"'


def import_ray() -> Any:
    """The ``ray`` module, or a RecscaleError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise RecscaleError(
            f"--executor ray needs Ray, which is not installed here; install it with: {RAY_INSTALL} "
            "(or use --executor process)"
        ) from None
    return ray


def check_ray_run(device: str, precision: str) -> None:
    """What can be checked on the driver before anything is written: Ray installed, and a device
    and precision that can run on some cluster (its GPUs are checked when the run starts)."""
    import_ray()
    if device.startswith("cuda:"):
        raise RecscaleError(f"--device {device} with --executor ray: use --device cuda; Ray gives each trial its own GPU")
    if device not in ("auto", "cpu", "cuda"):
        raise RecscaleError(f"--device must be auto, cpu or cuda with --executor ray; got {device!r}")
    from recscale.train.device import check_precision

    check_precision(precision, "cuda" if device == "auto" else device)  # auto: the cluster may have GPUs


def _remote_trial(task: TrialTask, progress: Any) -> TrialResult:
    """The body of one Ray task (module-level, so workers import it instead of unpickling code)."""
    if not (Path(task.dataset) / "meta.json").is_file():
        return TrialResult(
            task.trial_id,
            error=(
                f"dataset {task.dataset} is not visible on Ray node {socket.gethostname()}: every node needs "
                "the study's dataset at the same path (put it, or the ledger's folder, on a shared filesystem)"
            ),
        )
    return run_trial(task, progress)


class RayExecutor:
    """Runs trials as Ray tasks on a local Ray instance or an existing cluster.

    Args:
        workers: Most trials in flight at once; None submits them all and lets Ray schedule them
            by their declared resources.
        address: Ray cluster address ("10.0.0.1:6379", "auto", "ray://..."); None connects to
            ``$RAY_ADDRESS`` or a cluster started on this machine with ``ray start --head``, else
            starts a local instance for the run (and stops it after).
        trials_per_device: K trials share one GPU (each asks for 1/K of it); None uses
            :data:`recscale.train.device.GPU_TRIALS_PER_DEVICE`. No effect on CPU trials, which ask
            for ``train.threads`` CPUs each.
        max_retries: Times Ray reruns a trial whose worker process died.
    """

    name = "ray"

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        trials_per_device: int | None = None,
        max_retries: int = 3,
    ):
        if workers is not None and workers < 1:
            raise RecscaleError(f"--workers must be >= 1, got {workers}")
        if trials_per_device is not None and trials_per_device < 1:
            raise RecscaleError(f"--trials-per-device must be >= 1, got {trials_per_device}")
        self.ray = import_ray()
        self.workers = workers
        self.address = address
        self.trials_per_device = trials_per_device
        self.max_retries = max_retries

    # ---- set-up ---------------------------------------------------------------------------------

    def _connect(self) -> bool:
        """Connect to (or start) Ray; True if this call started it, so :meth:`run` stops it after."""
        ray = self.ray
        if ray.is_initialized():
            return False
        try:
            ray.init(address=self.address)
        except ConnectionError as e:
            raise RecscaleError(
                f"--address {self.address}: cannot connect to a Ray cluster ({e}); start one with `ray start --head` "
                "and pass the address it prints, or leave --address out to start a local instance"
            ) from None
        return True

    def _resolve(self, tasks: Sequence[TrialTask]) -> list[TrialTask]:
        """Resolve "auto" devices against the cluster's GPUs and check they can run there."""
        from recscale.train.device import check_precision

        gpus = float(self.ray.cluster_resources().get("GPU", 0))
        out = []
        for t in tasks:
            device = t.train.device
            if device == "auto":
                device = "cuda" if gpus > 0 else "cpu"
            if device.startswith("cuda:"):
                raise RecscaleError(
                    f"--device {device} with --executor ray: use --device cuda; Ray gives each trial its own GPU"
                )
            if device == "cuda" and gpus == 0:
                raise RecscaleError("--device cuda: the Ray cluster has no GPUs (ray.cluster_resources() lists none); use --device cpu")
            check_precision(t.train.precision, device)
            out.append(t if device == t.train.device else replace(t, train=replace(t.train, device=device)))
        return out

    def resources(self, task: TrialTask) -> dict[str, float]:
        """The Ray resources a trial asks for."""
        from recscale.train.device import GPU_TRIALS_PER_DEVICE

        k = self.trials_per_device or GPU_TRIALS_PER_DEVICE
        gpus = 1.0 / k if task.train.device.startswith("cuda") else 0.0
        return {"num_cpus": task.train.threads, "num_gpus": gpus}

    # ---- running --------------------------------------------------------------------------------

    def run(self, tasks: Sequence[TrialTask], on_progress: ProgressFn | None = None) -> Iterator[TrialResult]:
        """Run ``tasks`` on Ray, yielding each result as it arrives (in completion order).

        Progress is reported per finished trial only: ``on_progress`` is not called. (A progress
        queue actor costs a worker process per run, 5-20 s of start-up on a small machine.)
        """
        if not tasks:
            return
        ray = self.ray
        started = self._connect()
        try:
            yield from self._run(self._resolve(tasks))
        finally:
            if started:
                ray.shutdown()

    def _run(self, tasks: list[TrialTask]) -> Iterator[TrialResult]:
        ray = self.ray
        remote = ray.remote(_remote_trial)
        todo = list(reversed(tasks))
        pending: dict[Any, TrialTask] = {}
        cap = self.workers or len(tasks)

        def submit() -> None:
            while todo and len(pending) < cap:
                task = todo.pop()
                opts = self.resources(task) | {"max_retries": self.max_retries, "retry_exceptions": False}
                pending[remote.options(**opts).remote(task, None)] = task

        try:
            submit()
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0.25)
                for ref in ready:
                    task = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as e:
                        # Only after max_retries lost workers, or when the task could not run at all.
                        result = TrialResult(task.trial_id, error=f"Ray task failed ({type(e).__name__}) after up to {self.max_retries} retries: {e}")
                    yield result
                submit()
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
