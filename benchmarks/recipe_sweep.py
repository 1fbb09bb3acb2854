"""Which training recipe should be the default? The whole learning curve, measured, not its last point.

Every demo curve used to sit near NE = 1 for its first 60-90 optimiser steps (issue 16): a fit along
data then measured the optimiser's start-up, not data scaling. Each run here trains one model in one
pass over the demo world (examples/quick.toml's ``[data.synthetic]``: 524,288 training rows, 40,000
eval rows), batch 256, one torch thread, and records NE at all 15 of the demo's checkpoints (4,096 to
524,288 samples, two per doubling). A recipe is judged on

* the mean NE over the 15 checkpoints (the whole curve; lower is better),
* the NE at the first checkpoints (does the model learn from the start?),
* the final NE, which must stay within seed noise of the previous default,
* where the fit-range rule (recscale.laws.fitrange) starts each seed-mean curve.

Recipes (dense/sparse optimiser, learning rates, embedding initialisation, output-layer init):

* ``today``: Adam 2e-3 / lazy Adam 4e-3, rows U(±1/sqrt(rows)), output weights x0.1 (the default
  before this sweep);
* ``old``: Adagrad 0.02 / Adagrad 0.05, the same initialisation (the default before Adam);
* ``new``: Adam 5e-3 / lazy Adam 4e-3, rows U(±0.05), output weights x0.1 (the default of stops 21-23);
* ``new-out1-lre4e-3``: the same with the output weights as initialised (no x0.1);
* ``new-lre1e-2``: the same as ``new`` with lazy Adam at 1e-2;
* ``new-out1``: Adam 5e-3 / lazy Adam 1e-2, rows U(±0.05), output weights as initialised (no x0.1);
* ``adam1e-2``: Adam 1e-2 / lazy Adam 1e-2, rows U(±0.1), output weights as initialised;
* ``ramp`` (the default): ``today`` with the batch ramp (``train.batch_ramp = 8``).

Every recipe but ``ramp`` sets ``batch_ramp = 1``, so each trains as it did when it was measured.

Models: the demo's base DLRM and four of its scheme variants (mlp_width 4 and 256, embedding_dim 128,
embedding_rows 32,768), and DCNv2 and Wukong on the same base. Seeds 0 and 1.

Results are appended to a CSV one run at a time (a killed sweep resumes), so two processes
(``--shard 0/2`` and ``--shard 1/2``) can share the work.

Run:
  python benchmarks/recipe_sweep.py --shard 0/2 --csv /tmp/recipes.csv &
  python benchmarks/recipe_sweep.py --shard 1/2 --csv /tmp/recipes.csv
  python benchmarks/recipe_sweep.py --table --csv /tmp/recipes.csv
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

_ADAM = {"dense_optimizer": "adam", "sparse_optimizer": "adam", "lr_embedding": 4e-3, "output_x01": True}
RECIPES: dict[str, dict] = {
    "today": {**_ADAM, "lr_dense": 2e-3, "embedding_init": None, "batch_ramp": 1},
    "old": {"dense_optimizer": "adagrad", "sparse_optimizer": "adagrad", "lr_dense": 0.02, "lr_embedding": 0.05,
            "embedding_init": None, "output_x01": True, "batch_ramp": 1},
    "new": {**_ADAM, "lr_dense": 5e-3, "embedding_init": 0.05, "batch_ramp": 1},
    "new-out1-lre4e-3": {**_ADAM, "lr_dense": 5e-3, "embedding_init": 0.05, "output_x01": False, "batch_ramp": 1},
    "new-lre1e-2": {**_ADAM, "lr_dense": 5e-3, "lr_embedding": 1e-2, "embedding_init": 0.05, "batch_ramp": 1},
    "new-out1": {**_ADAM, "lr_dense": 5e-3, "lr_embedding": 1e-2, "embedding_init": 0.05, "output_x01": False,
                 "batch_ramp": 1},
    "adam1e-2": {**_ADAM, "lr_dense": 1e-2, "lr_embedding": 1e-2, "embedding_init": 0.1, "output_x01": False,
                 "batch_ramp": 1},
    # The default since stop 24: today's rates and initialisation with the batch ramp (train.batch_ramp: batches of
    # 256 / 8 first, doubled every 128 steps, the MLPs' rate x (b / 256)^0.25 meanwhile).
    "ramp": {**_ADAM, "lr_dense": 2e-3, "embedding_init": None, "batch_ramp": 8},
}
BASE = {"embedding_dim": 8, "embedding_rows": 4096, "bottom_mlp": (16, 16), "top_mlp": (8, 8)}
MODELS: dict[str, tuple[str, dict]] = {
    "base": ("dlrm", {}),
    "mlp4": ("dlrm", {"bottom_mlp": (4, 4)}),
    "mlp256": ("dlrm", {"bottom_mlp": (256, 256)}),
    "dim128": ("dlrm", {"embedding_dim": 128}),
    "rows32k": ("dlrm", {"embedding_rows": 32768}),
    "dcnv2": ("dcnv2", {"cross_layers": 2, "cross_rank": 8}),
    "wukong": ("wukong", {"layers": 2, "fmb_embeddings": 4, "lcb_embeddings": 4, "fm_rank": 4, "fmb_mlp": (16,)}),
}
SEEDS = (0, 1)
FIELDS = ("recipe", "model", "seed", "ne", "wall_s")


def demo_world(path: Path):
    """The demo's dataset, generated once from examples/quick.toml (as `recscale study run` would)."""
    from recscale.data.shards import Dataset
    from recscale.data.synthetic import generate
    from recscale.study.spec import load_spec

    if (path / "meta.json").exists():
        return Dataset(path)
    s = load_spec(REPO / "examples" / "quick.toml").data.synthetic
    return generate(s.world, path, rows=s.rows, eval_rows=s.eval_rows, seed=s.seed)


def checkpoints() -> list[int]:
    from recscale.study.spec import load_spec

    return load_spec(REPO / "examples" / "quick.toml").checkpoint_samples()


@contextlib.contextmanager
def output_x01(enabled: bool):
    """Keep the output layer's weights as initialised (no x0.1) in every built-in architecture unless ``enabled``."""
    if enabled:
        yield
        return
    import torch

    from recscale.model import dcn, dlrm, wukong

    orig = dlrm.init_output_bias

    @torch.no_grad()
    def bias_only(last, base_ctr):  # the bias at the base rate, the weights as initialised
        if base_ctr is not None:
            last.bias.fill_(math.log(base_ctr / (1 - base_ctr)))

    for m in (dlrm, dcn, wukong):
        m.init_output_bias = bias_only
    try:
        yield
    finally:
        for m in (dlrm, dcn, wukong):
            m.init_output_bias = orig


def run_one(ds, recipe: str, model: str, seed: int) -> tuple[list[float], float]:
    from recscale.model.config import ARCHITECTURES
    from recscale.train.config import TrainConfig
    from recscale.train.trainer import Trainer

    r = dict(RECIPES[recipe])
    old_out = r.pop("output_x01")
    arch, extra = MODELS[model]
    cfg = ARCHITECTURES[arch](n_dense=ds.n_dense, cardinalities=tuple(ds.cardinalities), **{**BASE, **extra})
    tc = TrainConfig(batch_size=256, eval_rows=40_000, threads=1, **r)
    t0 = time.perf_counter()
    with output_x01(old_out):
        points = Trainer(cfg, tc, ds, seed).run(checkpoints())
    return [p.evaluation.ne for p in points], time.perf_counter() - t0


def read(csv_path: Path) -> list[dict]:
    if not csv_path.exists():
        return []
    with open(csv_path) as f:
        return list(csv.DictReader(f))


def sweep(csv_path: Path, data: Path, shard: tuple[int, int], recipes: list[str], models: list[str],
          seeds: tuple[int, ...] = SEEDS) -> None:
    import torch

    torch.set_num_threads(1)
    ds = demo_world(data)
    done = {(r["recipe"], r["model"], int(r["seed"])) for r in read(csv_path)}
    plan = [(r, m, s) for s in seeds for m in models for r in recipes]
    for i, (recipe, model, seed) in enumerate(plan):
        if i % shard[1] != shard[0] or (recipe, model, seed) in done:
            continue
        nes, wall = run_one(ds, recipe, model, seed)
        row = {"recipe": recipe, "model": model, "seed": seed, "ne": " ".join(f"{x:.5f}" for x in nes), "wall_s": f"{wall:.0f}"}
        new = not csv_path.exists()
        with open(csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            if new:
                w.writeheader()
            w.writerow(row)
            f.flush()
            os.fsync(f.fileno())
        print(f"{recipe} {model} seed={seed} mean={np.mean(nes):.4f} first={nes[0]:.4f} final={nes[-1]:.4f} {wall:.0f}s",
              flush=True)


def table(csv_path: Path) -> None:
    """Markdown: per recipe and model, NE at 4 checkpoints (both seeds), the mean, and the fit range's start."""
    from recscale.laws import fit_power_law
    from recscale.laws.fitrange import fit_start

    cps = checkpoints()
    show = [0, 2, 4, 8, len(cps) - 1]
    runs: dict[tuple[str, str], dict[int, np.ndarray]] = {}
    for r in read(csv_path):
        runs.setdefault((r["recipe"], r["model"]), {})[int(r["seed"])] = np.array([float(v) for v in r["ne"].split()])
    head = " | ".join(f"NE at {cps[i]:,}" for i in show)
    print(f"| recipe | model | {head} | mean over {len(cps)} checkpoints | fit range starts at |")
    print("|---|---|" + "---|" * len(show) + "---|---|")
    summary: dict[str, list[tuple[float, float, float]]] = {}
    for recipe in RECIPES:
        for model in MODELS:
            seeds = runs.get((recipe, model), {})
            if not seeds:
                continue
            cells = [" / ".join(f"{seeds[s][i]:.4f}" for s in sorted(seeds)) for i in show]
            means = [float(np.mean(seeds[s])) for s in sorted(seeds)]
            x = np.tile(np.array(cps, dtype=float), len(seeds))
            y = np.concatenate([seeds[s] for s in sorted(seeds)])
            fr = fit_start(x, y, fit_fn=fit_power_law, seeds=np.repeat(sorted(seeds), len(cps)))
            idx = cps.index(int(fr.x_start)) + 1
            print(f"| {recipe} | {model} | " + " | ".join(cells) + " | " + " / ".join(f"{m:.4f}" for m in means)
                  + f" | {int(fr.x_start):,} (checkpoint {idx}) |")
            summary.setdefault(recipe, []).append((float(np.mean(means)), float(np.mean([seeds[s][0] for s in seeds])),
                                                   float(np.mean([seeds[s][-1] for s in seeds]))))
    print("\n| recipe | models | mean NE over checkpoints | NE at the first checkpoint | final NE |")
    print("|---|---|---|---|---|")
    for recipe, v in summary.items():
        a = np.array(v)
        print(f"| {recipe} | {len(v)} | {a[:, 0].mean():.4f} | {a[:, 1].mean():.4f} | {a[:, 2].mean():.4f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", type=Path, default=Path("/tmp/recipe_sweep.csv"))
    ap.add_argument("--data", type=Path, default=Path("/tmp/recscale_demo_world"))
    ap.add_argument("--shard", default="0/1", help="i/n: run every n-th run starting at i")
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="model seeds to run (default 0,1)")
    ap.add_argument("--run", action="store_true", help="train the pending runs")
    ap.add_argument("--table", action="store_true", help="print the Markdown tables from the CSV")
    a = ap.parse_args()
    if a.run:
        i, n = (int(x) for x in a.shard.split("/"))
        sweep(a.csv, a.data, (i, n), a.recipes.split(","), a.models.split(","), tuple(int(x) for x in a.seeds.split(",")))
    if a.table:
        table(a.csv)


if __name__ == "__main__":
    main()
