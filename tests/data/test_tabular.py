"""Check table ingest (Parquet, CSV, TSV, gzip) against a per-row reference, and its bad-record handling."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from recscale.data.ingest_options import IngestOptions
from recscale.data.tabular import TableColumns, _cast_floats, ingest_table
from recscale.errors import DataError
from tests.data.test_criteo import ref_splitmix64

MASK = (1 << 64) - 1
COLS = TableColumns("y", ("x", "z"), ("user", "item"))


def ref_fnv1a64(b: bytes) -> int:
    h = 0xCBF29CE484222325
    for c in b:
        h = ((h ^ c) * 0x100000001B3) & MASK
    return h


def ref_rows(df: pd.DataFrame, hash_size: int):
    """Expected (dense, sparse, labels) of clean rows, from the documented conventions."""
    dense, sparse, labels = [], [], []
    for _, r in df.iterrows():
        labels.append(float(r["y"]))
        dense.append([np.float32(math.log1p(max(v, 0.0))) if not pd.isna(v) else np.float32(0) for v in (r["x"], r["z"])])
        ids = []
        for c in ("user", "item"):
            v = r[c]
            text = "" if pd.isna(v) else str(v)
            ids.append(0 if text == "" else 1 + ref_splitmix64(ref_fnv1a64(text.encode())) % (hash_size - 1))
        sparse.append(ids)
    return np.array(dense, np.float32), np.array(sparse, np.int64), np.array(labels, np.float32)


def frame(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(3, 4, n)
    x[rng.random(n) < 0.2] = np.nan
    return pd.DataFrame(
        {
            "y": (rng.random(n) < 0.3).astype(int),
            "x": x,
            "z": rng.integers(-2, 1000, n),
            "user": pd.array(np.where(rng.random(n) < 0.1, None, rng.choice(["ann", "bob", "çé", "dan"], n)), dtype=object),
            "item": rng.integers(0, 50, n),
            "unused": "noise",
        }
    )


def test_parquet_and_csv_equal_the_reference(tmp_path):
    """Check that Parquet, CSV, TSV and gzip CSV of one table give the reference's rows, identically."""
    df = frame()
    df.to_parquet(tmp_path / "t.parquet")
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    with gzip.open(tmp_path / "t.csv.gz", "wt") as f:
        df.to_csv(f, index=False)
    dense, sparse, labels = ref_rows(df, 101)
    opts = IngestOptions(hash_size=101, eval_fraction=0.0, workers=2)
    for name in ("t.parquet", "t.csv", "t.tsv", "t.csv.gz"):
        res = ingest_table([tmp_path / name], tmp_path / f"ds_{name}", COLS, opts)
        s = res.dataset.split("train")
        assert res.report.bad == 0, name
        np.testing.assert_array_equal(s.labels, labels, err_msg=name)
        np.testing.assert_array_equal(s.dense, dense, err_msg=name)
        np.testing.assert_array_equal(s.sparse, sparse, err_msg=name)
    meta = res.dataset.meta
    assert meta["source"]["formats"] == {str(tmp_path / "t.csv.gz"): "csv+gzip"}
    assert meta["source"]["columns"] == {"label": "y", "dense": ["x", "z"], "sparse": ["user", "item"], "ignored": ["unused"]}
    assert meta["stats"]["dense_missing_rate"]["x"] == pytest.approx(df["x"].isna().mean())
    assert meta["stats"]["dense_negative_rate"]["z"] == pytest.approx((df["z"] < 0).mean())


def test_split_and_vocabulary_agree_between_csv_and_parquet(tmp_path):
    """Check that the seeded split and the vocabulary ids are the same for CSV and Parquet copies."""
    df = frame(2000, seed=1)
    df.to_parquet(tmp_path / "t.parquet")
    df.to_csv(tmp_path / "t.csv", index=False)
    opts = IngestOptions(min_count=5, eval_fraction=0.25, seed=3)
    a = ingest_table([tmp_path / "t.parquet"], tmp_path / "a", COLS, opts).dataset
    b = ingest_table([tmp_path / "t.csv"], tmp_path / "b", COLS, opts).dataset
    assert a.cardinalities == b.cardinalities and a.cardinalities[0] == 5  # 4 users + missing
    for split in ("train", "eval"):
        np.testing.assert_array_equal(a.split(split).sparse, b.split(split).sparse)
        np.testing.assert_array_equal(a.split(split).dense, b.split(split).dense)
    assert 350 < a.rows("eval") < 650


CSV_BAD = (
    "y,x,z,user,item\n"       # 1
    "1,2.5,3,ann,7\n"         # 2
    "0,1,2\n"                 # 3 wrong field count
    "2,1,2,bob,8\n"           # 4 bad label
    "1,abc,2,bob,8\n"         # 5 bad dense
    "1,1,inf,bob,8\n"         # 6 bad dense (not finite)
    ",1,2,bob,8\n"            # 7 bad label (missing)
    "0,-4,,\xff\xfe,9\n"      # 8 undecodable
    "\n"                      # 9 bad label (a blank line is a row of empty fields)
    "1,,,dan,\n"              # 10 fine: missing values
    "0,7,1,ann,3,extra\n"     # 11 wrong field count
    "1,1,1,ann,1\n"           # 12 fine
    "0,3,4,bo"                # 13 truncated last line
)


def _write_bad_csv(path):
    path.write_bytes(CSV_BAD.encode("latin-1").replace(b"\xc3\xbf\xc3\xbe", b"\xff\xfe"))
    return path


def test_bad_csv_records_are_counted_with_line_numbers(tmp_path):
    """Check each kind of bad CSV record: counted, reported as file:line with field, the rest kept."""
    p = _write_bad_csv(tmp_path / "bad.csv")
    res = ingest_table([p], tmp_path / "ds", COLS, IngestOptions(hash_size=101, eval_fraction=0.0))
    rep = res.report
    assert rep.counts == {"undecodable": 1, "wrong_field_count": 2, "bad_label": 3, "bad_dense": 2, "truncated_line": 1}
    assert rep.records == 12 and rep.valid == 3
    assert rep.examples["wrong_field_count"] == (f"{p}:3: expected 5 fields, got 3", f"{p}:11: expected 5 fields, got 6")
    assert rep.examples["bad_label"] == (  # pyarrow reads a blank line as a row of empty fields
        f"{p}:4: field y: '2' is not 0 or 1", f"{p}:7: field y is empty; the label must be 0 or 1",
        f"{p}:9: field y is empty; the label must be 0 or 1",
    )
    assert rep.examples["bad_dense"] == (f"{p}:5: field x: 'abc' is not a finite number", f"{p}:6: field z: 'inf' is not a finite number")
    assert rep.examples["undecodable"] == (f"{p}:8: field user: bytes b'\\xff\\xfe' are not UTF-8",)
    assert rep.examples["truncated_line"] == (f"{p}:13: last line has no newline and is incomplete (expected 5 fields, got 4)",)
    good = pd.DataFrame({"y": [1, 1, 1], "x": [2.5, None, 1], "z": [3, None, 1], "user": ["ann", "dan", "ann"], "item": ["7", None, "1"]})
    dense, sparse, labels = ref_rows(good, 101)
    s = res.dataset.split("train")
    np.testing.assert_array_equal(s.sparse, sparse)
    np.testing.assert_array_equal(s.dense, dense)


def test_strict_table_stops_at_first_bad_line(tmp_path):
    """Check that --strict raises at the first bad CSV line and leaves no dataset."""
    p = _write_bad_csv(tmp_path / "bad.csv")
    with pytest.raises(DataError, match=r"bad\.csv:3: expected 5 fields, got 3 \[wrong_field_count; --strict"):
        ingest_table([p], tmp_path / "ds", COLS, IngestOptions(strict=True))
    assert not (tmp_path / "ds").exists()


def test_bad_parquet_rows_are_named_by_row(tmp_path):
    """Check that Parquet problems name the 1-based row and field."""
    df = frame(100)
    df["y"] = df["y"].astype(float)
    df.loc[[9, 50], "y"] = 0.5
    df["x"] = df["x"].astype(object)
    df.loc[20, "x"] = "twelve"
    df["x"] = df["x"].astype(str)
    df.to_parquet(tmp_path / "t.parquet")
    rep = ingest_table([tmp_path / "t.parquet"], tmp_path / "ds", COLS).report
    assert rep.counts == {"bad_label": 2, "bad_dense": 1}
    assert rep.examples["bad_label"][0] == f"{tmp_path / 't.parquet'}: row 10: field y: 0.5 is not 0 or 1"
    assert rep.examples["bad_dense"][0] == f"{tmp_path / 't.parquet'}: row 21: field x: 'twelve' is not a finite number"


def test_truncated_gzip_csv(tmp_path):
    """Check that a cut gzip CSV keeps the rows before the cut and reports truncated_gzip."""
    df = frame(20000)
    raw = gzip.compress(df.to_csv(index=False).encode(), compresslevel=1)
    p = tmp_path / "t.csv.gz"
    p.write_bytes(raw[: len(raw) // 2])
    rep = ingest_table([p], tmp_path / "ds", COLS).report
    assert rep.counts == {"truncated_gzip": 1} and 5000 < rep.valid < 15000
    assert rep.examples["truncated_gzip"][0].startswith(f"{p}:{rep.valid + 2}: gzip stream ends early")


def test_bisection_finds_every_bad_value():
    """Check that the bisecting number parser finds bad values exactly, at the edges too."""
    vals = [str(i) for i in range(70000)]
    for i in (0, 777, 65535, 69999):
        vals[i] = "x"
    out, bad = _cast_floats(pa.array(vals))
    assert np.flatnonzero(bad).tolist() == [0, 777, 65535, 69999]
    assert out[1] == 1.0 and np.isnan(out[0])


@pytest.mark.parametrize(
    ("cols", "match"),
    [
        (lambda: TableColumns("y", ("x",), ("x",)), r"column 'x' is given twice \(--dense and --sparse\)"),
        (lambda: TableColumns("y"), r"give at least one feature column with --dense or --sparse"),
        (lambda: TableColumns("", ("x",)), r"--label must name a column"),
    ],
)
def test_bad_column_roles(cols, match):
    """Check that overlapping or missing column roles are refused with the flags named."""
    with pytest.raises(DataError, match=match):
        cols()


def test_missing_column_lists_the_available_ones(tmp_path):
    """Check that a column not in the file is named, with the file's columns."""
    df = frame(10)
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    cols = TableColumns("y", ("x",), ("usr",))
    for name in ("t.csv", "t.parquet"):
        with pytest.raises(DataError, match=rf"{name}: no column 'usr' \(did you mean 'user'\?\); its columns are: y, x, z, user, item, unused"):
            ingest_table([tmp_path / name], tmp_path / "ds", cols)


def test_non_numeric_parquet_dense_column_is_refused(tmp_path):
    """Check that a dense column of a non-numeric Parquet type names the column and the fix."""
    df = frame(10)
    df["when"] = pd.Timestamp("2024-01-01")
    df.to_parquet(tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"column 'when' has type timestamp\[(ns|us)\], which is not a number; list it under --sparse"):
        ingest_table([tmp_path / "t.parquet"], tmp_path / "ds", TableColumns("y", ("when",), ()))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"y,x,z,user,item\n", r"t\.csv: empty input \(no rows after the header\)"),
        (b"\n", r"t\.csv: empty input \(no header line\)"),
        (b"y,x,z,user,item\n2,1,1,a,b\n", r"t\.csv: none of its 1 records is valid; the first problem: .*t\.csv:2: field y"),
    ],
)
def test_empty_or_all_bad_table_is_an_error(tmp_path, content, match):
    """Check that a table with no rows, or none valid, is an error."""
    (tmp_path / "t.csv").write_bytes(content)
    with pytest.raises(DataError, match=match):
        ingest_table([tmp_path / "t.csv"], tmp_path / "ds", COLS)
    assert not (tmp_path / "ds").exists()


def test_empty_parquet_and_unreadable_parquet(tmp_path):
    """Check that a Parquet file with no rows, or a damaged one, is an error naming it."""
    frame(10).iloc[:0].to_parquet(tmp_path / "e.parquet")
    with pytest.raises(DataError, match=r"e\.parquet: empty input \(no rows\)"):
        ingest_table([tmp_path / "e.parquet"], tmp_path / "ds", COLS)
    (tmp_path / "d.parquet").write_bytes(b"PAR1" + b"\x00" * 100)
    with pytest.raises(DataError, match=r"d\.parquet: not a readable Parquet file"):
        ingest_table([tmp_path / "d.parquet"], tmp_path / "ds", COLS)


def test_huge_bad_value_is_clipped_in_the_report(tmp_path):
    """Check that a multi-megabyte bad field is shown cut short, and that long lines are read."""
    (tmp_path / "big.csv").write_bytes(b"y,x\n1,2\n1," + b"1" * (5 << 20) + b"x\n0,3\n")
    rep = ingest_table([tmp_path / "big.csv"], tmp_path / "ds", TableColumns("y", ("x",))).report
    assert rep.counts == {"bad_dense": 1} and rep.valid == 2
    assert rep.examples["bad_dense"][0] == f"{tmp_path / 'big.csv'}:3: field x: '{'1' * 38}… is not a finite number"


def test_quoted_header_and_cr_line_endings(tmp_path):
    """Check that a quoted header and old-Mac CR line endings are read."""
    (tmp_path / "q.csv").write_bytes(b'"y","x, the count"\r1,2\r0,3\r')
    rep = ingest_table([tmp_path / "q.csv"], tmp_path / "ds", TableColumns("y", ("x, the count",))).report
    assert rep.valid == 2 and rep.bad == 0


def test_byte_order_mark_before_the_header(tmp_path):
    """Check that a UTF-8 byte-order mark (as Excel writes) is not part of the first column's name."""
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbfy,x\r\n1,2\r\n0,3\r\n")
    res = ingest_table([tmp_path / "bom.csv"], tmp_path / "ds", TableColumns("y", ("x",)), IngestOptions(eval_fraction=0.0))
    assert res.report.valid == 2 and res.report.bad == 0
    np.testing.assert_array_equal(res.dataset.split("train").labels, [1.0, 0.0])


@pytest.mark.parametrize("sep", [",", "\t"], ids=["csv", "tsv"])
def test_crlf_and_repeated_header_give_the_canonical_shards(tmp_path, sep):
    """Check that CRLF endings and header lines repeated inside (as `cat a.csv b.csv` leaves) change nothing."""
    df = frame(600, seed=4)
    ext = "csv" if sep == "," else "tsv"
    df.to_csv(tmp_path / f"canon.{ext}", index=False, sep=sep)
    text = (tmp_path / f"canon.{ext}").read_bytes().split(b"\n")
    header, rows = text[0], text[1:-1]
    glued = [header, *rows[:250], header, *rows[250:251], header, *rows[251:]]
    (tmp_path / f"glued.{ext}").write_bytes(b"".join(r + b"\r\n" for r in glued))
    opts = IngestOptions(eval_fraction=0.3, seed=2)
    a = ingest_table([tmp_path / f"canon.{ext}"], tmp_path / "a", COLS, opts)
    b = ingest_table([tmp_path / f"glued.{ext}"], tmp_path / "b", COLS, opts)
    for f in sorted((tmp_path / "a").rglob("*.npy")):
        assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes(), f
    assert a.report.notes == {} and b.report.notes == {"header": 2}
    assert b.report.records == a.report.records == 600 and b.report.bad == a.report.bad == 0
    assert "2 header line(s) detected and skipped" in b.report.lines()


def test_explicit_delimiter_and_split_by_file(tmp_path):
    """Check --delimiter and that --eval-files makes the last table the eval split."""
    df = frame(300)
    df.iloc[:200].to_csv(tmp_path / "a.txt", index=False, sep=";")
    df.iloc[200:].to_csv(tmp_path / "b.txt", index=False, sep=";")
    ds = ingest_table([tmp_path / "a.txt", tmp_path / "b.txt"], tmp_path / "ds", COLS, IngestOptions(eval_files=1), delimiter=";").dataset
    assert ds.rows("train") == 200 and ds.rows("eval") == 100


def test_column_types_dictionary_bool_and_rare_values(tmp_path):
    """Check categorical (dictionary) and bool columns, and that a vocabulary with no kept value maps all to 0."""
    df = pd.DataFrame({"y": [0, 1] * 50, "flag": [True, False, True, True] * 25, "cat": pd.Categorical(["a", "b", "c", "a"] * 25)})
    df.to_parquet(tmp_path / "t.parquet")
    cols = TableColumns("y", ("flag",), ("cat",))
    ds = ingest_table([tmp_path / "t.parquet"], tmp_path / "a", cols, IngestOptions(min_count=1, eval_fraction=0.0)).dataset
    s = ds.split("train")
    ids = s.sparse[:4, 0].tolist()
    assert ds.cardinalities == [4] and ids[0] == ids[3] == 1 and sorted(ids[1:3]) == [2, 3]  # 'a' is most frequent
    np.testing.assert_array_equal(s.dense[:4, 0], np.float32([math.log(2), 0, math.log(2), math.log(2)]))
    ds = ingest_table([tmp_path / "t.parquet"], tmp_path / "b", cols, IngestOptions(min_count=10**6)).dataset
    assert ds.cardinalities == [1] and not ds.split("train").sparse.any()


def test_huge_hash_size_switches_to_int64_ids(tmp_path):
    """Check that ids beyond int32 are stored as int64."""
    frame(50).to_parquet(tmp_path / "t.parquet")
    ds = ingest_table([tmp_path / "t.parquet"], tmp_path / "ds", COLS, IngestOptions(hash_size=2**33)).dataset
    assert ds.meta["sparse_dtype"] == "int64" and ds.split("train").sparse.max() >= 2**31
