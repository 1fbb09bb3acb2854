"""Check that every user mistake on the command line ends the same way: one line, exit 2, nothing written.

The paths walked here are those issue 19 names (parser errors, wrong tools, empty splits, the last
line under --strict, the laws' options), each run in-process from an empty working folder whose
contents are compared before and after. Messages from fit, plan and report name the option, never a
function of recscale.laws or a keyword argument.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recscale.cli.main import main
from recscale.cli.translate import in_user_words, internal_names
from tests.data.criteo_fixtures import corrupt, criteo_bytes


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Input files in their own folder (outside the working folder whose contents are checked)."""
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    n = 40
    kaggle = pd.DataFrame({"Id": 10_000_000 + np.arange(n), "Label": rng.integers(0, 2, n)})
    for i in range(1, 14):
        kaggle[f"I{i}"] = rng.integers(0, 50, n)
    for i in range(1, 27):
        kaggle[f"C{i}"] = [f"{x:08x}" for x in rng.integers(0, 40, n)]
    kaggle.to_csv(d / "train.csv", index=False)
    data = criteo_bytes(40, seed=1)
    (d / "day.tsv").write_bytes(data)
    rows = data.split(b"\n")[:5]
    (d / "five.txt").write_bytes(b"\n".join([corrupt(r, "bad_hex") for r in rows[:3]] + rows[3:]) + b"\n")
    lines = data.split(b"\n")[:20]
    (d / "cut.txt").write_bytes(b"\n".join(lines[:19]) + b"\n" + lines[19][:-3])
    x = np.array([1e4, 2e4, 4e4, 8e4, 1.6e5, 3.2e5])
    runs = [dict(trial_id=f"t{v}", scheme="emb", value=v, samples=s, params_total=1000 * v, ne=0.8 + 2 * s**-0.3 + v / 1e3)
            for v in (8, 16) for s in x]
    pd.DataFrame(runs).to_csv(d / "runs.csv", index=False)
    assert main(["data", "criteo", str(d / "day.tsv"), "--out", str(d / "train-only"), "--eval-fraction", "0", "--quiet"]) == 0
    spec = (Path(__file__).resolve().parents[2] / "src/recscale/examples/tiny.toml").read_text()
    spec = spec.split("[data.synthetic]")[0] + '[data]\npath = "train-only"\n\n[train]' + spec.split("[train]")[1]
    (d / "s.toml").write_text(spec)  # data.path is relative to the spec's folder
    return d


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# (command line with {d} for the inputs folder, what the one line must contain)
PARSER = [
    ("study run tiny --workers 0", "invalid value for '--workers'"),
    ("study run tiny --bogus", "no such option: --bogus (see recscale study run --help)"),
    ("fit {d}/runs.csv --x samples --bootstrap abc", "invalid value for '--bootstrap'"),
    ("fitt", "no such command 'fitt'"),
    ("data criteo", "missing argument"),
    ("report {d}/runs.csv --bootstrap -1", "invalid value for '--bootstrap'"),
    ("fit {d}/runs.csv --x samples --seed -1", "invalid value for '--seed'"),
]
DATA = [
    ("data criteo {d}/train.csv --out ds", "this looks like a CSV with a header ('Id,Label,I1,"),
    ("data criteo {d}/day.tsv --out ds --workers 0", "--workers must be at least 1, got 0"),
    ("data table {d}/day.tsv --out ds --label 0 --sparse rest", "looks like data, not a header"),
    ("data table {d}/train.csv --out ds --label label --dense I1-I13 --sparse C1-C26", "(did you mean 'Label'?)"),
    ("data table {d}/train.csv --out ds --label Label --dense 'X*' --sparse C1-C26", "--dense 'X*' matches no column"),
    ("data criteo {d}/five.txt --out ds", "the eval split would be empty (2 valid of 5 records read"),
    ("data criteo {d}/cut.txt --out ds --strict", ":20: last line has no newline and is incomplete"),
    ("data criteo {d}/day.tsv {d}/day.tsv --out ds --eval-files 2", "--eval-files 2 leaves no training input"),
]
STUDY = [
    ("study run nope.toml", "spec file nope.toml does not exist"),
    ("study run {d}/s.toml --db runs/s.db", "data.path: the 'eval' split of {d}/train-only is empty (0 rows)"),
    ("study status runs/none.db", "runs/none.db"),
    ("study export runs/none.db --out x.csv", "runs/none.db"),
    ("example huge", "example 'huge' does not exist"),
]
LAWS = [
    ("fit {d}/runs.csv --x samples --bootstrap -1", "--bootstrap must be an integer ≥ 0; got -1"),
    ("fit {d}/runs.csv --x samples --bootstrap 10 --level 1.5", "--level must be in (0, 1), e.g. 0.95; got 1.5"),
    ("fit {d}/runs.csv --x samples --form bogus", "--form must be one of 'powerlaw_const',"),
    ("fit {d}/runs.csv --x samples --gamma-bounds 2,1", "--gamma-bounds must satisfy 0 ≤ lo ≤ hi"),
    ("fit {d}/runs.csv --x samples --gamma-bounds 1", "--gamma-bounds must be LO,HI"),
    ("fit {d}/runs.csv --x samples --gamma -1", "--gamma must be a finite number ≥ 0; got -1.0"),
    ("fit {d}/runs.csv --x samplez", "error: missing column(s) 'samplez'"),
    ("fit {d}/runs.csv --x samples --where scheme", "--where must look like COL=VALUE"),
    ("fit {d}/runs.csv --joint --n params_total --d samples --bootstrap -1", "--bootstrap must be an integer ≥ 0"),
    ("fit {d}/runs.csv --joint --n params_total --d samples --bootstrap 5 --level 2", "--level must be in (0, 1)"),
    ("plan {d}/runs.csv --x samples --target-ne -1", "--target-ne must be finite and > 0; got -1.0"),
    ("plan {d}/runs.csv --x samples --target-ne 0.9 --bytes-per-param 0 --bootstrap 5", "--bytes-per-param must be > 0"),
    ("plan {d}/runs.csv --x samples --target-ne 0.9 --form m4 --gamma 0.5", "--form m4 cannot fix gamma"),
    ("report {d}/runs.csv --level 2 --out r", "--level must be in (0, 1)"),
]


def _run(line: str, inputs: Path, cwd: Path, monkeypatch, capsys) -> tuple[int, str]:
    import shlex

    monkeypatch.chdir(cwd)
    capsys.readouterr()
    code = main(shlex.split(line.format(d=inputs)))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("line", "expected"), PARSER + DATA + STUDY + LAWS, ids=lambda v: v if " " not in v else None)
def test_mistake_is_one_line_exit_2_nothing_written(line, expected, inputs, tmp_path, monkeypatch, capsys):
    """Check one line on stderr starting 'error: ', exit code 2, and the working folder left as it was."""
    before, inputs_before = _files(tmp_path), _files(inputs)
    code, err = _run(line, inputs, tmp_path, monkeypatch, capsys)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert expected.format(d=inputs) in err
    assert _files(tmp_path) == before and _files(inputs) == inputs_before


@pytest.mark.parametrize("line", [line for line, _ in LAWS])
def test_laws_errors_name_options_not_functions_or_keywords(line, inputs, tmp_path, monkeypatch, capsys):
    """Check that no message of fit/plan/report holds a function or class of recscale.laws, or a keyword argument."""
    _, err = _run(line, inputs, tmp_path, monkeypatch, capsys)
    python_names = {n for n in internal_names() if "_" in n or n[:1].isupper()}
    assert not [n for n in python_names if re.search(rf"(?<![\w-]){re.escape(n)}\b", err)], err
    assert not re.search(r"^error: [a-z_]+: ", err), err  # e.g. "regime: level must be ..."
    assert not re.search(r"[a-z_]=", err), err  # space='linear', gamma=0.5 (a placeholder such as COL=VALUE is fine)


def test_translation_of_library_messages():
    """Check the rewriting rules on messages the laws raise, including ones no command line above reaches."""
    assert in_user_words("fit_power_law: y must be > 0 for a log-space fit; got y[3] = -0.1 (use space='linear' for signed y)") \
        == "y must be > 0 for a log-space fit; got y[3] = -0.1"
    assert in_user_words("fit_power_law: form='m4' cannot fix gamma (its floor); got gamma=0.5; bound it instead, "
                         "e.g. gamma_bounds=(lo, hi)") \
        == "--form m4 cannot fix gamma (its floor); got 0.5; bound it instead, e.g. --gamma-bounds LO,HI"
    assert in_user_words("JointLawFit.ci: level must be in (0, 1)") == "--level must be in (0, 1)"
    assert in_user_words("runs.csv: missing column(s) seed") == "runs.csv: missing column(s) seed"  # a file, kept


def test_h_is_help_and_version(capsys):
    """Check -h works as --help on the root, a group and a command, and --version prints the version."""
    from recscale import __version__

    assert main(["--version"]) == 0 and capsys.readouterr().out == f"recscale {__version__}\n"
    for argv in (["-h"], ["data", "-h"], ["study", "run", "-h"]):
        assert main(argv) == 0
        assert "Usage: recscale" in capsys.readouterr().out
    assert main([]) == 0 and "Usage: recscale" in capsys.readouterr().out  # no arguments: the help, not an error
