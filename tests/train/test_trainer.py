"""Check the trainer's science: exact prefix evaluation, determinism, and the oracle floor."""

import numpy as np
import pytest
import torch

from recscale.model.config import DCNConfig, DLRMConfig, PluginConfig, WukongConfig
from recscale.train.config import TrainConfig
from recscale.train.optim import SparseRowAdagrad
from recscale.train.trainer import Trainer, TrainState


def _cfg(ds, arch="dlrm", **kw):
    common = dict(n_dense=ds.n_dense, cardinalities=tuple(ds.cardinalities), embedding_dim=8, embedding_rows=2000,
                  bottom_mlp=(16,), top_mlp=(16,), **kw)  # fmt: skip
    if arch == "dcnv2":
        return DCNConfig(**common, cross_layers=2, cross_rank=4)
    if arch == "wukong":
        return WukongConfig(**common, layers=2, fmb_embeddings=4, lcb_embeddings=4, fm_rank=4, fmb_mlp=(16,))
    if arch == "plugin":  # a user architecture (recscale.model.plugin): the DLRM re-written as one
        from tests.model.dlrm_plugin import TARGET

        common = {k: v for k, v in common.items() if k not in ("bottom_mlp", "top_mlp")}
        return PluginConfig("DLRMPlugin", TARGET, **common, kwargs=(("bottom", (16,)), ("top", (16,))))
    return DLRMConfig(**common)


ARCHS = ["dlrm", "dcnv2", "wukong", "plugin"]
# Every architecture with the default optimisers, and every other optimiser on the cheapest one.
ARCH_OPTS = [(a, "adam", "adam") for a in ARCHS] + [
    ("wukong", "adagrad", "adagrad"), ("dlrm", "adam", "rowwise_adagrad"), ("dcnv2", "adagrad", "adam"),
    ("plugin", "adagrad", "rowwise_adagrad"),
]  # fmt: skip


@pytest.mark.parametrize(("arch", "dense_opt", "sparse_opt"), ARCH_OPTS)
def test_prefix_evaluation_is_exact(small_synth, arch, dense_opt, sparse_opt):
    """Check that NE at D in a run of 4D equals NE of a separate run that stops at D (same seed)."""
    tc = TrainConfig(batch_size=256, eval_rows=5000, dense_optimizer=dense_opt, sparse_optimizer=sparse_opt)
    d = 2048
    long = Trainer(_cfg(small_synth, arch), tc, small_synth, seed=3).run([d, 2 * d, 4 * d])
    short = Trainer(_cfg(small_synth, arch), tc, small_synth, seed=3).run([d])
    assert long[0].samples == short[0].samples == d
    assert long[0].evaluation.ne == short[0].evaluation.ne
    assert long[-1].evaluation.ne < long[0].evaluation.ne  # and training does something


@pytest.mark.parametrize("arch", ARCHS)
def test_same_seed_same_numbers_other_seed_differs(small_synth, arch):
    """Check bitwise determinism for a seed, and that the seed matters."""
    tc = TrainConfig(batch_size=256, eval_rows=3000)
    runs = [Trainer(_cfg(small_synth, arch), tc, small_synth, seed=s).run([4096])[0].evaluation.ne for s in (1, 1, 2)]
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_no_model_beats_the_oracle(small_synth):
    """Check that a trained model's NE stays above the Bayes NE (within 3 SE of the eval sample)."""
    tc = TrainConfig(batch_size=256)
    ev = Trainer(_cfg(small_synth), tc, small_synth, seed=0).run([40_000 // 256 * 256])[-1].evaluation
    split = small_synth.split("eval")
    y, p = np.asarray(split.labels, float), np.asarray(split.prob, float)
    oracle = (-(y * np.log(p) + (1 - y) * np.log1p(-p))).mean() / (-(y.mean() * np.log(y.mean()) + (1 - y.mean()) * np.log1p(-y.mean())))
    se = 3 * 0.4 / np.sqrt(y.size)  # generous bound on the SE of an NE difference on this sample
    assert ev.ne > oracle - 3 * se
    assert ev.ne < 1.0


def test_checkpoints_must_be_batch_multiples(small_synth):
    """Check that a checkpoint off the batch grid is refused (it would break prefix exactness)."""
    tr = Trainer(_cfg(small_synth), TrainConfig(batch_size=256, eval_rows=100), small_synth, seed=0)
    with pytest.raises(ValueError, match="multiples of batch_size 256"):
        tr.run([1000])
    with pytest.raises(ValueError, match="exceeds the 40,000 training rows"):
        tr.run([40_192])


def test_sparse_adagrad_equals_torch_adagrad():
    """Check the fused row update against torch.optim.Adagrad on a sparse gradient, repeated ids included."""
    torch.manual_seed(0)
    w0 = torch.randn(50, 4)
    ids_seq = [torch.tensor([3, 7, 3, 49, 0]), torch.tensor([7, 7, 1])]
    grads = [torch.randn(len(i), 4) for i in ids_seq]
    ours = w0.clone()
    opt = SparseRowAdagrad(ours, lr=0.1)
    ref = torch.nn.Parameter(w0.clone())
    ref_opt = torch.optim.Adagrad([ref], lr=0.1)
    for ids, g in zip(ids_seq, grads):
        opt.step(ids, g)
        ref.grad = torch.sparse_coo_tensor(ids.unsqueeze(0), g, (50, 4), check_invariants=True)
        ref_opt.step()
    torch.testing.assert_close(ours, ref.detach(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("rows", [40, 100_000])
def test_sparse_adagrad_unique_paths_agree(rows):
    """Check that the bitmap unique (small tables) and the sort unique (large tables) agree with torch.unique."""
    opt = SparseRowAdagrad(torch.zeros(rows, 2), lr=0.1)
    ids = torch.randint(0, min(rows, 40), (300,))
    for _ in range(2):  # the scratch bitmap must be clean after each call
        uniq, inv = opt._unique(ids)
        ref_u, ref_i = torch.unique(ids, return_inverse=True)
        assert torch.equal(uniq, ref_u) and torch.equal(inv, ref_i)


@pytest.mark.parametrize(("arch", "dense_opt", "sparse_opt"), ARCH_OPTS)
def test_resume_from_snapshot_is_exact(small_synth, tmp_path, arch, dense_opt, sparse_opt):
    """Check that a trial stopped after two checkpoints and resumed from its snapshot gives the
    numbers of a trial that never stopped, bitwise, and keeps the evaluations made before the stop
    (for every architecture, and with every optimiser's state in the snapshot)."""
    tc = TrainConfig(batch_size=256, eval_rows=3000, dense_optimizer=dense_opt, sparse_optimizer=sparse_opt)
    cps = [1024, 2048, 4096, 8192]
    cfg = _cfg(small_synth, arch)
    whole = Trainer(cfg, tc, small_synth, seed=5).run(cps)
    snap = tmp_path / "trial.pt"
    first = Trainer(cfg, tc, small_synth, seed=5).run(cps[:2], snapshot=snap, snapshot_every_s=0)
    assert snap.exists()  # saved after 1,024 samples (not after a run's last checkpoint)
    # "Killed" after 4,096; this run itself resumed from the 1,024 snapshot and saved after 2,048.
    Trainer(cfg, tc, small_synth, seed=5).run(cps[:3], snapshot=snap, snapshot_every_s=0)
    resumed = Trainer(cfg, tc, small_synth, seed=99).run(cps, snapshot=snap)  # seed is overwritten
    assert [p.samples for p in resumed] == cps
    assert [p.evaluation.ne for p in resumed] == [p.evaluation.ne for p in whole]
    assert first[0].evaluation.ne == whole[0].evaluation.ne


def _lrs_per_step(warmup: int, steps: int, batch: int = 4) -> list[tuple[float, float]]:
    """(embedding lr, dense lr) used in each of ``steps`` steps of a tiny model on random batches."""
    tc = TrainConfig(batch_size=batch, lr_embedding=0.05, lr_dense=0.02, warmup_samples=warmup)
    state = TrainState(DLRMConfig(n_dense=3, cardinalities=(10, 20), embedding_dim=4, bottom_mlp=(8,), top_mlp=(8,)), tc, seed=0)
    sparse_lrs = []
    step = state.sparse_opt.step
    state.sparse_opt.step = lambda ids, grad, lr: (sparse_lrs.append(lr), step(ids, grad, lr=lr))[1]
    gen = torch.Generator().manual_seed(0)
    out = []
    for _ in range(steps):
        dense, sparse = torch.rand(batch, 3, generator=gen), torch.randint(0, 10, (batch, 2), generator=gen)
        state.step(dense, sparse, (torch.rand(batch, generator=gen) < 0.3).float())
        out.append((sparse_lrs[-1], state.dense_opt.param_groups[0]["lr"]))
    return out


@pytest.mark.parametrize("warmup, fractions", [
    (0, [1, 1, 1, 1, 1]),
    (12, [1 / 3, 2 / 3, 1, 1, 1]),  # W a multiple of B: the step reaching W trains at the full rates
    (10, [0.4, 0.8, 1, 1, 1]),  # W not a multiple: the step crossing W is capped at the full rates
])  # fmt: skip
def test_warmup_schedule_then_configured_rates(warmup, fractions):
    """Check the documented warm-up (the step after s samples uses min(1, (s + B) / W) of each rate)
    and that from W samples on both learning rates are exactly the configured ones (the dense one
    used to stay at its last warm-up value)."""
    got = _lrs_per_step(warmup, len(fractions))
    assert got == [pytest.approx((0.05 * f, 0.02 * f), rel=1e-12) for f in fractions]
    assert got[-1] == (0.05, 0.02)


def test_state_and_trainer_leave_process_state_alone(small_synth):
    """Check that building a TrainState touches neither the global RNG nor the thread count, and that
    Trainer.run trains with train.threads and restores the process's count after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = torch.random.get_rng_state()
        tr = Trainer(_cfg(small_synth), TrainConfig(batch_size=256, eval_rows=500, threads=2), small_synth, seed=7)
        assert torch.equal(torch.random.get_rng_state(), rng) and torch.get_num_threads() == 1
        during = []
        tr.run([512], on_eval=lambda p: during.append(torch.get_num_threads()))
        assert during == [2] and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
