"""Extrapolation backtests: does form="auto" predict held-out largest points better than power law + constant?

For every curve, the points in the last quarter of its log-range of x are held out (the rule of
recscale.laws.backtest.holdout_cut, holdout=0.25); "auto" (which runs its own inner backtest on the
remaining points) and power law + constant are fitted on the rest, and the RMS log error of each
on the held-out seed means is recorded, with the form auto chose.

Curves: every (scheme, value) data curve of a study ledger (--db, e.g. the demo's), Epoch's
Chinchilla runs (their compute frontier, and loss against tokens for any model size with ≥ 6
points; tests/laws/data), and
simulated curves of three shapes (power law + constant, a break inside the range, M4 with a slow
start). Run: python benchmarks/extrapolation.py --db /tmp/quick.db [--sim 30]
"""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path

import numpy as np

from recscale.errors import RecscaleError
from recscale.laws import fit_power_law, pareto_frontier
from recscale.laws.backtest import holdout_cut, means_by_x
from recscale.laws.forms import predict


def score(x, y, seeds=None):
    """(auto error, power law + constant error, chosen form) on the held-out last quarter, or None."""
    cut = holdout_cut(x, 0.25, 5)
    if cut is None:
        return None
    tr = x <= cut
    xt, yt = means_by_x(x[~tr], y[~tr])[:2]
    s = None if seeds is None else seeds[tr]
    try:
        auto = fit_power_law(x[tr], y[tr], seeds=s, form="auto", bootstrap=0)
        pl = fit_power_law(x[tr], y[tr], seeds=s, bootstrap=0)
    except RecscaleError:
        return None
    err = lambda f: float(np.sqrt(np.mean(np.log(f.predict(xt) / yt) ** 2)))  # noqa: E731
    return err(auto), err(pl), auto.method.extra["auto"]["chosen"]


def study_curves(db: str):
    from recscale.study.ledger import export_frame

    df = export_frame(db)
    for (s, v), g in df.groupby(["scheme", "value"]):
        g = g.sort_values(["samples", "seed"])
        yield f"{s}={v}", g["samples"].to_numpy(float), g["ne"].to_numpy(float), g["seed"].to_numpy()


def chinchilla_curves():
    import pandas as pd

    path = Path(__file__).resolve().parents[1] / "tests" / "laws" / "data" / "epoch_chinchilla.csv"
    df = pd.read_csv(path)
    df = df.drop(df["loss"].nlargest(5).index)
    for n, g in df.groupby("Model Size"):
        if len(g) >= 6:
            d = (g["Training FLOP"] / (6 * n)).to_numpy(float)
            yield f"N={n:.3g}", d, g["loss"].to_numpy(float), None
    # The compute frontier: loss of the best run at each training compute (the curve a plan reads).
    idx = pareto_frontier(df["Training FLOP"], df["loss"])
    yield "frontier", df["Training FLOP"].to_numpy(float)[idx], df["loss"].to_numpy(float)[idx], None


def simulated_curves(k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for i in range(k):
        shape = ("powerlaw_const", "broken", "m4")[i % 3]
        n = int(rng.integers(8, 16))
        x = np.geomspace(1e6, 1e6 * 10 ** rng.uniform(1.5, 3.0), n)
        if shape == "powerlaw_const":
            y = 0.7 * (1 + rng.uniform(0.05, 0.4) * (x / 1e6) ** -rng.uniform(0.1, 0.6))
        elif shape == "broken":
            xb = x[0] * 10 ** rng.uniform(0.5, 2.5)
            y = 0.7 + 0.15 * (x / 1e6) ** -0.05 * (1 + x / xb) ** -rng.uniform(0.3, 1.0)
        else:
            y = predict("m4", {"alpha": rng.uniform(0.3, 1.0), "beta": 10 ** rng.uniform(1.5, 2.5), "gamma": 0.7,
                               "c": -rng.uniform(0.3, 0.7), "eps0": 1.0}, x / 1e2)
        y = y * np.exp(rng.normal(0, rng.uniform(0.001, 0.01), n))
        yield f"sim{i}:{shape}", x, y, None


def report(name, curves) -> None:
    t0 = time.perf_counter()
    rows = [r for r in (score(x, y, s) for _, x, y, s in curves) if r is not None]
    if not rows:
        print(f"{name}: no curve long enough")
        return
    a, p, chosen = (np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), [r[2] for r in rows])
    print(f"{name}: {len(rows)} curves; median log error auto {np.median(a):.4f} vs power law + constant {np.median(p):.4f}; "
          f"auto better on {int(np.sum(a < p - 1e-12))}, equal on {int(np.sum(np.abs(a - p) <= 1e-12))}, worse on "
          f"{int(np.sum(a > p + 1e-12))}; chosen {dict(collections.Counter(chosen))} ({time.perf_counter() - t0:.0f}s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None)
    ap.add_argument("--sim", type=int, default=30)
    args = ap.parse_args()
    if args.db:
        report("demo study", list(study_curves(args.db)))
    report("Chinchilla (loss vs tokens per model size)", list(chinchilla_curves()))
    if args.sim:
        report("simulated", list(simulated_curves(args.sim)))


if __name__ == "__main__":
    main()
