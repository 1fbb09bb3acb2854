"""Wall time and peak memory of `recscale fit` on 10^6 rows of one curve, default options.

The curve is what a large study's export looks like to the fitter: 20 checkpoints (1,024 … 2^24
samples) each measured 50,000 times (seeds and trials), NE = 0.1·(x/1e3)^-0.3 + 0.7 with 0.3%
multiplicative noise, written to a CSV. The command is run in a child process exactly as a user
would run it (`recscale fit CSV --x samples`: 1,000 bootstrap refits and the other forms'
backtests, all defaults), so peak memory is the child's maximum resident set (getrusage).

Baseline, in the same run: the same command on 10^4 rows (the fit grows with the distinct x and
the bootstrap, not with the rows, so the two should be close). Before rows were aggregated and
the bootstrap drawn in chunks, 10^6 rows reached 24 GB and was killed, and 10^5 rows took over
400 s (issue 20).

Targets: under 60 s and 2 GB on the 2-core CPU machine.

Run: python benchmarks/fit_memory.py [--rows 1000000] [--keep DIR]
The last line reads `rows=N wall_s=T cpu_s=C peak_mb=M load1=L` (L: the machine's 1-minute load).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_curve(path: Path, rows: int, seed: int = 0) -> None:
    """One curve of ``rows`` rows: 20 checkpoints, each repeated rows/20 times."""
    rng = np.random.default_rng(seed)
    cps = np.unique((np.geomspace(1024, 2**24, 20) // 256 * 256).astype(np.int64))
    x = np.repeat(cps, -(-rows // cps.size))[:rows]
    y = (0.1 * (x / 1e3) ** -0.3 + 0.7) * np.exp(rng.normal(0.0, 0.003, x.size))
    with open(path, "w") as fh:
        fh.write("samples,ne\n")
        np.savetxt(fh, np.column_stack([x, y]), fmt=["%d", "%.9g"], delimiter=",")


def run_fit(csv: Path) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak resident MB, last output line) of `recscale fit CSV --x samples` in a child.

    CPU seconds (user + system) are reported beside wall time because a shared machine's load
    stretches the wall time but hardly the CPU time."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    code = ("import resource, sys\nfrom recscale.cli.main import main\nrc = main(sys.argv[1:])\n"
            "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\nsys.exit(rc)")
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code, "fit", str(csv), "--x", "samples"], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    if p.returncode != 0:
        raise SystemExit(f"recscale fit failed (exit {p.returncode}): {p.stderr.strip()[-2000:]}")
    peak_kb = next(int(line.split()[1]) for line in p.stderr.splitlines() if line.startswith("PEAK_KB"))
    out = [line for line in p.stdout.splitlines() if line.strip()]
    return wall, cpu, peak_kb / 1024, (out[-1] if out else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--baseline-rows", type=int, default=10_000)
    ap.add_argument("--keep", type=Path, default=None, help="Folder to keep the CSVs in (default: a temp folder).")
    a = ap.parse_args()
    folder = a.keep or Path(tempfile.mkdtemp(prefix="recscale-fitmem-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = {}
    for rows in (a.baseline_rows, a.rows):
        csv = folder / f"curve-{rows}.csv"
        write_curve(csv, rows)
        wall, cpu, peak, line = run_fit(csv)
        results[rows] = (wall, cpu, peak)
        print(f"rows={rows:,}: wall {wall:.1f} s, CPU {cpu:.1f} s, peak {peak:.0f} MB  ({line.strip()[:100]})", flush=True)
    wall, cpu, peak = results[a.rows]
    print(f"rows={a.rows} wall_s={wall:.1f} cpu_s={cpu:.1f} peak_mb={peak:.0f} load1={os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
