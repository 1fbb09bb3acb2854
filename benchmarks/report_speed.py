"""Wall time of `recscale report`, step by step, on a 10-trial study (and on any ledger given).

The study is examples/tiny.toml's world with 3-4 sizes per scheme (10 trials, one seed), so every
scheme has a joint law NE(N, D) to fit, the step that took 95% of a report's time before its
bootstrap refits were batched (issue 16). It is trained once into ``--cache`` (about a minute on
2 cores) and reused. Each report is timed by steps (load, per-curve fits, joint laws, figures,
writing) from the report's own progress messages, in wall seconds and in CPU seconds of this
process: on a shared machine the wall time mostly measures the other jobs, the CPU time does not
(the laws run single-threaded BLAS).

``--compare-joint`` also fits each scheme's joint law with both bootstrap solvers (batched, and
one L-BFGS-B refit at a time as before) on the same resamples, and prints their standard errors
side by side: the intervals the batching must keep.

Run:
    python benchmarks/report_speed.py                        # the 10-trial study
    python benchmarks/report_speed.py --ledger runs/demo.db  # also an existing ledger
    python benchmarks/report_speed.py --compare-joint
The last line reads `report: 10-trial study X.X s wall, C.C s CPU (joint laws Y.Y s, figures Z.Z s CPU); in one
process S.S s wall: R.RRx` (the baseline, every step in one process, run first in the same process; CPU
seconds include the report's worker processes).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SPEC = """# benchmarks/report_speed.py: tiny's world, 3-4 sizes per scheme (10 trials), so every joint law is fitted.
name = "study10"
seeds = [0]

[data.synthetic]
rows = 40_000
eval_rows = 10_000
seed = 0
max_cardinality = 20_000
interaction_max_cardinality = 2_000

[train]
batch_size = 256
eval_rows = 10_000
checkpoints = { start = 1024, stop = 40_000, per_doubling = 2 }

[model]
embedding_dim = 8
embedding_rows = 5_000
bottom_mlp = [32]
top_mlp = [32]

[schemes]
mlp_width = [16, 32, 64, 128]
overarch_width = [16, 32, 64]
embedding_dim = [4, 8, 16]
embedding_rows = [1_000, 5_000, 20_000]
"""


def study10(cache: Path) -> Path:
    """The 10-trial study's ledger, trained into ``cache`` on first use."""
    cache.mkdir(parents=True, exist_ok=True)
    db = cache / "study10.db"
    spec = cache / "study10.toml"
    if spec.exists() and spec.read_text() == SPEC and db.exists():
        return db
    spec.write_text(SPEC)
    db.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "recscale.cli.main", "study", "run", str(spec), "--db", str(db), "--workers", "1",
                    "--quiet"], check=True, env=env)
    print(f"trained the 10-trial study in {time.perf_counter() - t:.0f} s: {db}")
    return db


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the report's worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def time_report(source: Path, bootstrap: int | None, workers: int | None = None) -> dict[str, float]:
    """Build the report once; seconds per step, from its progress messages (CPU includes worker processes)."""
    from recscale.report import ReportOptions, build_report

    marks: list[tuple[float, float, str]] = []
    t0, c0 = time.perf_counter(), _cpu()
    opts = ReportOptions(workers=workers) if bootstrap is None else ReportOptions(bootstrap=bootstrap, workers=workers)
    with tempfile.TemporaryDirectory() as out:
        build_report(source, out, opts, progress=lambda msg: marks.append((time.perf_counter() - t0, _cpu() - c0, msg)))
    total, cpu = time.perf_counter() - t0, _cpu() - c0
    steps = {k: 0.0 for k in ("fits", "joint", "figures", "write", "fits_cpu", "joint_cpu", "figures_cpu", "write_cpu")}
    ends = [(t, c) for t, c, _ in marks[1:]] + [(total, cpu)]
    for (t, c, msg), (end, cend) in zip(marks, ends):
        kind = ("joint" if msg.startswith("joint law") else "figures" if msg.startswith("figure")
                else "write" if msg.startswith("writing") else "fits")
        steps[kind] += end - t
        steps[kind + "_cpu"] += cend - c
    steps["load"], steps["load_cpu"] = (marks[0][0], marks[0][1]) if marks else (total, cpu)
    steps["total"], steps["total_cpu"] = total, cpu
    return steps


def compare_joint(source: Path, refits: int) -> None:
    """Each scheme's joint law SEs with the batched and the one-at-a-time L-BFGS-B refits (same resamples)."""
    from recscale.laws import JointOptions, fit_joint_law
    from recscale.report import load_study
    from recscale.report.analysis import param_column

    df = load_study(source).frame
    print(f"joint-law bootstrap SEs ({refits} refits, same resamples): batched / L-BFGS-B one at a time")
    for s in sorted(df["scheme"].unique()):
        part = df[df["scheme"] == s]
        n = param_column(s, part)
        g = part.groupby([n, "samples"], as_index=False).agg(ne=("ne", "mean"))
        N, D, y = (g[c].to_numpy(dtype=float) for c in (n, "samples", "ne"))
        row = {}
        for solver in ("batched", "lbfgsb"):
            t = time.perf_counter()
            fit = fit_joint_law(N, D, y, bootstrap=refits, seed=0, options=JointOptions(bootstrap_solver=solver))
            row[solver] = (time.perf_counter() - t, fit.se)
        ratios = ", ".join(f"{k} {row['batched'][1][k]:.3g}/{row['lbfgsb'][1][k]:.3g}" for k in ("alpha", "beta", "E"))
        print(f"  {s}: {row['batched'][0]:.1f} s vs {row['lbfgsb'][0]:.1f} s; SE {ratios}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "recscale-report-speed")
    ap.add_argument("--ledger", type=Path, action="append", default=[], help="Also time the report of this ledger.")
    ap.add_argument("--bootstrap", type=int, default=None, help="Bootstrap refits per law (default: the report's).")
    ap.add_argument("--compare-joint", action="store_true", help="Also compare joint-law SEs of both solvers.")
    ap.add_argument("--joint-refits", type=int, default=200)
    ap.add_argument("--workers", type=int, default=None, help="Report worker processes (default: the report's).")
    args = ap.parse_args()
    db = study10(args.cache)
    results = {}
    serial = time_report(db, args.bootstrap, workers=1)  # the baseline: every step in this process
    for name, src in [("10-trial study", db)] + [(str(p), p) for p in args.ledger]:
        st = time_report(src, args.bootstrap, args.workers)
        results[name] = st
        for unit, sfx in (("wall", ""), ("CPU", "_cpu")):
            print(f"{name} ({unit} s): total {st['total' + sfx]:.1f} = load {st['load' + sfx]:.1f} + curve fits "
                  f"{st['fits' + sfx]:.1f} + joint laws {st['joint' + sfx]:.1f} + figures {st['figures' + sfx]:.1f} + "
                  f"writing {st['write' + sfx]:.1f}")
    if args.compare_joint:
        compare_joint(db, args.joint_refits)
    st = results["10-trial study"]
    print(f"report: 10-trial study {st['total']:.1f} s wall, {st['total_cpu']:.1f} s CPU (joint laws {st['joint_cpu']:.1f} s, "
          f"figures {st['figures_cpu']:.1f} s CPU); in one process {serial['total']:.1f} s wall: "
          f"{serial['total'] / st['total']:.2f}x")


if __name__ == "__main__":
    main()
