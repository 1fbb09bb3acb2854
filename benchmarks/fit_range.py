"""The fit-range rule (recscale.laws.fitrange) on curves with known truth, and what it leaves out of real ledgers.

Planted start-ups (recscale.laws.simulate.startup_curve, rng seed 7): the median |β̂ − β| fitting every
point and fitting the rule's range, how often the range's 95% interval holds the planted β, and the
decades kept. Clean planted curves (each shape of recscale.laws.simulate, rng seed 3): how many lose
any point, by steps 1-4 alone and with the in-regime walk (step 5). Ledgers (--db, any number): how
many seed-mean model data curves lose points, how many in all, and the fewest decades kept, with the
γ ≥ eval-rows floor bound the report uses.

--sigma compares the noise estimators behind step 3's significance test, in the same process:
"mad" (1.4826·MAD of the second differences, the rule before stop 29) and "trimmed" (the RMS of the
second differences after dropping the largest fifth, the rule's own). Run:
    python benchmarks/fit_range.py --db runs/quick.db [--startups 40] [--clean 100] [--sigma mad,trimmed]
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import time

import numpy as np

import recscale.laws.fitrange as fitrange
from recscale.laws import fit_power_law
from recscale.laws.simulate import SHAPES, planted_curve, startup_curve

RULE_SIGMA = fitrange._noise_sd


def mad_sd(t: np.ndarray, y: np.ndarray) -> float:
    """The estimator before stop 29: 1.4826·MAD of the second differences / √6."""
    if y.size < 4:
        return 0.0
    h1, h2 = np.diff(t)[:-1], np.diff(t)[1:]
    d2 = 2 * ((y[2:] - y[1:-1]) / h2 - (y[1:-1] - y[:-2]) / h1) / (h1 + h2) * (h1 * h2)
    return 1.4826 * float(np.median(np.abs(d2 - np.median(d2)))) / math.sqrt(6.0)


SIGMAS = {"mad": mad_sd, "trimmed": RULE_SIGMA}


def startups(n: int) -> dict[str, float]:
    rng = np.random.default_rng(7)
    err_all, err_rule, inside, decades = [], [], 0, []
    for i in range(n):
        x, y, beta = startup_curve(rng)
        fr = fitrange.fit_start(x, y, fit_fn=fit_power_law)
        m = fr.mask(x)
        f = fit_power_law(x[m], y[m], bootstrap=200, seed=i)
        lo, hi = f.ci()["beta"]
        inside += lo <= beta <= hi
        err_rule.append(abs(f.beta - beta))
        err_all.append(abs(fit_power_law(x, y, bootstrap=0).beta - beta))
        decades.append(math.log10(x.max() / x[m].min()))
    return {"median |β̂−β| all points": float(np.median(err_all)), "median |β̂−β| the rule": float(np.median(err_rule)),
            "interval holds β": inside / n, "median decades kept": float(np.median(decades))}


def clean(n: int) -> dict[str, float]:
    out = {}
    for shape in SHAPES:
        rng = np.random.default_rng(3)
        curves = [planted_curve(shape, rng) for _ in range(n)]
        out[f"{shape}: cut, steps 1-4"] = sum(fitrange.fit_start(c.x, c.y).n_left_out > 0 for c in curves)
        out[f"{shape}: cut, with the walk"] = sum(
            fitrange.fit_start(c.x, c.y, fit_fn=fit_power_law).n_left_out > 0 for c in curves)
    return out


def ledger(db: str) -> dict[str, float]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    floor = None
    row = con.execute("select value from meta where key = 'eval_floor'").fetchone()
    if row is not None:
        import json

        floor = json.loads(row[0]).get("ne")
    kw = {"gamma_bounds": (floor, math.inf)} if floor is not None else {}
    cut = points = 0
    fewest = math.inf
    labels = [r[0] for r in con.execute("select distinct label from trials")]
    for label in labels:
        r = con.execute("select e.samples, e.ne, t.seed from evaluations e join trials t using(trial_id) "
                        "where t.label = ?", (label,)).fetchall()
        x, y, s = (np.array([v[i] for v in r], dtype=float) for i in range(3))
        fr = fitrange.fit_start(x, y, fit_fn=fit_power_law, seeds=s, **kw)
        cut += fr.n_left_out > 0
        points += fr.n_left_out
        fewest = min(fewest, math.log10(x.max() / x[fr.mask(x)].min()))
    return {"model curves": len(labels), "curves cut": cut, "points left out": points, "fewest decades kept": fewest}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", nargs="*", default=[], help="study ledgers whose model data curves to read")
    ap.add_argument("--startups", type=int, default=40)
    ap.add_argument("--clean", type=int, default=100)
    ap.add_argument("--sigma", default="mad,trimmed", help="estimators to compare: mad, trimmed")
    a = ap.parse_args()
    for name in a.sigma.split(","):
        fitrange._noise_sd = SIGMAS[name]
        t0 = time.perf_counter()
        print(f"== σ estimator: {name}")
        for k, v in startups(a.startups).items():
            print(f"  start-ups ({a.startups}): {k}: {v:.3f}")
        for k, v in clean(a.clean).items():
            print(f"  clean: {k}: {v} of {a.clean}")
        for db in a.db:
            print(f"  {db}: " + ", ".join(f"{k} {v:.3g}" for k, v in ledger(db).items()))
        print(f"  ({time.perf_counter() - t0:.0f} s)")
    fitrange._noise_sd = RULE_SIGMA


if __name__ == "__main__":
    main()
