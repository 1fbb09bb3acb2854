"""Goal-driven design against the alternatives, replayed on pools whose every run is already measured.

For each pool the target is the highest-compute tenth of its rows (never selectable: candidates
lose those rows, and a candidate left with none is dropped). Every method (recscale.laws.design.
METHODS: the pool's own order, random, cheapest first, D-optimal, recscale) chooses runs until a
budget of 5%, 10%, 25% or 50% of the remaining pool's full cost is spent, with the goal "target
rows" (the law's prediction on the target rows; tolerance 0, so only the budget stops it). The law
fitted on the chosen rows is then scored on the target rows: the median |log ŷ − log y| and the
share of target rows inside the 95% prediction interval. "all runs" fits every candidate row.

Each budget is a replay of its own: recscale plans to the end of its budget (see
recscale.laws.design), so its first choices depend on the budget.

Pools: the demo ledger (--db; joint law NE(params_total, samples) over every trial and every data
doubling), planted one-x laws (power law + constant, M4, broken: 24 runs along x, cost ∝ x, 1%
log-normal noise, fitted with their own form), and a planted joint law (6 model sizes × learning
curves of 15 checkpoints, 0.5% noise). Run:

    nice python benchmarks/design.py --db /work/ledgers/quick.db --reps 20 --out /tmp/design.json
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import pandas as pd

from recscale.laws.design import (METHODS, curve_candidates, evaluate, parse_goal, replay, row_candidates, top_rows, with_rows,
                                  without_rows)

BUDGETS = (0.05, 0.10, 0.25, 0.50)


def quick_pool(db: str):
    from recscale.study.ledger import export_frame

    df = export_frame(db).drop_duplicates(["trial_id", "samples"]).reset_index(drop=True)
    target = top_rows(df["flops_per_sample"].to_numpy() * df["samples"].to_numpy(), 0.1)
    cands = without_rows(curve_candidates(df, run="trial_id", samples="samples", cost_per_sample="flops_per_sample"), target)
    return dict(name="demo ledger (quick), joint law", pool=df, cands=cands, target=target, x=["params_total", "samples"], y="ne",
                form="powerlaw_const", bootstrap=60)


def planted_one_x(form: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.repeat(np.geomspace(1e4, 1e7, 12), 2)
    lx = np.log(x)
    if form == "powerlaw_const":
        y = 2.0 * x**-0.3 + 0.75
    elif form == "broken_powerlaw":
        y = 0.75 + 3.0 * x**-0.1 * (1 + (x / 3e5) ** 2.0) ** (-(0.45 - 0.1) / 2.0)
    else:  # m4: (y − γ)/(ε0 − y)^α = β x^c, solved for y by bisection
        g, e0, a, b, c = 0.7, 1.0, 0.5, 30.0, -0.35
        lo, hi = np.full_like(x, g + 1e-12), np.full_like(x, e0 - 1e-12)
        for _ in range(200):
            mid = (lo + hi) / 2
            f = np.log(mid - g) - a * np.log(e0 - mid) - (math.log(b) + c * lx)
            lo, hi = np.where(f < 0, mid, lo), np.where(f < 0, hi, mid)
        y = (lo + hi) / 2
    y = y * np.exp(rng.normal(0, 0.01, x.size))
    df = pd.DataFrame({"x": x, "y": y, "cost": x})
    target = top_rows(x, 0.1)
    cands = without_rows(row_candidates(df, cost="cost"), target)
    return dict(name=f"planted {form}, 24 runs", pool=df, cands=cands, target=target, x=["x"], y="y", form=form, bootstrap=100)


def planted_joint(seed: int = 0):
    rng = np.random.default_rng(seed)
    Ns = np.geomspace(2e4, 5e6, 6)
    Ds = 4096 * 2.0 ** (np.arange(15) / 2.0)
    rows = []
    for i, N in enumerate(Ns):
        for D in Ds:
            L = 0.78 + 40.0 * N**-0.45 + 25.0 * D**-0.38
            rows.append({"run": f"N{i}", "N": N, "samples": D, "fps": 3.0 * N**0.5, "ne": L * math.exp(rng.normal(0, 0.005))})
    df = pd.DataFrame(rows)
    target = top_rows(df["fps"].to_numpy() * df["samples"].to_numpy(), 0.1)
    cands = without_rows(curve_candidates(df, run="run", samples="samples", cost_per_sample="fps"), target)
    return dict(name="planted joint law, 6 N x 15 D", pool=df, cands=cands, target=target, x=["N", "samples"], y="ne",
                form="powerlaw_const", bootstrap=60)


def run_pool(P, reps: int, methods) -> dict:
    goal = with_rows(parse_goal("target rows within 0%"), P["target"])
    full = sum(c.cost for c in P["cands"])
    kw = dict(x=P["x"], y=P["y"], form=P["form"], bootstrap=P["bootstrap"])
    t0 = time.time()
    est, err, cov = evaluate(P["pool"], P["cands"], [c.id for c in P["cands"]], goal, seed=0, **kw)
    res = {"pool": P["name"], "rows": len(P["pool"]), "candidates": len(P["cands"]), "target_rows": len(P["target"]),
           "all_runs": {"error": err, "coverage": cov}, "methods": {}}
    for m in methods:
        per = {b: {"error": [], "coverage": []} for b in BUDGETS}
        tm = time.time()
        for r in range(reps):
            for b in BUDGETS:
                rr = replay(P["pool"], P["cands"], goal, budget_cost=b * full, method=m, seed=r, **kw)
                per[b]["error"].append(math.nan if rr.target_error is None else rr.target_error)
                per[b]["coverage"].append(math.nan if rr.coverage is None else rr.coverage)
        res["methods"][m] = {"per_budget": {str(b): v for b, v in per.items()}, "seconds": time.time() - tm}
        print(f"  {P['name']}: {m} done in {time.time() - tm:.0f}s", flush=True)
    res["seconds"] = time.time() - t0
    return res


def summarise(results: list[dict]) -> str:
    """The Markdown table: per pool × budget × method, mean [min, max] over repetitions; n/fit = repetitions with a law."""
    lines = ["| pool | budget | method | target error, mean [min, max] | 95% PI coverage, mean [min, max] | reps with a fit |",
             "|---|---|---|---|---|---|"]
    for R in results:
        a = R["all_runs"]
        lines.append(f"| {R['pool']} | 100% | all runs | {a['error']:.4f} | {a['coverage']:.2f} | 1/1 |")
        for b in BUDGETS:
            for m, v in R["methods"].items():
                e = np.array(v["per_budget"][str(b)]["error"], dtype=float)
                c = np.array(v["per_budget"][str(b)]["coverage"], dtype=float)
                ok = np.isfinite(e)
                if not ok.any():
                    lines.append(f"| {R['pool']} | {b:.0%} | {m} | no fit | - | 0/{e.size} |")
                    continue
                lines.append(f"| {R['pool']} | {b:.0%} | {m} | {e[ok].mean():.4f} [{e[ok].min():.4f}, {e[ok].max():.4f}] | "
                             f"{c[ok].mean():.2f} [{c[ok].min():.2f}, {c[ok].max():.2f}] | {ok.sum()}/{e.size} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None, help="A study ledger (the demo's); omitted: planted pools only.")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--joint-reps", type=int, default=None, help="Repetitions on the joint-law pools (default --reps).")
    ap.add_argument("--pools", default="quick,joint,powerlaw_const,m4,broken_powerlaw")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", default=None, help="Write the raw results as JSON here.")
    a = ap.parse_args()
    methods = a.methods.split(",")
    results = []
    for name in a.pools.split(","):
        if name == "quick":
            if not a.db:
                continue
            P = quick_pool(a.db)
        elif name == "joint":
            P = planted_joint()
        else:
            P = planted_one_x(name)
        reps = a.reps if len(P["x"]) == 1 else (a.joint_reps or a.reps)
        print(f"{P['name']}: {len(P['cands'])} candidates, {len(P['target'])} target rows, {reps} repetitions", flush=True)
        results.append(run_pool(P, reps, methods) | {"reps": reps})
        if a.out:
            with open(a.out, "w") as f:
                json.dump(results, f, indent=1)
    print(summarise(results))


if __name__ == "__main__":
    main()
