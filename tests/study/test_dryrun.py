"""Check the dry run: its counts equal the spec's expansion and cost model, and it writes nothing."""

import pytest

from recscale.cli.main import main
from recscale.model.cost import model_cost
from recscale.study.dryrun import dry_run
from recscale.study.spec import load_spec


def test_dry_run_counts_and_estimate(bare_spec_file, tmp_path):
    """Check trials, samples and FLOPs against the spec, a positive estimate, and no files written."""
    spec = load_spec(bare_spec_file)
    est = dry_run(spec, tmp_path / "t.db", workers=1, steps=2)
    stop = max(spec.checkpoint_samples())
    world = spec.data.synthetic.world
    flops = sum(model_cost(t.model.dlrm(world.n_dense, world.cardinalities)).train_flops_per_sample * stop for t in spec.trials())
    assert est.trials == len(spec.trials()) == 3
    assert est.samples == 3 * stop
    assert est.train_flops == pytest.approx(flops)
    t = spec.train
    b0 = t.batch_size_at(0)
    assert b0 < t.batch_size  # the default batch ramp: both sizes are timed, and the sizes between interpolated

    def train_s(m):
        per = {b: m.first_step_s + (m.step_s - m.first_step_s) * (b - b0) / (t.batch_size - b0) for b in (32, 64, 128, 256)}
        return sum(n * per[b] for b, n in t.steps_by_size(0, stop).items())

    step_time = sum(m.trials * (train_s(m) + len(est.checkpoints) * m.eval_s) for m in est.models)
    assert est.estimated_s == pytest.approx(step_time) and est.estimated_s > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.toml"]


def test_dry_run_cli(bare_spec_file, tmp_path, capsys):
    """Check that `study run --dry-run` prints the estimate and creates no ledger."""
    db = tmp_path / "t.db"
    assert main(["study", "run", str(bare_spec_file), "--db", str(db), "--dry-run", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "3 trials" in out and "estimated wall time" in out
    assert not db.exists()


def test_dry_run_without_timing_does_not_import_torch(bare_spec_file, tmp_path):
    """Check that sizing a study (steps=0) leaves torch unimported, in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from recscale.study.dryrun import dry_run\n"
        "from recscale.study.spec import load_spec\n"
        f"est = dry_run(load_spec({str(bare_spec_file)!r}), {str(tmp_path / 't.db')!r}, workers=1, steps=0)\n"
        "assert est.trials == 3 and est.train_flops > 0 and est.estimated_s is None, est\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_per_seed_stream_over_a_dataset_path_is_said(tmp_path, small_synth, capsys):
    """Check that a dry run of a spec whose seeds each shuffle a dataset read from a path (a log, whose
    order may be time) says so on stderr, and that the file order or a synthetic world prints no note."""
    from tests.study.conftest import TEST_SPEC

    text = TEST_SPEC.split("[data.synthetic]")[0] + f'[data]\npath = "{small_synth.path}"\n' + TEST_SPEC.split("interaction_max_cardinality = 1_000")[1]
    for stream, synthetic, noted in (("per_seed", False, True), ("shared", False, False), ("per_seed", True, False)):
        spec = (TEST_SPEC if synthetic else text).replace("batch_size = 256", f'batch_size = 256\nstream = "{stream}"')
        p = tmp_path / f"{stream}-{synthetic}.toml"
        p.write_text(spec)
        assert main(["study", "run", str(p), "--db", str(tmp_path / "x.db"), "--dry-run", "--device", "cpu"]) == 0
        err = capsys.readouterr().err
        assert ("in its own shuffled order, not the file's" in err) is noted, (stream, synthetic, err)
