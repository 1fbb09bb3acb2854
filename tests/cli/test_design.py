"""``recscale design``, invoked in-process through the real entry point."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recscale.cli.main import main


@pytest.fixture(scope="module")
def curves(tmp_path_factory):
    """Learning curves of 6 model sizes (8 doublings each) on a planted joint law, as a CSV."""
    rng = np.random.default_rng(0)
    rows = []
    for i, N in enumerate(np.geomspace(1e4, 1e7, 6)):
        for D in 4096 * 2.0 ** np.arange(8):
            rows.append(dict(trial_id=f"t{i}", params_total=N, samples=D, flops_per_sample=100 * N**0.5,
                             ne=(0.75 + 30 * N**-0.4 + 20 * D**-0.35) * math.exp(rng.normal(0, 0.004))))
    path = tmp_path_factory.mktemp("design") / "curves.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """16 independent runs along x (a one-x law), cost proportional to x."""
    rng = np.random.default_rng(1)
    x = np.geomspace(1e3, 1e6, 16)
    path = tmp_path_factory.mktemp("design") / "runs.csv"
    pd.DataFrame(dict(x=x, ne=(2 * x**-0.3 + 0.7) * np.exp(rng.normal(0, 0.005, 16)), cost=x)).to_csv(path, index=False)
    return path


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_design_target_on_curves(capsys, curves):
    """Check that a replay on learning curves prints its steps, stops at the budget and scores the target rows."""
    code, out, err = run(capsys, "design", curves, "--x", "params_total", "--x", "samples", "--y", "ne", "--cost", "flops_per_sample",
                         "--run", "trial_id", "--target", "top10%", "--budget", "25%", "--bootstrap", "30")
    assert code == 0, err
    assert "5 target rows set aside" in out
    assert out.count("  chose t") >= 5
    assert "stopped: budget spent" in out
    assert "target rows: median |log error|" in out
    spent = float(out.split("stopped: budget spent after ")[1].split("(")[1].split("%")[0])
    assert spent <= 25.0


def test_design_goal_met_stops_early(capsys, runs):
    """Check that a loose goal on a one-x table stops as soon as it is met, and says so."""
    code, out, err = run(capsys, "design", runs, "--x", "x", "--y", "ne", "--cost", "cost", "--goal", "exponent within 0.5",
                         "--budget", "100%", "--refit-growth", "0")
    assert code == 0, err
    assert "stopped: goal met" in out and ": met (" in out
    assert out.count("  chose row") < 16


def test_design_says_when_the_backtest_widened_the_interval(capsys, tmp_path):
    """Check that on curves the joint law cannot follow (the data exponent grows with N) the final goal line says its
    interval was widened by the law's own backtest, and by how much."""
    rng = np.random.default_rng(0)
    rows = [dict(trial_id=f"t{i}", params_total=N, samples=D, flops_per_sample=3 * N**0.5,
                 ne=(0.78 + 40 * N**-0.45 + 25 * D ** -(0.38 + 0.01 * math.log10(N / 2e4))) * math.exp(rng.normal(0, 0.005)))
            for i, N in enumerate(np.geomspace(2e4, 5e6, 6)) for D in 4096 * 2.0 ** (np.arange(15) / 2.0)]
    path = tmp_path / "misfit.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    code, out, err = run(capsys, "design", path, "--x", "params_total", "--x", "samples", "--y", "ne", "--cost", "flops_per_sample",
                         "--run", "trial_id", "--goal", "ne at samples 2x within 0.1%", "--budget", "100%", "--bootstrap", "30",
                         "--refit-growth", "4")
    assert code == 0, err
    final = [line for line in out.splitlines() if line.startswith("goal: ")][0]
    factor = float(final.split("widened ")[1].split("x by the law's own backtest")[0])
    assert factor > 1.5


@pytest.mark.parametrize("args, match", [
    (["--x", "nope", "--y", "ne", "--cost", "cost", "--goal", "exponent within 0.1"], "missing column.*'nope'"),
    (["--x", "x", "--y", "ne", "--cost", "cost", "--goal", "ne soon please"], "cannot read goal .*'ne at compute 10x"),
    (["--x", "x", "--y", "ne", "--cost", "cost", "--goal", "exponent within 0.1", "--budget", "lots"], "cannot read budget"),
    (["--x", "x", "--y", "ne", "--cost", "cost"], "give --target"),
    (["--x", "x", "--y", "ne", "--cost", "cost", "--target", "biggest"], "--target must be topN%"),
    (["--x", "x", "--y", "ne", "--cost", "cost", "--goal", "target rows within 1%"], "needs --target"),
    (["--x", "x", "--y", "ne", "--cost", "cost", "--goal", "exponent within 0.1", "--method", "best"], "method must be one of"),
])
def test_design_errors_are_one_line(capsys, runs, args, match):
    """Check that each user mistake is one line on stderr with exit code 2."""
    import re

    code, out, err = run(capsys, "design", runs, *args)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert re.search(match, err), err
