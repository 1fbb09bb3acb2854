"""Check that reading a ledger never writes it, and that a damaged, crafted or foreign one is one line, exit 2, no hang.

The readers are ``study status``, ``study export``, ``fit`` and ``report``. Ledgers here are written
straight from planted curves (no training), so every case runs in well under a second or two.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import sqlite3
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from recscale.cli.main import main
from recscale.study import ledger as ledger_mod
from tests.report.planted import write_ledger
from tests.report.test_reliab_report import quick_figures  # noqa: F401 - autouse: reports here skip drawing


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@contextmanager
def time_limit(seconds: int):
    """Fail (not hang) if the block runs longer than ``seconds``."""

    def alarm(*_):
        raise TimeoutError(f"hung for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def readers(db: Path, out: Path) -> dict[str, list[str]]:
    """The four reading commands on ``db`` (writing only under ``out``), cheap settings."""
    return {
        "status": ["study", "status", str(db)],
        "export": ["study", "export", str(db), "--out", str(out / "e.csv")],
        "fit": ["fit", str(db), "--x", "samples", "--group", "scheme,value", "--bootstrap", "0", "--no-forms-check"],
        "report": ["report", str(db), "--out", str(out / "rep"), "--bootstrap", "0", "--quiet"],
    }


@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    p = tmp_path_factory.mktemp("led") / "small.db"
    write_ledger(p, schemes=["embedding_dim"], seeds=(0,))
    return p


@pytest.fixture
def db(small_db, tmp_path):
    p = tmp_path / "l.db"
    shutil.copy(small_db, p)
    return p


def _siblings(p: Path) -> list[str]:
    return sorted(q.name for q in p.parent.iterdir() if q.name.startswith(p.name) and q != p)


def test_readers_leave_ledger_bytes_unchanged(db, tmp_path, capsys):
    """Check that status, export, fit and report change no byte of the ledger and create no -wal/-shm beside it."""
    before = _digest(db)
    out = tmp_path / "out"
    for name, argv in readers(db, out).items():
        with time_limit(120):
            assert main(argv) == 0, (name, capsys.readouterr().err)
        assert _digest(db) == before, name
        assert _siblings(db) == [], (name, _siblings(db))
    assert (out / "e.csv").is_file() and (out / "rep" / "summary.md").is_file()


def test_readers_share_a_live_writers_wal_without_writing_the_db(db, tmp_path, capsys):
    """Check that while a writer holds the ledger open (a -wal file exists), readers use mode=ro and see its latest commit."""
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("UPDATE meta SET value = ? WHERE key = 'spec_name'", (json.dumps("renamed-live"),))
    writer.commit()
    try:
        assert Path(f"{db}-wal").exists()
        before = _digest(db)
        assert main(["study", "status", str(db)]) == 0
        assert "renamed-live" in capsys.readouterr().out
        assert main(readers(db, tmp_path)["export"]) == 0
        assert _digest(db) == before
    finally:
        writer.close()


def test_ledger_on_a_read_only_mount(db, tmp_path, capsys):
    """Check that a ledger on a read-only filesystem is read (tests run as root, where chmod blocks nothing: mount ro)."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root and mount rights)")
    try:
        shutil.copy(db, mnt / "l.db")
        if subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True).returncode:
            pytest.skip("cannot remount read-only here")
        with pytest.raises(OSError):
            (mnt / "probe").write_text("x")  # really read-only, even for root
        before = _digest(mnt / "l.db")
        for name, argv in readers(mnt / "l.db", tmp_path / "out").items():
            with time_limit(120):
                assert main(argv) == 0, (name, capsys.readouterr().err)
        assert _digest(mnt / "l.db") == before
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _one_line_exit_2(argv, capsys, *must):
    with time_limit(60):
        code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    for m in must:
        assert m in lines[0], (m, lines[0])
    return lines[0]


def test_foreign_sqlite_database_is_refused_unchanged(tmp_path, capsys, spec_file):
    """Check that an unrelated application database is refused by every reader and by `study run`, bytes unchanged."""
    app = tmp_path / "app.db"
    c = sqlite3.connect(app)
    c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    c.execute("INSERT INTO users VALUES (1, 'ann')")
    c.commit()
    c.close()
    before = _digest(app)
    for name, argv in readers(app, tmp_path / "out").items():
        _one_line_exit_2(argv, capsys, str(app), "not a recscale ledger")
        assert _digest(app) == before and _siblings(app) == [], name
    _one_line_exit_2(["study", "run", str(spec_file), "--db", str(app), "--quiet"], capsys, "not a recscale ledger")
    assert _digest(app) == before
    assert not (tmp_path / "out").exists()  # nothing written for a refused input


def _damage(db: Path, *sql: str, params=()) -> None:
    c = sqlite3.connect(db)
    for q in sql:
        c.execute(q, params if "?" in q else ())
    c.commit()
    c.close()


def _first_trial(db: Path) -> str:
    c = sqlite3.connect(db)
    try:
        return c.execute("SELECT trial_id FROM trials ORDER BY trial_id").fetchone()[0]
    finally:
        c.close()


DAMAGED = {  # case: (SQL, parameters, text the one line must hold)
    "bad_json": ("UPDATE trials SET model_json = '{not json' WHERE trial_id = ?", "model_json"),
    "deep_json": ("UPDATE trials SET model_json = ? WHERE trial_id = ?", "model_json"),
    "json_lacks_key": ("UPDATE trials SET model_json = '{}' WHERE trial_id = ?", "model_json"),
    "text_ne": ("UPDATE evaluations SET ne = 'abc' WHERE trial_id = ?", "column ne"),
    "infinite_ne": ("UPDATE evaluations SET ne = 9e999 WHERE trial_id = ?", "column ne"),
    "negative_samples": ("UPDATE evaluations SET samples = -samples WHERE trial_id = ?", "column samples"),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_damaged_values_are_one_line_naming_table_row_column(db, tmp_path, capsys, case):
    """Check that bad JSON, text/inf where NE should be and negative sample counts give one line, exit 2, in every reader that takes them."""
    sql, where = DAMAGED[case]
    tid = _first_trial(db)
    params = ("[" * 100_000 + "]" * 100_000, tid) if case == "deep_json" else (tid,)
    _damage(db, sql, params=params)
    assert _siblings(db) == []
    before = _digest(db)
    for name, argv in readers(db, tmp_path / "out").items():
        if name == "status":  # takes counts only: it must not fail on values it does not read
            with time_limit(60):
                assert main(argv) == 0
            continue
        table = "trials" if "json" in case else "evaluations"
        line = _one_line_exit_2(argv, capsys, str(db), f"table {table}", where, tid)
        assert len(line) < 600
    assert _digest(db) == before
    assert not (tmp_path / "out" / "rep").exists()  # the report fails before writing its folder


def test_recursive_view_in_place_of_a_table_is_refused_fast(db, tmp_path, capsys):
    """Check that an evaluations table replaced by a recursive view is refused at once (it would hang a query)."""
    _damage(db, "DROP TABLE evaluations",
            "CREATE VIEW evaluations AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
            "SELECT 't' AS trial_id, n AS samples, 0.8 AS ne, 0.3 AS logloss, NULL AS auc, NULL AS calibration, "
            "NULL AS base_ctr, NULL AS wall_s FROM r")  # fmt: skip
    for name, argv in readers(db, tmp_path / "out").items():
        _one_line_exit_2(argv, capsys, str(db), "evaluations is a view, not a table")


def test_slow_query_is_stopped_by_the_time_limit(db, monkeypatch):
    """Check that a reader's query running past READ_TIMEOUT_S is stopped with one line (the progress handler)."""
    monkeypatch.setattr(ledger_mod, "READ_TIMEOUT_S", 0.2)
    with ledger_mod.open_existing(db) as led, time_limit(30):
        with pytest.raises(ledger_mod.RecscaleError, match="took over 0.2 s"):
            led._q("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r")


def test_old_ledger_without_architecture_is_read_without_migrating_on_disk(db, tmp_path, capsys):
    """Check that a ledger from before the architecture column reads as DLRMs and is left as it was."""
    _damage(db, "ALTER TABLE trials DROP COLUMN architecture")
    before = _digest(db)
    assert main(readers(db, tmp_path)["export"]) == 0
    assert _digest(db) == before
    import pandas as pd

    assert set(pd.read_csv(tmp_path / "e.csv")["architecture"]) == {"dlrm"}


def test_hostile_names_reach_the_terminal_escaped_and_cut(db, capsys):
    """Check that escape codes in names and huge labels from a ledger are stripped and cut in status output."""
    evil = "\x1b[2J\x1b]0;pwned\x07" + "x" * 20_000_000
    _damage(db, "UPDATE meta SET value = ? WHERE key = 'spec_name'", params=(json.dumps(evil),))
    _damage(db, "INSERT OR REPLACE INTO meta VALUES ('error:t\x1b[31m', ?)", params=(json.dumps("boom\x1b[5m" + "y" * 10**6),))
    assert main(["study", "status", str(db)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert max(len(line) for line in out.splitlines()) < 1000


def test_export_to_a_full_disk_is_one_line_and_leaves_no_temp(db, tmp_path, capsys):
    """Check that `study export` onto a full filesystem exits 2 with one line and removes its partial file."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root and mount rights)")
    try:
        _one_line_exit_2(["study", "export", str(db), "--out", str(mnt / "e.csv")], capsys, "no space left on device writing")
        assert list(mnt.iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
