"""Which optimiser pair should be recscale's default? Final NE on the demo world, measured.

Each run trains one model in one pass over the demo world (the ``[data.synthetic]`` section of
examples/quick.toml: 524,288 training rows, 40,000 eval rows, max_cardinality 50,000, seed 0) with
the demo's batch size, one torch thread, and records NE at 131,072, 262,144 and 524,288 samples.
Optimiser pairs are dense/sparse: adagrad/adagrad (the defaults before this sweep), adam/adam (lazy
Adam on the embeddings), adam/rowwise_adagrad (Wukong's paper and MLPerf) and adam/adagrad.

Grids (run in this order; each picks up the previous one's winners from the CSV):
  * ``tune``: base DLRM, seed 0, a small grid of learning rates per pair;
  * ``sizes``: the pairs of SIZE_PAIRS at their best base learning rates, 3 DLRM sizes x 2 seeds;
  * ``arch``: one DCNv2 and one Wukong size, the two best pairs of ``sizes``, 2 seeds;
  * ``more`` (optional): the pairs tuned but left out of ``sizes`` at every DLRM size, and the
    third pair of ``sizes`` on each architecture (seed 0);
  * ``archlr`` (optional): the two pairs on DCNv2 and Wukong at lower rates (seed 0);
  * ``wukongmix`` (optional): Wukong with the mixed pairs adagrad/adam and adam/adagrad (seed 0).

Results are appended to a CSV one run at a time (a killed sweep resumes; finished runs are
skipped), so two processes (``--shard 0/2`` and ``--shard 1/2``) can share the work.

Run:
  python benchmarks/optimizer_sweep.py --grid tune --shard 0/2 --csv /tmp/optim.csv
  python benchmarks/optimizer_sweep.py --table --csv /tmp/optim.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CHECKPOINTS = (131_072, 262_144, 524_288)
FIELDS = ("grid", "arch", "size", "pair", "lr_dense", "lr_embedding", "seed", "ne_131k", "ne_262k", "ne_524k", "wall_s")

# dense optimiser, sparse optimiser -> the learning-rate grid (dense, embedding) tried at the base size.
TUNE: dict[tuple[str, str], list[tuple[float, float]]] = {
    ("adagrad", "adagrad"): [(0.02, 0.05)],
    ("adam", "adam"): [(1e-3, 1e-3), (2e-3, 2e-3), (4e-3, 4e-3), (2e-3, 4e-3), (4e-3, 8e-3), (2e-3, 8e-3)],
    ("adam", "rowwise_adagrad"): [(2e-3, 0.05), (2e-3, 0.1), (2e-3, 0.2), (2e-3, 0.02)],
    ("adam", "adagrad"): [(2e-3, 0.05)],
}
GRIDS = ("tune", "sizes", "arch", "more", "archlr", "wukongmix")
# Pairs taken across sizes (adam/adagrad is tuned at the base size only, to fit the sweep in ~45 min).
SIZE_PAIRS = ("adagrad/adagrad", "adam/adam", "adam/rowwise_adagrad")


@dataclass(frozen=True)
class Size:
    arch: str
    name: str
    dim: int
    rows: int
    bottom: tuple[int, ...]
    top: tuple[int, ...]
    extra: dict = field(default_factory=dict, hash=False)


SIZES = {
    "small": Size("dlrm", "small", 4, 2_000, (16,), (16,)),
    "base": Size("dlrm", "base", 8, 8_000, (32,), (32,)),  # the demo's base model
    "large": Size("dlrm", "large", 16, 32_000, (64,), (64,)),
    "dcn": Size("dcnv2", "dcn", 8, 8_000, (32,), (32,), {"cross_layers": 2, "cross_rank": 16}),
    "wukong": Size("wukong", "wukong", 8, 8_000, (32,), (32,),
                   {"layers": 2, "fmb_embeddings": 8, "lcb_embeddings": 8, "fm_rank": 8, "fmb_mlp": (32,)}),
}


def demo_world(path: Path):
    """The demo's dataset, generated once from examples/quick.toml (as `recscale study run` would)."""
    from recscale.data.shards import Dataset
    from recscale.data.synthetic import generate
    from recscale.study.spec import load_spec

    if (path / "meta.json").exists():
        return Dataset(path)
    s = load_spec(REPO / "examples" / "quick.toml").data.synthetic
    return generate(s.world, path, rows=s.rows, eval_rows=s.eval_rows, seed=s.seed)


def model_config(size: Size, ds):
    from recscale.model.config import ARCHITECTURES

    return ARCHITECTURES[size.arch](
        n_dense=ds.n_dense, cardinalities=tuple(ds.cardinalities), embedding_dim=size.dim,
        embedding_rows=size.rows, bottom_mlp=size.bottom, top_mlp=size.top, **size.extra,
    )


def read(csv_path: Path) -> list[dict]:
    if not csv_path.exists():
        return []
    with open(csv_path) as f:
        return list(csv.DictReader(f))


def key(r: dict) -> tuple:
    return (r["size"], r["pair"], float(r["lr_dense"]), float(r["lr_embedding"]), int(r["seed"]))


def best_lrs(rows: list[dict]) -> dict[str, tuple[float, float]]:
    """Per pair, the base-size seed-0 learning rates with the lowest final NE."""
    best: dict[str, tuple[float, tuple[float, float]]] = {}
    for r in rows:
        if r["size"] == "base" and int(r["seed"]) == 0:
            ne, lrs = float(r["ne_524k"]), (float(r["lr_dense"]), float(r["lr_embedding"]))
            if r["pair"] not in best or ne < best[r["pair"]][0]:
                best[r["pair"]] = (ne, lrs)
    return {p: v[1] for p, v in best.items()}


def mean_ne(rows: list[dict], pair: str, sizes: tuple[str, ...]) -> float:
    """Mean final NE of a pair at its best learning rates over the given sizes and all seeds."""
    lrs = best_lrs(rows).get(pair)
    vals = [float(r["ne_524k"]) for r in rows
            if r["pair"] == pair and r["size"] in sizes and (float(r["lr_dense"]), float(r["lr_embedding"])) == lrs]
    return float(np.mean(vals)) if vals else float("nan")


def plan(grid: str, rows: list[dict]) -> list[tuple[Size, str, float, float, int]]:
    """The runs of one grid: (size, pair, lr_dense, lr_embedding, seed)."""
    if grid == "tune":
        return [(SIZES["base"], f"{d}/{s}", ld, le, 0) for (d, s), lrs in TUNE.items() for ld, le in lrs]
    best = best_lrs(rows)
    if grid == "sizes":
        return [(SIZES[n], p, *best[p], seed) for seed in (0, 1) for n in ("base", "small", "large") for p in SIZE_PAIRS]
    if grid == "arch":
        dlrm = ("small", "base", "large")
        top2 = sorted(SIZE_PAIRS, key=lambda p: mean_ne(rows, p, dlrm))[:2]  # pairs measured at every size
        return [(SIZES[n], p, *best[p], seed) for seed in (0, 1) for n in ("dcn", "wukong") for p in top2]
    if grid == "more":  # if time allows: the fourth pair across sizes, the third pair on the architectures
        dlrm = ("small", "base", "large")
        rest = [p for p in sorted(best, key=lambda p: mean_ne(rows, p, dlrm)) if p not in SIZE_PAIRS]
        third = sorted(SIZE_PAIRS, key=lambda p: mean_ne(rows, p, dlrm))[2]
        return [(SIZES[n], p, *best[p], seed) for p in rest for seed in (0, 1) for n in dlrm] + [
            (SIZES[n], third, *best[third], 0) for n in ("dcn", "wukong")]
    if grid == "archlr":  # each pair's rates re-checked on DCNv2 and Wukong, one step lower (seed 0)
        lower = (("adam/adam", 1e-3, 2e-3), ("adagrad/adagrad", 0.01, 0.05))
        return [(SIZES[n], p, ld, le, 0) for n in ("dcn", "wukong") for p, ld, le in lower]
    if grid == "wukongmix":  # which side of Wukong prefers Adagrad: the mixed pairs (seed 0)
        return [(SIZES["wukong"], "adagrad/adam", 0.01, 4e-3, 0), (SIZES["wukong"], "adam/adagrad", 1e-3, 0.05, 0)]
    raise SystemExit(f"--grid: must be one of {', '.join(GRIDS)}; got {grid!r}")


def run_one(ds, size: Size, pair: str, lr_dense: float, lr_emb: float, seed: int) -> tuple[list[float], float]:
    from recscale.train.config import TrainConfig
    from recscale.train.trainer import Trainer

    dense_opt, sparse_opt = pair.split("/")
    cfg = TrainConfig(batch_size=256, eval_rows=40_000, lr_dense=lr_dense, lr_embedding=lr_emb,
                      dense_optimizer=dense_opt, sparse_optimizer=sparse_opt, threads=1)
    t0 = time.perf_counter()
    points = Trainer(model_config(size, ds), cfg, ds, seed).run(CHECKPOINTS)
    return [p.evaluation.ne for p in points], time.perf_counter() - t0


def sweep(grid: str, csv_path: Path, data: Path, shard: tuple[int, int]) -> None:
    import torch

    torch.set_num_threads(1)
    ds = demo_world(data)
    rows = read(csv_path)
    done = {key(r) for r in rows}
    # Shards split the whole plan (not what is left), so processes started at different times agree.
    mine = [t for i, t in enumerate(plan(grid, rows)) if i % shard[1] == shard[0]]
    for size, pair, ld, le, seed in mine:
        if (size.name, pair, ld, le, seed) in done:
            continue
        nes, wall = run_one(ds, size, pair, ld, le, seed)
        row = dict(zip(FIELDS, (grid, size.arch, size.name, pair, ld, le, seed, *(f"{x:.5f}" for x in nes), f"{wall:.0f}")))
        new = not csv_path.exists()
        with open(csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            if new:
                w.writeheader()
            w.writerow(row)
            f.flush()
            os.fsync(f.fileno())
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)


def table(csv_path: Path) -> None:
    """Markdown: every run, then per (size, pair) the mean over seeds."""
    rows = read(csv_path)
    print("| grid | size | pair (dense/sparse) | lr dense | lr emb | seed | NE 131k | NE 262k | NE 524k | s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['grid']} | {r['size']} | {r['pair']} | {float(r['lr_dense']):g} | {float(r['lr_embedding']):g} | "
              f"{r['seed']} | {r['ne_131k']} | {r['ne_262k']} | {r['ne_524k']} | {r['wall_s']} |")
    best = best_lrs(rows)
    groups: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if best.get(r["pair"]) == (float(r["lr_dense"]), float(r["lr_embedding"])):
            groups.setdefault((r["size"], r["pair"]), []).append(float(r["ne_524k"]))
    print("\n| size | pair (dense/sparse) | lr dense / emb | seeds | NE 524k mean | seed range |")
    print("|---|---|---|---|---|---|")
    for (size, pair), v in sorted(groups.items(), key=lambda kv: (list(SIZES).index(kv[0][0]), np.mean(kv[1]))):
        lr = "/".join(f"{x:g}" for x in best[pair])
        print(f"| {size} | {pair} | {lr} | {len(v)} | {np.mean(v):.4f} | {max(v) - min(v):.4f} |")
    # The decision: mean over seeds per size, and the mean over the sizes where every pair ran.
    names = [n for n in SIZES if any(sz == n for sz, _ in groups)]
    pairs = sorted({p for _, p in groups}, key=lambda p: (p not in SIZE_PAIRS, p))
    common = [n for n in names if all((n, p) in groups for p in pairs if p in SIZE_PAIRS)]
    print("\n| pair (dense/sparse) | " + " | ".join(names) + f" | mean over {', '.join(common)} | mean over all |")
    print("|---" * (len(names) + 3) + "|")
    for p in pairs:
        cells = [f"{np.mean(groups[n, p]):.4f}" if (n, p) in groups else "—" for n in names]
        avgs = [f"{np.mean([np.mean(groups[n, p]) for n in ns]):.4f}" if all((n, p) in groups for n in ns) else "—"
                for ns in (common, names)]
        print(f"| {p} | " + " | ".join(cells + avgs) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", choices=GRIDS)
    ap.add_argument("--csv", type=Path, default=Path("/tmp/optimizer_sweep.csv"))
    ap.add_argument("--data", type=Path, default=Path("/tmp/recscale_demo_world"))
    ap.add_argument("--shard", default="0/1", help="i/n: run every n-th pending run starting at i")
    ap.add_argument("--table", action="store_true", help="print the Markdown tables from the CSV")
    a = ap.parse_args()
    if a.grid:
        i, n = (int(x) for x in a.shard.split("/"))
        sweep(a.grid, a.csv, a.data, (i, n))
    if a.table:
        table(a.csv)


if __name__ == "__main__":
    main()
