"""A study with known laws, written straight into a ledger (no training, no torch): the report's fixture.

Every model's NE follows NE = α·D^-β + γ exactly, times seeded log-normal noise, with γ above the
world's Bayes NE, so a report can be checked against the truth (STYLE rule 8).
"""

from __future__ import annotations

import zlib

import numpy as np

from recscale.study.ledger import Ledger, TrialRow

BAYES_NE = 0.75
BAYES_SE = 3e-4
BETA = 0.30
BASE = {"mlp_width": 32, "overarch_width": 32, "embedding_dim": 8, "embedding_rows": 8000}
SIZES = {
    "mlp_width": [8, 32, 128], "overarch_width": [8, 32, 128],
    "embedding_dim": [2, 8, 32], "embedding_rows": [500, 8000, 128000],
}  # fmt: skip
CHECKPOINTS = [int(round(x / 256)) * 256 for x in np.geomspace(1024, 1_048_576, 11)]
SPEC_TOML = '# planted test study\nname = "planted"\nseeds = [0, 1]\n'


def _stable_seed(label: str, seed: int) -> int:
    """A noise seed per (model, seed) that every process agrees on (``hash()`` of a str is salted per process)."""
    return zlib.crc32(f"{label}-s{seed}".encode())


def model_of(scheme: str, value: int) -> dict[str, int]:
    m = dict(BASE)
    m[scheme] = value
    return m


def _rank(m: dict[str, int]) -> float:
    """How much better than the smallest model this one is, in [0, 1]: a product of saturating gains."""
    g = 0.0
    for k, v in m.items():
        lo, hi = min(SIZES[k]), max(SIZES[k])
        g += 0.25 * np.log(v / lo) / np.log(hi / lo)
    return g


def law(m: dict[str, int]) -> tuple[float, float, float]:
    """The planted (α, β, γ) of a model: bigger models get a lower floor and a lower α."""
    r = _rank(m)
    return 6.0 * (1.0 - 0.25 * r), BETA, BAYES_NE + 0.030 * (1.0 - r) + 0.005


def planted_rows(schemes=None, seeds=(0, 1), noise=0.0015, checkpoints=CHECKPOINTS, overrides=None):
    """Trials of the planted study: a list of (TrialRow, points).

    Args:
        schemes: Subset of :data:`SIZES` keys (default: all four).
        seeds: Seeds.
        noise: Standard deviation of the log-normal noise on NE.
        checkpoints: Data sizes evaluated.
        overrides: {(scheme, value): function(samples array, ne array) -> ne array} to distort curves.
    """
    schemes = list(schemes or SIZES)
    overrides = overrides or {}
    models: dict[tuple, list[tuple[str, int]]] = {}
    for s in schemes:
        for v in SIZES[s]:
            m = model_of(s, v)
            models.setdefault(tuple(sorted(m.items())), []).append((s, v))
    out = []
    D = np.array(checkpoints, dtype=float)
    for key, members in models.items():
        m = dict(key)
        a, b, g = law(m)
        dense = 500 + 30 * m["mlp_width"] + 370 * m["overarch_width"]
        sparse = m["embedding_dim"] * min(m["embedding_rows"], 60_000) * 26
        label = f"D{m['embedding_dim']}-R{m['embedding_rows']}-B{m['mlp_width']}-T{m['overarch_width']}-dot"
        for seed in seeds:
            rng = np.random.default_rng(_stable_seed(label, seed))
            ne = (a * D**-b + g) * np.exp(rng.normal(0.0, noise, D.size))
            for mem in members:
                if mem in overrides:
                    ne = overrides[mem](D, ne)
            row = TrialRow(
                trial_id=f"{label}-s{seed}", seed=seed, label=label,
                model={"embedding_dim": m["embedding_dim"], "embedding_rows": m["embedding_rows"],
                       "bottom_mlp": [m["mlp_width"]], "top_mlp": [m["overarch_width"]], "interaction": "dot"},
                params_dense=dense, params_sparse=sparse, params_total=dense + sparse,
                flops_per_sample=2 * dense + 52 * m["embedding_dim"], memberships=tuple(members),
            )  # fmt: skip
            points = [{"samples": int(d), "ne": float(y), "logloss": float(y) * 0.42, "auc": 0.7, "calibration": 1.0,
                       "base_ctr": 0.15, "wall_s": 0.01 * i} for i, (d, y) in enumerate(zip(D, ne))]  # fmt: skip
            out.append((row, points))
    return out


def write_ledger(path, schemes=None, **kw) -> None:
    """Write the planted study into a new ledger at ``path``, with provenance like a real run."""
    rows = planted_rows(schemes, **kw)
    cps = kw.get("checkpoints", CHECKPOINTS)
    with Ledger(path) as led:
        led.set_meta({
            "spec_hash": "planted", "spec_name": "planted", "spec": {"name": "planted"}, "spec_toml": SPEC_TOML,
            "dataset": "/nowhere/synthetic", "checkpoints": list(cps), "created_at": "2026-01-01T00:00:00",
            "dataset_meta": {"format": "recscale-shards", "cardinalities": [4, 100, 60_000],
                             "world": {"bayes_ne": BAYES_NE, "bayes_ne_se": BAYES_SE, "ctr": 0.15}},
            "versions": {"recscale": "test", "python": "3"}, "machine": {"platform": "test", "cpus": 2},
        })  # fmt: skip
        led.add_trials([r for r, _ in rows])
        for r, pts in rows:
            led.record_trial(r.trial_id, pts, wall_s=1.0)
        led.set_reference([(int(c), BAYES_NE, BAYES_SE, BAYES_NE + 0.002) for c in cps])
        led.set_meta({"last_run_wall_s": 12.5, "last_run_workers": 2, "last_run_device": "cpu"})


# ---- several architectures: planted compute laws ----------------------------------------------------

ARCH_FLOOR = 0.745  # the eval-rows floor of the multi-architecture fixture (below every planted γ)
ARCH_FLOOR_SE = 0.002  # SE of a single NE on its eval rows
ARCH_C0 = 3e8  # training FLOPs of the smallest model at the first checkpoint
# architecture: (scheme, FLOPs per sample of its models, β along compute, γ, NE - γ at ARCH_C0)
ARCH_LAWS = {
    "dlrm": ("mlp_width", [1e5, 2e5, 4e5, 8e5], 0.20, 0.760, 0.08),
    "dcnv2": ("cross_layers", [1.5e5, 3e5, 6e5, 1.2e6], 0.70, 0.770, 0.09),
    "wukong": ("layers", [2e5, 4e5, 8e5, 1.6e6], 0.30, 0.750, 0.10),
}


def arch_ne(arch: str, train_flops, laws=None):
    """The planted NE of an architecture at training FLOPs C: α·C^-β + γ (every model on the same law)."""
    _, _, b, g, e0 = (laws or ARCH_LAWS)[arch]
    return e0 * (np.asarray(train_flops, dtype=float) / ARCH_C0) ** -b + g


def arch_frame(laws=None, seeds=(0, 1), noise=0.0008, checkpoints=CHECKPOINTS, dense_per_flop=10.0, sparse=0.0):
    """A study export with an ``architecture`` column: every model's NE follows its architecture's compute law.

    Args:
        laws: {architecture: (scheme, FLOPs per sample of its models, β, γ, NE - γ at ARCH_C0)}; default ARCH_LAWS.
        dense_per_flop: Dense parameters per FLOP per sample.
        sparse: Embedding parameters of every model (shared tables, as in ``examples/architectures.toml``).

    Each architecture has one scheme of four models; dense parameters are ``dense_per_flop`` × FLOPs
    per sample, so at a fixed data size NE falls with dense parameters along the same exponent as
    along compute.
    """
    import pandas as pd

    rows = []
    D = np.array(checkpoints, dtype=float)
    laws = laws or ARCH_LAWS
    for arch in laws:
        scheme, fps, _, _, _ = laws[arch]
        for i, f in enumerate(fps):
            label = f"{arch}-{scheme}-{i}"
            C = 3.0 * f * D
            for seed in seeds:
                rng = np.random.default_rng(_stable_seed(label, seed))
                ne = arch_ne(arch, C, laws) * np.exp(rng.normal(0.0, noise, D.size))
                for d, c, y in zip(D, C, ne):
                    rows.append({"trial_id": f"{label}-s{seed}", "scheme": scheme, "value": i + 1, "seed": seed,
                                 "params_dense": dense_per_flop * f, "params_sparse": sparse,
                                 "params_total": dense_per_flop * f + sparse,
                                 "flops_per_sample": f, "samples": int(d), "train_flops": c, "ne": float(y),
                                 "label": label, "architecture": arch, "bayes_ne": ARCH_FLOOR - 0.001})
    return pd.DataFrame(rows)


def arch_study(frame):
    """A report Study of an architecture frame, with an eval-rows floor as a ledger would record."""
    from recscale.report.study import Study

    return Study(frame=frame, source="planted-architectures", kind="table", name="planted-architectures",
                 bayes_ne=ARCH_FLOOR - 0.001, bayes_ne_se=3e-4, bayes_source="planted", provenance=None,
                 eval_floor=ARCH_FLOOR, eval_floor_se=ARCH_FLOOR_SE, eval_rows=40_000)
