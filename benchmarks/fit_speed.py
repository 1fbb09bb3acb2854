"""Speed of fit_power_law (15 points, 1,000 bootstrap refits) against a plain scipy baseline.

Baseline, in the same process: the fit most people write first, ``scipy.optimize.curve_fit`` of
y = a·x^(−b) + c in linear space, then 1,000 residual-bootstrap refits each with its own
``curve_fit`` call started from the full-data estimate (a warm start, which also makes the
baseline faster than a fair global search would be). recscale refits every resample with the full
global β search instead, and is still faster because all resamples are solved at once.

Also timed: form="auto" (three forms, their backtests, 200 refits of the chosen one), the CPU time
of the 1,000-refit fit and of the Chinchilla joint fit (moved here from the unit tests).

Run: python benchmarks/fit_speed.py [--bootstrap 1000] [--repeats 3]
Also timed: the same loop cold-started from a fixed guess. The last line reads
`recscale: X.XXXs  curve_fit loop: Y.YYYs  speed-up: Z.Zx` (warm loop; best of repeats, wall time).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy import optimize

from recscale.laws import fit_power_law


def data(n: int = 15, seed: int = 0):
    """A 15-point NE curve over 3 decades with 0.3% multiplicative noise."""
    x = np.geomspace(1e6, 1e9, n)
    y = (0.1 * (x / 1e6) ** -0.3 + 0.7) * np.exp(np.random.default_rng(seed).normal(0, 0.003, n))
    return x, y


def baseline(x: np.ndarray, y: np.ndarray, B: int, seed: int = 0, warm: bool = True):
    """curve_fit on the data, then B residual-bootstrap refits; returns (β draws, failures).

    ``warm=True`` starts each refit at the full-data estimate (common, and the trap SOURCE.md
    warns about: refits barely move); ``warm=False`` starts each at the same fixed guess.
    """
    def f(xx, a, b, c):
        return a * (xx / 1e6) ** -b + c

    p0 = (0.1, 0.5, 0.5)
    p, _ = optimize.curve_fit(f, x, y, p0=p0, maxfev=10000)
    fitted = f(x, *p)
    r = y - fitted
    rng = np.random.default_rng(seed)
    betas, fails = [], 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(B):
            ys = fitted + r[rng.integers(0, x.size, x.size)]
            try:
                pb, _ = optimize.curve_fit(f, x, ys, p0=p if warm else p0, maxfev=10000)
                betas.append(pb[1])
            except RuntimeError:
                fails += 1
    return np.array(betas), fails


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def cpu_seconds(fn) -> float:
    """Process CPU time of one call (robust to other load on the machine, unlike wall time)."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def chinchilla_cpu() -> float | None:
    """CPU seconds of the joint-law fit of tests/laws/data/epoch_chinchilla.csv (None if absent)."""
    from pathlib import Path

    import pandas as pd

    from recscale.laws import fit_joint_law

    path = Path(__file__).resolve().parents[1] / "tests" / "laws" / "data" / "epoch_chinchilla.csv"
    if not path.exists():
        return None
    df = pd.read_csv(path)
    df = df.drop(df["loss"].nlargest(5).index)
    N = df["Model Size"].to_numpy(float)
    D = df["Training FLOP"].to_numpy(float) / (6 * N)
    L = df["loss"].to_numpy(float)
    return cpu_seconds(lambda: fit_joint_law(N, D, L, bootstrap=0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    x, y = data()
    fit_power_law(x, y, bootstrap=20)  # warm imports and caches
    fit = fit_power_law(x, y, bootstrap=args.bootstrap)
    lo, hi = fit.ci()["beta"]
    print(f"recscale          : beta {fit.beta:.4f}, 95% [{lo:.4f}, {hi:.4f}], {fit.method.bootstrap.failed} failed refits")
    for warm in (True, False):
        betas, fails = baseline(x, y, args.bootstrap, warm=warm)
        name = "curve_fit (warm)" if warm else "curve_fit (cold)"
        print(f"{name:18s}: beta draws 2.5-97.5% [{np.percentile(betas, 2.5):.4f}, {np.percentile(betas, 97.5):.4f}], "
              f"{fails} failed refits")
    t_rs = best_of(lambda: fit_power_law(x, y, bootstrap=args.bootstrap, seed=0), args.repeats)
    t_cold = best_of(lambda: baseline(x, y, args.bootstrap, warm=False), args.repeats)
    t_cf = best_of(lambda: baseline(x, y, args.bootstrap, warm=True), args.repeats)
    print(f"cold-started curve_fit loop: {t_cold:.3f}s ({t_cold / t_rs:.1f}x recscale)")
    cpu = cpu_seconds(lambda: fit_power_law(x, y, bootstrap=args.bootstrap, seed=0))
    print(f"recscale CPU time, 15 points x {args.bootstrap} refits: {cpu:.3f}s (target < 2 s; was a unit test)")
    t_auto = best_of(lambda: fit_power_law(x, y, form="auto", bootstrap=200, seed=0), 1)
    auto = fit_power_law(x, y, form="auto", bootstrap=200, seed=0)
    print(f"form='auto', 15 points x 200 refits: {t_auto:.2f}s wall (target < 3 s; chose "
          f"{auto.method.extra['auto']['chosen']}); {t_auto / t_rs:.1f}x the power law + constant with "
          f"{args.bootstrap} refits")
    chin = chinchilla_cpu()
    if chin is not None:
        print(f"joint law on Epoch's Chinchilla runs (240 points, bootstrap=0): {chin:.2f}s CPU (target < 30 s)")
    print(f"recscale: {t_rs:.3f}s  curve_fit loop: {t_cf:.3f}s  speed-up: {t_cf / t_rs:.1f}x")


if __name__ == "__main__":
    main()
