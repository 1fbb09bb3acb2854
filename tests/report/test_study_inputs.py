"""Check what a study records for its report: the floor of the eval rows it uses, and each MLP's parameters."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pytest

from recscale.data.shards import Dataset
from recscale.report import ReportOptions, analyze, load_study
from recscale.report.figures import floor_line, oracle_series
from recscale.study.ledger import Ledger, export_frame
from recscale.study.runner import RunOptions, run_study
from recscale.study.spec import load_spec

# The eval split has 6,000 rows, the trainer uses the first 2,500: the floor must be of those 2,500.
SPEC = textwrap.dedent(
    """
    name = "floor"
    seeds = [0]

    [data.synthetic]
    rows = 8_192
    eval_rows = 6_000
    seed = 3
    max_cardinality = 2_000

    [train]
    batch_size = 256
    eval_rows = 2_500
    checkpoints = { start = 1024, stop = 8_192, per_doubling = 1 }

    [model]
    embedding_dim = 4
    embedding_rows = 500
    bottom_mlp = [8, 8]
    top_mlp = [8]

    [schemes]
    mlp_width = [8]
    """
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("floor")
    (d / "s.toml").write_text(SPEC)
    db = d / "s.db"
    s = run_study(load_spec(d / "s.toml"), db, RunOptions(workers=1, progress=False))
    assert s.ran == 1 and not s.failed
    return db, Dataset(next(d.glob("synthetic-*")))


def _independent_ne(ds: Dataset, n: int) -> float:
    """NE of the shards' prob on the first n eval rows, written out from the definition."""
    ev = ds.split("eval")
    y = np.asarray(ev.labels, dtype=np.float64)[:n]
    p = np.asarray(ev.prob, dtype=np.float64)[:n]
    ll = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    c = y.mean()
    return float(ll / -(c * math.log(c) + (1 - c) * math.log(1 - c)))


def test_recorded_floor_is_the_ne_of_the_true_probabilities_on_the_rows_used(run):
    """Check the ledger's eval-rows floor against the shards' prob and labels arrays (to 1e-9), on the 2,500 rows used."""
    db, ds = run
    with Ledger(db) as led:
        floor = led.eval_floor()
    assert floor["rows"] == 2_500 and ds.rows("eval") == 6_000
    assert abs(floor["ne"] - _independent_ne(ds, 2_500)) < 1e-9
    assert abs(floor["ne"] - _independent_ne(ds, 6_000)) > 1e-4  # the split's whole eval set would be another number
    study = load_study(db)
    assert study.eval_floor == floor["ne"] and study.eval_rows == 2_500 and study.floor == floor["ne"]
    assert study.bayes_ne is not None and study.bayes_ne != study.floor  # the population Bayes NE is kept beside it


def test_floor_se_matches_a_bootstrap(run):
    """Check the delta-method SE of the floor against 2,000 bootstrap resamples of the eval rows (within 10%)."""
    db, ds = run
    with Ledger(db) as led:
        se = led.eval_floor()["se"]
    ev = ds.split("eval")
    y = np.asarray(ev.labels, dtype=np.float64)[:2_500]
    p = np.asarray(ev.prob, dtype=np.float64)[:2_500]
    ll = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    rng = np.random.default_rng(0)
    idx = rng.integers(0, y.size, (2_000, y.size))
    c = y[idx].mean(axis=1)
    ne = ll[idx].mean(axis=1) / -(c * np.log(c) + (1 - c) * np.log(1 - c))
    assert se == pytest.approx(float(np.std(ne, ddof=1)), rel=0.10)


def test_bounded_fits_figure_line_and_oracle_use_the_eval_rows_floor(run):
    """Check the bounded fits' γ bound and the figures' dashed line are the eval-rows floor, and the oracle stays above it."""
    db, _ = run
    a = analyze(load_study(db), ReportOptions(bootstrap=0))
    floor = a.study.eval_floor
    value, label = floor_line(a)
    assert value == floor and label.startswith("true-probability NE on the eval rows")
    bounded = [f.bounded for f in a.all_fitted() if f.bounded is not None]
    assert bounded and all(f.gamma >= floor - 1e-12 for f in bounded)
    x, y = oracle_series(a)
    assert x.size >= 3 and np.all(y >= floor)  # the teacher knowing fewer ids cannot beat the teacher on the same rows
    assert a.to_dict()["eval_floor"]["rows"] == 2_500


def test_export_carries_each_mlp_s_parameters(run):
    """Check params_bottom_mlp + params_top_mlp = params_dense, and the MLP scheme's axis is the bottom MLP's parameters."""
    db, _ = run
    df = export_frame(db)
    assert (df["params_bottom_mlp"] + df["params_top_mlp"] == df["params_dense"]).all()
    # bottom MLP [w, w] on 13 dense features to a 4-wide embedding: 13w + w + w² + w + 4w + 4
    for w, g in df.groupby("value"):
        assert (g["params_bottom_mlp"] == 13 * w + w + w * w + w + 4 * w + 4).all()
    a = analyze(load_study(db), ReportOptions(bootstrap=0))
    assert a.param_col["mlp_width"] == "params_bottom_mlp"
