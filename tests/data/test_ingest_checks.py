"""Check that an ingest never succeeds quietly on data it should question (issue 19).

Generated files in the shapes that turned up in real click logs (never real logs): the Kaggle Criteo
CSV layout with its row id, a sample of repeated rows, an eval file that is a copy of the training
file, inputs whose records are mostly bad, files given to the wrong command.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recscale.data.columns import ColumnSpec, compact
from recscale.data.criteo import ingest_criteo
from recscale.data.duplicates import DuplicateCounter, feature_hash
from recscale.data.ingest_options import IngestOptions
from recscale.data.tabular import ingest_table
from recscale.errors import DataError
from tests.data.criteo_fixtures import corrupt, criteo_bytes

KAGGLE = ColumnSpec("Label", ("I*",), ("C*",))


def kaggle_csv(path, n: int = 400, seed: int = 0):
    """The Kaggle Criteo CSV layout: Id,Label,I1..I13,C1..C26, Id a running integer from 10,000,000."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"Id": 10_000_000 + np.arange(n), "Label": rng.integers(0, 2, n)})
    for i in range(1, 14):
        df[f"I{i}"] = rng.integers(0, 50, n)
    for i in range(1, 27):
        df[f"C{i}"] = [f"{x:08x}" for x in rng.integers(0, 40, n)]
    df.to_csv(path, index=False)
    return df


def test_compact_shortens_runs_of_numbered_columns():
    """Check the compact column list used in the summary and meta.json."""
    names = ["Id", *(f"I{i}" for i in range(1, 14)), *(f"C{i}" for i in range(1, 27)), "x1", "x2", "hour"]
    assert compact(names) == "Id, I1-I13, C1-C26, x1, x2, hour"
    assert compact(["C1", "C3", "C4", "C5", "C01"]) == "C1, C3-C5, C01"


def test_row_id_column_matched_by_a_pattern_is_a_warning_naming_ignore(tmp_path):
    """Check the README's old example on the Kaggle layout: 'I*' takes Id too, which is said and warned about."""
    kaggle_csv(tmp_path / "train.csv")
    res = ingest_table([tmp_path / "train.csv"], tmp_path / "a", KAGGLE, IngestOptions(hash_size=1000))
    meta = res.dataset.meta
    assert meta["columns"] == {"label": "Label", "dense": "Id, I1-I13", "sparse": "C1-C26", "ignored": ""}
    assert len(res.warnings) == 1 and res.warnings == tuple(meta["warnings"])
    assert res.warnings[0].startswith("column 'Id' (--dense) looks like a row id (a strictly increasing integer sequence "
                                      f"in the first 400 rows of {tmp_path / 'train.csv'})")
    assert res.warnings[0].endswith("leave it out with --ignore Id")
    fixed = ingest_table([tmp_path / "train.csv"], tmp_path / "b", ColumnSpec("Label", ("I*",), ("C*",), ("Id",)),
                         IngestOptions(hash_size=1000))
    assert fixed.warnings == () and fixed.dataset.meta["columns"]["dense"] == "I1-I13"
    assert fixed.dataset.meta["columns"]["ignored"] == "Id" and fixed.dataset.meta["dense_names"][0] == "I1"


def test_text_id_whose_values_are_all_distinct_is_a_warning(tmp_path):
    """Check an Avazu-style id (random 64-bit numbers as text, all distinct) taken by --sparse rest."""
    rng = np.random.default_rng(1)
    n = 1500
    df = pd.DataFrame({"id": [str(v) for v in rng.integers(1, 2**62, n)], "click": rng.integers(0, 2, n),
                       "site": rng.integers(0, 30, n).astype(str), "hour": rng.integers(0, 24, n),
                       "price": rng.random(n).round(6)})
    df.to_csv(tmp_path / "avazu.csv", index=False)
    res = ingest_table([tmp_path / "avazu.csv"], tmp_path / "a", ColumnSpec("click", (), ("rest",)), IngestOptions())
    assert [w.split(" looks")[0] for w in res.warnings] == ["column 'id' (--sparse)"]
    assert "all values distinct in the first 1,500 rows" in res.warnings[0]
    quiet = ingest_table([tmp_path / "avazu.csv"], tmp_path / "b", ColumnSpec("click", (), ("rest",), ("id",)), IngestOptions())
    assert quiet.warnings == ()


def test_repeated_rows_are_counted_and_warned_about(tmp_path):
    """Check 50 distinct rows repeated 6 times: 250 duplicates, every eval record also in train, two warnings."""
    df = kaggle_csv(tmp_path / "k.csv", n=50).drop(columns="Id")
    pd.concat([df] * 6).to_csv(tmp_path / "rep.csv", index=False)
    res = ingest_table([tmp_path / "rep.csv"], tmp_path / "a", KAGGLE, IngestOptions(eval_fraction=0.2))
    d = res.dataset.meta["stats"]["duplicates"]
    n_eval = res.dataset.rows("eval")
    assert n_eval > 0
    assert (d["records"], d["duplicate_records"], d["eval_records"], d["eval_in_train"]) == (300, 250, n_eval, n_eval)
    assert d["exact"] is True and d["duplicate_share"] == pytest.approx(250 / 300, abs=1e-6)
    assert len(res.warnings) == 2
    assert res.warnings[0].startswith("250 of 300 records (83.3%) are exact copies of another record")
    assert res.warnings[1].startswith(f"{n_eval} of {n_eval} eval records (100.0%) also occur in train")
    assert json.loads((res.dataset.path / "meta.json").read_text())["warnings"] == list(res.warnings)


def test_eval_file_identical_to_the_training_file_is_leakage(tmp_path):
    """Check a second Criteo file byte-identical to the first, given as the eval file."""
    data = criteo_bytes(300, seed=3)
    (tmp_path / "day_0").write_bytes(data)
    (tmp_path / "day_1").write_bytes(data)
    res = ingest_criteo([tmp_path / "day_0", tmp_path / "day_1"], tmp_path / "a", IngestOptions(eval_files=1))
    d = res.dataset.meta["stats"]["duplicates"]
    assert (d["eval_records"], d["eval_in_train"], d["eval_features_in_train"], d["duplicate_records"]) == (300, 300, 300, 300)
    assert any("300 of 300 eval records (100.0%) also occur in train" in w for w in res.warnings)
    clean = ingest_criteo([tmp_path / "day_0"], tmp_path / "b", IngestOptions())
    c = clean.dataset.meta["stats"]["duplicates"]
    assert (c["duplicate_records"], c["eval_in_train"]) == (0, 0) and clean.warnings == ()


def test_same_features_other_label_is_overlap_of_features_only():
    """Check that an eval row whose features occur in train with the other label counts as feature overlap only."""
    dense = np.zeros((4, 2), np.float32)
    keys = np.arange(4, dtype=np.uint64)[:, None] * np.ones((1, 3), np.uint64)
    fh = feature_hash(dense, keys, np.zeros((4, 3), bool))
    c = DuplicateCounter()
    c.add("train", fh[:2], np.array([0, 1], np.float32))
    c.add("eval", fh[[0, 1, 3]], np.array([1, 1, 0], np.float32))  # row 0: other label; row 1: same; row 3: new
    r = c.result()
    assert (r["eval_in_train"], r["eval_features_in_train"], r["duplicate_records"]) == (1, 2, 1)


def test_duplicate_counts_beyond_memory_bound_are_sampled_estimates():
    """Check the bounded-memory mode: a 20k-row stream, half repeats, kept 1k hashes: the estimate is close."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**40, 10_000).astype(np.uint64)
    keys = np.concatenate([base, base])[:, None]
    fh = feature_hash(np.zeros((20_000, 1), np.float32), keys, np.zeros((20_000, 1), bool))
    labels = np.zeros(20_000, np.float32)
    exact, sampled = DuplicateCounter(), DuplicateCounter(max_kept=1_000)
    for c in (exact, sampled):
        for a in range(0, 20_000, 2_500):
            c.add("train", fh[a : a + 2_500], labels[a : a + 2_500])
    assert exact.result()["duplicate_records"] == 10_000 and exact.result()["exact"] is True
    r = sampled.result()
    assert r["exact"] is False and r["sampling_rate"] <= 1 / 16
    assert r["duplicate_records"] == pytest.approx(10_000, rel=0.25)


def test_empty_eval_split_is_an_error_and_nothing_is_written(tmp_path):
    """Check 5 lines of which 3 are bad: the eval split would be empty, which is an error; nothing written."""
    rows = criteo_bytes(5, seed=2).split(b"\n")[:5]
    for i in (0, 1, 2):  # records 1-3 bad; 4 and 5 both fall in train under seed 0
        rows[i] = corrupt(rows[i], "bad_hex")
    p = tmp_path / "five.txt"
    p.write_bytes(b"\n".join(rows) + b"\n")
    with pytest.raises(DataError, match=r"the eval split would be empty \(2 valid of 5 records read; none fell in the "
                                        r"--eval-fraction 0.1 sample\); nothing was written"):
        ingest_criteo([p], tmp_path / "ds", IngestOptions())
    assert sorted(x.name for x in tmp_path.iterdir()) == ["five.txt"]
    with pytest.raises(DataError, match=r"the train split would be empty \(every one of the 2 valid of 5 records"):
        ingest_criteo([p], tmp_path / "ds", IngestOptions(eval_fraction=0.99))
    ds = ingest_criteo([p], tmp_path / "ds", IngestOptions(eval_fraction=0.0)).dataset  # empty on request
    assert (ds.rows("train"), ds.rows("eval")) == (2, 0)


def test_csv_given_to_criteo_names_the_table_command(tmp_path):
    """Check `data criteo` on the Kaggle CSV (a header) and on a headerless CSV: one error, naming `data table`."""
    kaggle_csv(tmp_path / "train.csv", n=20)
    with pytest.raises(DataError, match=r"train\.csv: this looks like a CSV with a header \('Id,Label,I1,.*use recscale "
                                        r"data table .*--label Label --dense I1-I13 --sparse C1-C26"):
        ingest_criteo([tmp_path / "train.csv"], tmp_path / "a")
    lines = (tmp_path / "train.csv").read_text().splitlines()[1:]
    (tmp_path / "bare.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"bare\.csv: this looks like comma-separated \(CSV\), not tab-separated"):
        ingest_criteo([tmp_path / "bare.csv"], tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_headerless_tsv_given_to_table_says_it_looks_like_data(tmp_path):
    """Check `data table` on a Criteo TSV (no header): the first line is data, and the message says so."""
    (tmp_path / "day.tsv").write_bytes(criteo_bytes(20, seed=1))
    with pytest.raises(DataError, match=r"day\.tsv: the first line \('[01]', .*\) looks like data, not a header: \d+ of "
                                        r"its 40 fields are numbers, empty or hex values.*read by recscale data criteo"):
        ingest_table([tmp_path / "day.tsv"], tmp_path / "a", ColumnSpec("0", (), ("rest",)))
    pd.DataFrame({"0": [0, 1, 1], "1": [3, 4, 5]}).to_csv(tmp_path / "numbered.csv", index=False)  # pandas' 0..n-1
    res = ingest_table([tmp_path / "numbered.csv"], tmp_path / "b", ColumnSpec("0", ("1",)), IngestOptions(eval_fraction=0.0))
    assert res.dataset.rows("train") == 3


def test_label_in_the_wrong_case_and_true_false_labels(tmp_path):
    """Check "did you mean 'Label'?" and CSV labels true/false read as 1/0 like a Parquet boolean."""
    kaggle_csv(tmp_path / "train.csv", n=20)
    with pytest.raises(DataError, match=r"--label 'label' is not a column of .*train\.csv \(did you mean 'Label'\?\)"):
        ingest_table([tmp_path / "train.csv"], tmp_path / "a", ColumnSpec("label", ("I1-I13",), ("C1-C26",)))
    with pytest.raises(DataError, match=r"--dense 'i1' is not a column in .*train\.csv \(did you mean 'I1'\?\)"):
        ingest_table([tmp_path / "train.csv"], tmp_path / "a", ColumnSpec("Label", ("i1",), ("C1-C26",)))
    words = pd.DataFrame({"y": ["true", "FALSE", " True", "false"], "x": [1.0, 2.0, 3.0, 4.0], "u": list("abcd")})
    words.to_csv(tmp_path / "w.csv", index=False)
    a = ingest_table([tmp_path / "w.csv"], tmp_path / "w", ColumnSpec("y", ("x",), ("u",)), IngestOptions(eval_fraction=0.0))
    words.assign(y=[True, False, True, False]).to_parquet(tmp_path / "w.parquet")
    b = ingest_table([tmp_path / "w.parquet"], tmp_path / "p", ColumnSpec("y", ("x",), ("u",)), IngestOptions(eval_fraction=0.0))
    assert a.report.bad == 0
    np.testing.assert_array_equal(a.dataset.split("train").labels, [1, 0, 1, 0])
    np.testing.assert_array_equal(a.dataset.split("train").labels, b.dataset.split("train").labels)
