"""Check one ledger, one driver: the ledger lock, workers that die with their driver, no duplicate evaluations."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from recscale.cli.main import main
from recscale.study.ledger import Ledger, TrialRow, export_frame
from recscale.study.lock import LockHeld, hold, lock_path


def _processes() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, state) of every process, from `ps` (Linux and macOS)."""
    out = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,stat="], capture_output=True, text=True, check=True).stdout
    rows = (line.split() for line in out.splitlines())
    return {int(r[0]): (int(r[1]), r[2]) for r in rows if len(r) == 3}


def _descendants(pid: int) -> set[int]:
    procs, found, todo = _processes(), set(), [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, (pp, _) in procs.items() if pp == p}
        todo += list(kids - found)
        found |= kids
    return found


def _alive(pids: set[int]) -> set[int]:
    procs = _processes()
    return {p for p in pids if p in procs and not procs[p][1].startswith("Z")}  # a zombie has exited


def test_lock_refuses_naming_the_holder_and_waits(tmp_path):
    """Check that a held lock refuses a second holder with pid, host and start time, and that wait=True waits."""
    p = lock_path(tmp_path / "t.db")
    assert p.name == "t.db.lock"
    with hold(p, what="ledger t.db"):
        info = json.loads(p.read_text())
        assert info["pid"] == os.getpid()
        with pytest.raises(LockHeld, match=rf"ledger t\.db is in use by another recscale study run \(pid {os.getpid()} on \S+, started 20"):
            with hold(p, what="ledger t.db"):
                pass
    with hold(p, what="x"):  # released on exit: taken again at once
        pass

    waited = []
    release = threading.Event()

    def holder() -> None:
        with hold(p, what="x"):
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    time.sleep(0.2)
    threading.Timer(0.6, release.set).start()
    t0 = time.perf_counter()
    with hold(p, what="x", wait=True, on_wait=waited.append):
        assert time.perf_counter() - t0 > 0.3
    t.join()
    assert len(waited) == 1 and f"pid {os.getpid()}" in waited[0]


def test_evaluations_are_unique_per_trial_and_samples(tmp_path):
    """Check that the ledger can never hold two evaluations of one (trial, samples), even if a trial is recorded twice."""
    with Ledger(tmp_path / "t.db") as led:
        led.add_trials([TrialRow("a", 0, "a", {"embedding_dim": 4, "embedding_rows": 10, "bottom_mlp": [4], "top_mlp": [4]},
                                 1, 2, 3, 10, (("emb", 4), ("mlp", 4)))])  # fmt: skip
        point = {"samples": 256, "ne": 0.9, "logloss": 0.5, "auc": 0.6, "calibration": 1.0, "base_ctr": 0.2, "wall_s": 1.0}
        led.record_trial("a", [point, point | {"samples": 512}], 1.0)
        led.record_trial("a", [point, point | {"samples": 512}], 1.0)  # a second driver finishing it again
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            with led.transaction() as c:
                c.execute("INSERT INTO evaluations VALUES ('a', 256, 0.8, 0.4, 0.6, 1.0, 0.2, 1.0)")
        assert led.evaluation_counts() == (2, 4)  # two evaluations; the export repeats them per scheme
    df = export_frame(tmp_path / "t.db")
    assert len(df) == 4 and not df.duplicated(["scheme", "trial_id", "samples"]).any()
    assert list(df.train_flops) == [3 * 10 * 256, 3 * 10 * 512] * 2


def test_two_drivers_one_ledger_and_a_killed_driver_takes_its_workers(spec_file, tmp_path, capsys):
    """Check the one-driver rule end to end.

    A driver runs the process pool (--workers 2). While it trains, a second `study run` on the same
    --db exits 2 naming the holder and writes nothing. The first is then SIGKILLed: its workers and
    the pool's helper processes exit within seconds, and the next run is not blocked by the dead
    driver's lock; it finishes the study, and the export has no duplicate (scheme, trial, samples).
    """
    db = tmp_path / "t.db"
    cmd = [sys.executable, "-m", "recscale.cli.main", "study", "run", str(spec_file), "--db", str(db), "--workers", "2",
           "--quiet", "--snapshot-every", "0"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    workers: set[int] = set()
    try:
        deadline = time.time() + 180
        while not any((tmp_path / "t.db.snapshots").rglob("*.pt")) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)  # until a worker has trained far enough to snapshot
        assert proc.poll() is None, "the study finished before the second driver could start"
        workers = _descendants(proc.pid)
        assert len(workers) >= 2

        capsys.readouterr()
        assert main(["study", "run", str(spec_file), "--db", str(db), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: ledger {db} is in use by another recscale study run (pid {proc.pid} on ")
        assert len(err.strip().splitlines()) == 1 and "--wait" in err

        os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers must notice on their own
        proc.wait()
        deadline = time.time() + 10
        while _alive(workers) and time.time() < deadline:
            time.sleep(0.1)
        assert not _alive(workers), f"processes left behind by the killed driver: {sorted(_alive(workers))}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for p in _alive(workers):  # only if the test failed: leave no process behind
            os.kill(p, signal.SIGKILL)

    # inline (torch is already imported here); the killed workers' snapshots resume
    assert main(["study", "run", str(spec_file), "--db", str(db), "--quiet", "--workers", "1"]) == 0
    df = export_frame(db)
    assert df.trial_id.nunique() == 3
    assert not df.duplicated(["scheme", "trial_id", "samples"]).any()
    capsys.readouterr()
    assert main(["study", "status", str(db)]) == 0
    evals = len(df.drop_duplicates(["trial_id", "samples"]))
    assert f"{evals} evaluations, one per (trial, samples); the export has {len(df)} rows" in capsys.readouterr().out


def test_a_dataset_being_generated_is_waited_for(bare_spec_file, tmp_path):
    """Check that a driver finding the study's synthetic dataset being generated (by a driver of
    another ledger in the same folder) waits and uses it, instead of reporting an --out conflict."""
    from recscale.data.synthetic import generate
    from recscale.study.runner import RunOptions, _synthetic_dataset, dataset_lock_path, dataset_path
    from recscale.study.spec import load_spec

    spec = load_spec(bare_spec_file)
    ds_path = dataset_path(spec, tmp_path / "a.db")
    s = spec.data.synthetic
    started = threading.Event()

    def other_driver() -> None:
        with hold(dataset_lock_path(ds_path), what="x"):
            started.set()
            generate(s.world, ds_path, rows=s.rows, eval_rows=s.eval_rows, seed=s.seed, progress=False)

    t = threading.Thread(target=other_driver)
    t.start()
    started.wait(10)
    ds = _synthetic_dataset(spec, ds_path, RunOptions(progress=False))
    t.join()
    assert ds.path == ds_path and ds.rows("eval") == s.eval_rows  # the other driver's dataset, opened
