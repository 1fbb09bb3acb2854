"""Study-level throughput: wall time of a whole study with K = 1 trial per device vs K > 1.

Small models leave a device mostly idle, so several trials at once finish a study sooner. This runs
the same spec (default examples/tiny.toml) once per K, each into a fresh ledger (the synthetic
dataset is generated once, before timing), and reports wall time, speed-up over K = 1, and the
largest NE difference between the runs (on the CPU, K changes nothing: it must be 0).

On a GPU, ``--compare-cpu`` (the default there) also runs the study on the CPU and reports the
largest |NE(GPU) - NE(CPU)|: the measured size of GPU floating-point nondeterminism and kernel
differences for this study (docs/scale-out.md).

Run:
    python benchmarks/study_throughput.py                          # this machine's device, K = 1 vs default
    python benchmarks/study_throughput.py --device cuda --k 1,2,4,8
The last line reads `study: K=1 A.A s, best K=k B.B s (C.CCx); default K on this device = d`.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import tempfile
import time
from pathlib import Path

from recscale.study.ledger import export_frame
from recscale.study.runner import RunOptions, dataset_path, run_study
from recscale.study.spec import load_spec
from recscale.train.device import default_trials_per_device, resolve_device

ROOT = Path(__file__).resolve().parent.parent


def _ne(db: Path):
    """NE by (trial, samples); a trial in several schemes appears once."""
    df = export_frame(db).drop_duplicates(["trial_id", "samples"])
    if df.empty:
        raise SystemExit(f"{db}: no evaluations exported (does the spec have [schemes]?)")
    return df.set_index(["trial_id", "samples"])["ne"].sort_index()


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return out.stdout.strip() or "unknown"


def _describe(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU, {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", type=Path, default=ROOT / "examples" / "tiny.toml")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--k", default=None, help="comma-separated trials per device (default: 1 and this device's default; 1,2,4,8 on a GPU)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    ap.add_argument("--compare-cpu", action=argparse.BooleanOptionalAction, default=None,
                    help="also run on the CPU and report the largest NE difference (default: on for a GPU)")  # fmt: skip
    args = ap.parse_args(argv)
    spec = load_spec(args.spec)
    device = resolve_device(args.device)
    gpu = device.startswith("cuda")
    if args.k:
        ks = [int(k) for k in args.k.split(",")]
    else:
        ks = [1, 2, 4, 8] if gpu else sorted({1, default_trials_per_device(device, spec.train.threads)})
    print(f"study {spec.name} ({len(spec.trials())} trials) on {_describe(device)}; {args.precision}; "
          f"commit {_commit()}; {datetime.date.today()}", flush=True)  # fmt: skip
    walls: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Generate the dataset once, untimed: a run with no trials to do still writes it.
        from recscale.data.synthetic import generate

        if spec.data.synthetic is not None:
            s = spec.data.synthetic
            generate(s.world, dataset_path(spec, tmp / "x.db"), rows=s.rows, eval_rows=s.eval_rows, seed=s.seed, progress=False)
        nes = {}
        for k in ks:
            db = tmp / f"k{k}.db"
            t0 = time.perf_counter()
            summary = run_study(spec, db, RunOptions(device=device, trials_per_device=k, precision=args.precision, progress=False))
            walls[k] = time.perf_counter() - t0
            if summary.failed:
                raise SystemExit(f"K={k}: trials failed: {summary.failed}; see `recscale study status {db}`")
            nes[k] = _ne(db)
            diff = float((nes[k] - nes[ks[0]]).abs().max())
            print(f"K={k}: {walls[k]:.1f} s ({walls[ks[0]] / walls[k]:.2f}x K={ks[0]}); max |dNE| vs K={ks[0]}: {diff:.2e}", flush=True)
        if args.compare_cpu if args.compare_cpu is not None else gpu:
            db = tmp / "cpu.db"
            run_study(spec, db, RunOptions(device="cpu", progress=False))
            diff = float((nes[ks[0]] - _ne(db)).abs().max())
            print(f"max |NE({device}, {args.precision}) - NE(cpu, fp32)| over all trials and checkpoints: {diff:.2e}", flush=True)
    best = min(walls, key=walls.get)
    default = default_trials_per_device(device, spec.train.threads)
    print(f"study: K={ks[0]} {walls[ks[0]]:.1f} s, best K={best} {walls[best]:.1f} s ({walls[ks[0]] / walls[best]:.2f}x); "
          f"default K on this device = {default}")  # fmt: skip


if __name__ == "__main__":
    main()
