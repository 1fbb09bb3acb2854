"""Extrapolation backtests: does form="auto" predict held-out largest points better than power law + constant?

For every curve, the points in the last quarter of its log-range of x are held out (the rule of
recscale.laws.backtest.holdout_cut, holdout=0.25); "auto" (which runs its own inner backtest on the
remaining points) and power law + constant are fitted on the rest, and the RMS log error of each
on the held-out seed means is recorded, with the form auto chose.

Curves: every (scheme, value) data curve of a study ledger (--db, e.g. the demo's), Epoch's
Chinchilla runs (their compute frontier, and loss against tokens for any model size with ≥ 6
points; tests/laws/data), and
planted curves of the four shapes of recscale.laws.simulate, where the noise-free truth 2x and 4x
beyond the data is also known and scored. Run: python benchmarks/extrapolation.py --db runs/quick.db [--sim 200] [--fit-from auto]
[--margins 240 --margin-seeds 11 12] (the study that set recscale.laws.auto.MARGIN; about 10 CPU-minutes).
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
from recscale.laws.fitrange import fit_start
from recscale.laws.simulate import SHAPES, planted_curve


FIT_FROM = {"rule": "all"}  # --fit-from: "auto" applies recscale.laws.fitrange to the fitted part (never the held-out)


def score(x, y, seeds=None):
    """(auto error, power law + constant error, chosen form) on the held-out last quarter, or None."""
    cut = holdout_cut(x, 0.25, 5)
    if cut is None:
        return None
    tr = x <= cut
    xt, yt = means_by_x(x[~tr], y[~tr])[:2]
    if FIT_FROM["rule"] == "auto":  # the fit range is found on the fitted part alone: no peeking at the held-out
        fr = fit_start(x[tr], y[tr], fit_fn=fit_power_law, seeds=None if seeds is None else seeds[tr])
        tr &= fr.mask(x)
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
    """k planted curves cycling through the four shapes of recscale.laws.simulate."""
    rng = np.random.default_rng(seed)
    for i in range(k):
        c = planted_curve(SHAPES[i % len(SHAPES)], rng)
        yield f"sim{i}:{c.shape}", c.x, c.y, None


def truth_errors(k: int, seed: int = 0) -> None:
    """Planted curves: |log error| of the noise-free truth 2x and 4x beyond the data, auto vs power law + constant."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(k):
        c = planted_curve(SHAPES[i % len(SHAPES)], rng)
        xn = c.x[-1] * np.array([2.0, 4.0])
        try:
            auto = fit_power_law(c.x, c.y, form="auto", bootstrap=0)
            pl = fit_power_law(c.x, c.y, bootstrap=0)
        except RecscaleError:
            continue
        t = np.log(c.truth(xn))
        rows.append((c.shape, np.abs(np.log(auto.predict(xn)) - t), np.abs(np.log(pl.predict(xn)) - t), auto.form))
    for shape in (*SHAPES, "all"):
        sel = [r for r in rows if shape in ("all", r[0])]
        a, p = np.array([r[1] for r in sel]), np.array([r[2] for r in sel])
        print(f"truth beyond the data, {shape:15s} ({len(sel)} curves): median |log error| at 2x / 4x: auto "
              f"{np.median(a[:, 0]):.4f} / {np.median(a[:, 1]):.4f}, power law + constant {np.median(p[:, 0]):.4f} / "
              f"{np.median(p[:, 1]):.4f}; mean auto {a.mean(0).round(4).tolist()} plc {p.mean(0).round(4).tolist()}; "
              f"chosen {dict(collections.Counter(r[3] for r in sel))}")


def margin_study(k: int, seeds: tuple[int, ...]) -> None:
    """Replay auto's choice at several margins on planted curves, scoring the truth 4x beyond the data.

    Each curve's forms are fitted once; recscale.laws.auto.choose_form then decides at each margin.
    Printed per shape: mean and median |log error| of the chosen form relative to power law +
    constant alone (< 1: auto better), and how often the choice left power law + constant.
    """
    from recscale.laws.auto import choose_form

    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for i in range(k):
            c = planted_curve(SHAPES[i % len(SHAPES)], rng)
            truth = np.log(c.truth(c.x[-1] * 4.0))
            try:
                ev = fit_power_law(c.x, c.y, form="auto", bootstrap=0).method.extra["auto"]
            except RecscaleError:
                continue
            err = {}
            for form in ("powerlaw_const", "m4", "broken_powerlaw"):
                try:
                    err[form] = abs(float(np.log(fit_power_law(c.x, c.y, form=form, bootstrap=0).predict(c.x[-1] * 4.0))) - truth)
                except RecscaleError:
                    pass
            rows.append((c.shape, ev["backtests"], ev["noise_log"], err))
    print(f"margin study: {len(rows)} planted curves (seeds {seeds}); per shape: mean/median error ratio auto/plc 4x beyond, switch share")
    for margin in (0.0, 1.0, 2.0, 3.0, 4.0):
        parts = []
        for shape in (*SHAPES, "all"):
            sel = [r for r in rows if shape in ("all", r[0])]
            chosen = [choose_form(bt, noise, margin)[0] for _, bt, noise, _ in sel]
            a = np.array([r[3].get(f, r[3]["powerlaw_const"]) for r, f in zip(sel, chosen)])
            p = np.array([r[3]["powerlaw_const"] for r in sel])
            sw = np.mean([f != "powerlaw_const" for f in chosen])
            parts.append(f"{shape}: {a.mean() / p.mean():.3f}/{np.median(a) / np.median(p):.3f} ({sw:.0%})")
        print(f"  margin {margin:g} sigma: " + " | ".join(parts))


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
    ap.add_argument("--margins", type=int, default=0, help="planted curves per seed for the margin study (0: skip)")
    ap.add_argument("--margin-seeds", type=int, nargs="+", default=[11, 12])
    ap.add_argument("--fit-from", choices=("all", "auto"), default="all",
                    help="auto: fit each curve from its fit range (recscale.laws.fitrange), found on the fitted part")
    args = ap.parse_args()
    FIT_FROM["rule"] = args.fit_from
    if args.margins:
        margin_study(args.margins, tuple(args.margin_seeds))
    if args.db:
        report("demo study", list(study_curves(args.db)))
    report("Chinchilla (loss vs tokens per model size)", list(chinchilla_curves()))
    if args.sim:
        report("simulated (backtest on the last quarter)", list(simulated_curves(args.sim)))
        truth_errors(args.sim)


if __name__ == "__main__":
    main()
