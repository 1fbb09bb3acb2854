"""Goal-driven design against the alternatives, replayed on pools whose every run is already measured.

For each pool the target is the highest-compute tenth of its rows (never selectable: candidates
lose those rows, and a candidate left with none is dropped). Every method (recscale.laws.design.
METHODS: the pool's own order, random, cheapest first, D-optimal, recscale) chooses runs until a
budget of 5%, 10%, 25% or 50% of the remaining pool's full cost is spent, with the goal "target
rows" (the law's prediction on the target rows; tolerance 0, so only the budget stops it). The law
fitted on the chosen rows is then scored on the target rows: the median |log ŷ − log y| and the
share of target rows inside the 95% prediction interval. "all runs" fits every candidate row.
The same fits are also scored against a less noisy y at the target rows: the planted law's
noise-free value, or on a ledger the mean over the seeds of the row's model and data size. The
measured rows carry noise no design can remove (on the planted one-x pools it alone makes a
median error of 0.0067), which at large budgets hides the designs' differences.

Each budget is a replay of its own: recscale plans to the end of its budget (see
recscale.laws.design), so its first choices depend on the budget.

Pools: the demo ledger (--db; joint law NE(params_total, samples) over every trial and every data
doubling), planted one-x laws (power law + constant, M4, broken: 40 runs along x (20 x, 2 seeds), cost ∝ x, 1%
log-normal noise, fitted with their own form), and a planted joint law (6 model sizes × learning
curves of 15 checkpoints, 0.5% noise). Run:

    nice python benchmarks/design.py --db /work/ledgers/quick.db --reps 20 --out /tmp/design.json

Split over two processes and merged:

    python benchmarks/design.py --db runs/quick.db --pools quick --reps 10 --out /tmp/a.json &
    python benchmarks/design.py --db runs/quick.db --pools quick --reps 10 --first-rep 10 --out /tmp/b.json
    python benchmarks/design.py --summarise /tmp/a.json /tmp/b.json
"""

from __future__ import annotations

import argparse
import json
import math
import time

from pathlib import Path

import numpy as np
import pandas as pd

from recscale.laws.design import (METHODS, curve_candidates, evaluate, parse_goal, replay, row_candidates, top_rows, with_rows,
                                  without_rows)

BUDGETS = (0.05, 0.10, 0.25, 0.50)
TRUTH = "y_true"  # a less noisy y to score a design against as well (planted: the noise-free law; a ledger: the seed mean)
PLANTED = "the planted truth"  # a target row's noise-free y
SEED_MEAN = "the seed mean"  # a target row's y averaged over the seeds of its model and data size


def quick_pool(db: str):
    from recscale.study.ledger import export_frame

    df = export_frame(db).drop_duplicates(["trial_id", "samples"]).reset_index(drop=True)
    # What a law of the configuration predicts: the mean over the runs (seeds) of one model at one data size.
    df[TRUTH] = df.groupby(["params_total", "flops_per_sample", "samples"])["ne"].transform("mean")
    target = top_rows(df["flops_per_sample"].to_numpy() * df["samples"].to_numpy(), 0.1)
    cands = without_rows(curve_candidates(df, run="trial_id", samples="samples", cost_per_sample="flops_per_sample"), target)
    name = "demo ledger (quick)" if Path(db).stem == "quick" else f"{Path(db).stem} ledger"
    return dict(name=f"{name}, joint law", pool=df, cands=cands, target=target, x=["params_total", "samples"], y="ne",
                form="powerlaw_const", bootstrap=60, truth=SEED_MEAN)


def planted_one_x(form: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.repeat(np.geomspace(1e4, 1e7, 20), 2)
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
    df = pd.DataFrame({"x": x, "y": y * np.exp(rng.normal(0, 0.01, x.size)), "cost": x, TRUTH: y})
    target = top_rows(x, 0.1)
    cands = without_rows(row_candidates(df, cost="cost"), target)
    return dict(name=f"planted {form}, 40 runs", pool=df, cands=cands, target=target, x=["x"], y="y", form=form, bootstrap=100,
                truth=PLANTED)


def planted_joint(seed: int = 0):
    rng = np.random.default_rng(seed)
    Ns = np.geomspace(2e4, 5e6, 6)
    Ds = 4096 * 2.0 ** (np.arange(15) / 2.0)
    rows = []
    for i, N in enumerate(Ns):
        for D in Ds:
            L = 0.78 + 40.0 * N**-0.45 + 25.0 * D**-0.38
            rows.append({"run": f"N{i}", "N": N, "samples": D, "fps": 3.0 * N**0.5, "ne": L * math.exp(rng.normal(0, 0.005)),
                         TRUTH: L})
    df = pd.DataFrame(rows)
    target = top_rows(df["fps"].to_numpy() * df["samples"].to_numpy(), 0.1)
    cands = without_rows(curve_candidates(df, run="run", samples="samples", cost_per_sample="fps"), target)
    return dict(name="planted joint law, 6 N x 15 D", pool=df, cands=cands, target=target, x=["N", "samples"], y="ne",
                form="powerlaw_const", bootstrap=60, truth=PLANTED)


def _truth_error(P: dict, pred: tuple[float, ...] | None) -> float:
    """A fit's target error against the pool's less noisy y (:data:`TRUTH`), from its predictions at the target rows.

    The measured target rows carry their own noise, which no design can remove: 1% on the planted
    one-x pools, a median |log ŷ − log y| of 0.0067 for a perfect prediction; on a ledger, each run's
    offset from the other seeds of its model (the demo's two seeds differ by 0.0006-0.0052 on its
    target models). Against the truth (or the seed mean), more of what is left is the design's.
    """
    if pred is None or TRUTH not in P["pool"].columns:
        return math.nan
    truth = P["pool"][TRUTH].to_numpy(dtype=float)[np.asarray(P["target"], dtype=int)]
    return float(np.median(np.abs(np.log(np.asarray(pred)) - np.log(truth))))


def run_pool(make, reps: int, methods, first: int = 0) -> dict:
    """Every method at every budget, ``reps`` times (repetition seeds ``first``, ``first`` + 1, ...); ``make(rep)``
    gives the pool of a repetition (planted pools draw fresh noise). Pools with a :data:`TRUTH` column are also scored on it
    (from the same fits' predictions)."""
    P = make(0)
    keys = ("error", "coverage", "truth")
    res = {"pool": P["name"], "truth": P.get("truth"), "rows": len(P["pool"]), "candidates": len(P["cands"]), "target_rows": len(P["target"]),
           "all_runs": {k: [] for k in keys}, "methods": {m: {"per_budget": {str(b): {k: [] for k in keys}
                                                                             for b in BUDGETS}, "seconds": 0.0} for m in methods}}
    t0 = time.time()
    for r in range(first, first + reps):
        P = make(r)
        goal = with_rows(parse_goal("target rows within 0%"), P["target"])
        full = sum(c.cost for c in P["cands"])
        kw = dict(x=P["x"], y=P["y"], form=P["form"], bootstrap=P["bootstrap"])
        everything = [c.id for c in P["cands"]]
        _, err, cov, pred = evaluate(P["pool"], P["cands"], everything, goal, seed=r, **kw)
        res["all_runs"]["error"].append(err)
        res["all_runs"]["coverage"].append(cov)
        res["all_runs"]["truth"].append(_truth_error(P, pred))
        for m in methods:
            tm = time.time()
            for b in BUDGETS:
                rr = replay(P["pool"], P["cands"], goal, budget_cost=b * full, method=m, seed=r, **kw)
                cell = res["methods"][m]["per_budget"][str(b)]
                cell["error"].append(math.nan if rr.target_error is None else rr.target_error)
                cell["coverage"].append(math.nan if rr.coverage is None else rr.coverage)
                cell["truth"].append(_truth_error(P, rr.target_pred))
            res["methods"][m]["seconds"] += time.time() - tm
        print(f"  {P['name']}: repetition {r + 1 - first}/{reps} (seed {r}) done at {time.time() - t0:.0f}s", flush=True)
    res["seconds"] = time.time() - t0
    return res


def _stats(v: dict) -> tuple[np.ndarray, np.ndarray]:
    return np.array(v["error"], dtype=float), np.array(v["coverage"], dtype=float)


def _truth(v: dict) -> np.ndarray:
    return np.array(v.get("truth") or [math.nan] * len(v["error"]), dtype=float)


def _cell(e: np.ndarray, c: np.ndarray | None = None) -> str:
    ok = np.isfinite(e)
    if not ok.any():
        return f"no fit (0/{e.size})"
    fits = "" if ok.all() else f" ({ok.sum()}/{e.size} fit)"
    cover = "" if c is None else f" · {c[ok].mean():.2f} [{c[ok].min():.2f}, {c[ok].max():.2f}]"
    return f"{e[ok].mean():.4f} [{e[ok].min():.4f}, {e[ok].max():.4f}]{cover}{fits}"


def _beats(mine: np.ndarray, other: np.ndarray) -> bool:
    """Lower mean error over the repetitions with a fit, and a fit in at least as many of them."""
    a, b = np.isfinite(mine), np.isfinite(other)
    if not a.any():
        return False
    if not b.any():
        return True
    return a.sum() >= b.sum() and mine[a].mean() < other[b].mean()


def _paired(mine: np.ndarray, other: np.ndarray) -> str:
    """Mean ± standard error of recscale's error minus another method's, over the repetitions where both fitted."""
    d = (mine - other)[np.isfinite(mine) & np.isfinite(other)]
    if d.size < 2:
        return "n/a"
    return f"{d.mean():+.4f} ± {d.std(ddof=1) / math.sqrt(d.size):.4f}"


def _bar_line(R: dict, errors) -> str:
    """Which budgets recscale beats random and cheapest-first at (lower mean error), with the paired differences."""
    mine = R["methods"]["recscale"]["per_budget"]
    beats = {o: [f"{b:.0%}" for b in BUDGETS if _beats(errors(mine[str(b)]), errors(R["methods"][o]["per_budget"][str(b)]))]
             for o in ("random", "cheapest") if o in R["methods"]}
    paired = "; ".join(f"{o} {', '.join(_paired(errors(mine[str(b)]), errors(R['methods'][o]['per_budget'][str(b)])) for b in BUDGETS)}"
                       for o in beats)
    return (f"recscale beats random at {', '.join(beats.get('random', [])) or 'no'} budget, cheapest-first at "
            f"{', '.join(beats.get('cheapest', [])) or 'no'} budget (paired difference recscale − method, mean ± SE, "
            f"at {', '.join(f'{b:.0%}' for b in BUDGETS)}: {paired or 'n/a'}).")


def summarise(results: list[dict]) -> str:
    """Markdown: per pool a table (methods × budgets) of target error · coverage, mean [min, max] over repetitions, and the bar;
    for pools with a :data:`TRUTH` column a second table, the error against it."""
    out = []
    for R in results:
        ae, ac = _stats(R["all_runs"])
        out.append(f"**{R['pool']}** ({R['candidates']} candidates, {R['target_rows']} target rows, {R['reps']} repetitions; "
                   f"all runs: error {ae.mean():.4f} [{ae.min():.4f}, {ae.max():.4f}] · coverage {ac.mean():.2f} "
                   f"[{ac.min():.2f}, {ac.max():.2f}])\n")
        out.append("| method | " + " | ".join(f"{b:.0%}" for b in BUDGETS) + " |")
        out.append("|---|" + "---|" * len(BUDGETS))
        for m, v in R["methods"].items():
            out.append(f"| {m} | " + " | ".join(_cell(*_stats(v["per_budget"][str(b)])) for b in BUDGETS) + " |")
        if "recscale" in R["methods"]:
            e25, c25 = _stats(R["methods"]["recscale"]["per_budget"]["0.25"])
            out.append(f"\nBar: at 25% recscale's mean error is {np.nanmean(e25) / ae.mean():.2f}x the all-runs fit's (bar <= 1.5), "
                       f"coverage {np.nanmean(c25):.2f} (bar 0.90-0.98); " + _bar_line(R, lambda v: _stats(v)[0]) + "\n")
        at = _truth(R["all_runs"])
        if np.isfinite(at).any():
            label = R.get("truth") or PLANTED
            out.append(f"Against {label} (the same fits; all runs: "
                       f"{at.mean():.4f} [{at.min():.4f}, {at.max():.4f}])\n")
            out.append("| method | " + " | ".join(f"{b:.0%}" for b in BUDGETS) + " |")
            out.append("|---|" + "---|" * len(BUDGETS))
            for m, v in R["methods"].items():
                out.append(f"| {m} | " + " | ".join(_cell(_truth(v["per_budget"][str(b)])) for b in BUDGETS) + " |")
            if "recscale" in R["methods"]:
                t25 = _truth(R["methods"]["recscale"]["per_budget"]["0.25"])
                out.append(f"\nAgainst {label}: at 25% recscale's mean error is {np.nanmean(t25) / at.mean():.2f}x the all-runs "
                           f"fit's; " + _bar_line(R, _truth) + "\n")
    return "\n".join(out)


def merge(results: list[dict]) -> list[dict]:
    """Results of the same pool from several runs (e.g. --first-rep 0 and 10) as one, repetitions concatenated."""
    out: dict[str, dict] = {}
    for R in results:
        if R["pool"] not in out:
            out[R["pool"]] = json.loads(json.dumps(R))
            continue
        M = out[R["pool"]]
        M["reps"] += R["reps"]
        for k in ("error", "coverage", "truth"):
            M["all_runs"].setdefault(k, [])
            M["all_runs"][k] += R["all_runs"].get(k) or [math.nan] * len(R["all_runs"]["error"])
        for m, v in R["methods"].items():
            for b, cell in v["per_budget"].items():
                into = M["methods"][m]["per_budget"][b]
                for k in ("error", "coverage", "truth"):
                    into.setdefault(k, [])
                    into[k] += cell.get(k) or [math.nan] * len(cell["error"])
    return list(out.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None, help="A study ledger (the demo's); omitted: planted pools only.")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--joint-reps", type=int, default=None, help="Repetitions on the joint-law pools (default --reps).")
    ap.add_argument("--pools", default="quick,joint,powerlaw_const,m4,broken_powerlaw")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", default=None, help="Write the raw results as JSON here.")
    ap.add_argument("--first-rep", type=int, default=0, help="Seed of the first repetition (split the work over processes).")
    ap.add_argument("--summarise", nargs="+", default=None, metavar="JSON",
                    help="Only print the tables of these --out files, merging the repetitions of the same pool.")
    a = ap.parse_args()
    if a.summarise:
        print(summarise(merge([R for f in a.summarise for R in json.load(open(f))])))
        return
    methods = a.methods.split(",")
    results = []
    for name in a.pools.split(","):
        if name == "quick":
            if not a.db:
                continue
            pool = quick_pool(a.db)  # any study ledger given with --db (the demo's, the architectures study's, ...)
            make = lambda r, pool=pool: pool  # noqa: E731  (measured: the same pool every repetition)
        elif name == "joint":
            make = planted_joint
        else:
            make = lambda r, name=name: planted_one_x(name, seed=r)  # noqa: E731
        P = make(0)
        reps = a.reps if len(P["x"]) == 1 else (a.joint_reps or a.reps)
        print(f"{P['name']}: {len(P['cands'])} candidates, {len(P['target'])} target rows, {reps} repetitions", flush=True)
        results.append(run_pool(make, reps, methods, first=a.first_rep) | {"reps": reps})
        if a.out:
            with open(a.out, "w") as f:
                json.dump(results, f, indent=1)
    print(summarise(results))


if __name__ == "__main__":
    main()
