"""Check that a ledger grows with its spec: new trials only, extensions equal to runs that never
stopped (bitwise), refusals naming the field, plans, decisions, and the dry run of the new work."""

import shutil
import sqlite3

import pandas as pd
import pytest

from recscale.cli.main import main
from recscale.errors import RecscaleError
from recscale.study import executors
from recscale.study.dryrun import dry_run
from recscale.study.ledger import Ledger, export_frame, open_existing, train_flops
from recscale.study.runner import RunOptions, run_study, state_dir
from recscale.study.spec import CheckpointSpec, SpecError, first_numbers_change, load_spec, parse_spec
from recscale.study.trial import read_snapshot_header
from tests.study.conftest import TEST_SPEC, done_trials, ledger_numbers

OPTS = RunOptions(workers=1, progress=False)
IDS = ["D4-R2000-B16-T16-dot-s0", "D8-R2000-B16-T16-dot-s0", "D8-R2000-B32-T16-dot-s0"]  # the test spec's trials


def _spec(folder, stop=16_384, seeds="[0]", schemes=None, name="t"):
    text = TEST_SPEC.replace("stop = 16_384", f"stop = {stop}").replace("seeds = [0]", f"seeds = {seeds}")
    if schemes is not None:
        text = text.split("[schemes]")[0] + "[schemes]\n" + schemes
    p = folder / f"{name}-{stop}-{abs(hash((seeds, schemes)))}.toml"
    p.write_text(text)
    return load_spec(p)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One folder for every ledger here, so they share one synthetic dataset."""
    return tmp_path_factory.mktemp("grow")


@pytest.fixture(scope="module")
def one_go(folder):
    """The test study run to 16,384 samples in one go."""
    db = folder / "one.db"
    assert run_study(_spec(folder), db, OPTS).new == 3
    return db


@pytest.fixture(scope="module")
def short(folder):
    """The test study run to 4,096 samples (a grid point), states kept; copy it before growing it."""
    db = folder / "short.db"
    assert run_study(_spec(folder, 4096), db, OPTS).new == 3
    return db


def _copy(db, to):
    shutil.copy(db, to)
    if state_dir(db).exists():
        shutil.copytree(state_dir(db), state_dir(to))
    return to


def _spy(monkeypatch):
    """Record every TrialResult the inline executor returns."""
    real, got = executors.run_trial, []
    monkeypatch.setattr(executors, "run_trial", lambda task, q: got.append(real(task, q)) or got[-1])
    return got


@pytest.mark.parametrize("start, per, batch", [(1024, 1, 256), (4096, 2, 256), (1000, 3, 128)])
def test_grid_of_a_larger_stop_extends_the_smaller(start, per, batch):
    """Check that the grid of a larger stop has the smaller grid's points and then more: exactly a
    prefix when the smaller stop is a grid point, else all but that stop, which the study's grid
    (their union) keeps, so the union always starts with the smaller grid."""
    for s1 in range(start, 40 * start, 1337):
        g1 = CheckpointSpec(start, s1, per).samples(batch)
        for s2 in (s1 + batch, 2 * s1, 7 * s1 + 5):
            g2 = CheckpointSpec(start, s2, per).samples(batch)
            assert [c for c in g2 if c < g1[-1]] == g1[:-1]
            assert sorted(set(g1) | set(g2))[: len(g1)] == g1
    on_grid = CheckpointSpec(start, start * 8, per).samples(batch)
    assert CheckpointSpec(start, start * 32, per).samples(batch)[: len(on_grid)] == on_grid


def test_numbers_identity_accepts_growth_and_names_a_change():
    """Check what may grow (seeds, schemes, architectures, stop, name) and that a change to data,
    recipe, grid or a shared architecture's base is named, old and new; a dropped one is not."""
    raw = {"name": "a", "seeds": [0], "architectures": ["dlrm", "dcnv2"], "data": {"synthetic": {"rows": 5000, "eval_rows": 500}},
           "train": {"checkpoints": {"start": 256, "stop": 1024}}, "model": {"embedding_dim": 8, "dcnv2": {"cross_layers": 2}},
           "schemes": {"embedding_dim": [4, 8]}}  # fmt: skip

    def d(**change):
        r = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
        for path, v in change.items():
            *keys, last = path.split("__")
            node = r
            for k in keys:
                node[k] = dict(node[k])
                node = node[k]
            node[last] = v
        return parse_spec(r).to_dict()

    old = d()
    for grown in (d(seeds=[0, 1]), d(name="b"), d(schemes={"embedding_dim": [2, 4, 8], "mlp_width": [8]}),
                  d(train__checkpoints={"start": 256, "stop": 4096}), d(architectures=["dlrm", "dcnv2", "wukong"]),
                  d(architectures=["dlrm"], model={"embedding_dim": 8})):  # fmt: skip
        assert first_numbers_change(old, grown) is None
    assert first_numbers_change(old, d(data__synthetic={"rows": 6000, "eval_rows": 500})) == ("data.synthetic.rows", 5000, 6000)
    assert first_numbers_change(old, d(train__batch_size=128)) == ("train.batch_size", 256, 128)
    assert first_numbers_change(old, d(train__checkpoints={"start": 512, "stop": 1024}))[0] == "train.checkpoints.start"
    assert first_numbers_change(old, d(model={"embedding_dim": 8, "dcnv2": {"cross_layers": 3}})) == ("model.dcnv2.cross_layers", 2, 3)
    assert first_numbers_change(old, d(train__dcnv2={"lr_dense": 0.01})) == ("train.dcnv2.lr_dense", 0.002, 0.01)


def test_ledger_from_before_mlp_bias_init_reads_as_reference():
    """Check that a stored spec written before ``train.mlp_bias_init`` existed reads as the reference
    biases its trials had: today's default grows it, and "zero" is refused naming both values."""
    raw = {"name": "a", "seeds": [0], "data": {"synthetic": {"rows": 5000, "eval_rows": 500}},
           "train": {"checkpoints": {"start": 256, "stop": 1024}}, "model": {"embedding_dim": 8}, "schemes": {"embedding_dim": [4, 8]}}
    stored = parse_spec(raw).to_dict()
    del stored["train"]["mlp_bias_init"]
    assert first_numbers_change(stored, parse_spec(raw).to_dict()) is None
    raw["train"]["mlp_bias_init"] = "zero"
    assert first_numbers_change(stored, parse_spec(raw).to_dict()) == ("train.mlp_bias_init", "reference", "zero")
    raw["train"]["mlp_bias_init"] = "small"
    with pytest.raises(SpecError, match=r"train.mlp_bias_init: must be one of 'zero', 'reference'; got 'small'"):
        parse_spec(raw)


def test_ledger_from_before_the_batch_ramp_reads_as_no_ramp():
    """Check that a stored spec written before ``train.batch_ramp`` existed reads as ``batch_ramp = 1``
    (its trials had no ramp): today's default ramp is refused naming both values, ``batch_ramp = 1``
    grows it, and a ramp that is not a power of two is a spec error."""
    raw = {"name": "a", "seeds": [0], "data": {"synthetic": {"rows": 5000, "eval_rows": 500}},
           "train": {"checkpoints": {"start": 256, "stop": 1024}}, "model": {"embedding_dim": 8}, "schemes": {"embedding_dim": [4, 8]}}
    stored = parse_spec(raw).to_dict()
    del stored["train"]["batch_ramp"], stored["train"]["batch_ramp_steps"]
    assert first_numbers_change(stored, parse_spec(raw).to_dict()) == ("train.batch_ramp", 1, 8)
    raw["train"]["batch_ramp"] = 1
    assert first_numbers_change(stored, parse_spec(raw).to_dict()) is None
    raw["train"]["batch_ramp"] = 6
    with pytest.raises(SpecError, match=r"train.batch_ramp: must be a power of two .*got 6"):
        parse_spec(raw)


def test_ledger_from_before_train_stream_reads_as_the_shared_stream():
    """Check that a stored spec written before ``train.stream`` existed reads as the shared (file-order)
    stream its trials read: the default grows it, "per_seed" is refused naming both values, and an
    unknown stream is a spec error naming the allowed ones."""
    raw = {"name": "a", "seeds": [0], "data": {"synthetic": {"rows": 5000, "eval_rows": 500}},
           "train": {"checkpoints": {"start": 256, "stop": 1024}}, "model": {"embedding_dim": 8}, "schemes": {"embedding_dim": [4, 8]}}
    stored = parse_spec(raw).to_dict()
    del stored["train"]["stream"]
    assert first_numbers_change(stored, parse_spec(raw).to_dict()) is None
    raw["train"]["stream"] = "per_seed"
    assert first_numbers_change(stored, parse_spec(raw).to_dict()) == ("train.stream", "shared", "per_seed")
    raw["train"]["stream"] = "shuffled"
    with pytest.raises(SpecError, match=r"train.stream: must be one of 'shared', 'per_seed'; got 'shuffled'"):
        parse_spec(raw)


def test_extension_equals_the_run_that_never_stopped(folder, one_go, short, monkeypatch):
    """Check that raising checkpoints.stop from 4,096 to 16,384 continues each trial from its kept
    state (verified: it resumes at 4,096), appends only its new points, leaves its old rows as they
    were, and gives bitwise the numbers of the trial run to 16,384 in one go, at every checkpoint."""
    db = _copy(short, folder / "ext.db")
    before = export_frame(db)
    got = _spy(monkeypatch)
    s = run_study(_spec(folder), db, OPTS)
    assert (s.ran, s.new, s.extended, s.failed) == (3, 0, 3, [])
    assert sorted(r.trial_id for r in got) == IDS and all(r.resumed_samples == 4096 for r in got)
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(one_go))
    after = export_frame(db)
    old = after[after.samples <= 4096].reset_index(drop=True)
    pd.testing.assert_frame_equal(old.drop(columns="samples_done"), before.drop(columns="samples_done"))  # wall_s too
    assert set(before.samples_done) == {4096} and set(after.samples_done) == {16_384}
    for tid in IDS:
        assert read_snapshot_header(next(state_dir(db).rglob(f"{tid}.pt")))["samples"] == 16_384
    assert run_study(_spec(folder), db, OPTS).ran == 0  # nothing left to do


def test_extension_without_state_retrains_and_checks_the_old_points(folder, one_go, short, monkeypatch):
    """Check that without kept states an extension retrains from scratch (same seed) and still equals
    the one-go run; and that a trial whose recomputed points disagree with the ledger's fails loudly,
    adds nothing and keeps its committed points (done)."""
    db = _copy(short, folder / "nostate.db")
    shutil.rmtree(state_dir(db))
    got = _spy(monkeypatch)
    assert run_study(_spec(folder), db, RunOptions(workers=1, progress=False, keep_state=False)).extended == 3
    assert all(r.resumed_samples == 0 for r in got) and not state_dir(db).exists()
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(one_go))

    bad = _copy(short, folder / "bad.db")
    shutil.rmtree(state_dir(bad))
    with sqlite3.connect(bad) as c:  # the ledger's point no longer matches what this machine computes
        c.execute("UPDATE evaluations SET ne = ne + 1e-9 WHERE trial_id = ? AND samples = 2048", (IDS[0],))
    tampered = export_frame(bad)
    s = run_study(_spec(folder), bad, OPTS)
    assert s.failed == [IDS[0]] and s.extended == 2
    df = export_frame(bad)
    pd.testing.assert_frame_equal(df[df.trial_id == IDS[0]].reset_index(drop=True),
                                  tampered[tampered.trial_id == IDS[0]].reset_index(drop=True))  # fmt: skip
    with open_existing(bad) as led:
        assert led.status_counts() == {"done": 3}
        assert "retrained from scratch to extend it past 4,096 samples" in led.trial_errors()[IDS[0]]
    assert not list(state_dir(bad).rglob(f"{IDS[0]}.pt"))  # its disagreeing state is not kept


def test_off_grid_stop_keeps_its_point(folder, one_go):
    """Check that a stop off the log grid (6,144) stays a checkpoint of the grown study, and that
    every other point equals the one-go run's."""
    db = folder / "off.db"
    run_study(_spec(folder, 6144), db, OPTS)
    assert run_study(_spec(folder), db, OPTS).extended == 3
    grown, ref = ledger_numbers(db), ledger_numbers(one_go)
    assert sorted(set(grown.samples)) == [1024, 2048, 4096, 6144, 8192, 16_384]
    on_grid = grown[grown.samples != 6144].reset_index(drop=True)
    pd.testing.assert_frame_equal(on_grid, ref)
    with open_existing(db) as led:
        assert led.get_meta("checkpoints") == [1024, 2048, 4096, 6144, 8192, 16_384]
        assert [h["spec"]["checkpoints"]["stop"] for h in led.get_meta("spec_history")] == [6144, 16_384]
        assert 6144 in led.reference_samples()


def test_added_seed_and_scheme_run_only_new_trials(folder, one_go):
    """Check that adding a seed runs only its trials and leaves every old export row identical (wall
    time and finished_at too), and that a new scheme the base model stands in adds its membership
    (new export rows with its numbers) without training anything."""
    db = _copy(one_go, folder / "seed.db")
    before, finished = export_frame(db), done_trials(db)
    s = run_study(_spec(folder, seeds="[0, 1]"), db, OPTS)
    assert (s.trials, s.ran, s.new, s.extended) == (6, 3, 3, 0)
    after = export_frame(db)
    pd.testing.assert_frame_equal(after[after.seed == 0].reset_index(drop=True), before)
    assert {k: v for k, v in done_trials(db).items() if k.endswith("-s0")} == finished
    schemes = "embedding_dim = [4, 8]\nmlp_width = [16, 32]\noverarch_width = [16]\n"
    s = run_study(_spec(folder, seeds="[0, 1]", schemes=schemes), db, OPTS)
    assert s.ran == 0
    df = export_frame(db)
    base = df[df.trial_id == "D8-R2000-B16-T16-dot-s0"]
    over, dim = base[base.scheme == "overarch_width"], base[base.scheme == "embedding_dim"]
    assert len(over) == 5 and list(over["ne"]) == list(dim["ne"])


def test_plan_runs_only_its_trials_to_their_targets(folder, one_go, capsys):
    """Check that a plan runs only its trials, each to its own target (new from scratch, partial ones
    extended), that status says which trials are partly trained, that bad plans are refused before
    anything is written, and that the twice-extended curve still equals the one-go run."""
    db = folder / "plan.db"
    spec = _spec(folder)
    with pytest.raises(RecscaleError, match="plan: 'nope-s0' is not a trial of spec 't'"):
        run_study(spec, db, RunOptions(workers=1, progress=False, plan={"nope-s0": 1024}))
    with pytest.raises(RecscaleError, match="plan: trial 'D4-R2000-B16-T16-dot-s0' to 3000 samples: must be a checkpoint"):
        run_study(spec, db, RunOptions(workers=1, progress=False, plan={IDS[0]: 3000}))
    assert not db.exists()
    s = run_study(spec, db, RunOptions(workers=1, progress=False, plan={IDS[0]: 2048}))
    assert (s.ran, s.new) == (1, 1)
    assert set(export_frame(db).samples_done) == {2048}
    capsys.readouterr()
    assert main(["study", "status", str(db)]) == 0
    out = capsys.readouterr().out
    assert "0 done trials trained to the study's stop 16,384 samples, 1 partly" in out and f"{IDS[0]}: to 2,048 samples" in out
    s = run_study(spec, db, RunOptions(workers=1, progress=False, plan={IDS[0]: 8192, IDS[2]: 1024}))
    assert (s.new, s.extended) == (1, 1)
    s = run_study(spec, db, OPTS)  # no plan: everything to the stop
    assert (s.new, s.extended) == (1, 2)
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(one_go))


def test_kill_during_extension_resumes_with_the_same_numbers(folder, one_go, short, monkeypatch):
    """Check that an extension stopped mid-way (after its 8,192 snapshot) resumes from that snapshot,
    keeps its committed points meanwhile, and ends with the one-go run's numbers."""
    db = _copy(short, folder / "kill.db")
    real = executors.run_trial

    class Stop(Exception):
        pass

    class Progress:
        def put(self, item):
            if item[1] == 16_384:
                raise Stop("killed")

    monkeypatch.setattr(executors, "run_trial", lambda task, q: real(task, Progress()) if task.trial_id == IDS[1] else real(task, q))
    s = run_study(_spec(folder), db, RunOptions(workers=1, progress=False, snapshot_every_s=0))
    assert s.failed == [IDS[1]] and s.extended == 2
    with open_existing(db) as led:
        assert led.samples_done()[IDS[1]] == 4096 and led.status_counts() == {"done": 3}
    monkeypatch.setattr(executors, "run_trial", real)
    got = _spy(monkeypatch)
    assert run_study(_spec(folder), db, OPTS).extended == 1
    assert [r.resumed_samples for r in got] == [8192]  # from the running snapshot, not the kept state
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(one_go))
    with open_existing(db) as led:
        assert led.trial_errors() == {}  # the extension's success clears its earlier error


def test_dry_run_names_new_extended_and_kept_with_costs(folder, short, capsys):
    """Check that the dry run on a ledger says which trials are new, extended (from its kept state or
    retrained) and kept (no longer in the spec, or at their stop), with the new work's samples and
    FLOPs, and the disk of the kept states; and that it writes nothing."""
    db = _copy(short, folder / "dry.db")
    spec = _spec(folder, seeds="[0, 1]", schemes="embedding_dim = [8]\nmlp_width = [16, 32]\n")  # drops D4
    est = dry_run(spec, db, workers=1, steps=0)
    assert sorted(w.trial_id for w in est.extended) == IDS[1:] and all(w.from_state and w.start == 4096 for w in est.extended)
    assert sorted(w.trial_id for w in est.new) == [i.replace("-s0", "-s1") for i in IDS[1:]]
    assert est.kept_not_in_spec == [IDS[0]] and est.kept == []
    fps = {m.label: m.flops_per_sample for m in est.models}
    assert est.work_train_flops == sum(train_flops(fps[w.trial_id[:-3]], w.samples) for w in est.work)
    assert est.work_samples == 2 * 12_288 + 2 * 16_384
    assert est.state_bytes == pytest.approx(2 * sum(f.stat().st_size for f in state_dir(db).rglob("D8*.pt")), rel=0.03)
    next(state_dir(db).rglob(f"{IDS[2]}.pt")).unlink()
    assert {w.trial_id: w.from_state for w in dry_run(spec, db, workers=1, steps=0).extended} == {IDS[1]: True, IDS[2]: False}
    assert dry_run(_spec(folder, 4096), db, steps=0).kept == IDS and not dry_run(_spec(folder, 4096), db, steps=0).work
    before = sorted(p.name for p in folder.iterdir())
    capsys.readouterr()
    assert main(["study", "run", str(spec.source), "--db", str(db), "--dry-run", "--device", "cpu", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "this run would train 2 new and extend 2 trials" in out
    assert f"extended  {IDS[1]}: 4,096 → 16,384 samples from its kept state" in out
    assert f"extended  {IDS[2]}: 4,096 → 16,384 samples retrained from scratch" in out
    assert f"kept      {IDS[0]}: no longer in the spec" in out and "new work: 61,440 samples" in out
    assert sorted(p.name for p in folder.iterdir()) == before


def test_decisions_round_trip_and_old_ledger_migrates(tmp_path):
    """Check that decisions round-trip by step, that replaying a step is a no-op and changing it is
    refused, and that a ledger without the table reads as no decisions and gains it when written."""
    db = tmp_path / "d.db"
    with Ledger(db) as led:
        led.record_decision(1, {"run": "b", "to": 2048})
        led.record_decision(0, {"run": "a", "to": 1024, "score": 0.5})
        led.record_decision(0, {"score": 0.5, "to": 1024, "run": "a"})  # the same choice, replayed
        with pytest.raises(RecscaleError, match="decision step 0 is already recorded with another payload"):
            led.record_decision(0, {"run": "c"})
    with open_existing(db) as led:
        got = led.decisions()
    assert [(d["step"], d["payload"]) for d in got] == [(0, {"run": "a", "to": 1024, "score": 0.5}), (1, {"run": "b", "to": 2048})]
    assert all(isinstance(d["created_at"], str) for d in got)
    old = tmp_path / "old.db"
    with Ledger(old):
        pass
    with sqlite3.connect(old) as c:  # a ledger from before the table
        c.execute("DROP TABLE decisions")
    before = old.read_bytes()
    with open_existing(old) as led:
        assert led.decisions() == []
    assert old.read_bytes() == before  # reading migrates in the query, not on disk
    with Ledger(old) as led:
        led.record_decision(0, {"run": "a"})
        assert led.decisions()[0]["payload"] == {"run": "a"}


def test_lowered_stop_keeps_points_and_new_trials_stop_there(folder, one_go, capsys):
    """Check the documented rule for a lowered stop: finished trials keep every point (beyond it too),
    new trials (here a new seed, through the CLI without kept states) stop at the new stop, and
    status says they are partly trained against the study's grid."""
    db = _copy(one_go, folder / "lower.db")
    before = export_frame(db)
    spec = _spec(folder, 4096, seeds="[0, 1]")
    assert dry_run(spec, db, steps=0).kept == IDS
    capsys.readouterr()
    assert main(["study", "run", str(spec.source), "--db", str(db), "--quiet", "--workers", "1", "--no-keep-state"]) == 0
    assert "6 trials, 3 run now (3 new, 0 extended)" in capsys.readouterr().out
    after = export_frame(db)
    pd.testing.assert_frame_equal(after[after.seed == 0].reset_index(drop=True), before)
    assert set(after[after.seed == 1].samples_done) == {4096}
    assert not [p for p in state_dir(db).rglob("*-s1.pt")]  # --no-keep-state
    assert main(["study", "status", str(db)]) == 0
    assert "3 done trials trained to the study's stop 16,384 samples, 3 partly" in capsys.readouterr().out


def test_damaged_kept_state_is_set_aside_and_the_trial_retrained(folder, one_go, short, monkeypatch):
    """Check that a kept state that fails its digest is moved to .corrupt with a warning, its trial
    retrained from scratch (the others continue from theirs), and the numbers still equal the one-go run."""
    db = _copy(short, folder / "flip.db")
    state = next(state_dir(db).rglob(f"{IDS[0]}.pt"))
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0x01
    state.write_bytes(bytes(data))
    got = _spy(monkeypatch)
    assert run_study(_spec(folder), db, OPTS).extended == 3
    assert {r.trial_id: r.resumed_samples for r in got} == {IDS[0]: 0, IDS[1]: 4096, IDS[2]: 4096}
    assert any("digest mismatch" in w and "retrained from scratch" in w for w in got[0].warnings)
    assert state.with_name(state.name + ".corrupt").exists() and read_snapshot_header(state)["samples"] == 16_384
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(one_go))
