"""Check ``train.stream = "per_seed"``: each seed reads its own fixed order of the training split, and
every guarantee of the file order holds for it (prefix exactness, resume, determinism)."""

import numpy as np
import pytest

from recscale.data.loader import iter_batches, stream_order
from recscale.train.config import TrainConfig
from recscale.train.trainer import Trainer
from tests.train.test_trainer import _cfg


def test_stream_order_is_a_fixed_permutation_per_seed():
    """Check that the order is a permutation, the same for a seed every time, other for another seed."""
    a, b, c = stream_order(10_000, 0), stream_order(10_000, 0), stream_order(10_000, 1)
    assert np.array_equal(np.sort(a), np.arange(10_000))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.mean(a == c) < 0.01  # not a shifted copy: another draw


def test_batches_read_the_rows_the_order_names(small_synth):
    """Check that batch i holds file rows order[i·B:(i+1)·B] (blocks smaller than the stop, a ramped batch
    size and a start inside the split included), and that the file order is what ``order=None`` reads."""
    split = small_synth.split("train")
    order = stream_order(split.rows, 7)
    size_at = TrainConfig(batch_size=256, batch_ramp=4, batch_ramp_steps=4).batch_size_at
    for start in (0, 2048):
        got = list(iter_batches(split, 256, 6144, start=start, block_rows=1024, size_at=size_at, order=order))
        dense = np.concatenate([b.dense.numpy() for b in got])
        labels = np.concatenate([b.labels.numpy() for b in got])
        sparse = np.concatenate([b.sparse.numpy() for b in got])
        rows = order[start:6144]
        assert np.array_equal(dense, np.asarray(split.dense)[rows].astype(np.float32))
        assert np.array_equal(sparse, np.asarray(split.sparse)[rows])
        assert np.array_equal(labels, np.asarray(split.labels)[rows].astype(np.float32))
    plain = np.concatenate([b.labels.numpy() for b in iter_batches(split, 256, 4096)])
    assert np.array_equal(plain, np.asarray(split.labels)[:4096].astype(np.float32))


def test_per_seed_streams_keep_prefix_exactness_and_resume(small_synth, tmp_path):
    """Check that under per-seed streams NE at D of a longer run equals a run stopped at D, a run resumed
    from a snapshot equals one that never stopped (bitwise: the snapshot keeps the seed that picks the
    rows), and the stream changes the numbers of the same seed."""
    tc = TrainConfig(batch_size=256, eval_rows=3000, stream="per_seed")
    cfg, cps = _cfg(small_synth), [1024, 2048, 4096, 8192]
    whole = Trainer(cfg, tc, small_synth, seed=5).run(cps)
    assert Trainer(cfg, tc, small_synth, seed=5).run(cps[:1])[0].evaluation.ne == whole[0].evaluation.ne
    snap = tmp_path / "trial.pt"
    Trainer(cfg, tc, small_synth, seed=5).run(cps[:2], snapshot=snap, snapshot_every_s=0)
    resumed = Trainer(cfg, tc, small_synth, seed=99).run(cps, snapshot=snap)  # the snapshot's seed wins
    assert [p.evaluation.ne for p in resumed] == [p.evaluation.ne for p in whole]
    shared = Trainer(cfg, TrainConfig(batch_size=256, eval_rows=3000), small_synth, seed=5).run(cps)
    assert [p.evaluation.ne for p in shared] != [p.evaluation.ne for p in whole]


def test_a_bad_stream_is_refused_by_name():
    with pytest.raises(ValueError, match=r"train.stream: must be one of shared, per_seed; got 'random'"):
        TrainConfig(stream="random")
