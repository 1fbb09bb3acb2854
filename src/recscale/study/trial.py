"""One trial as a pure function: a :class:`TrialTask` in, a :class:`TrialResult` out.

Every executor (inline, process pool, Ray) runs :func:`run_trial`; this module is what they share,
so none of them imports another. Progress: a trial reports ``(trial_id, samples_done,
samples_total)`` events through an optional queue.

Snapshots are self-checking. ``torch.load`` does not verify a zip's CRCs, so a flipped byte inside
a tensor would load and silently change a trial's numbers. A snapshot file is therefore::

    MAGIC | header length (8 bytes, little-endian) | header (JSON) | payload (torch.save) | SHA-256 of all before it

and the header names the trial, its seed and the numbers hash it was trained under (``spec_hash``:
StudySpec.numbers_hash of its architecture, which a growing spec leaves unchanged), plus the points
measured so far. A file that fails any check (digest, header, trial, or torch's own loading) is
moved aside to ``<name>.corrupt`` with a one-line warning naming it, and the trial restarts from
scratch: same seed, same batches, so it ends with the numbers of a run that never stopped. A
finished trial writes a last snapshot holding only its points, which the driver deletes after it
has committed them: a kill between the two does not retrain the trial.

Kept states (``TrialTask.keep_state``): a finished trial also leaves its final training state
(model, both optimisers, samples, and its points in the header) in the same self-checking format at
``TrialTask.state``, written before the result goes back to the driver. A later, longer run of the
trial (a raised ``checkpoints.stop``, or a plan) continues from it when it passes every check and
holds exactly the samples of the ledger's last point (``TrialTask.start_samples``); otherwise the
trial is retrained from scratch with the same seed, and the driver checks that the recomputed points
equal the ledger's.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import struct
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recscale.model.config import ModelConfig
from recscale.train.config import TrainConfig

ProgressFn = Callable[[str, int, int], None]

SNAPSHOT_MAGIC = b"RECSCALE-SNAPSHOT 1\n"
_DIGEST = 32  # bytes of SHA-256
_MAX_HEADER = 64 << 20  # a header holds a few hundred points; anything larger is damage


@dataclass(frozen=True)
class TrialTask:
    """Everything a worker needs to train one trial (picklable, no open files)."""

    trial_id: str
    model: ModelConfig  # any architecture's config: the worker builds it with build_model
    train: TrainConfig
    dataset: str
    checkpoints: tuple[int, ...]
    seed: int
    snapshot: str | None = None  # training-state file: resume from it if present; the driver deletes it
    snapshot_every_s: float = 60.0
    # The identity the trial is trained under (the runner passes StudySpec.numbers_hash of its
    # architecture), written into its snapshots and kept state: one of another identity is never resumed.
    spec_hash: str = ""
    state: str | None = None  # kept-state file: continued from when start_samples > 0; written at the end if keep_state
    start_samples: int = 0  # samples of the ledger's last point of this trial (0: a new trial)
    keep_state: bool = False


@dataclass(frozen=True)
class TrialResult:
    """Evaluations of a finished trial, or the error that stopped it.

    ``warnings`` are one-line notes for the operator (a snapshot set aside); ``no_space`` says the
    error was a full disk, which stops the study rather than failing the trial.
    """

    trial_id: str
    points: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    no_space: bool = False
    resumed_samples: int = 0  # samples the training continued from (a snapshot or a kept state; 0: from scratch)


class SnapshotError(Exception):
    """A snapshot file that must not be resumed from (the message says why)."""


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (a rename) to disk; a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_snapshot(path: str | Path, header: dict[str, Any], payload: bytes = b"") -> None:
    """Write a snapshot atomically and durably: temp file, fsync, rename, fsync of the folder.

    A failed write (a full disk) removes its temp file and leaves the previous snapshot intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = json.dumps(header, sort_keys=True).encode()
    body = SNAPSHOT_MAGIC + struct.pack("<Q", len(head)) + head + payload
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(body)
            fh.write(hashlib.sha256(body).digest())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def read_snapshot(path: str | Path, trial_id: str, seed: int, spec_hash: str) -> tuple[dict[str, Any], bytes]:
    """The verified (header, payload) of a snapshot of this trial.

    Raises:
        SnapshotError: empty, truncated, not a snapshot, digest mismatch, or another trial's.
    """
    data = Path(path).read_bytes()
    if not data:
        raise SnapshotError("empty file")
    if not data.startswith(SNAPSHOT_MAGIC):
        raise SnapshotError("not a recscale snapshot (no header; damaged, or written by an older recscale)")
    n0 = len(SNAPSHOT_MAGIC)
    if len(data) < n0 + 8 + _DIGEST:
        raise SnapshotError(f"truncated ({len(data)} bytes)")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        raise SnapshotError("SHA-256 digest mismatch (damaged or truncated)")
    (n,) = struct.unpack("<Q", body[n0 : n0 + 8])
    if n > min(_MAX_HEADER, len(body) - n0 - 8):
        raise SnapshotError("header length out of range")
    try:
        header = json.loads(body[n0 + 8 : n0 + 8 + n])
    except (ValueError, RecursionError) as e:
        raise SnapshotError(f"header is not JSON ({e})") from None
    want = {"trial_id": trial_id, "seed": seed, "spec_hash": spec_hash}
    got = {k: header.get(k) if isinstance(header, dict) else None for k in want}
    if got != want:
        raise SnapshotError(f"belongs to {got}, not {want}")
    return header, body[n0 + 8 + n :]


def read_snapshot_header(path: str | Path) -> dict[str, Any] | None:
    """A snapshot's header, unverified (no digest: the payload is not read), or None if it has none.

    For the dry run, which only says whether a kept state is there; training verifies it in full.
    """
    try:
        with open(path, "rb") as fh:
            if fh.read(len(SNAPSHOT_MAGIC)) != SNAPSHOT_MAGIC:
                return None
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > _MAX_HEADER:
                return None
            header = json.loads(fh.read(n))
    except (OSError, ValueError, struct.error, RecursionError):
        return None
    return header if isinstance(header, dict) else None


def set_aside(path: Path, reason: str, trial_id: str) -> str:
    """Move a bad snapshot to ``<name>.corrupt`` (kept for inspection); returns the warning line."""
    aside = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, aside)
        where = f"moved it to {aside}"
    except OSError as e:  # cannot move it: remove it, or the next run would trip on it again
        path.unlink(missing_ok=True)
        where = f"removed it (could not move it: {e.strerror})"
    return f"warning: snapshot {path} failed its check ({reason}); {where}; trial {trial_id} restarts from scratch"


def _header(task: TrialTask, points: list[Any], samples: int, finished: bool, wall_s: float) -> dict[str, Any]:
    return {"trial_id": task.trial_id, "seed": task.seed, "spec_hash": task.spec_hash, "samples": samples,
            "finished": finished, "wall_s": wall_s, "points": [p.to_dict() for p in points]}  # fmt: skip


def _state_payload(state) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({"state": state.state_dict()}, buf)
    return buf.getvalue()


def _kept_state(task: TrialTask) -> tuple[tuple[dict[str, Any], bytes] | None, str | None]:
    """The verified kept state to extend ``task`` from, or None and a warning saying why not."""
    path = Path(task.state)
    if not path.exists():
        return None, None  # kept states off, or never written: retrained silently (the driver checks the prefix)
    try:
        header, payload = read_snapshot(path, task.trial_id, task.seed, task.spec_hash)
    except SnapshotError as e:
        return None, set_aside(path, str(e), task.trial_id).replace("restarts from scratch", "is retrained from scratch")
    points = header.get("points") or [{}]
    last = points[-1].get("samples") if isinstance(points[-1], dict) else None
    if header.get("samples") != task.start_samples or last != task.start_samples:
        return None, (f"warning: kept state {path} holds {header.get('samples')} samples, the ledger's last point of trial "
                      f"{task.trial_id} is at {task.start_samples}; the trial is retrained from scratch")
    return (header, payload), None


def _trainer(task: TrialTask, resume: tuple[dict[str, Any], bytes] | None):
    """A Trainer whose snapshots are this module's self-checking files (resuming from ``resume``)."""
    import torch

    from recscale.data.shards import Dataset
    from recscale.train.trainer import EvalPoint, Trainer

    class CheckedTrainer(Trainer):
        resumed_samples = 0

        def _save(self, path, points) -> None:
            write_snapshot(path, _header(task, points, self.state.samples, False, 0.0), _state_payload(self.state))

        def _resume(self, path) -> list:
            if resume is None:
                return []
            header, payload = resume
            try:
                d = torch.load(io.BytesIO(payload), map_location=self.state.device, weights_only=True)
                self.state.load_state_dict(d["state"])
                points = [EvalPoint.from_dict(p) for p in header["points"]]
            except Exception as e:  # noqa: BLE001 - a digest-valid file torch cannot use is still unusable
                raise SnapshotError(f"cannot be loaded: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}") from None
            if self.state.samples != header.get("samples"):
                raise SnapshotError(f"holds {self.state.samples} samples, its header says {header.get('samples')}")
            self.resumed_samples = self.state.samples
            return points

    return CheckedTrainer(task.model, task.train, Dataset(task.dataset), task.seed)


def _is_no_space(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def run_trial(task: TrialTask, progress: Any = None) -> TrialResult:
    """Train one trial and return its evaluations; exceptions become ``TrialResult.error``.

    The snapshot is left in place (a finished trial's holds its points): the driver deletes it
    once the result is committed.

    Args:
        task: The trial.
        progress: Anything with ``put((trial_id, done, total))`` (a queue), or None.
    """
    t0 = time.perf_counter()
    warnings: list[str] = []
    try:
        snap = Path(task.snapshot) if task.snapshot is not None else None
        resume = None
        if snap is not None and snap.exists():
            try:
                resume = read_snapshot(snap, task.trial_id, task.seed, task.spec_hash)
            except SnapshotError as e:
                warnings.append(set_aside(snap, str(e), task.trial_id))
            if resume is not None and resume[0].get("finished"):  # trained; killed before the driver committed
                got = [p.get("samples") if isinstance(p, dict) else None for p in resume[0].get("points", ())]
                if got != sorted(set(task.checkpoints)):
                    warnings.append(set_aside(snap, f"finished at checkpoints {got}, not the trial's", task.trial_id))
                    resume = None
            if resume is not None and resume[0].get("finished"):
                return TrialResult(task.trial_id, resume[0]["points"], float(resume[0]["wall_s"]), warnings=tuple(warnings))
        from_state = False
        if resume is None and task.start_samples > 0 and task.state is not None:  # an extension
            resume, note = _kept_state(task)
            warnings.extend([note] if note else [])
            from_state = resume is not None
        total = max(task.checkpoints)

        def on_eval(point) -> None:
            if progress is not None:
                progress.put((task.trial_id, point.samples, total))

        def train(resume):
            trainer = _trainer(task, resume)
            return trainer, trainer.run(task.checkpoints, on_eval=on_eval, snapshot=task.snapshot, snapshot_every_s=task.snapshot_every_s)

        try:
            trainer, points = train(resume)
        except SnapshotError as e:  # passed its digest, yet torch cannot use it: start over
            warnings.append(set_aside(Path(task.state) if from_state else snap, str(e), task.trial_id))
            trainer, points = train(None)
        wall = time.perf_counter() - t0
        if task.keep_state and task.state is not None:  # before the result goes back: the driver commits after
            try:
                write_snapshot(task.state, _header(task, points, trainer.state.samples, True, wall), _state_payload(trainer.state))
            except OSError as e:  # no room: the result stands; a later extension retrains this trial
                if _is_no_space(e):
                    return TrialResult(task.trial_id, wall_s=wall, error=f"no space left keeping its state in {task.state}",
                                       warnings=tuple(warnings), no_space=True)
                warnings.append(f"warning: could not keep trial {task.trial_id}'s state in {task.state} ({e}); "
                                "extending it later retrains it")
        if snap is not None:
            try:  # the points, so that a kill before the driver's commit does not retrain the trial
                write_snapshot(snap, _header(task, points, trainer.state.samples, True, wall))
            except OSError:  # no room for it: the result still goes back to the driver
                pass
        return TrialResult(task.trial_id, [p.to_dict() for p in points], wall, warnings=tuple(warnings),
                           resumed_samples=trainer.resumed_samples)
    except Exception as e:  # noqa: BLE001 - reported to the driver, which records the trial as failed
        return TrialResult(task.trial_id, wall_s=time.perf_counter() - t0, error=traceback.format_exc(limit=6),
                           warnings=tuple(warnings), no_space=_is_no_space(e))
