"""The goal-driven study: the spec's grid is the pool, the design picks the next runs, the runner runs them.

A goal says what the study is for ("ne at compute 10x within 0.5%": the NE the compute frontier
reaches at ten times the grid's largest training compute, to ±0.5% at 95%). The loop is:

1. **Pool.** Every trial of the spec, and every extension of a trial to the next data doubling
   of the checkpoint grid, is a candidate (:func:`recscale.laws.design.curve_candidates`): its
   cost is the training FLOPs it adds, and it can run only after the shorter run it extends.
   What the ledger already holds is revealed; nothing else is read.
2. **Estimate.** The goal's value and 95% interval come from the laws engine's fit of the
   revealed evaluations (the joint law NE(N, D) over parameters and samples, with its bootstrap):
   :func:`recscale.laws.design.estimate_goal`.
   A trial that never trained while the others did (NE flat at ≥ 0.999 over its checkpoints: a
   dead model, :meth:`recscale.laws.design.GoalDesign.untrained`) is left out of the fit and its
   extensions out of the pool; what it cost stays counted.
3. **Stop or choose.** The study stops when the goal is met, when the next choice does not fit
   in the budget, or when the grid is exhausted, and says which. Otherwise the design ranks the
   candidates by how much each is expected to narrow the goal's interval per FLOP
   (:func:`recscale.laws.design.rank_candidates`) and the best few (one per worker) run.

The study layer does not import the laws (ARCHITECTURE.md): the design arrives as an object with
``fit_start``, ``untrained``, ``candidates`` and ``step`` methods over tables (:class:`recscale.laws.design.GoalDesign`,
which the CLI passes in), and the budget as one with ``allows`` and ``describe``.

Nothing is lost and nothing changes on a kill: each step's choice is written to the ledger
(its ``decisions`` table) *before* its runs start, and a rerun first finishes the last recorded
step's runs. The ledger then holds exactly what an uninterrupted study would hold at that point,
and the choice is a deterministic function of it, so the resumed study makes the same choices.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from recscale.study.ledger import open_existing, train_flops

STEP_GROWTH = 0.5  # a step adds at least half the FLOPs spent so far (see run_goal_study)

@dataclass(frozen=True)
class GoalSummary:
    """How a goal-driven study ended."""

    db: Path
    goal: str
    met: bool
    reason: str  # "goal met", "budget spent", "grid exhausted"
    steps: int  # steps run by this call
    spent: float  # training FLOPs in the ledger at the end
    grid_flops: float  # training FLOPs of the whole grid (every trial to the spec's last checkpoint)
    estimate: dict[str, Any]
    failed: tuple[str, ...] = ()  # trials whose run failed (the study stops on them)


def pool_table(spec, ds_meta: dict[str, Any], measured) -> Any:
    """The spec's grid as a table: one row per trial and checkpoint, ``ne`` NaN where not measured.

    Costs are training FLOPs (``train_flops_per_sample``, ``train_flops``), as the ledger counts them.

    ``measured`` is the ledger's export (any number of rows per (trial, samples), one per scheme).
    """
    import pandas as pd

    from recscale.study.runner import trial_rows

    checkpoints = spec.checkpoint_samples()
    rows = [{"trial_id": r.trial_id, "params_total": r.params_total, "params_dense": r.params_dense,
             "flops_per_sample": r.flops_per_sample, "architecture": r.architecture, "samples": s}
            for r in trial_rows(spec, ds_meta) for s in checkpoints]  # fmt: skip
    pool = pd.DataFrame(rows)
    if len(measured):
        ne = measured.drop_duplicates(["trial_id", "samples"]).set_index(["trial_id", "samples"])["ne"]
        pool["ne"] = ne.reindex(pd.MultiIndex.from_frame(pool[["trial_id", "samples"]])).to_numpy(dtype=float)
    else:
        pool["ne"] = np.nan
    pool["train_flops_per_sample"] = train_flops(pool["flops_per_sample"], 1)  # what a candidate costs per sample
    pool["train_flops"] = train_flops(pool["flops_per_sample"], pool["samples"])
    return pool


def doubling_stops(checkpoints: list[int]) -> list[int]:
    """The checkpoints at which a candidate run stops: the first, then each one at least twice the last."""
    stops = [checkpoints[0]]
    for c in checkpoints[1:]:
        if c >= 2 * stops[-1]:
            stops.append(c)
    if stops[-1] != checkpoints[-1]:
        stops.append(checkpoints[-1])
    return stops


def revealed(pool, candidates) -> set[str]:
    """Candidates whose every row is measured."""
    ne = pool["ne"].to_numpy()
    return {c.id for c in candidates if np.all(np.isfinite(ne[list(c.rows)]))}


def spent_flops(pool) -> float:
    """Training FLOPs the ledger holds: each trial's FLOPs per sample times the samples it reached."""
    done = pool[np.isfinite(pool["ne"])]
    if done.empty:
        return 0.0
    last = done.groupby("trial_id").agg(samples=("samples", "max"), fps=("flops_per_sample", "first"))
    return float(train_flops(last["fps"], last["samples"]).sum())


def plan_of(choices, pool) -> dict[str, int]:
    """trial id → samples to train it to, for chosen candidates (the furthest stop per trial)."""
    plan: dict[str, int] = {}
    for c in choices:
        sub = pool.iloc[list(c.candidate.rows)]
        tid, stop = str(sub["trial_id"].iloc[0]), int(sub["samples"].max())
        plan[tid] = max(plan.get(tid, 0), stop)
    return plan


def _estimate_dict(est) -> dict[str, Any]:
    keys = ("value", "lo", "hi", "half_width", "met", "n_rows", "law", "note", "widened")
    return {k: _plain(est.get(k) if isinstance(est, dict) else getattr(est, k, None)) for k in keys}


def _plain(v: Any) -> Any:
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def measured_rows(db: Path):
    """The ledger's export (empty, with the columns the pool reads, before the ledger exists)."""
    import pandas as pd

    if not db.exists() or db.stat().st_size == 0:
        return pd.DataFrame(columns=["trial_id", "samples", "ne"])
    from recscale.study.ledger import export_frame

    return export_frame(db)


def run_goal_study(spec, db: str | Path, opts, design, budget=None, say: Callable[[str], None] = print,
                   step_growth: float = STEP_GROWTH) -> GoalSummary:
    """Run ``spec`` into ``db`` toward ``design``'s goal until it is met, the budget is spent or the grid ends.

    Args:
        spec: The study spec: its grid is the candidate pool.
        db: The ledger (a new one, or one any run of this spec filled: what it holds is reused).
        opts: :class:`recscale.study.runner.RunOptions`; ``workers`` is also how many candidates run per step.
        design: The goal and its method (:class:`recscale.laws.design.GoalDesign`).
        budget: What this run may spend (:class:`recscale.laws.design.Budget`: FLOPs, a fraction of
            the grid's FLOPs, trials, or wall seconds); None: the whole grid. FLOPs count
            everything the ledger holds, including runs made before this call.
        say: Where the one-line progress of each step goes.
        step_growth: A step runs the design's best candidates, in order, until they add this
            fraction of the FLOPs spent so far (and at least one per worker): the law is refitted
            between steps, so the number of refits grows with the log of the compute, not the runs.
    """
    from recscale.study.runner import run_study

    db = Path(db)
    k = max(1, opts.workers or 1)
    t0 = time.perf_counter()
    steps = picks = 0
    ds_meta = study_dataset_meta(spec, db, opts)
    stops = doubling_stops(spec.checkpoint_samples())
    pending = _unfinished_decision(db, spec, ds_meta)
    if pending is not None:  # a killed step: finish its runs before choosing again (same choices)
        say(f"resuming step {pending['step']}: {_plan_text(pending['plan'])}")
        run_study(spec, db, replace(opts, plan=pending["plan"]))
    told: set[str] = set()
    while True:
        full = pool_table(spec, ds_meta, measured_rows(db))
        spent, grid = spent_flops(full), grid_flops(full)
        full, dead = _without_untrained(full, design)
        for tid in sorted(set(dead) - told):
            u = dead[tid]
            say(f"left out: trial {tid} never trained (NE >= {u['min_y']:.4f} at its {u['checkpoints']} checkpoints up to "
                f"{u['max_samples']:,.0f} samples, while the other trials learned): no more runs of it, and the law is fitted without it")
            told.add(tid)
        pool, cands = _candidates(full, design, stops)
        chosen = revealed(pool, cands)
        flops_left, picks_left = _budget_left(budget, spent, grid, time.perf_counter() - t0, picks)
        est, ranked = design.step(pool, cands, chosen, min(len(cands), picks_left), flops_left)
        choices = _this_step(ranked, k, spent, step_growth)
        est = _estimate_dict(est)
        say(_status_line(design.goal_text, est, spent, grid))
        stop = _stop_reason(est, choices, len(chosen) == len(cands), budget, spent, grid)
        if stop is not None:
            say(f"stopped: {stop}")
            summary = GoalSummary(db, design.goal_text, bool(est.get("met")), stop, steps, spent, grid, est)
            _record_result(db, summary, budget)
            return summary
        plan = plan_of(choices, pool)
        cost = float(sum(c.candidate.cost for c in choices))
        number = _next_step_number(db)
        after = _plain(choices[-1].width_after)
        payload = {"step": number, "plan": plan, "cost": cost, "spent": spent, "estimate": est,
                   "expected_half_width": after, "goal": design.goal_text,
                   "budget": None if budget is None else budget_text(budget),
                   "chosen": [c.candidate.id for c in choices], "fit_from": float(pool["samples"].min())}  # fmt: skip
        say(f"step {number}: {len(plan)} run(s), +{cost:.3g} FLOPs (linearised half-width after: {_num(after)}, optimistic): "
            f"{_plan_text(plan)}")
        ran = run_study(spec, db, replace(opts, plan=plan, decision=payload))  # the choice is recorded before its runs
        steps += 1
        picks += len(choices)
        if ran.failed:  # the design would choose them again: stop, and say where the errors are
            why = f"trial(s) failed: {', '.join(ran.failed)} (errors: recscale study status {db}); rerun to retry them"
            say(f"stopped: {why}")
            done = spent_flops(pool_table(spec, ds_meta, measured_rows(db)))
            summary = GoalSummary(db, design.goal_text, False, why, steps, done, grid, est, failed=tuple(ran.failed))
            _record_result(db, summary, budget)
            return summary


def suggest(spec, db: str | Path, design, k: int = 3) -> dict[str, Any]:
    """The goal's estimate from a ledger and the next ``k`` runs the design would choose (nothing runs)."""
    db = Path(db)
    with open_existing(db) as led:
        ds_meta = led.get_meta("dataset_meta")
    measured = measured_rows(db)
    full = pool_table(spec, ds_meta, measured)
    live, dead = _without_untrained(full, design)
    pool, cands = _candidates(live, design, doubling_stops(spec.checkpoint_samples()))
    est, choices = design.step(pool, cands, revealed(pool, cands), k, math.inf)
    return {"estimate": _estimate_dict(est), "choices": list(choices), "spent": spent_flops(full),
            "grid_flops": grid_flops(full), "plan": plan_of(choices, pool), "untrained": sorted(dead),
            "seconds_per_flop": seconds_per_flop(measured)}


def seconds_per_flop(measured) -> float | None:
    """Training seconds per training FLOP over the ledger's trials (each trial's training time at its
    last point over its FLOPs), so that what the next runs cost can be said in time on this machine."""
    if not len(measured) or "wall_s" not in measured.columns:
        return None
    last = measured.sort_values("samples").drop_duplicates("trial_id", keep="last")
    flops = float(train_flops(last["flops_per_sample"], last["samples"]).sum())
    wall = float(last["wall_s"].sum())
    return wall / flops if flops > 0 and wall > 0 else None


# ---- helpers -------------------------------------------------------------------------------------


def _without_untrained(full, design):
    """``full`` without the trials the design calls untrained, and those trials (id → what to say of them)."""
    dead = design.untrained(full)
    return (full[~full["trial_id"].isin(list(dead))].reset_index(drop=True) if dead else full), dead


def _candidates(full, design, stops: list[int]):
    """The pool the law sees (rows from the design's fit start on) and its candidates.

    Rows before the fit start (an optimiser's start-up) are not the law's; a run still trains
    through them, so the first candidate of a trial stops at the first stop inside the range and
    costs every sample from 0.
    """
    start = design.fit_start(full)
    pool = full[full["samples"] >= start * (1 - 1e-12)].reset_index(drop=True) if start > 0 else full
    inside = [s for s in stops if s >= start * (1 - 1e-12)] or stops[-1:]
    return pool, design.candidates(pool, inside)


def _this_step(ranked, k: int, spent: float, growth: float):
    """The prefix of the design's ranked plan that one step runs: until it adds ``growth`` × the FLOPs
    spent, and at least ``k`` (one per worker) when there are that many."""
    out, cost = [], 0.0
    for c in ranked:
        if len(out) >= k and cost >= growth * spent:
            break
        out.append(c)
        cost += c.candidate.cost
    return out


def grid_flops(pool) -> float:
    """Training FLOPs of the whole grid: every trial to the spec's last checkpoint."""
    return float(pool.groupby("trial_id")["train_flops"].max().sum())


def _budget_left(budget, spent: float, grid: float, wall_s: float, picks: int) -> tuple[float, int]:
    """FLOPs and candidates the budget still allows (wall time: nothing new once it has passed)."""
    if budget is None:
        return math.inf, 1 << 30
    if budget.kind == "seconds":
        return (math.inf if wall_s < budget.amount else 0.0), (1 << 30 if wall_s < budget.amount else 0)
    if budget.kind == "trials":
        return math.inf, max(0, int(budget.amount) - picks)
    return budget.cost_limit(grid) - spent, 1 << 30


def _stop_reason(est, choices, exhausted: bool, budget, spent, grid) -> str | None:
    if est.get("met"):
        return "goal met"
    if exhausted:
        return "grid exhausted (every candidate has run) and the goal is not met"
    if choices:
        return None
    if budget is None:
        return "no candidate can run (each remaining one extends a run that failed) and the goal is not met"
    return f"budget spent ({budget_text(budget)}; {spent:.3g} FLOPs, {100 * spent / grid:.1f}% of the grid's) and the goal is not met"


def budget_text(budget) -> str:
    """A budget in words."""
    if budget.kind == "fraction":
        return f"{100 * budget.amount:g}% of the grid's FLOPs"
    if budget.kind == "seconds":
        return f"{budget.amount / 60:g} min of wall time"
    return f"{budget.amount:g} {'FLOPs' if budget.kind == 'flops' else 'trials'}"


def _status_line(goal_text: str, est: dict[str, Any], spent: float, grid: float) -> str:
    if est.get("value") is None:
        now = est.get("note") or "not estimable yet"
    else:
        now = (f"{est['value']:.4g} [{est['lo']:.4g}, {est['hi']:.4g}], half-width {_num(est.get('half_width'))}"
               f"{_widened(est.get('widened'))}")
    return f"{goal_text}: {now}; spent {spent:.3g} FLOPs ({100 * spent / grid:.1f}% of the grid's {grid:.3g})"


def _widened(w: float | None) -> str:
    """The clause of recscale.laws.design.widened_text (the study layer does not import the laws)."""
    return f", widened {w:.2f}x by the law's own backtest" if w and w > 1 else ""


def _num(v: float | None) -> str:
    return "?" if v is None else f"{v:.3g}"


def _plan_text(plan: dict[str, int]) -> str:
    return ", ".join(f"{t} to {s:,}" for t, s in plan.items())


def study_dataset_meta(spec, db: Path, opts) -> dict[str, Any]:
    """The dataset's schema (dense names, cardinalities) the trials are sized for; generating the
    synthetic dataset if needed (the runner does it the same way)."""
    from recscale.study.runner import _open_dataset_if_any, _synthetic_dataset, dataset_path

    ds_path = dataset_path(spec, db)
    ds = _open_dataset_if_any(spec, ds_path)
    if ds is None:
        ds = _synthetic_dataset(spec, ds_path, opts)
    return ds.meta


def _unfinished_decision(db: Path, spec, ds_meta) -> dict[str, Any] | None:
    if not db.exists() or db.stat().st_size == 0:
        return None
    with open_existing(db) as led:
        decisions = led.decisions()
    if not decisions:
        return None
    last = decisions[-1]["payload"]
    pool = pool_table(spec, ds_meta, measured_rows(db))
    reached = pool[np.isfinite(pool["ne"])].groupby("trial_id")["samples"].max().to_dict()
    plan = {t: int(s) for t, s in last["plan"].items()}
    return None if all(reached.get(t, 0) >= s for t, s in plan.items()) else {"step": decisions[-1]["step"], "plan": plan}


def _record_result(db: Path, s: GoalSummary, budget) -> None:
    """The run's answer in the ledger's meta (``goal_result``), for the report and for the record."""
    if not db.exists():  # nothing fitted in the budget: nothing was run, and no ledger is made for it
        return
    from recscale.study.ledger import Ledger

    with Ledger(db) as led:
        led.set_meta({"goal_result": {"goal": s.goal, "met": s.met, "reason": s.reason, "estimate": s.estimate,
                                      "spent_flops": s.spent, "grid_flops": s.grid_flops,
                                      "budget": None if budget is None else budget_text(budget),
                                      "steps": len(led.decisions()), "at": time.strftime("%Y-%m-%dT%H:%M:%S")}})


def _next_step_number(db: Path) -> int:
    if not db.exists():
        return 1
    with open_existing(db) as led:
        d = led.decisions()
    return (d[-1]["step"] + 1) if d else 1
