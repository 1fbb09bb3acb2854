"""``recscale fit`` and ``recscale plan``, invoked in-process through the real entry point."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recscale.cli.main import main


@pytest.fixture()
def table(tmp_path):
    """A small study export: two schemes, two values, two seeds, 8 sample checkpoints."""
    rng = np.random.default_rng(0)
    rows = []
    samples = np.geomspace(1e5, 1e8, 8).round()
    tid = 0
    for scheme, beta in (("emb", 0.3), ("mlp", 0.2)):
        for v in (1, 4):
            for seed in (0, 1):
                tid += 1
                for s in samples:
                    ne = (0.7 + 0.2 * (s / 1e5) ** -beta + 0.01 / v) * np.exp(rng.normal(0, 0.001))
                    rows.append(dict(trial_id=tid, scheme=scheme, value=v, seed=seed, params_dense=1e5,
                                     params_sparse=1e6 * v, params_total=1e6 * v + 1e5, flops_per_sample=1e4,
                                     samples=s, train_flops=1e4 * s, ne=ne))
    df = pd.DataFrame(rows)
    path = tmp_path / "study.csv"
    df.to_csv(path, index=False)
    df.to_parquet(tmp_path / "study.parquet")
    return path


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_fit_prints_a_table_per_group(table, capsys):
    """Check the default output: a header and one row per (scheme, value) with β and its interval."""
    code, out, err = run(capsys, "fit", table, "--x", "samples", "--group", "scheme,value", "--bootstrap", "100")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("ne = alpha * samples^-beta + gamma")
    assert lines[1].split()[:4] == ["scheme", "value", "n", "beta"]
    assert sum(1 for line in lines if line.startswith(("emb ", "mlp "))) == 4
    assert "high-return" in out


def test_fit_json_is_strict_and_complete(table, capsys):
    """Check --json: one object per group, strict JSON (no NaN), fit and regime included."""
    code, out, _ = run(capsys, "fit", table.with_suffix(".parquet"), "--x", "samples", "--where", "scheme=emb",
                       "--group", "value", "--bootstrap", "50", "--json")
    assert code == 0
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert [d["group"] for d in data] == [{"value": 1}, {"value": 4}]
    assert data[0]["fit"]["method"]["bootstrap"]["n"] == 50
    assert data[0]["regime"]["label"] in ("high-return", "diminishing", "saturated")
    assert len(data[0]["fit"]["trial_ids"]) == 16


def test_fit_with_fixed_floor_and_frontier(table, capsys):
    """Check --gamma and --frontier reach the library."""
    code, out, _ = run(capsys, "fit", table, "--x", "train_flops", "--group", "scheme", "--frontier", "--gamma", "0.7",
                       "--bootstrap", "50", "--json")
    assert code == 0
    data = json.loads(out)
    assert all(d["fit"]["params"]["gamma"] == 0.7 for d in data)
    assert all(d["fit"]["method"]["gamma_constraint"] == "fixed" for d in data)


def test_plan_prints_needed_samples_and_unreachable(table, capsys):
    """Check plan output: reachable target with implied resources, and an unreachable one."""
    code, out, err = run(capsys, "plan", table, "--target-ne", "0.71", "--x", "samples", "--where", "scheme=emb",
                         "--where", "value=4", "--bootstrap", "100")
    assert code == 0, err
    assert "samples needed" in out and "reachable" in out and "emb memory" in out
    code, out, _ = run(capsys, "plan", table, "--target-ne", "0.5", "--x", "samples", "--where", "scheme=emb",
                       "--bootstrap", "50", "--json")
    assert code == 0
    plan = json.loads(out)[0]["plan"]
    assert plan["status"] == "unreachable" and plan["x_needed"] is None


@pytest.mark.parametrize(
    "rows,args,match",
    [
        ({"samples": [1, 2, 3], "ne": [0.9, 0.8, 0.7]}, [], r"got 3 points; at least 4 are needed"),
        ({"samples": [1, 2, -3, 4], "ne": [0.9, 0.8, 0.7, 0.6]}, [], r"x must be finite and > 0; got x\[2\] = -3\.0"),
        ({"samples": [1, 2, 3, 4], "ne": [0.9, None, 0.7, 0.6]}, [], r"y must be finite; got y\[1\] = nan"),
        ({"samples": [2, 2, 2, 2], "ne": [0.9, 0.8, 0.7, 0.6]}, [], r"all x values are equal \(x = 2\.0\)"),
        ({"samples": [1, 2, 3, 4], "ne": [0.9, 0.8, 0.7, 0.6]}, ["--y", "auc"], r"missing column\(s\) 'auc'; available: samples, ne"),
        ({"samples": [1, 2, 3, 4], "ne": ["a", 0.8, 0.7, 0.6]}, [], r"column 'ne' must be numeric; got 'a'"),
        ({"samples": [1, 2, 3, 4], "ne": [0.9, 0.8, 0.7, 0.6]}, ["--gamma-bounds", "0.1"], r"--gamma-bounds must be LO,HI"),
        ({"samples": [1, 2, 3, 4], "ne": [0.9, 0.8, 0.7, 0.6]}, ["--where", "samples=9"], r"--where samples=9: no rows match"),
        ({"samples": [1, 2, 3, 4], "ne": [0.9, 0.8, 0.7, 0.6]}, ["--where", "oops"], r"--where must look like COL=VALUE"),
        ({"samples": [1, 2, 3, 4], "ne": [0.9, 0.8, 0.7, 0.6]}, ["--form", "cubic"], r"form must be one of"),
    ],
)
def test_fit_user_errors_are_one_line_exit_2(tmp_path, capsys, rows, args, match):
    """Check that user errors print one line on stderr and exit with code 2, no traceback."""
    import re

    path = tmp_path / "t.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    code, out, err = run(capsys, "fit", path, "--x", "samples", "--bootstrap", "10", *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert re.search(match, err), err
    assert "Traceback" not in err


def test_missing_or_unknown_table_exit_2(tmp_path, capsys):
    """Check file errors: a missing table and a non-SQLite file with an unknown suffix."""
    code, _, err = run(capsys, "fit", tmp_path / "none.csv", "--x", "samples")
    assert code == 2 and "no such file" in err
    bad = tmp_path / "runs.db"
    bad.write_text("not a database")
    code, _, err = run(capsys, "plan", bad, "--x", "samples", "--target-ne", "0.7")
    assert code == 2 and "unknown table format .db" in err


# ---- recscale fit --joint -----------------------------------------------------------------------

JOINT_TRUTH = {"E": 0.72, "A": 3.0, "alpha": 0.35, "B": 8.0, "beta": 0.30}


@pytest.fixture()
def joint_table(tmp_path):
    """Runs on a 6 × 8 grid of (N, D) whose NE follows a planted joint law, times 0.2% log-normal noise."""
    t = JOINT_TRUTH
    rng = np.random.default_rng(7)
    rows = []
    for i, n in enumerate(np.geomspace(1e3, 1e6, 6)):
        for d in np.geomspace(1e4, 1e7, 8):
            ne = (t["E"] + t["A"] / n ** t["alpha"] + t["B"] / d ** t["beta"]) * np.exp(rng.normal(0, 0.002))
            rows.append(dict(trial_id=f"m{i}", params=n, samples=d, ne=ne, scheme="s"))
    path = tmp_path / "joint.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_fit_joint_recovers_planted_law_within_its_standard_errors(joint_table, capsys):
    """Check `recscale fit --joint --json` recovers planted E, A, B, α, β within 3 bootstrap SEs, with informative SEs."""
    code, out, err = run(capsys, "fit", joint_table, "--joint", "--n", "params", "--d", "samples", "--bootstrap", "50",
                         "--json")
    assert code == 0, err
    res = json.loads(out)
    assert {"E", "A", "B", "alpha", "beta", "se"} <= set(res)
    for k, truth in JOINT_TRUTH.items():
        se = res["se"][k]
        assert 0 < se < 0.25 * truth, (k, se)  # the SE says something
        assert abs(res[k] - truth) <= 3 * se, (k, res[k], truth, se)


def test_fit_joint_prints_a_table(joint_table, capsys):
    """Check the plain output: the law's header and one row per parameter with its estimate and SE."""
    code, out, err = run(capsys, "fit", joint_table, "--joint", "--n", "params", "--d", "samples", "--bootstrap", "20")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("ne = E + A/params^alpha + B/samples^beta")
    assert [ln.split()[0] for ln in lines[2:7]] == ["E", "A", "B", "alpha", "beta"]


@pytest.mark.parametrize(
    "args, match",
    [
        (["--joint", "--n", "params"], "--joint needs --d COLUMN"),
        (["--joint", "--n", "nope", "--d", "samples"], "missing column.*'nope'.*available: trial_id, params"),
        (["--joint", "--x", "samples", "--n", "params", "--d", "samples"], "drop --x and --group"),
        ([], "--x COLUMN is required"),
    ],
)
def test_fit_joint_errors_name_the_fix(joint_table, capsys, args, match):
    """Check a missing --n/--d, an unknown column, or --x with --joint is one line with exit code 2."""
    import re

    code, out, err = run(capsys, "fit", joint_table, *args)
    assert code == 2 and re.search(match, err), err
    assert len(err.strip().splitlines()) == 1


def test_fit_and_report_give_the_same_beta_on_the_same_curve(table, capsys):
    """Check that with a known floor (the table's bayes_ne) `recscale fit` bounds gamma as the report does, says so in
    its header, and gives the report's beta on the same curve; --free-floor gives the report's free fit."""
    from recscale.report.analysis import ReportOptions, _curve_from_rows, _fit_curve
    from recscale.report.study import load_study

    df = pd.read_csv(table).assign(bayes_ne=0.69)
    dead = df[df["trial_id"] == df["trial_id"].iloc[0]].assign(trial_id=99, seed=2, ne=1.0001)  # emb 4's third seed never trained
    df = pd.concat([df, dead.assign(value=4)], ignore_index=True)
    path = table.with_name("with_floor.csv")
    df.to_csv(path, index=False)
    study = load_study(path)
    assert list(study.untrained) == [99]
    rows = study.frame[(study.frame["scheme"] == "emb") & (study.frame["value"] == 4)]
    f = _fit_curve("model:emb:4", "model", "emb", "data", "samples", _curve_from_rows(rows, "samples", "test"), study,
                   ReportOptions(bootstrap=20))
    args = ("fit", path, "--x", "samples", "--where", "scheme=emb", "--where", "value=4", "--bootstrap", "20")
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "gamma >= 0.6900, the Bayes NE, as in the report (--free-floor: gamma >= 0)" in out.splitlines()[0]
    assert "left out: trial 99 never trained (NE >= 0.999 at all 8 checkpoints), as in the report" in err
    code, out, _ = run(capsys, *args, "--json")
    assert json.loads(out)[0]["fit"]["params"]["beta"] == pytest.approx(f.bounded.beta, rel=1e-6)
    assert json.loads(out)[0]["fit"]["method"]["gamma_bounds"][0] == pytest.approx(0.69)
    code, out, _ = run(capsys, *args, "--free-floor", "--json")
    assert json.loads(out)[0]["fit"]["params"]["beta"] == pytest.approx(f.free.beta, rel=1e-6)
    code, _, err = run(capsys, *args, "--free-floor", "--gamma", "0.7")
    assert code == 2 and "--free-floor leaves the floor free" in err


def test_fit_auto_names_the_chosen_form_and_plan_prints_the_backtest_warning(table, capsys):
    """Check --form auto adds a 'form' column naming each group's form, and plan prints backtest_outside_interval."""
    code, out, err = run(capsys, "fit", table, "--x", "samples", "--group", "scheme", "--form", "auto", "--bootstrap", "20")
    assert code == 0, err
    lines = out.splitlines()
    assert "form auto: chosen per group" in lines[0] and lines[1].split()[:3] == ["scheme", "n", "form"]
    assert lines[2].split()[2] in ("powerlaw_const", "m4", "broken_powerlaw")
    assert "regime: " in out and "param_at_bound,param_at_bound" not in out


def test_plan_prints_the_backtest_warning_that_fit_flags(tmp_path, capsys):
    """Check a curve whose own backtest misses beyond its interval gets a plan warning, as `fit` flags it."""
    x = np.geomspace(1e4, 1e7, 10)
    y = 0.7 + 0.3 * (x / 1e4) ** -0.3 * (1 + x / 3e5) ** -0.8  # bends down beyond the cut: the backtest misses
    pd.DataFrame({"samples": np.repeat(x, 2), "ne": np.repeat(y, 2) * np.exp(np.random.default_rng(0).normal(0, 1e-3, 20)),
                  "seed": np.tile([0, 1], 10)}).to_csv(tmp_path / "t.csv", index=False)
    # --fit-from all: the whole bending curve is fitted (the fit-range rule would start it past the bend).
    code, out, err = run(capsys, "fit", tmp_path / "t.csv", "--x", "samples", "--bootstrap", "50", "--fit-from", "all")
    assert code == 0, err and "backtest_outside_interval" in out
    code, out, err = run(capsys, "plan", tmp_path / "t.csv", "--x", "samples", "--target-ne", "0.74", "--bootstrap", "50",
                         "--fit-from", "all")
    assert code == 0, err
    assert "warning: the powerlaw_const law fitted without the largest points missed" in out


def test_plan_lower_by_prints_how_many_times_more(table, capsys):
    """Check --lower-by: a 'x more' multiple whose interval is never below 1x, parameters without an interval, and
    one error when neither or both of --target-ne and --lower-by are given."""
    code, out, err = run(capsys, "plan", table, "--lower-by", "0.01", "--x", "samples", "--where", "scheme=emb",
                         "--group", "value", "--bootstrap", "100")
    assert code == 0, err
    assert out.splitlines()[0].startswith("lower ne by 0.01 (relative) from the data's edge along samples")
    assert "(fixed)" in out  # params_total does not change along samples
    code, out, _ = run(capsys, "plan", table, "--lower-by", "0.01", "--x", "samples", "--where", "scheme=emb",
                       "--group", "value", "--bootstrap", "100", "--json")
    for d in json.loads(out):
        p = d["plan"]
        if p["factor"] is not None:
            assert p["factor"] >= 1 and p["factor_interval"][0] >= 1
    for extra in ([], ["--target-ne", "0.7", "--lower-by", "0.01"]):
        code, _, err = run(capsys, "plan", table, "--x", "samples", *extra)
        assert code == 2 and "give either a target NE (--target-ne 0.74) or a relative gain (--lower-by 0.01)" in err
