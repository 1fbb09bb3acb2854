"""Check the shards format: round trip, memory-mapped reads, atomic writes."""

import json

import numpy as np
import pytest

from recscale.data.shards import Dataset, DatasetWriter
from recscale.errors import DataError


def _chunk(rng, n, ids=100):
    return (
        rng.random((n, 3), dtype=np.float32),
        rng.integers(0, ids, (n, 2)).astype(np.int32),
        (rng.random(n) < 0.3).astype(np.float32),
    )


def test_round_trip_in_chunks(tmp_path):
    """Check that chunks of any size append to one .npy per array that reads back equal, memory-mapped."""
    rng = np.random.default_rng(0)
    chunks = [_chunk(rng, n) for n in (5, 1000, 1, 333)]
    with DatasetWriter(tmp_path / "ds", ["a", "b", "c"], ["x", "y"]) as w:
        for c in chunks:
            w.append("train", *c)
        w.append("eval", *_chunk(rng, 10))
        ds = w.commit({"source": {"kind": "test"}})
    tr = ds.split("train")
    assert isinstance(tr.dense, np.memmap)
    assert tr.rows == 1339 and ds.rows("eval") == 10
    np.testing.assert_array_equal(tr.dense, np.concatenate([c[0] for c in chunks]))
    np.testing.assert_array_equal(tr.sparse, np.concatenate([c[1] for c in chunks]))
    assert tr.sparse.dtype == np.int32 and tr.prob is None
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    labels = np.concatenate([c[2] for c in chunks])
    assert meta["splits"]["train"]["ctr"] == pytest.approx(labels.mean())
    assert meta["cardinalities"] == [int(max(tr.sparse[:, j].max(), ds.split("eval").sparse[:, j].max())) + 1 for j in range(2)]
    assert meta["source"] == {"kind": "test"}


def test_failed_write_leaves_nothing(tmp_path):
    """Check that an exception inside the writer leaves neither the dataset nor a temp dir."""
    rng = np.random.default_rng(0)
    with pytest.raises(RuntimeError):
        with DatasetWriter(tmp_path / "ds", ["a", "b", "c"], ["x", "y"]) as w:
            w.append("train", *_chunk(rng, 10))
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_existing_dataset_is_not_replaced_without_overwrite(tmp_path):
    """Check that writing over an existing dataset is refused unless overwrite is asked for."""
    rng = np.random.default_rng(0)
    for overwrite in (False, True):
        if overwrite or not (tmp_path / "ds").exists():
            with DatasetWriter(tmp_path / "ds", ["a", "b", "c"], ["x", "y"], overwrite=overwrite) as w:
                w.append("train", *_chunk(rng, 10 if overwrite else 5))
                w.commit()
    assert Dataset(tmp_path / "ds").rows("train") == 10
    with pytest.raises(DataError, match="already exists"):
        DatasetWriter(tmp_path / "ds", ["a"], ["x"])


def test_not_a_dataset_is_a_clear_error(tmp_path):
    """Check the error for a directory without meta.json, and for a missing split."""
    with pytest.raises(DataError, match="is not a recscale dataset"):
        Dataset(tmp_path)
    rng = np.random.default_rng(0)
    with DatasetWriter(tmp_path / "ds", ["a", "b", "c"], ["x", "y"]) as w:
        w.append("train", *_chunk(rng, 5))
        ds = w.commit()
    with pytest.raises(DataError, match="has no split 'eval'"):
        ds.split("eval")


def test_stale_temp_dirs_are_cleared_but_live_ones_kept(tmp_path):
    """Check that a new writer removes a dead writer's temp dir and leaves a live writer's alone."""
    import os
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".ds.tmp-{int(dead.stdout)}-deadbeef"
    live = tmp_path / f".ds.tmp-{os.getpid()}-cafef00d"
    stale.mkdir()
    live.mkdir()
    w = DatasetWriter(tmp_path / "ds", ["a"], ["x"])
    assert not stale.exists() and live.exists()
    w.abort()


def test_a_dataset_still_being_written_says_so(tmp_path):
    """Check opening a path whose writer is still alive names that process instead of calling the dataset missing."""
    import os
    import subprocess
    import sys

    with pytest.raises(DataError, match="is not a recscale dataset"):
        Dataset(tmp_path / "ds")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / f".ds.tmp-{int(dead.stdout)}-deadbeef").mkdir()  # a killed writer's leftovers: still "missing"
    with pytest.raises(DataError, match="is not a recscale dataset"):
        Dataset(tmp_path / "ds")
    (tmp_path / f".ds.tmp-{os.getpid()}-cafef00d").mkdir()  # a live writer (this process)
    with pytest.raises(DataError, match=f"still being written by process {os.getpid()}"):
        Dataset(tmp_path / "ds")
