"""The study's reference curves on a synthetic world: what the data allow, beside what a model got.

The floor (the world's Bayes NE) and the seen-id oracle are properties of the study's data and
eval rows, not of the generator, so they live with the study: the driver writes them to the
ledger's ``reference`` table once per ledger (common random numbers: the same eval rows as every trial).
"""

from __future__ import annotations

import numpy as np

from recscale.data.shards import Dataset
from recscale.data.synthetic import WorldConfig, shared_teacher
from recscale.metrics import evaluate


def reference_rows(ds: Dataset, checkpoints: list[int], eval_rows: int | None) -> list[tuple]:
    """Rows of the ledger's ``reference`` table: (samples, bayes_ne, bayes_ne_se, oracle_ne)."""
    w = ds.meta["world"]
    oracle = seen_id_oracle_ne(ds, checkpoints, eval_rows=eval_rows)
    return [(c, w["bayes_ne"], w["bayes_ne_se"], oracle[c]) for c in checkpoints]


def seen_id_oracle_ne(dataset: Dataset, checkpoints: list[int], eval_rows: int | None = None) -> dict[int, float]:
    """NE of the teacher restricted to ids seen in the first D training rows, for each D.

    D counts rows of the file order; under ``train.stream = "per_seed"`` a seed's first D rows are
    another draw of D rows from the same world, whose seen ids differ by that draw's chance alone.
    Unseen ids contribute their prior mean (zero) to every part of the logit. This is the best a
    learner could do if it knew the teacher's function and every seen id's parameters exactly, so
    the student's gap above it is the student's, and the oracle's gap above Bayes is the data's.
    """
    w = dataset.meta.get("world")
    if w is None:
        raise ValueError(f"{dataset.path} is not a synthetic dataset")
    world = WorldConfig(**w["config"])
    teacher = shared_teacher(world, int(w["seed"]))
    train, ev = dataset.split("train"), dataset.split("eval")
    n_eval = ev.rows if eval_rows is None else min(eval_rows, ev.rows)
    dense, sparse = np.asarray(ev.dense[:n_eval]), np.asarray(ev.sparse[:n_eval])
    labels = np.asarray(ev.labels[:n_eval], dtype=np.float64)
    # first_seen[f][id] = first training row where feature f takes that id (inf if never).
    stop = min(max(checkpoints), train.rows)
    first_seen = []
    for f in range(world.n_sparse):
        col = np.asarray(train.sparse[:stop, f])
        ids, idx = np.unique(col, return_index=True)
        fs = np.full(world.cardinalities[f], np.iinfo(np.int64).max, dtype=np.int64)
        fs[ids] = idx
        first_seen.append(fs[sparse[:, f]])
    first_seen_rows = np.stack(first_seen, axis=1)

    out = {}
    for d in checkpoints:
        known = first_seen_rows < d
        out[int(d)] = evaluate(labels, teacher.logit(dense, sparse, known)).ne
    return out
