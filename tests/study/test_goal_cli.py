"""Goal-driven studies through the CLI and the spec: `study run --goal`, `[goal]`, `study suggest`."""

from __future__ import annotations

import pytest

from recscale.cli.main import main
from recscale.errors import SpecError
from recscale.study.ledger import open_existing
from recscale.study.spec import load_spec, parse_spec

from .conftest import TEST_SPEC


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _raw(extra: str):
    import tomllib

    return tomllib.loads(TEST_SPEC + extra)


def test_a_goal_in_the_spec_is_read_and_changes_no_hash():
    plain = parse_spec(_raw(""))
    with_goal = parse_spec(_raw('\n[goal]\ntarget = "ne at compute 10x within 1%"\nbudget = "50%"\n'))
    assert (with_goal.goal, with_goal.budget) == ("ne at compute 10x within 1%", "50%")
    assert plain.goal is None and with_goal.hash() == plain.hash()


@pytest.mark.parametrize("extra, field", [
    ('\n[goal]\ntarget = 3\n', "goal.target"),
    ('\n[goal]\nbudget = "50%"\n', "goal.budget"),
    ('\n[goal]\ntarget = "exponent within 0.05"\nbugdet = "1%"\n', "bugdet"),
])
def test_a_bad_goal_table_names_its_field(extra, field):
    with pytest.raises(SpecError, match=field):
        parse_spec(_raw(extra))


def test_a_bad_goal_or_budget_is_one_line_and_writes_nothing(capsys, spec_file, tmp_path):
    db = tmp_path / "g.db"
    code, out, err = run(capsys, "study", "run", spec_file, "--db", db, "--goal", "make it good")
    assert code == 2 and "goal" in err and len(err.strip().splitlines()) == 1 and not db.exists()
    code, out, err = run(capsys, "study", "run", spec_file, "--db", db, "--goal", "exponent within 0.05", "--budget", "lots")
    assert code == 2 and "budget" in err and len(err.strip().splitlines()) == 1 and not db.exists()


def test_goal_run_stops_on_its_budget_says_so_and_suggest_reads_the_ledger(capsys, spec_file, tmp_path):
    db = tmp_path / "g.db"
    code, out, err = run(capsys, "study", "run", spec_file, "--db", db, "--quiet", "--workers", "1",
                         "--goal", "ne at compute 10x within 0.01%", "--budget", "2 trials")
    assert code == 0, err
    assert "stopped: budget spent" in out and "goal NOT met" in out
    with open_existing(db) as led:
        decisions = led.decisions()
    assert [len(d["payload"]["chosen"]) for d in decisions] == [1, 1]  # one candidate per step with one worker
    code, out, err = run(capsys, "study", "suggest", db, "-k", "2")  # the goal is the ledger's last
    assert code == 0, err
    assert "ne at compute 10x within 0.01%" in out and "not met" in out
    assert sum(line.startswith("    ") and " +" in line and "FLOPs" in line for line in out.splitlines()) == 2  # two runs, with costs
    code, out, err = run(capsys, "study", "suggest", db, "--goal", "target rows within 1%")
    assert code == 2 and "recscale design" in err


def test_the_spec_goal_drives_run_unless_grid_is_asked(capsys, spec_file, tmp_path):
    spec_file.write_text(spec_file.read_text() + '\n[goal]\ntarget = "ne at compute 10x within 0.01%"\nbudget = "1 trials"\n')
    assert load_spec(spec_file).goal is not None
    db = tmp_path / "g.db"
    code, out, err = run(capsys, "study", "run", spec_file, "--db", db, "--quiet", "--workers", "1")
    assert code == 0, err
    assert "stopped: budget spent" in out
    with open_existing(db) as led:
        assert len(led.decisions()) == 1
        assert sum(led.status_counts().get(k, 0) for k in ("done",)) == 1


def test_the_run_records_its_answer_and_the_report_states_it(capsys, spec_file, tmp_path):
    from types import SimpleNamespace

    from recscale.report.document import _goal_sentence

    db = tmp_path / "g.db"
    code, out, err = run(capsys, "study", "run", spec_file, "--db", db, "--quiet", "--workers", "1",
                         "--goal", "exponent within 10", "--budget", "3 trials")
    assert code == 0, err
    with open_existing(db) as led:
        result = led.get_meta("goal_result")
        steps = len(led.decisions())
    assert result["goal"] == "exponent within 10" and result["steps"] == steps
    assert result["met"] == ("goal met" in out) and result["spent_flops"] <= result["grid_flops"]
    sentence = _goal_sentence(SimpleNamespace(provenance={"goal_result": result}))
    assert '"exponent within 10"' in sentence and ("**met**" if result["met"] else "**not met**") in sentence
    assert _goal_sentence(SimpleNamespace(provenance={})) is None
