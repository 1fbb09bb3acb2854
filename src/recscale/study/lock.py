"""One driver per ledger, one writer per synthetic dataset: advisory file locks the kernel releases.

``recscale study run`` holds ``<db>.lock`` (an ``fcntl.flock`` on a file beside the ledger) for as
long as it runs. The kernel drops a flock when its process dies, however it dies, so a SIGKILLed
driver never leaves the ledger stuck, and there is no stale-lock cleanup to get wrong. The holder
writes its pid, host and start time into the file so that a second driver can say who holds it;
the file itself stays (deleting a lock file while others may open it races).

Works on Linux and macOS (both have BSD ``flock``). On a network filesystem flock may be
local to one machine; run one study's driver from one machine (see docs/scale-out.md).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recscale.errors import RecscaleError

WAIT_POLL_S = 0.5


class LockHeld(RecscaleError):
    """Another process holds the lock (the message names it)."""


def lock_path(db: Path) -> Path:
    """The lock file of ledger ``db``: ``<db>.lock`` beside it."""
    return db.parent / f"{db.name}.lock"


def _holder(fd: int) -> str:
    """The holder's pid, host and start time, in words, from the lock file's content."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"pid {info['pid']} on {info['host']}, started {info['started']}"
    except (OSError, ValueError, KeyError):
        return "a process that is just starting"


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def hold(path: Path, *, what: str, wait: bool = False, hint: str = "", on_wait=None) -> Iterator[None]:
    """Hold the lock file ``path`` for the duration of the block.

    Args:
        path: The lock file (created if missing).
        what: What the lock guards, for the refusal ("study ledger runs/t.db").
        wait: Wait for the holder to finish instead of refusing.
        hint: Appended to the refusal (how to wait, for example).
        on_wait: Called once with the holder's description when ``wait`` and the lock is taken.

    Raises:
        LockHeld: the lock is held and ``wait`` is false; the message names the holder.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            holder = _holder(fd)
            if not wait:
                raise LockHeld(f"{what} is in use by another recscale study run ({holder}){hint}")
            if on_wait is not None:
                on_wait(holder)
            while not _try_lock(fd):  # poll rather than block, so Ctrl-C stays responsive
                time.sleep(WAIT_POLL_S)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
