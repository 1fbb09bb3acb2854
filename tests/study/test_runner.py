"""Check the study driver: results, resume after SIGKILL, worker-count invariance, refusals."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from recscale.cli.main import main
from recscale.data.shards import Dataset
from recscale.errors import RecscaleError, SpecError
from recscale.study.ledger import export_frame
from recscale.study.runner import RunOptions, run_study
from recscale.study.spec import load_spec
from recscale.metrics import evaluate
from tests.study.conftest import done_trials, ledger_numbers


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """The test study run once, uninterrupted, inline."""
    from tests.study.conftest import TEST_SPEC

    d = tmp_path_factory.mktemp("ref")
    (d / "t.toml").write_text(TEST_SPEC)
    db = d / "t.db"
    s = run_study(load_spec(d / "t.toml"), db, RunOptions(workers=1, progress=False))
    assert s.ran == 3 and not s.failed
    return db


def test_ledger_holds_curves_and_reference(reference_run):
    """Check the export: columns, a decreasing NE curve per trial, FLOPs = 3·forward·samples, Bayes/oracle."""
    df = export_frame(reference_run)
    for col in ["trial_id", "scheme", "value", "seed", "params_dense", "params_sparse", "params_total",
                "flops_per_sample", "samples", "train_flops", "ne", "logloss", "auc", "calibration", "wall_s"]:  # fmt: skip
        assert col in df.columns
    assert set(df.scheme) == {"embedding_dim", "mlp_width"}
    assert (df.train_flops == 3 * df.flops_per_sample * df.samples).all()
    for _, g in df.groupby("trial_id"):
        assert g.sort_values("samples")["ne"].iloc[-1] < g.sort_values("samples")["ne"].iloc[0]
    assert df.bayes_ne.notna().all()
    # The seen-id oracle knows fewer ids than the full teacher, so on the same eval rows it does no
    # better than the teacher itself (4,000 rows: comparing with the world's Bayes NE would be noise).
    ev = Dataset(next(reference_run.parent.glob("synthetic-*"))).split("eval")
    p = np.asarray(ev.prob, dtype=np.float64)
    full = evaluate(np.asarray(ev.labels, dtype=np.float64), np.log(p / (1 - p))).ne
    oracle = df.groupby("samples")["oracle_ne"].first()
    assert (oracle >= full - 1e-3).all() and oracle.iloc[-1] < oracle.iloc[0]


def test_workers_do_not_changeledger_numbers(reference_run, spec_file, tmp_path):
    """Check that --workers 2 (process pool) gives exactly the numbers of --workers 1 (inline)."""
    db = tmp_path / "t.db"
    assert main(["study", "run", str(spec_file), "--db", str(db), "--workers", "2", "--quiet"]) == 0
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(reference_run))


def test_sigkill_and_resume_gives_same_results(reference_run, bare_spec_file, tmp_path):
    """Check that killing `recscale study run` with SIGKILL at several moments, then rerunning, changes nothing.

    Kills land during start-up (dataset generation), right after the first and the second trial
    are committed, and in the third trial once it has saved a snapshot (so it resumes mid-way). Trials finished before a kill keep their timestamps (not rerun).
    """
    db = tmp_path / "t.db"
    cmd = [sys.executable, "-m", "recscale.cli.main", "study", "run", str(bare_spec_file), "--db", str(db), "--workers", "1", "--quiet",
           "--snapshot-every", "0"]  # fmt: skip
    moments = [
        lambda: time.sleep(1.0) or True,  # during start-up / dataset generation
        lambda: len(done_trials(db)) >= 1,  # the second trial has just started
        lambda: len(done_trials(db)) >= 2,  # just after a commit
        lambda: any((tmp_path / "t.db.snapshots").rglob("*.pt")),  # mid-trial, with a snapshot to resume from
    ]
    finished_before: dict[str, str] = {}
    for moment in moments:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 120
        while not moment() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the study finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        now = done_trials(db)
        assert all(now[k] == v for k, v in finished_before.items())
        finished_before = now
    assert 2 <= len(finished_before) < 3
    assert any((tmp_path / "t.db.snapshots").rglob("*.pt"))  # the last trial will resume mid-way
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []  # no half dataset left behind
    assert [p for p in (tmp_path / "t.db.snapshots").rglob("*") if p.is_file()] == []  # finished trials leave none
    now = done_trials(db)
    assert len(now) == 3 and all(now[k] == v for k, v in finished_before.items())
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(reference_run))


def test_changed_recipe_is_refused_unless_new(reference_run, tmp_path, capsys):
    """Check that resuming with a changed recipe is refused naming the field, old and new value, writes
    nothing, and exits 2 with that one line through the CLI."""
    from tests.study.conftest import TEST_SPEC

    p = tmp_path / "t.toml"
    p.write_text(TEST_SPEC.replace("[train]", "[train]\nlr_dense = 0.05"))
    db = reference_run
    before = db.stat().st_mtime_ns
    with pytest.raises(RecscaleError, match=r"^train.lr_dense changed from 0.002 to 0.05 since .*t.db was made: it changes "
                                            r"every finished trial's numbers; set lr_dense = 0.002 in \[train\] to grow it as it was, pass --new to start "
                                            r"over, or use another --db$"):
        run_study(load_spec(p), db, RunOptions(workers=1, progress=False))
    assert db.stat().st_mtime_ns == before
    capsys.readouterr()
    assert main(["study", "run", str(p), "--db", str(db), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.lr_dense changed from 0.002 to 0.05" in err
    assert main(["study", "run", str(p), "--db", str(db), "--dry-run", "--device", "cpu"]) == 2  # the dry run refuses too
    assert db.stat().st_mtime_ns == before


def test_other_precision_is_refused_on_resume(reference_run, spec_file):
    """Check that resuming a ledger at another --precision is refused (one ledger, one precision)."""
    with pytest.raises(RecscaleError, match="trained with --precision fp32, not bf16.*--new"):
        run_study(load_spec(spec_file), reference_run, RunOptions(workers=1, progress=False, precision="bf16", device="cpu"))


def test_missing_dataset_and_too_short_dataset(tmp_path, small_synth):
    """Check refusals for a data.path that does not exist or has fewer rows than the checkpoints, writing nothing."""
    from tests.study.conftest import TEST_SPEC

    spec_text = TEST_SPEC.split("[data.synthetic]")[0] + '[data]\npath = "PATH"\n' + TEST_SPEC.split("interaction_max_cardinality = 1_000")[1]
    p = tmp_path / "p.toml"
    p.write_text(spec_text.replace("PATH", str(tmp_path / "nope")))
    db = tmp_path / "p.db"
    with pytest.raises(SpecError, match="data.path: .*nope does not exist; create it with `recscale data"):
        run_study(load_spec(p), db, RunOptions(progress=False))
    busy = tmp_path / f".nope.tmp-{os.getpid()}-cafef00d"  # an ingest still writing it (this process is alive)
    busy.mkdir()
    with pytest.raises(SpecError, match=f"data.path: .*nope is still being written by process {os.getpid()}"):
        run_study(load_spec(p), db, RunOptions(progress=False))
    busy.rmdir()
    p.write_text(spec_text.replace("PATH", str(small_synth.path)).replace("stop = 16_384", "stop = 80_000"))
    with pytest.raises(SpecError, match="train.checkpoints.stop: 80,000 exceeds the dataset's 40,000 training rows"):
        run_study(load_spec(p), db, RunOptions(progress=False))
    assert not db.exists()


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    """Check that a bad spec through the CLI prints one line naming the field and exits 2."""
    p = tmp_path / "bad.toml"
    from tests.study.conftest import TEST_SPEC

    p.write_text(TEST_SPEC.replace("mlp_width = [16, 32]", "width = [16]"))
    assert main(["study", "run", str(p), "--db", str(tmp_path / "x.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "schemes.width: unknown scheme" in err
    assert not (tmp_path / "x.db").exists()
    assert main(["study", "status", str(tmp_path / "none.db")]) == 2
    assert main(["study", "export", str(tmp_path / "none.db"), "--out", str(tmp_path / "o.txt")]) == 2


def test_a_planned_run_counts_its_own_runs_on_the_overall_bar(spec_file, tmp_path, capsys):
    """Check the live display of a plan (a goal's step): the overall bar counts the plan's runs, not
    the grid's trials (the untouched trials are not "finished")."""
    spec = load_spec(spec_file)
    first = spec.trials()[0].trial_id
    s = run_study(spec, tmp_path / "t.db", RunOptions(workers=1, progress=True, plan={first: 2048}))
    assert s.ran == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert "study: 1/1 runs of this step finished" in text, text[-2000:]
    assert "trials finished" not in text


def test_a_new_synthetic_study_calibrates_its_world_once(bare_spec_file, tmp_path, monkeypatch):
    """Check that generating a study's rows and scoring its seen-id oracle share one calibrated
    teacher (calibration is most of the generation's time; the oracle's numbers are checked in
    test_ledger_holds_curves_and_reference)."""
    from recscale.data import synthetic

    synthetic.shared_teacher.cache_clear()  # another test may have calibrated this world
    calls = []
    original = synthetic.Teacher.calibrate
    monkeypatch.setattr(synthetic.Teacher, "calibrate", lambda self, rng: calls.append(1) or original(self, rng))
    s = run_study(load_spec(bare_spec_file), tmp_path / "t.db", RunOptions(workers=1, progress=False))
    assert s.ran == 3 and len(calls) == 1
