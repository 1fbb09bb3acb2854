"""Check the report's warning summary on a planted study with many curves and many kinds of warning: one line per
kind (at most 10), those that change a conclusion first, and remedies a user can run (CLI flags that exist, or
measurements to make), never Python keyword arguments."""

from __future__ import annotations

import dataclasses
import re
import shlex

import pytest
from typer.testing import CliRunner

from recscale.cli.main import app
from recscale.report import ReportOptions, analyze, load_study
from recscale.report.advice import KINDS, MAX_LINES, kind_of, warning_groups
from recscale.report.analysis import Warning_
from recscale.report.document import build_document, terminal_summary
from recscale.report.html import render_html, render_markdown
from recscale.study.ledger import export_frame
from tests.report.planted import BAYES_NE, CHECKPOINTS, write_ledger

# Python spellings no command takes: keyword arguments (gamma=..., space='linear', gamma_bounds=(lo, hi)) and options.*
PYTHON_SPELLING = re.compile(r"\b(gamma|gamma_bounds|beta_bounds|space|form|options)=|\w+=\.\.\.|\boptions\.\w")


def _turn_up(D, ne):
    ne = ne.copy()
    ne[-2:] *= 1.05
    return ne


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    """All four schemes over 1.8 decades of data, one curve turned up, and a claimed floor above every curve's:
    144 warnings of 8 kinds on 45 curves."""
    d = tmp_path_factory.mktemp("noisy")
    write_ledger(d / "p.db", checkpoints=CHECKPOINTS[:7], overrides={("embedding_dim", 32): _turn_up})
    df = export_frame(d / "p.db")
    df["bayes_ne"] = BAYES_NE + 0.05
    df.to_csv(d / "p.csv", index=False)
    return d / "p.csv", analyze(load_study(d / "p.csv"), ReportOptions(bootstrap=40, joint_bootstrap=0))


def test_summary_is_one_line_per_kind_within_ten(noisy):
    """Check that many warnings over many curves make at most 10 summary lines, one per kind, each naming the curves
    by scheme, and that the Markdown and HTML show the summary table with the full list collapsed beneath it."""
    _, a = noisy
    groups = warning_groups(a)
    assert len(a.warnings) > 100 and len({w.curve for w in a.warnings}) > 30
    assert 5 <= len(groups) <= MAX_LINES
    assert len({g.kind for g in groups}) == len(groups)
    assert sum(g.count for g in groups) == len(a.warnings)
    narrow = next(g for g in groups if g.kind == "narrow_range")
    assert narrow.where_text.startswith("bottom MLP width: data frontier, compute frontier, parameters at D=1e3, 4.1e3")
    blocks = build_document(a, [])
    md = render_markdown(blocks, "t", "s", a.study.source)
    section = md[md.index("## Warnings"):md.index("<details><summary>All")]
    assert sum(line.startswith("| ") for line in section.splitlines()) == len(groups) + 1  # the header, one row per kind
    assert f"<details><summary>All {len(a.warnings)} warnings with their messages</summary>" in md
    html = render_html(blocks, "t", "s", a.study.source)
    assert html.index("changes a conclusion") < html.index(f"<details><summary>All {len(a.warnings)} warnings")
    lines = terminal_summary(a).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("warnings:"))
    change = [g for g in groups if g.changes_conclusion]
    assert f"{len(change)} change a conclusion (below); the others: x spans under 2 decades (" in lines[start]
    assert [line.split(":")[0] for line in lines[start + 1:]] == [f"  ! {g.title}" for g in change]


def test_conclusion_changing_kinds_come_first(noisy):
    """Check that the sanity checks and a β not pinned down on a headline curve are marked as changing a conclusion
    and come before every kind that does not (a range under two decades, no floor within the data)."""
    _, a = noisy
    groups = warning_groups(a)
    flags = [g.changes_conclusion for g in groups]
    assert flags == sorted(flags, reverse=True) and True in flags and False in flags
    by = {g.kind: g for g in groups}
    for k in ("floor_below_floor", "rises", "backtest_missed", "beta_unpinned"):
        assert by[k].changes_conclusion, k
    for k in ("narrow_range", "no_floor_seen"):
        assert not by[k].changes_conclusion, k
    assert groups[0].kind == "floor_below_floor"


def test_no_remedy_is_python(noisy):
    """Check that no remedy (nor any warning's message) spells a Python keyword argument or option, and that the
    remedies extend the axis the curves lie on: more samples for data curves, a larger size for parameter curves."""
    _, a = noisy
    groups = warning_groups(a)
    for g in groups:
        assert not PYTHON_SPELLING.search(g.remedy), g.remedy
    for w in a.warnings:
        assert not PYTHON_SPELLING.search(w.message), (w.code, w.message)
    by = {g.kind: g for g in groups}
    assert "train to 2× more samples (to 1.3e5)" in by["narrow_range"].remedy  # 6.6e4 samples, 1.8 decades
    assert "add a size beyond 1.6e4 MLP parameters (bottom + top) to [schemes] mlp_width" in by["beta_unpinned"].remedy


def test_remedy_commands_run(noisy):
    """Check that every `recscale ...` command a remedy quotes runs as printed (here with --bootstrap 0)."""
    csv, a = noisy
    cmds = [c for g in warning_groups(a) for c in re.findall(r"`(recscale [^`]+)`", g.remedy)]
    assert any(c.startswith("recscale fit") for c in cmds) and any(c.startswith("recscale plan") for c in cmds)
    for c in cmds:
        args = shlex.split(c)[1:] + ["--bootstrap", "0", "--no-forms-check"]
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0, (c, r.output)


def test_more_kinds_than_lines_are_merged(noisy):
    """Check that warnings of more kinds than the summary has lines end in one merged line, still at most 10."""
    _, a = noisy
    f = a.frontiers[("mlp_width", "data")]
    codes = ["floor_below_bayes", "not_decreasing", "fit_failed", "backtest_outside_interval", "forms_disagree",
             "beta_gamma_tradeoff", "narrow_range", "few_points_per_decade", "bootstrap_failures", "start_dependent",
             "did_not_train", "odd_new_flag"]
    ws = [Warning_(c, f.key, "msg", f.scheme, f.key, "γ ≥ floor") for c in codes]
    ws += [Warning_("param_at_bound", f.key, m, f.scheme, f.key, "γ ≥ floor")
           for m in ("alpha = 0: flat", "gamma = 0.8 is at its lower bound 0.8", "gamma = 2 is at its upper bound 2")]
    assert len({kind_of(w) for w in ws}) == 15 and set(KINDS) <= {kind_of(w) for w in ws}
    groups = warning_groups(dataclasses.replace(a, warnings=ws))
    assert len(groups) == MAX_LINES and groups[-1].kind == "more" and groups[-1].title.startswith("also: ")
    assert sum(g.count for g in groups) == len(ws)


def test_sanity_line_counts_the_curves_the_rises_line_names(noisy):
    """Check that the key findings' sanity line and the warning summary agree on curves rising with x:
    the laws engine's non-monotone flag counts as well as the report's seed-mean check (on the demo
    they disagreed: "no curve rising" above "NE rises with x beyond seed noise: 3 curve(s)")."""
    from recscale.report.document import _sanity_line

    _, a = noisy
    rises = next(g for g in warning_groups(a) if g.kind == "rises")
    assert f"{rises.n_curves} curve(s) rising beyond seed noise" in _sanity_line(a)
    flagged = next(w for w in a.warnings if w.code == "narrow_range")
    only_flag = dataclasses.replace(a, warnings=[dataclasses.replace(flagged, code="non_monotone", message="data are not decreasing in x")])
    assert "1 curve(s) rising beyond seed noise" in _sanity_line(only_flag)
