"""GPU training throughput: recscale's trainer against a straightforward PyTorch DLRM, same process.

The "large" config: 26 tables x 100,000 rows, embedding dim 16, bottom MLP 13-512-256-64-16, top
MLP 512-256-1, one id per feature (Zipf ids), at batch 16,384 and 65,536. The baseline is the DLRM a
PyTorch user writes first: one nn.EmbeddingBag (sparse gradients) per feature, nn.Sequential MLPs,
torch.bmm interaction; both sides use Adagrad (lr 0.05 embeddings, 0.02 MLPs) and read the same
batches through recscale's loader (pinned memory, asynchronous copies, prefetch), so the ratio
compares model + optimiser step. Each side warms up, then the best of 3 timed rounds counts, with
the device synchronised around each round.

Run (on a GPU machine):
    python benchmarks/gpu_throughput.py                    # fp32, eager
    python benchmarks/gpu_throughput.py --precision tf32   # or bf16; --compile for torch.compile
Smoke test anywhere (CPU, small sizes; not a GPU measurement):
    python benchmarks/gpu_throughput.py --small --device cpu

The last line reads `gpu: X.XXx baseline at 16384, Y.YYx at 65536` (recscale samples/s over the
baseline's, at each batch size actually used).
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from baselines import LR_DENSE, LR_EMB, N_DENSE, StraightforwardDLRM, make_data
from torch import nn

from recscale.data.loader import iter_batches
from recscale.data.shards import Dataset
from recscale.model.config import DLRMConfig
from recscale.train.config import TrainConfig
from recscale.train.device import maybe_compile, precision_context, resolve_device
from recscale.train.trainer import Trainer

ROUNDS = 3


@dataclass(frozen=True)
class Config:
    rows: int  # per table
    dim: int
    bottom: tuple[int, ...]  # hidden widths; the last layer outputs `dim`
    top: tuple[int, ...]  # hidden widths; the last layer outputs 1
    batches: tuple[int, ...]


LARGE = Config(100_000, 16, (512, 256, 64), (512, 256), (16_384, 65_536))
SMALL = Config(1_000, 16, (512, 256, 64), (512, 256), (256, 1_024))  # --small: CPU smoke test


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step, batches, device: torch.device, warmup: int, steps: int) -> float:
    """Samples/s of ``step``: the best of ROUNDS rounds of ``steps`` steps, after ``warmup`` steps."""
    it = iter(batches)
    for _ in range(warmup):
        step(next(it))
    best = 0.0
    for _ in range(ROUNDS):
        synchronize(device)
        t0 = time.perf_counter()
        n = 0
        for _ in range(steps):
            b = next(it)
            step(b)
            n += len(b)
        synchronize(device)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def bench_recscale(ds: Dataset, c: Config, batch: int, device: torch.device, args) -> float:
    cfg = DLRMConfig(N_DENSE, tuple(ds.cardinalities), c.dim, None, c.bottom, c.top)
    tc = TrainConfig(batch_size=batch, lr_embedding=LR_EMB, lr_dense=LR_DENSE, eval_rows=1, threads=args.threads,
                     device=str(device), precision=args.precision, compile=args.compile,
                     dense_optimizer="adagrad", sparse_optimizer="adagrad")  # fmt: skip
    tr = Trainer(cfg, tc, ds, seed=0)
    batches = iter_batches(ds.split("train"), batch, ds.rows("train"), device=device, prefetch=device.type != "cpu")
    return time_steps(lambda b: tr.state.step(b.dense, b.sparse, b.labels), batches, device, args.warmup, args.steps)


def bench_baseline(ds: Dataset, c: Config, batch: int, device: torch.device, args) -> float:
    torch.manual_seed(0)
    model = StraightforwardDLRM(c.rows, c.dim, c.bottom, c.top).to(device)
    sparse_opt, dense_opt = model.optimizers()
    loss_fn = maybe_compile(lambda d, s, y: nn.functional.binary_cross_entropy_with_logits(model(d, s), y), args.compile)

    def step(b):
        sparse_opt.zero_grad(set_to_none=True)
        dense_opt.zero_grad(set_to_none=True)
        with precision_context(args.precision, device.type):
            loss = loss_fn(b.dense, b.sparse, b.labels)
        loss.backward()
        sparse_opt.step()
        dense_opt.step()

    batches = iter_batches(ds.split("train"), batch, ds.rows("train"), device=device, prefetch=device.type != "cpu")
    return time_steps(step, batches, device, args.warmup, args.steps)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        return f"{p.name} ({p.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}"
    return f"CPU ({torch.get_num_threads()} threads)"


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto (cuda when available), cuda, cuda:N or cpu")
    ap.add_argument("--small", action="store_true", help="1,000-row tables, batches 256 and 1,024: a smoke test on CPU")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    ap.add_argument("--compile", action="store_true", help="torch.compile both sides' forward + loss")
    ap.add_argument("--steps", type=int, default=None, help="steps per timed round (default 20; 2 with --small)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5; 1 with --small)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (recscale's train.threads)")
    args = ap.parse_args(argv)
    c = SMALL if args.small else LARGE
    args.steps = args.steps or (2 if args.small else 20)
    args.warmup = args.warmup or (1 if args.small else 5)
    device = torch.device(resolve_device(args.device))
    torch.set_num_threads(args.threads)
    print(f"device: {describe(device)}; torch {torch.__version__}; {args.precision}{', compiled' if args.compile else ''}; "
          f"commit {commit()}; {datetime.date.today()}" + ("; --small: NOT a GPU measurement" if args.small else ""), flush=True)  # fmt: skip
    ratios = {}
    with tempfile.TemporaryDirectory() as tmp:
        for batch in c.batches:
            rows = (args.warmup + ROUNDS * args.steps + 1) * batch
            ds = make_data(Path(tmp) / f"b{batch}", rows, c.rows)
            ours = bench_recscale(ds, c, batch, device, args)
            base = bench_baseline(ds, c, batch, device, args)
            ratios[batch] = ours / base
            print(f"batch {batch:,}: recscale {ours:,.0f} samples/s, straightforward {base:,.0f} samples/s: {ratios[batch]:.2f}x", flush=True)
            del ds
    (b1, r1), (b2, r2) = ratios.items()
    print(f"gpu: {r1:.2f}x baseline at {b1}, {r2:.2f}x at {b2}")


if __name__ == "__main__":
    main()
