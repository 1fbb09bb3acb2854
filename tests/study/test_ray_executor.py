"""Check the Ray executor on a local Ray instance: same ledger as inline, lost workers, killed driver.

The Ray tests share one local instance (2 CPUs, no dashboard, a small object store, loopback
addresses only) and are skipped when Ray is not installed; the error-message tests run without it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from recscale.cli.main import main
from recscale.errors import RecscaleError
from recscale.study.trial import TrialTask
from recscale.study.ledger import Ledger
from recscale.study.runner import RunOptions, run_study
from recscale.study.spec import load_spec
from recscale.train.config import TrainConfig
from tests.study.conftest import TEST_SPEC, done_trials, ledger_numbers

# Single-node Ray on loopback addresses only (set before Ray is imported; Ray reads it at import).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

try:
    import ray  # noqa: F401

    HAVE_RAY = True
except ImportError:
    HAVE_RAY = False
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason='Ray is not installed; pip install "recscale[ray]" (make test installs it)')

# 3 trials to 8k samples: small enough for three Ray runs in well under a minute on 2 cores. The
# data are TEST_SPEC's, so the session's copy of its dataset serves (no generation here).
RAY_SPEC = TEST_SPEC.replace("stop = 16_384", "stop = 8_192")
assert "stop = 8_192" in RAY_SPEC


@pytest.fixture(scope="module")
def ray_spec(tmp_path_factory, test_world):
    d = tmp_path_factory.mktemp("rayspec")
    (d / "r.toml").write_text(RAY_SPEC)
    shutil.copytree(test_world, d / test_world.name)
    return d / "r.toml"


@pytest.fixture(scope="module")
def inline_run(ray_spec):
    """The spec run once inline; its dataset (beside the ledger) is shared by the Ray runs."""
    db = ray_spec.parent / "inline.db"
    s = run_study(load_spec(ray_spec), db, RunOptions(workers=1, executor="inline", device="cpu", progress=False))
    assert s.ran == 3 and not s.failed
    return db


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray instance for this module; yields its address, shuts it down after."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


# ---- without a cluster ---------------------------------------------------------------------------


def test_missing_ray_names_the_install_command(monkeypatch):
    """Check that --executor ray without Ray installed says how to install it."""
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    from recscale.study.runner import make_executor

    with pytest.raises(RecscaleError, match=r'pip install "recscale\[ray\]"'):
        make_executor("ray", 2, address=None)


def test_missing_ray_cli_exits_2_before_writing(monkeypatch, bare_spec_file, tmp_path, capsys):
    """Check that the CLI turns the missing-Ray error into exit code 2, before writing anything."""
    monkeypatch.setitem(sys.modules, "ray", None)
    code = main(["study", "run", str(bare_spec_file), "--db", str(tmp_path / "t.db"), "--executor", "ray", "--quiet"])
    assert code == 2
    assert "recscale[ray]" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [bare_spec_file]


def test_invisible_dataset_is_a_clear_error(tmp_path):
    """Check that a trial whose dataset is not on the worker's node fails naming the path and the fix."""
    from recscale.model.config import DLRMConfig
    from recscale.study.ray_executor import _remote_trial

    task = TrialTask("x", DLRMConfig(n_dense=2, cardinalities=(3,)), TrainConfig(), str(tmp_path / "nowhere"), (256,), 0)
    r = _remote_trial(task, None)
    assert r.error is not None and "nowhere" in r.error and "shared filesystem" in r.error


@needs_ray
def test_resources_follow_threads_and_trials_per_device():
    """Check the declared resources: num_cpus = train.threads; num_gpus = 1/K on cuda, 0 on cpu."""
    from recscale.model.config import DLRMConfig
    from recscale.study.ray_executor import RayExecutor

    model = DLRMConfig(n_dense=2, cardinalities=(3,))
    cpu = TrialTask("a", model, TrainConfig(threads=2, device="cpu"), "d", (256,), 0)
    gpu = TrialTask("b", model, TrainConfig(device="cuda"), "d", (256,), 0)
    ex = RayExecutor(trials_per_device=4)
    assert ex.resources(cpu) == {"num_cpus": 2, "num_gpus": 0.0}
    assert ex.resources(gpu) == {"num_cpus": 1, "num_gpus": 0.25}
    with pytest.raises(RecscaleError, match="--trials-per-device must be >= 1, got 0"):
        RayExecutor(trials_per_device=0)


# ---- on a local Ray instance ---------------------------------------------------------------------


@needs_ray
def test_ray_ledger_equals_inline(ray_address, ray_spec, inline_run, tmp_path):
    """Check that `study run --executor ray` writes exactly the numbers of --executor inline."""
    db = ray_spec.parent / "ray.db"
    assert main(["study", "run", str(ray_spec), "--db", str(db), "--executor", "ray", "--quiet"]) == 0
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(inline_run))
    with Ledger(db) as led:
        assert led.get_meta("last_run_executor") == "ray"
        assert led.get_meta("last_run_device") == "auto"  # resolved per trial on the cluster (to cpu here)


@needs_ray
def test_ray_rejects_devices_the_cluster_lacks(ray_address, ray_spec, inline_run):
    """Check that --device cuda on a GPU-less cluster (from a GPU-less driver), and cuda:N, fail
    before any trial runs, naming the fix."""
    db = ray_spec.parent / "gpu.db"
    with pytest.raises(RecscaleError, match="the Ray cluster has no GPUs.*use --device cpu"):
        run_study(load_spec(ray_spec), db, RunOptions(executor="ray", device="cuda", progress=False))
    assert done_trials(db) == {}
    with pytest.raises(RecscaleError, match="use --device cuda; Ray gives each trial its own GPU"):
        _run_tasks(ray_spec, "cuda:1")


@needs_ray
def test_ray_static_refusals_write_nothing(tmp_path, bare_spec_file):
    """Check that cuda:N and tf32-on-cpu are refused on the driver, before a ledger is written."""
    db = tmp_path / "t.db"
    for device, precision, msg in (("cuda:1", "fp32", "use --device cuda"), ("cpu", "tf32", "tf32 needs a CUDA device")):
        with pytest.raises(RecscaleError, match=msg):
            run_study(load_spec(bare_spec_file), db, RunOptions(executor="ray", device=device, precision=precision, progress=False))
        assert not db.exists()


def _run_tasks(ray_spec, device: str):
    # The runner resolves explicit devices on the driver (no GPU here), so call the executor directly.
    from recscale.study.ray_executor import RayExecutor

    spec = load_spec(ray_spec)
    t = spec.trials()[0]
    task = TrialTask(t.trial_id, t.model.dlrm(13, (10,)), TrainConfig(device=device), "d", (256,), 0)
    return list(RayExecutor().run([task]))


def _ray_trial_pids() -> list[int]:
    """Workers of this test's own Ray instance (descendants of this process) that are running a trial."""
    import psutil

    out = []
    for p in psutil.Process(os.getpid()).children(recursive=True):
        try:
            cmd = p.cmdline()
        except psutil.Error:
            continue
        if cmd and cmd[0].startswith("ray::_remote_trial"):
            out.append(p.pid)
    return out


@needs_ray
def test_killed_worker_is_retried(ray_address, ray_spec, inline_run):
    """Check that SIGKILLing a Ray worker in the middle of a trial still completes the study, same numbers."""
    import psutil

    db = ray_spec.parent / "killed-worker.db"
    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:
        # Wait until a trial has been running for a moment, then kill the process running it.
        while not stop.is_set() and not killed:
            pids = _ray_trial_pids()
            if pids:
                time.sleep(0.1)
                try:
                    p = psutil.Process(pids[0])
                    if p.cmdline()[0].startswith("ray::_remote_trial"):  # still mid-trial
                        p.send_signal(signal.SIGKILL)
                        killed.append(pids[0])
                except (psutil.NoSuchProcess, IndexError):
                    pass
            time.sleep(0.05)

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    try:
        s = run_study(load_spec(ray_spec), db, RunOptions(executor="ray", progress=False))
    finally:
        stop.set()
        th.join(5)
    assert killed, "no Ray worker was caught mid-trial"
    assert s.ran == 3 and not s.failed
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(inline_run))


@needs_ray
def test_killed_driver_resumes(ray_address, ray_spec, inline_run):
    """Check that SIGKILLing the driver (`study run --executor ray --address ...`) after one trial, then
    rerunning, keeps the finished trial and completes the study with the inline numbers."""
    db = ray_spec.parent / "killed-driver.db"
    cmd = [sys.executable, "-m", "recscale.cli.main", "study", "run", str(ray_spec), "--db", str(db),
           "--executor", "ray", "--address", ray_address, "--workers", "1", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while len(done_trials(db)) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, f"driver ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = done_trials(db)
    assert 1 <= len(before) < 3
    s = run_study(load_spec(ray_spec), db, RunOptions(executor="ray", ray_address=ray_address, progress=False))
    assert s.ran == 3 - len(before) and not s.failed
    after = done_trials(db)
    assert all(after[t] == before[t] for t in before)  # finished trials were not rerun
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(inline_run))
