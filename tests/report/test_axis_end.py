"""Check the report reads the embedding-rows axis up to where it ends (every id its own row), from a ledger."""

from __future__ import annotations

import pytest

from recscale.report import ReportOptions
from recscale.report.advice import warning_groups
from recscale.report.analysis import _regime_and_plan, analyze
from recscale.report.document import _factor_cell
from recscale.report.study import load_study
from recscale.study.ledger import Ledger
from tests.report.conftest import BOOTSTRAP, JOINT_BOOTSTRAP
from tests.report.planted import write_ledger


@pytest.fixture(scope="module")
def rows_analysis(tmp_path_factory):
    """The planted embedding_rows scheme on a dataset of 26 features of 60,000 ids: the planted tables (60,000 rows
    at most) are then the built-in counts exactly, and its largest size (128,000 rows) already gives every id a row."""
    p = tmp_path_factory.mktemp("ends") / "rows.db"
    write_ledger(p, schemes=["embedding_rows"])
    with Ledger(p) as led:
        meta = led.get_meta("dataset_meta")
        led.set_meta({"dataset_meta": {**meta, "cardinalities": [60_000] * 26}})
    return analyze(load_study(p), ReportOptions(bootstrap=BOOTSTRAP, joint_bootstrap=JOINT_BOOTSTRAP))


def test_a_ledger_knows_where_its_embedding_rows_axis_ends(rows_analysis):
    assert rows_analysis.study.axis_end("embedding_rows") == 8 * 60_000 * 26
    assert rows_analysis.study.axis_end("mlp_width") is None


def test_an_axis_at_its_end_has_nothing_left_to_gain(rows_analysis):
    """Check the regime reads the gains at the end (here the largest size): nothing is left, so it is saturated and
    says why; the remedies say no size beyond it adds a parameter, and ask for none."""
    h = rows_analysis.headlines[("embedding_rows", "params")]
    reg = h.regime
    assert reg.x_end == reg.x_max == 8 * 60_000 * 26
    assert reg.gain_rel == 0 and reg.gain10_rel == 0 and reg.label == "saturated"
    assert reg.finding.endswith("the rest of the axis gains at most 0% (95%): it ends at 1.2e7, 0 decades beyond the "
                                "largest x"), reg.finding
    text = " ".join(g.remedy for g in warning_groups(rows_analysis))
    assert "already gives every id its own row" in text and "add a size beyond 1.2e7" not in text


def test_a_plan_past_the_axis_end_gives_no_multiple(rows_analysis):
    """Check a plan whose x lies past the end says so instead of a multiple no size can reach (any curve will do:
    the data curve's plan is read with an end put 5% beyond its data, then 1000× beyond)."""
    h = rows_analysis.headlines[("embedding_rows", "data")]
    assert h.plan is not None and h.factor > 1.05
    x_max = float(h.fitted.mean_x.max())
    near = _regime_and_plan(h.fitted, rows_analysis.options, None, 1.05 * x_max)
    assert near.plan.status == "past the axis's end" and near.plan.x_needed is None and near.factor is None
    assert near.plan.notes[0].startswith(f"past the axis's end: the law reaches {h.target_ne:g} at samples = "
                                         f"{h.plan.x_needed:.4g}, but the axis ends at {1.05 * x_max:.4g}"), near.plan.notes
    assert _factor_cell(near) == "past the axis's end (every id its own row: no more of it exists)"
    far = _regime_and_plan(h.fitted, rows_analysis.options, None, 1000 * x_max)
    assert far.factor == pytest.approx(h.factor) and far.error is None and far.plan.status == "reachable"


def test_the_terminal_summary_says_where_the_axis_ends(rows_analysis):
    from recscale.report.document import terminal_summary

    out = terminal_summary(rows_analysis)
    assert ("  embedding_rows: the parameter axis ends at 1.2e7 (every id its own row), 0 decades beyond its largest "
            "model; its regime is what is left to gain up to there") in out.splitlines(), out


@pytest.fixture(scope="module")
def rows_ledger(rows_analysis):
    return rows_analysis.study.source


def test_fit_and_plan_read_the_axis_end_as_the_report_does(rows_ledger, rows_analysis, capsys):
    """Check `recscale fit` and `plan` along the embedding-rows scheme's parameters give the report's regime (read at
    the axis end) and no number past it; along samples nothing changes."""
    import json

    from recscale.cli.main import main

    top = int(rows_analysis.study.frame["samples"].max())
    args = [str(rows_ledger), "--x", "params_sparse", "--where", "scheme=embedding_rows", "--where", f"samples={top}",
            "--json", "--bootstrap", "200"]
    assert main(["fit", *args]) == 0
    [r] = json.loads(capsys.readouterr().out)
    assert r["x_end"] == 8 * 60_000 * 26 and r["regime"]["x_end"] == r["x_end"]
    assert r["regime"]["label"] == rows_analysis.headlines[("embedding_rows", "params")].regime.label == "saturated"
    assert main(["plan", *args, "--lower-by", "0.01"]) == 0
    [p] = json.loads(capsys.readouterr().out)
    assert p["plan"]["status"] == "past the axis's end" and p["plan"]["x_needed"] is None
    assert main(["fit", str(rows_ledger), "--x", "samples", "--where", "scheme=embedding_rows", "--where", "value=8000",
                 "--json", "--bootstrap", "50"]) == 0
    [s] = json.loads(capsys.readouterr().out)
    assert s["x_end"] is None and s["regime"]["x_end"] is None


def test_the_parameter_figure_draws_where_the_axis_ends(rows_analysis):
    from recscale.report.figures import fig_param_scaling

    fig = fig_param_scaling(rows_analysis)
    [ax] = [ax for ax in fig.axes if ax.get_lines()]
    [line] = [ln for ln in ax.get_lines() if ln.get_gid() == "axis_end"]
    assert set(line.get_xdata()) == {8 * 60_000 * 26} and ax.get_xlim()[1] >= 8 * 60_000 * 26
