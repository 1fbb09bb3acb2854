"""A study spec small enough to run many times in tests (3 trials, 20k rows)."""

from __future__ import annotations

import shutil
import sqlite3
import textwrap

import pytest

TEST_SPEC = textwrap.dedent(
    """
    name = "t"
    seeds = [0]

    [data.synthetic]
    rows = 16_384
    eval_rows = 4_000
    seed = 0
    max_cardinality = 5_000
    interaction_max_cardinality = 1_000

    [train]
    batch_size = 256
    checkpoints = { start = 1024, stop = 16_384, per_doubling = 1 }

    [model]
    embedding_dim = 8
    embedding_rows = 2_000
    bottom_mlp = [16]
    top_mlp = [16]

    [schemes]
    embedding_dim = [4, 8]
    mlp_width = [16, 32]
    """
)


@pytest.fixture(scope="session")
def test_world(tmp_path_factory):
    """TEST_SPEC's synthetic dataset, generated once per test process (each generation takes ~4 s)."""
    from recscale.data.synthetic import generate
    from recscale.study.runner import dataset_path
    from recscale.study.spec import load_spec

    d = tmp_path_factory.mktemp("world")
    (d / "t.toml").write_text(TEST_SPEC)
    spec = load_spec(d / "t.toml")
    s, out = spec.data.synthetic, dataset_path(spec, d / "t.db")
    generate(s.world, out, rows=s.rows, eval_rows=s.eval_rows, seed=s.seed)
    return out


@pytest.fixture
def bare_spec_file(tmp_path):
    """TEST_SPEC in an empty folder: the first study run there generates its dataset."""
    p = tmp_path / "t.toml"
    p.write_text(TEST_SPEC)
    return p


@pytest.fixture
def spec_file(bare_spec_file, test_world):
    """TEST_SPEC with its dataset already beside it, as an earlier study in the folder leaves it."""
    shutil.copytree(test_world, bare_spec_file.parent / test_world.name)
    return bare_spec_file


def ledger_numbers(db):
    """A ledger's export without its timing column: what must be identical across runs."""
    from recscale.study.ledger import export_frame

    return export_frame(db).drop(columns=["wall_s"])


def done_trials(db) -> dict[str, str]:
    """trial_id → finished_at of the ledger's finished trials ({} before the ledger exists)."""
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(db) as c:
            return dict(c.execute("SELECT trial_id, finished_at FROM trials WHERE status='done'").fetchall())
    except sqlite3.OperationalError:  # tables not created yet
        return {}
