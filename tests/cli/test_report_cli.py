"""Check ``recscale report`` and ``recscale demo`` in-process: exit codes, what they print, what they write."""

from __future__ import annotations

from pathlib import Path

import pytest

from recscale.cli.main import main
from recscale.study.runner import RunSummary
from tests.report.planted import write_ledger


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    p = tmp_path_factory.mktemp("cli") / "planted.db"
    write_ledger(p, schemes=["embedding_dim"])
    return p


def test_report_writes_files_and_prints_summary_and_path(ledger, tmp_path, monkeypatch, capsys):
    """Check exit 0, the default folder reports/<study name>, the summary and the report's path on stdout."""
    monkeypatch.chdir(tmp_path)
    code = main(["report", str(ledger), "--bootstrap", "0"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    out = Path("reports") / "planted"
    for name in ("report.html", "summary.md", "fits.json", "figures/data_scaling.png", "figures/data_scaling.svg"):
        assert (out / name).is_file(), name
    assert f"report: {out / 'report.html'}" in cap.out
    assert "exponents beta of NE = a*x^-beta + c" in cap.out and "embedding_dim" in cap.out
    # Progress on stderr, one line per step with the seconds since the start (stdout keeps the summary).
    for step in ("fitting embedding_dim's curves (1/1 schemes)", "joint law of embedding_dim (1/1",
                 "figure data_scaling (", "writing report.html"):
        assert any(line.startswith("[") and " s] " in line and step in line for line in cap.err.splitlines()), step


def test_report_errors_exit_2_with_one_line(tmp_path, ledger, capsys):
    """Check a missing ledger and a bad option each exit 2 with a message naming the problem, and write nothing."""
    assert main(["report", str(tmp_path / "missing.db"), "--out", str(tmp_path / "r")]) == 2
    assert f"{tmp_path / 'missing.db'}: no such file" in capsys.readouterr().err
    assert main(["report", str(ledger), "--out", str(tmp_path / "r"), "--level", "1.5"]) == 2
    assert "level must be in (0, 1), e.g. 0.95, got 1.5" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_demo_runs_study_then_report_and_prints_wall_time(tmp_path, monkeypatch, capsys):
    """Check demo's order (study, then report), its defaults runs/<name>.db and reports/<name>, and its closing lines.

    The study itself is replaced by a planted ledger: training is covered by the study tests, and the real demo by
    `make demo`.
    """
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "quick.toml"
    spec.write_text(Path(__file__).resolve().parents[2].joinpath("examples", "quick.toml").read_text())
    calls = []

    def fake_run_study(s, db, opts):
        calls.append((s.name, Path(db), opts.new))
        write_ledger(db, schemes=["embedding_dim"])
        return RunSummary(Path(db), 7, 5, [], 0.1)

    monkeypatch.setattr("recscale.study.runner.run_study", fake_run_study)
    code = main(["demo", "--spec", str(spec), "--bootstrap", "0", "--quiet"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert calls == [("quick", Path("runs/quick.db"), False)]
    assert "study: 7 trials (5 trained now, 2 already in runs/quick.db, 0 failed)" in cap.out
    assert f"report: {Path('reports/quick/report.html')}" in cap.out
    assert "demo wall time: " in cap.out.splitlines()[-1]
    assert (tmp_path / "reports" / "quick" / "report.html").is_file()


def test_demo_missing_spec_exits_2(tmp_path, capsys):
    """Check a spec path that does not exist exits 2 naming it."""
    assert main(["demo", "--spec", str(tmp_path / "nope.toml")]) == 2
    assert f"spec file {tmp_path / 'nope.toml'} does not exist" in capsys.readouterr().err


def test_demo_finds_its_spec_from_anywhere(tmp_path, monkeypatch):
    """Check that without --spec, outside the repository, demo falls back to the repository's examples/quick.toml."""
    from recscale.cli.demo import _find_spec

    monkeypatch.chdir(tmp_path)
    p = _find_spec(None)
    assert p.name == "quick.toml" and p.is_file() and p.is_absolute()
