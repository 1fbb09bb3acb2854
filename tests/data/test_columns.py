"""Check column selectors for table ingest: names, ranges, shell patterns, `rest`, and their errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recscale.data.columns import ColumnSpec, TableColumns, select
from recscale.data.ingest_options import IngestOptions
from recscale.data.tabular import ingest_table
from recscale.errors import DataError

CRITEO = ["id", "label", *[f"I{i}" for i in range(1, 14)], *[f"C{i}" for i in range(1, 27)], "hour"]
I_ALL = tuple(f"I{i}" for i in range(1, 14))
C_ALL = tuple(f"C{i}" for i in range(1, 27))


@pytest.mark.parametrize(
    ("selectors", "expected"),
    [
        (("I*",), I_ALL),  # table order, not alphabetical (I10 after I9)
        (("I1-I13",), I_ALL),
        (("I[1-13]",), I_ALL),  # numeric, unlike a shell's one-character class
        (("C[1-3]", "C2", "I?"), ("C1", "C2", "C3", *I_ALL[:9])),  # each column once, in selector order
        (("C2?",), ("C20", "C21", "C22", "C23", "C24", "C25", "C26")),
        (("hour", "id"), ("hour", "id")),
    ],
)
def test_selectors_expand_in_order(selectors, expected):
    """Check that names, ranges and patterns select the expected columns, in order, each once."""
    assert select(selectors, CRITEO, "--dense", "t.csv") == expected


def test_exact_name_wins_over_pattern_and_range():
    """Check that a column literally named like a pattern or a range is itself."""
    cols = ["y", "a-b", "x*", "x1", "f1-f2", "f1", "f2"]
    assert select(("a-b", "x*", "f1-f2"), cols, "--sparse", "t") == ("a-b", "x*", "f1-f2")
    assert select(("x?",), cols, "--sparse", "t") == ("x*", "x1")


def test_rest_is_every_other_column_but_label_and_ignored():
    """Check `--sparse rest --ignore id,hour` and `--dense rest` against a Criteo layout."""
    spec = ColumnSpec("label", ("I*",), ("rest",), ("id", "h*"))
    assert spec.resolve(CRITEO, "t.csv") == TableColumns("label", I_ALL, C_ALL)
    spec = ColumnSpec("label", ("rest",), ("C1-C26",), ("id", "hour"))
    assert spec.resolve(CRITEO, "t.csv") == TableColumns("label", I_ALL, C_ALL)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (ColumnSpec("label", ("I*",), ("X*",)), r"^--sparse 'X\*' matches no column in t\.csv; its columns are: id, label, I1, .*, C26, hour$"),
        (ColumnSpec("label", ("I1-I20",)), r"^--dense 'I1-I20' names I14, I15, I16, I17, I18 and 2 more, which do not exist in t\.csv"),
        (ColumnSpec("label", ("I[14-20]",)), r"^--dense 'I\[14-20\]' matches no column in t\.csv"),
        (ColumnSpec("label", ("I9-I2",)), r"^--dense 'I9-I2' runs backwards \(write the smaller number first\) in t\.csv"),
        (ColumnSpec("label", ("usr",)), r"^--dense 'usr' is not a column in t\.csv; its columns are: id, label"),
        (ColumnSpec("label", ("I*",), ("rest",), ("nope",)), r"^--ignore 'nope' is not a column in t\.csv"),
        (ColumnSpec("label", ("I*",), ("I1",)), r"column 'I1' is given twice \(--dense and --sparse\)"),
        (ColumnSpec("label", ("rest",), ("C*",), ("I*", "id", "hour")), r"--dense rest: no column left in t\.csv"),
    ],
    ids=["pattern", "range", "bracket-range", "backwards", "name", "ignore", "two-roles", "rest-empty"],
)
def test_resolution_errors_name_the_selector_and_the_columns(spec, match):
    """Check that a selector that matches nothing is named in one line, with the columns that exist."""
    with pytest.raises(DataError, match=match):
        spec.resolve(CRITEO, "t.csv")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: ColumnSpec("label", ("rest",), ("rest",)), r"--dense rest and --sparse rest conflict"),
        (lambda: ColumnSpec("label", ("I*",), ("rest", "C1")), r"--sparse 'rest,C1': 'rest' stands alone"),
        (lambda: ColumnSpec("label", ("I*",), (), ("rest",)), r"--ignore rest would leave nothing to read"),
        (lambda: ColumnSpec("label"), r"give at least one feature column with --dense or --sparse"),
    ],
)
def test_spec_errors(make, match):
    """Check that contradictory uses of `rest` are refused before any file is read."""
    with pytest.raises(DataError, match=match):
        make()


def test_spec_ingest_equals_explicit_columns(tmp_path):
    """Check that patterns and `rest` give the same shards as the same columns named one by one."""
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"id": np.arange(300), "y": rng.integers(0, 2, 300), "x1": rng.random(300), "x2": rng.random(300)})
    for c in ("u", "v", "w"):
        df[c] = rng.integers(0, 20, 300)
    df.to_parquet(tmp_path / "t.parquet")
    opts = IngestOptions(hash_size=1000)
    a = ingest_table([tmp_path / "t.parquet"], tmp_path / "a", TableColumns("y", ("x1", "x2"), ("u", "v", "w")), opts).dataset
    b = ingest_table([tmp_path / "t.parquet"], tmp_path / "b", ColumnSpec("y", ("x[1-2]",), ("rest",), ("id",)), opts).dataset
    assert b.meta["source"]["columns"] == {"label": "y", "dense": ["x1", "x2"], "sparse": ["u", "v", "w"], "ignored": ["id"]}
    for split in ("train", "eval"):
        np.testing.assert_array_equal(a.split(split).sparse, b.split(split).sparse)
        np.testing.assert_array_equal(a.split(split).dense, b.split(split).dense)
