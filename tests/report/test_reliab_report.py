"""Check that a report replaces the previous one whole or not at all, escapes ledger text, and says when trials are unfinished."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

import recscale.report.html as html_mod
from recscale.report import ReportOptions, build_report
from tests.report.planted import write_ledger

OPTS = ReportOptions(bootstrap=0, joint_bootstrap=0)


@pytest.fixture(autouse=True)
def quick_figures(monkeypatch):
    """One placeholder figure instead of drawing them all (~10 s a report): these tests are about files and text."""
    import recscale.report.figures as figures_mod

    def save(a, out_dir, progress=None, workers=None):
        d = out_dir / "figures"
        d.mkdir(parents=True, exist_ok=True)
        (d / "data_scaling.png").write_bytes(b"\x89PNG placeholder")
        (d / "data_scaling.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
        return [figures_mod.FigureFile("data_scaling", "Data scaling", "A placeholder.", d / "data_scaling.png", d / "data_scaling.svg")]

    monkeypatch.setattr(figures_mod, "save_figures", save)


def _digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def ledgers(tmp_path_factory):
    d = tmp_path_factory.mktemp("rel")
    a, b = d / "a.db", d / "b.db"
    write_ledger(a, schemes=["embedding_dim"], seeds=(0,))
    write_ledger(b, schemes=["embedding_dim"], seeds=(0,))
    c = sqlite3.connect(b)
    c.execute("UPDATE meta SET value = ? WHERE key = 'spec_name'", (json.dumps("second"),))
    c.commit()
    c.close()
    return a, b


def test_failed_report_leaves_the_previous_one_whole(ledgers, tmp_path, monkeypatch):
    """Check that a report failing mid-write (after its figures and fits.json) leaves the old report byte for byte, and no temp folder."""
    a, b = ledgers
    out = tmp_path / "rep"
    build_report(a, out, OPTS)
    before = _digests(out)
    assert {"report.html", "summary.md", "fits.json"} <= set(before)

    def killed(*args, **kw):
        raise KeyboardInterrupt  # stands for a kill while the pages are written

    monkeypatch.setattr(html_mod, "render_markdown", killed)
    with pytest.raises(KeyboardInterrupt):
        build_report(b, out, OPTS)
    assert _digests(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_report_replaces_whole_and_keeps_unrelated_files(ledgers, tmp_path):
    """Check that a new report replaces every file of the old one, and leaves a user's own files in the folder alone."""
    a, b = ledgers
    out = tmp_path / "rep"
    build_report(a, out, OPTS)
    (out / "figures" / "stale.svg").write_text("<svg>old</svg>")  # a file only the old report had
    r = build_report(b, out, OPTS)
    assert not (out / "figures" / "stale.svg").exists()
    assert "second" in (out / "summary.md").read_text() and r.html == out / "report.html" and r.figures[0].png.is_file()
    (out / "notes.txt").write_text("mine")
    build_report(a, out, OPTS)
    assert (out / "notes.txt").read_text() == "mine" and "second" not in (out / "summary.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_summary_escapes_ledger_text_and_says_trials_are_pending(ledgers, tmp_path):
    """Check that HTML and escape codes in a study name and labels are escaped in summary.md, and pending trials are a key finding."""
    a, _ = ledgers
    db = tmp_path / "evil.db"
    db.write_bytes(a.read_bytes())
    c = sqlite3.connect(db)
    c.execute("UPDATE meta SET value = ? WHERE key = 'spec_name'", (json.dumps("<script>alert(1)</script>\x1b[2J"),))
    c.execute("UPDATE trials SET label = '<img src=x onerror=alert(1)>' || label")
    tid = c.execute("SELECT trial_id FROM trials ORDER BY trial_id DESC").fetchone()[0]
    c.execute("UPDATE trials SET status = 'pending' WHERE trial_id = ?", (tid,))
    c.commit()
    c.close()
    r = build_report(db, tmp_path / "rep", OPTS)
    md = r.markdown.read_text()
    page = r.html.read_text()
    for text in (md, page):
        assert "<script>" not in text and "<img src=x" not in text and "\x1b" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    findings = md.split("## Key findings", 1)[1].split("\n## ", 1)[0]
    assert "Built while trials are unfinished" in findings and "1 pending" in findings
