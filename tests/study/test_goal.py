"""The goal-driven loop (study/goal.py) with a stand-in design: what it runs, when it stops, how it resumes.

The design here is deliberately simple and deterministic (cheapest available candidate first; the
goal is "met" once enough evaluations are measured), so the loop's own guarantees are tested
apart from the laws: only chosen runs train, to their stops; each step's choice is recorded
before it runs; a budget is never overspent; a killed study resumes with the same choices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from recscale.study.goal import study_dataset_meta, measured_rows, doubling_stops, pool_table, run_goal_study, spent_flops
from recscale.study.ledger import Ledger, export_frame, open_existing
from recscale.study.runner import RunOptions
from recscale.study.spec import load_spec


@dataclass(frozen=True)
class Cand:
    id: str
    rows: tuple[int, ...]
    cost: float
    requires: str | None


@dataclass(frozen=True)
class Pick:
    candidate: Cand
    width_after: float


class CheapestFirst:
    """Candidates per trial and doubling stop; the cheapest available one first; met at ``enough`` rows."""

    goal_text = "measure enough rows"

    def __init__(self, enough: int):
        self.enough = enough

    def fit_start(self, pool):
        return 0.0

    def untrained(self, pool):
        return {}

    def candidates(self, pool, stops):
        out = []
        for tid, sub in pool.groupby("trial_id", sort=True):
            prev, prev_id = 0, None
            for s in stops:
                rows = tuple(int(i) for i in sub.index[(sub["samples"] > prev) & (sub["samples"] <= s)])
                cid = f"{tid}@{s}"
                out.append(Cand(cid, rows, float(sub["train_flops_per_sample"].iloc[0]) * (s - prev), prev_id))
                prev, prev_id = s, cid
        return out

    def step(self, pool, cands, chosen, k, budget_left):
        n = int(np.isfinite(pool["ne"]).sum())
        est = {"value": float(n), "lo": 0.0, "hi": float(n), "half_width": 1.0, "met": n >= self.enough,
               "n_rows": n, "law": "count", "note": None}
        ok = [c for c in cands if c.id not in chosen and (c.requires is None or c.requires in chosen) and c.cost <= budget_left]
        ok.sort(key=lambda c: (c.cost, c.id))
        picks, left = [], budget_left
        for c in ok:
            if len(picks) < k and c.cost <= left:
                picks.append(Pick(c, 1.0))
                left -= c.cost
        return est, picks


@dataclass(frozen=True)
class FlopsBudget:
    amount: float
    kind: str = "flops"

    def cost_limit(self, grid):
        return self.amount


def _opts():
    return RunOptions(workers=1, progress=False)


def test_doubling_stops_take_each_doubling_and_the_last_checkpoint():
    assert doubling_stops([1024, 2048, 4096, 8192]) == [1024, 2048, 4096, 8192]
    assert doubling_stops([1024, 1536, 2048, 3072, 4096, 6144]) == [1024, 2048, 4096, 6144]


def test_the_loop_runs_only_what_it_chose_and_records_each_choice(spec_file, tmp_path):
    spec = load_spec(spec_file)
    db = tmp_path / "g.db"
    summary = run_goal_study(spec, db, _opts(), CheapestFirst(enough=3), say=lambda s: None)
    assert summary.reason == "goal met" and summary.met
    measured = export_frame(db).drop_duplicates(["trial_id", "samples"])
    assert len(measured) >= 3
    with open_existing(db) as led:
        decisions = led.decisions()
    assert [d["step"] for d in decisions] == list(range(1, len(decisions) + 1))
    planned = {}
    for d in decisions:
        planned.update(d["payload"]["plan"])
    reached = measured.groupby("trial_id")["samples"].max().to_dict()
    assert reached == planned  # every measured trial was chosen, and trained exactly to its chosen stop
    assert summary.spent < summary.grid_flops


def test_a_budget_is_never_overspent(spec_file, tmp_path):
    spec = load_spec(spec_file)
    db = tmp_path / "b.db"
    summary = run_goal_study(spec, db, _opts(), CheapestFirst(enough=10**9), FlopsBudget(1.0), say=lambda s: None)
    assert summary.reason.startswith("budget spent") and not summary.met
    assert summary.spent <= 1.0
    assert not db.exists() or export_frame(db).empty  # nothing fitted in the budget: nothing ran
    meta = study_dataset_meta(spec, db, _opts())
    pool = pool_table(spec, meta, measured_rows(db))
    cheapest = pool[pool["samples"] == pool["samples"].min()]["train_flops"].min()
    budget = 2.5 * cheapest
    db2 = tmp_path / "b2.db"
    s2 = run_goal_study(spec, db2, _opts(), CheapestFirst(enough=10**9), FlopsBudget(budget), say=lambda s: None)
    assert s2.reason.startswith("budget spent") and 0 < s2.spent <= budget
    assert spent_flops(pool_table(spec, meta, export_frame(db2))) == pytest.approx(s2.spent)


def test_a_killed_step_is_finished_first_and_the_choices_are_the_same(spec_file, tmp_path):
    spec = load_spec(spec_file)
    straight = tmp_path / "s.db"
    run_goal_study(spec, straight, _opts(), CheapestFirst(enough=6), say=lambda s: None)
    with open_existing(straight) as led:
        want = [d["payload"]["plan"] for d in led.decisions()]
    assert len(want) >= 3

    killed = tmp_path / "k.db"
    # the first two steps, as if the driver died right after recording step 2's choice
    run_goal_study(spec, killed, _opts(), CheapestFirst(enough=3), say=lambda s: None)
    with open_existing(killed) as led:
        first = [d["payload"]["plan"] for d in led.decisions()]
    with Ledger(killed) as led:
        led.record_decision(len(first) + 1, {"step": len(first) + 1, "plan": want[len(first)], "goal": "x"})
    lines: list[str] = []
    run_goal_study(spec, killed, _opts(), CheapestFirst(enough=6), say=lines.append)
    assert lines[0].startswith(f"resuming step {len(first) + 1}")
    with open_existing(killed) as led:
        got = [d["payload"]["plan"] for d in led.decisions()]
    assert got == want
    a = export_frame(straight).drop(columns=["wall_s"]).reset_index(drop=True)
    b = export_frame(killed).drop(columns=["wall_s"]).reset_index(drop=True)
    assert a.equals(b)
    assert np.isfinite(a["ne"]).all()


def test_a_failed_trial_stops_the_study_instead_of_being_chosen_again(spec_file, tmp_path, monkeypatch):
    from dataclasses import replace

    import recscale.study.runner as runner

    real = runner.run_study

    def failing(spec, db, opts):
        summary = real(spec, db, opts)
        return replace(summary, failed=[next(iter(opts.plan))])

    monkeypatch.setattr(runner, "run_study", failing)
    lines: list[str] = []
    summary = run_goal_study(load_spec(spec_file), tmp_path / "f.db", _opts(), CheapestFirst(enough=10**9), say=lines.append)
    assert summary.reason.startswith("trial(s) failed") and summary.failed and summary.steps == 1
    assert lines[-1].startswith("stopped: trial(s) failed")
    with open_existing(tmp_path / "f.db") as led:
        assert led.get_meta("goal_result")["reason"] == summary.reason


class OneDead(CheapestFirst):
    """Calls ``dead`` untrained once it has a measured row, as the real rule would a flat trial."""

    def __init__(self, enough: int, dead: str):
        super().__init__(enough)
        self.dead = dead

    def untrained(self, pool):
        seen = pool[(pool["trial_id"] == self.dead) & np.isfinite(pool["ne"])]
        return {} if seen.empty else {self.dead: {"checkpoints": len(seen), "max_samples": float(seen["samples"].max()),
                                                  "min_y": float(seen["ne"].min())}}


def test_a_dead_trial_is_not_extended_and_its_cost_still_counts(spec_file, tmp_path):
    """Check: once the design calls a trial untrained, the loop says so once and never runs it further,
    while what it cost stays in what was spent."""
    spec = load_spec(spec_file)
    db = tmp_path / "d.db"
    first = CheapestFirst(enough=10**9)
    meta = study_dataset_meta(spec, db, _opts())
    pool = pool_table(spec, meta, measured_rows(db))
    dead = first.candidates(pool, doubling_stops(spec.checkpoint_samples()))
    dead = min(dead, key=lambda c: (c.cost, c.id)).id.split("@")[0]  # the first trial the cheapest-first loop runs
    lines: list[str] = []
    summary = run_goal_study(spec, db, _opts(), OneDead(enough=10**9, dead=dead), say=lines.append)
    assert summary.reason.startswith("grid exhausted")
    told = [s for s in lines if s.startswith(f"left out: trial {dead} never trained")]
    assert len(told) == 1
    reached = export_frame(db).groupby("trial_id")["samples"].max()
    first_stop = doubling_stops(spec.checkpoint_samples())[0]
    assert reached[dead] == first_stop  # never extended
    assert (reached.drop(dead) == spec.checkpoint_samples()[-1]).all()  # the others ran to the end
    assert summary.spent == pytest.approx(spent_flops(pool_table(spec, meta, export_frame(db))))


def test_the_status_line_says_when_the_interval_was_widened():
    """Check that the loop's status line carries the design's widening (and says nothing when there was none)."""
    from recscale.study.goal import _status_line

    est = {"value": 0.8048, "lo": 0.7908, "hi": 0.8144, "half_width": 1.77}
    assert "widened" not in _status_line("g", est | {"widened": 1.0}, 1e9, 1e10)
    assert "widened 2.01x by the law's own backtest" in _status_line("g", est | {"widened": 2.01}, 1e9, 1e10)
    assert "widened" not in _status_line("g", est, 1e9, 1e10)  # a record from before the widening
