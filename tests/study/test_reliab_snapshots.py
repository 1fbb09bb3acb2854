"""Check that a resumed trial never silently changes its numbers, and a finished one is never retrained.

Each damaged snapshot (bit flips inside a tensor, a zeroed 4 KiB block, truncation, garbage, an empty
file) must be set aside with a warning naming it, and the rerun must end with the numbers of an
uninterrupted run. One trial, 8k rows: each run takes about a second.
"""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pandas as pd
import pytest

import recscale.study.executors as executors
import recscale.study.trial as trial_mod
from recscale.study.ledger import Ledger
from recscale.study.runner import RunOptions, run_study
from recscale.study.spec import load_spec
from recscale.study.trial import SNAPSHOT_MAGIC, SnapshotError, read_snapshot, write_snapshot
from tests.study.conftest import ledger_numbers

SPEC = textwrap.dedent(
    """
    name = "snap"
    seeds = [0]

    [data.synthetic]
    rows = 8_192
    eval_rows = 1_000
    seed = 0
    max_cardinality = 2_000
    interaction_max_cardinality = 500

    [train]
    batch_size = 256
    checkpoints = { start = 1024, stop = 8192, per_doubling = 1 }

    [model]
    embedding_dim = 8
    embedding_rows = 2_000
    bottom_mlp = [16]
    top_mlp = [16]

    [schemes]
    embedding_dim = [8]
    """
)


class _Stop(Exception):
    """Stands for a kill in the middle of a trial."""


class _Killed(BaseException):
    """Stands for a SIGKILL of the driver (nothing after it runs)."""


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The study run once, uninterrupted; its folder also holds the synthetic dataset the others link to."""
    d = tmp_path_factory.mktemp("snapref")
    (d / "s.toml").write_text(SPEC)
    db = d / "s.db"
    s = run_study(load_spec(d / "s.toml"), db, RunOptions(workers=1, progress=False))
    assert s.ran == 1 and not s.failed
    return db


def _study_dir(reference, tmp_path):
    """A fresh folder for the same spec, sharing the reference's synthetic dataset (a symlink)."""
    (tmp_path / "s.toml").write_text(SPEC)
    ds = next(reference.parent.glob("synthetic-*"))
    (tmp_path / ds.name).symlink_to(ds)
    return load_spec(tmp_path / "s.toml"), tmp_path / "s.db"


def _interrupted_run(spec, db, monkeypatch, after_evals: int = 3):
    """Run the study, stopping the trial at its ``after_evals``-th evaluation (a mid-way snapshot is left)."""
    real = executors.run_trial

    class Progress:
        n = 0

        def put(self, item):
            Progress.n += 1
            if Progress.n == after_evals:
                raise _Stop("killed mid-trial")

    monkeypatch.setattr(executors, "run_trial", lambda task, q: real(task, Progress()))
    s = run_study(spec, db, RunOptions(workers=1, progress=False, snapshot_every_s=0))
    monkeypatch.setattr(executors, "run_trial", real)
    assert s.failed  # the stand-in kill failed the trial, leaving its snapshot
    snaps = list((db.parent / f"{db.name}.snapshots").rglob("*.pt"))
    assert len(snaps) == 1
    return snaps[0]


def _flip(b: bytearray) -> None:
    i = len(b) // 2  # inside the embedding table, the bulk of the payload
    for k in range(64):
        b[i + k] ^= 0xFF


def _zero_block(b: bytearray) -> None:
    i = (len(b) // 2) // 4096 * 4096
    b[i : i + 4096] = bytes(4096)


DAMAGE = {
    "bit_flips": _flip,
    "zeroed_4k_block": _zero_block,
    "truncated": lambda b: b.__delitem__(slice(len(b) // 2, None)),
    "garbage": lambda b: b.__setitem__(slice(None), np.random.default_rng(0).bytes(len(b))),
    "empty": lambda b: b.clear(),
}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_damaged_snapshot_is_set_aside_and_rerun_equals_uninterrupted(reference, tmp_path, monkeypatch, capsys, how):
    """Check that a damaged snapshot warns naming the file, moves it aside, and the trial ends with the reference's numbers."""
    spec, db = _study_dir(reference, tmp_path)
    snap = _interrupted_run(spec, db, monkeypatch)
    data = bytearray(snap.read_bytes())
    assert data.startswith(SNAPSHOT_MAGIC) and len(data) > 3 * 4096
    DAMAGE[how](data)
    snap.write_bytes(bytes(data))
    capsys.readouterr()
    s = run_study(spec, db, RunOptions(workers=1, progress=False, snapshot_every_s=0))
    err = capsys.readouterr().err
    assert s.ran == 1 and not s.failed
    warnings = [line for line in err.splitlines() if line.startswith("warning: snapshot")]
    assert len(warnings) == 1 and str(snap) in warnings[0] and "restarts from scratch" in warnings[0], err
    assert snap.with_name(snap.name + ".corrupt").read_bytes() == bytes(data)  # kept for inspection
    assert not snap.exists()  # the finished trial's snapshot is gone once committed
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(reference))


def test_valid_snapshot_resumes_mid_trial_with_equal_numbers(reference, tmp_path, monkeypatch, capsys):
    """Check that an intact snapshot is resumed (no warning, fewer evaluations trained) with the reference's numbers."""
    spec, db = _study_dir(reference, tmp_path)
    snap = _interrupted_run(spec, db, monkeypatch)
    evals = []
    real = executors.run_trial

    class Progress:
        def put(self, item):
            evals.append(item[1])

    monkeypatch.setattr(executors, "run_trial", lambda task, q: real(task, Progress()))
    capsys.readouterr()
    run_study(spec, db, RunOptions(workers=1, progress=False))
    assert "warning" not in capsys.readouterr().err
    assert evals and min(evals) > 1024  # resumed past the first checkpoints
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(reference))


def test_kill_between_trial_end_and_commit_does_not_retrain(reference, tmp_path, monkeypatch):
    """Check that a trial finished but not yet committed when the driver dies is committed on rerun without training."""
    spec, db = _study_dir(reference, tmp_path)

    def killed(self, *a, **k):
        raise _Killed()

    monkeypatch.setattr(Ledger, "record_trial", killed)
    with pytest.raises(_Killed):
        run_study(spec, db, RunOptions(workers=1, progress=False))
    monkeypatch.undo()
    snaps = list((db.parent / f"{db.name}.snapshots").rglob("*.pt"))
    assert len(snaps) == 1  # the finished trial's points wait for the driver's commit

    def no_training(*a, **k):
        raise AssertionError("a finished trial was retrained")

    monkeypatch.setattr(trial_mod, "_trainer", no_training)
    s = run_study(spec, db, RunOptions(workers=1, progress=False))
    assert s.ran == 1 and not s.failed
    assert not snaps[0].exists()
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(reference))


def test_snapshot_of_another_trial_or_spec_is_refused(tmp_path):
    """Check that a snapshot's header ties it to one trial, seed and spec hash, and its digest to its bytes."""
    p = tmp_path / "a.pt"
    write_snapshot(p, {"trial_id": "t1", "seed": 0, "spec_hash": "abc", "points": []}, b"payload")
    assert read_snapshot(p, "t1", 0, "abc")[1] == b"payload"
    for args in (("t2", 0, "abc"), ("t1", 1, "abc"), ("t1", 0, "def")):
        with pytest.raises(SnapshotError, match="belongs to"):
            read_snapshot(p, *args)
    assert not list(tmp_path.glob(".*.tmp"))


def test_failed_snapshot_write_leaves_previous_and_no_temp(tmp_path, monkeypatch):
    """Check that a write that fails (a full disk) removes its temp file and keeps the previous snapshot."""
    p = tmp_path / "a.pt"
    write_snapshot(p, {"trial_id": "t1", "seed": 0, "spec_hash": "abc"}, b"old")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        write_snapshot(p, {"trial_id": "t1", "seed": 0, "spec_hash": "abc"}, b"new")
    monkeypatch.undo()
    assert read_snapshot(p, "t1", 0, "abc")[1] == b"old"
    assert [q.name for q in tmp_path.iterdir()] == ["a.pt"]


@pytest.fixture
def small_fs(tmp_path):
    """A 640 KiB tmpfs (we run as root in CI containers); skipped where mounting is not allowed."""
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=640k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root and mount rights)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_is_one_line_exit_2_and_resume_is_identical(reference, small_fs, capsys):
    """Check that a full disk mid-study is one line, exit 2, leaves no temp files, and the rerun after freeing space equals an uninterrupted run."""
    import subprocess

    from recscale.cli.main import main

    spec, db = _study_dir(reference, small_fs)
    argv = ["study", "run", str(small_fs / "s.toml"), "--db", str(db), "--quiet", "--snapshot-every", "0"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no space left on device writing "), err
    assert "finished trials are safe in the ledger" in err[0] and "free space and rerun" in err[0]
    leftovers = [p.name for p in small_fs.rglob("*") if p.name.startswith(".") and ".tmp" in p.name]
    assert leftovers == []
    assert subprocess.run(["mount", "-o", "remount,size=64m", str(small_fs)], capture_output=True).returncode == 0
    assert main(argv) == 0
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(reference))


def test_disk_full_while_generating_the_dataset_cleans_up(small_fs, capsys):
    """Check that a full disk while the synthetic dataset is written is one line, exit 2, and leaves no partial dataset."""
    from recscale.cli.main import main

    (small_fs / "s.toml").write_text(SPEC)
    argv = ["study", "run", str(small_fs / "s.toml"), "--db", str(small_fs / "s.db"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no space left on device writing "), err
    # (the dataset's lock file stays by design: see recscale.study.lock)
    assert not [p.name for p in small_fs.iterdir() if p.name.startswith((".synthetic-", "synthetic-")) and p.suffix != ".lock"]
