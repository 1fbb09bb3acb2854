"""Check that a study with ``train.stream = "per_seed"`` gives each seed its own training order, shared by
that seed's trials (the runner and executors carry the option to the trainer)."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np

from recscale.data.loader import iter_batches, stream_order
from recscale.data.shards import Dataset
from recscale.study.runner import RunOptions, run_study
from recscale.study.spec import load_spec
from recscale.train import trainer
from tests.study.conftest import TEST_SPEC


def _digest(batch) -> str:
    return hashlib.sha256(b"".join(t.cpu().numpy().tobytes() for t in (batch.dense, batch.sparse, batch.labels))).hexdigest()


def test_each_seed_reads_its_own_order_and_its_trials_share_it(tmp_path, monkeypatch, test_world):
    streams: list[list[str]] = []
    original = trainer.iter_batches

    def recording(*args, **kwargs):  # the inline executor trains in this process
        streams.append([])
        for batch in original(*args, **kwargs):
            streams[-1].append(_digest(batch))
            yield batch

    monkeypatch.setattr(trainer, "iter_batches", recording)
    text = (TEST_SPEC.replace("seeds = [0]", "seeds = [0, 1]")
            .replace("batch_size = 256", 'batch_size = 256\nstream = "per_seed"')
            .replace("stop = 16_384", "stop = 2048").replace("mlp_width = [16, 32]\n", ""))
    (tmp_path / "s.toml").write_text(text)
    shutil.copytree(test_world, tmp_path / test_world.name)  # TEST_SPEC's data, as generated
    summary = run_study(load_spec(tmp_path / "s.toml"), tmp_path / "s.db", RunOptions(progress=False, workers=1, executor="inline"))
    assert summary.failed == [] and summary.trials == 4  # embedding_dim 4 and 8, seeds 0 and 1
    distinct = {tuple(s) for s in streams}
    assert len(streams) == 4 and len(distinct) == 2 and all(streams.count(list(s)) == 2 for s in distinct)
    train = Dataset(tmp_path / test_world.name).split("train")
    size_at = load_spec(tmp_path / "s.toml").train.batch_size_at
    expected = {tuple(_digest(b) for b in iter_batches(train, 256, 2048, size_at=size_at, order=stream_order(train.rows, s)))
                for s in (0, 1)}
    assert distinct == expected
    file_order = tuple(_digest(b) for b in iter_batches(train, 256, 2048, size_at=size_at))
    assert file_order not in distinct and np.all([len(s) == len(file_order) for s in distinct])
