"""One trial as a pure function: a :class:`TrialTask` in, a :class:`TrialResult` out.

Every executor (inline, process pool, Ray) runs :func:`run_trial`; this module is what they share,
so none of them imports another. Progress: a trial reports ``(trial_id, samples_done,
samples_total)`` events through an optional queue.

Snapshots are self-checking. ``torch.load`` does not verify a zip's CRCs, so a flipped byte inside
a tensor would load and silently change a trial's numbers. A snapshot file is therefore::

    MAGIC | header length (8 bytes, little-endian) | header (JSON) | payload (torch.save) | SHA-256 of all before it

and the header names the trial, its seed and the spec hash it was trained under, plus the points
measured so far. A file that fails any check (digest, header, trial, or torch's own loading) is
moved aside to ``<name>.corrupt`` with a one-line warning naming it, and the trial restarts from
scratch: same seed, same batches, so it ends with the numbers of a run that never stopped. A
finished trial writes a last snapshot holding only its points, which the driver deletes after it
has committed them: a kill between the two does not retrain the trial.
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
    spec_hash: str = ""  # written into the snapshot: a snapshot of another spec is never resumed


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


def _trainer(task: TrialTask, resume: tuple[dict[str, Any], bytes] | None):
    """A Trainer whose snapshots are this module's self-checking files (resuming from ``resume``)."""
    import torch

    from recscale.data.shards import Dataset
    from recscale.train.trainer import EvalPoint, Trainer

    class CheckedTrainer(Trainer):
        def _save(self, path, points) -> None:
            buf = io.BytesIO()
            torch.save({"state": self.state.state_dict()}, buf)
            write_snapshot(path, _header(task, points, self.state.samples, False, 0.0), buf.getvalue())

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
            warnings.append(set_aside(snap, str(e), task.trial_id))
            trainer, points = train(None)
        wall = time.perf_counter() - t0
        if snap is not None:
            try:  # the points, so that a kill before the driver's commit does not retrain the trial
                write_snapshot(snap, _header(task, points, trainer.state.samples, True, wall))
            except OSError:  # no room for it: the result still goes back to the driver
                pass
        return TrialResult(task.trial_id, [p.to_dict() for p in points], wall, warnings=tuple(warnings))
    except Exception as e:  # noqa: BLE001 - reported to the driver, which records the trial as failed
        return TrialResult(task.trial_id, wall_s=time.perf_counter() - t0, error=traceback.format_exc(limit=6),
                           warnings=tuple(warnings), no_space=_is_no_space(e))
