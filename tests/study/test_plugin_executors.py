"""Check a plugin from a separate installed package, registered by entry point, and one in a file
beside the spec, in every executor: inline, a process pool (`--workers 2`) and Ray give the same
ledger numbers; and a mixed study keeps
common random numbers, records the measured FLOPs and trains each architecture with its own
[train.<architecture>]."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from recscale.train.config import TrainConfig

from recscale.cli.main import main
from tests.study.conftest import TEST_SPEC, ledger_numbers
from tests.study.test_ray_executor import needs_ray

SPEC = (  # TEST_SPEC's data (the session's copy of its dataset serves), trained to 4k samples
    TEST_SPEC.replace("stop = 16_384", "stop = 4_096").replace("mlp_width = [16, 32]", "mlp_width = [16]")
    .replace("seeds = [0]", 'seeds = [0]\narchitectures = ["dlrm", "tiny_tower", "towers.py:FileTower"]')
) + "\n[train.tiny_tower]\nlr_dense = 0.004\n"  # fmt: skip

PACKAGE = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "throwaway-towers"
        version = "0.1"

        [project.entry-points."recscale.architectures"]
        tiny_tower = "throwaway_towers:TinyTower"
    """,
    "throwaway_towers/__init__.py": """
        import torch
        from torch import nn


        class TinyTower(nn.Module):
            def __init__(self, context, hidden=8):
                super().__init__()
                self.lin = nn.Linear(context.n_dense + context.n_sparse * context.embedding_dim, hidden)
                self.out = nn.Linear(hidden, 1, bias=False)

            def forward_embedded(self, dense, emb):
                return self.out(torch.relu(self.lin(torch.cat([dense, emb.flatten(1)], 1)))).squeeze(1)
    """,
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory, test_world):
    """The throwaway package built and pip-installed (--target) into a folder on sys.path and PYTHONPATH,
    so this process, spawned pool workers and Ray workers all see its entry point; removed after."""
    root = tmp_path_factory.mktemp("plugin_pkg")
    for name, text in PACKAGE.items():
        (root / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "pkg" / name).write_text(textwrap.dedent(text))
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--target", str(site), str(root / "pkg"), "--no-deps", "--no-index",
                    "--no-build-isolation", "-q", "--disable-pip-version-check"], check=True, capture_output=True, text=True)  # fmt: skip
    old_env = os.environ.get("PYTHONPATH")
    sys.path.insert(0, str(site))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(site), *([old_env] if old_env else [])])
    (root / "s.toml").write_text(SPEC)
    shutil.copytree(test_world, root / test_world.name)
    (root / "towers.py").write_text("from throwaway_towers import TinyTower as FileTower\n")  # a plugin file beside the spec
    yield root
    sys.path.remove(str(site))
    if old_env is None:
        os.environ.pop("PYTHONPATH")
    else:
        os.environ["PYTHONPATH"] = old_env


@pytest.fixture(scope="module")
def inline_run(installed):
    """The study run inline, recording each trial's training stream and settings (in this process)."""
    from recscale.study import executors
    from recscale.train import trainer

    streams, trains = [], {}
    original_batches, original_run = trainer.iter_batches, executors.run_trial

    def recording(*args, **kwargs):
        streams.append([])
        for batch in original_batches(*args, **kwargs):
            streams[-1].append(hashlib.sha256(b"".join(t.cpu().numpy().tobytes() for t in (batch.dense, batch.sparse, batch.labels))).hexdigest())
            yield batch

    def run_trial(task, progress=None):
        trains[task.trial_id] = task.train
        return original_run(task, progress)

    db = installed / "inline.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainer, "iter_batches", recording)
        mp.setattr(executors, "run_trial", run_trial)
        assert main(["study", "run", str(installed / "s.toml"), "--db", str(db), "--workers", "1", "--quiet", "--device", "cpu"]) == 0
    return db, streams, trains


def test_entry_point_plugin_runs_inline_and_records_its_cost(inline_run):
    """Check the installed plugin trained beside the DLRM, with its FLOPs measured and recorded as such."""
    with sqlite3.connect(inline_run[0]) as c:
        rows = c.execute("SELECT trial_id, architecture, status, flops_per_sample, model_json FROM trials").fetchall()
    plugin = [r for r in rows if r[1] == "tiny_tower"]
    assert len(plugin) == 2 and len(rows) == 6 and all(r[2] == "done" for r in rows)
    assert {r[0] for r in plugin} == {"tiny_tower-D4-R2000-s0", "tiny_tower-D8-R2000-s0"}
    for _, _, _, flops, model_json in plugin:
        m = json.loads(model_json)
        assert m["flops_source"] == "measured" and m["target"] == "tiny_tower" and flops > 0
        assert len(m["source_sha256"]) == 64  # the plugin's source file, recorded beside its numbers
    assert {json.loads(r[4])["flops_source"] for r in rows if r[1] == "dlrm"} == {"closed_form"}


def test_workers_2_equals_inline(installed, inline_run):
    """Check `--workers 2` (spawned processes import the plugin by entry point) writes the inline numbers."""
    db = installed / "pool.db"
    assert main(["study", "run", str(installed / "s.toml"), "--db", str(db), "--workers", "2", "--quiet", "--device", "cpu"]) == 0
    pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(inline_run[0]))


@needs_ray
def test_ray_equals_inline(installed, inline_run):
    """Check the Ray executor (its workers import the plugin by entry point) writes the inline numbers."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2, log_to_driver=False)
    try:
        db = installed / "ray.db"
        assert main(["study", "run", str(installed / "s.toml"), "--db", str(db), "--executor", "ray", "--quiet"]) == 0
        pd.testing.assert_frame_equal(ledger_numbers(db), ledger_numbers(inline_run[0]))
    finally:
        ray.shutdown()


def test_plugin_sees_the_builtins_stream_and_its_own_train_settings(inline_run):
    """Check common random numbers (every trial, plugin or built-in, sees the same training stream)
    and that the plugin's trials train with [train.tiny_tower], the DLRM's with [train]."""
    _, streams, trains = inline_run
    steps = sum(TrainConfig().steps_by_size(0, 4096).values())  # the default batch ramp's 128 batches of 32
    assert len(streams) == 6 and len(streams[0]) == steps and all(s == streams[0] for s in streams)
    from recscale.train.config import DEFAULT_LR_DENSE

    lr = DEFAULT_LR_DENSE["adam"]  # [train] gives none: the default
    assert {k: v.lr_dense for k, v in trains.items()} == {
        "D4-R2000-B16-T16-dot-s0": lr, "D8-R2000-B16-T16-dot-s0": lr, "tiny_tower-D4-R2000-s0": 4e-3,
        "tiny_tower-D8-R2000-s0": 4e-3, "FileTower-D4-R2000-s0": lr, "FileTower-D8-R2000-s0": lr}
