"""Speed of fit_power_law (15 points, 1,000 bootstrap refits) against a plain scipy baseline.

Baseline, in the same process: the fit most people write first, ``scipy.optimize.curve_fit`` of
y = a·x^(−b) + c in linear space, then 1,000 residual-bootstrap refits each with its own
``curve_fit`` call started from the full-data estimate (a warm start, which also makes the
baseline faster than a fair global search would be). recscale refits every resample with the full
global β search instead, and is still faster because all resamples are solved at once.

Also timed (CPU seconds): form="auto" (three forms, their backtests, 200 refits of the chosen one)
on three 15-point curves where it keeps power law + constant, picks the broken law and picks M4;
M4 bootstrap refits (batched, recscale.laws.batch_lsq) against a loop of scipy least_squares
refits warm-started at the estimate (20 of them), per refit; the broken law with 200 refits; the
1,000-refit fit and the Chinchilla joint fit (moved here from the unit tests).

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


def auto_curves(n: int = 15, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Three 15-point curves on which form="auto" keeps power law + constant, or picks M4 or the broken law."""
    from recscale.laws.forms import predict

    x = np.geomspace(1e6, 1e9, n)
    noise = np.exp(np.random.default_rng(seed).normal(0, 0.001, n))
    m4 = predict("m4", {"alpha": 1.5, "beta": 1.0, "gamma": 0.6, "c": -0.6, "eps0": 1.0}, x / 1e6)
    return {"power-law": data(n, seed),
            "late-bending": (x, (0.7 + 0.2 * (x / 1e6) ** -0.05 * (1 + x / 5e7) ** -1.2) * noise),
            "slow-start (M4)": (x, m4 * noise)}


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


def m4_scipy_loop(x: np.ndarray, y: np.ndarray, params: dict, B: int, seed: int = 0) -> None:
    """Baseline: B residual-bootstrap refits of M4, each its own scipy least_squares from the full-data estimate."""
    from recscale.laws.forms import predict

    names = ("alpha", "beta", "gamma", "c", "eps0")
    p0 = np.array([params[k] for k in names])
    fitted = predict("m4", params, x)
    r = np.log(y) - np.log(fitted)
    rng = np.random.default_rng(seed)
    lower = [0.0, 1e-300, 0.0, -5.0, y.max()]
    upper = [10.0, np.inf, y.min(), -1e-4, 100 * y.max()]
    for _ in range(B):
        ys = fitted * np.exp(r[rng.integers(0, x.size, x.size)])
        optimize.least_squares(lambda th: np.log(ys) - np.log(predict("m4", dict(zip(names, th)), x)),  # noqa: B023
                               np.clip(p0, lower, upper), bounds=(lower, upper), max_nfev=300)


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
    for name, (xa, ya) in auto_curves().items():
        cpu = cpu_seconds(lambda: fit_power_law(xa, ya, form="auto", bootstrap=200, seed=0))  # noqa: B023
        chosen = fit_power_law(xa, ya, form="auto", bootstrap=0).method.extra["auto"]["chosen"]
        print(f"form='auto', 15 points x 200 refits, {name} curve: {cpu:.2f}s CPU (target < 3 s; chose {chosen})")
    xm, ym = auto_curves()["slow-start (M4)"]
    fit = fit_power_law(xm, ym, form="m4", bootstrap=0)
    t_loop = cpu_seconds(lambda: m4_scipy_loop(xm, ym, fit.params, 20)) / 20
    t_batch = cpu_seconds(lambda: fit_power_law(xm, ym, form="m4", bootstrap=200, seed=0)) / 200
    print(f"M4 bootstrap refit: {t_batch * 1e3:.1f} ms each (200 batched, from screened starts) vs a scipy "
          f"least_squares loop warm-started at the estimate {t_loop * 1e3:.1f} ms each: {t_loop / t_batch:.0f}x")
    cpu = cpu_seconds(lambda: fit_power_law(x, y, form="broken_powerlaw", bootstrap=200, seed=0))
    print(f"form='broken_powerlaw', 15 points x 200 refits: {cpu:.2f}s CPU")
    chin = chinchilla_cpu()
    if chin is not None:
        print(f"joint law on Epoch's Chinchilla runs (240 points, bootstrap=0): {chin:.2f}s CPU (target < 30 s)")
    print(f"recscale: {t_rs:.3f}s  curve_fit loop: {t_cf:.3f}s  speed-up: {t_cf / t_rs:.1f}x")


if __name__ == "__main__":
    main()
