"""Check the fused sparse optimisers against their references, and that bad optimiser names are refused."""

import tomllib

import numpy as np
import pytest
import torch

from recscale.errors import SpecError
from recscale.train.config import (
    DEFAULT_LR_DENSE,
    DEFAULT_LR_EMBEDDING,
    DENSE_OPTIMIZERS,
    SPARSE_OPTIMIZERS,
    TrainConfig,
)
from recscale.train.optim import (
    SparseLazyAdam,
    SparseRowwiseAdagrad,
    make_dense_optimizer,
    make_sparse_optimizer,
)

IDS = [torch.tensor([3, 7, 3, 49, 0]), torch.tensor([7, 7, 1]), torch.tensor([0, 3])]


def _grads(d: int = 4) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(len(i), d, generator=gen) for i in IDS]


def test_lazy_adam_equals_torch_sparse_adam():
    """Check the fused lazy Adam against torch.optim.SparseAdam on sparse gradients (repeated ids, rows left untouched)."""
    w0 = torch.randn(50, 4, generator=torch.Generator().manual_seed(1))
    ours = w0.clone()
    opt = SparseLazyAdam(ours, lr=0.01)
    ref = torch.nn.Parameter(w0.clone())
    ref_opt = torch.optim.SparseAdam([ref], lr=0.01)
    for ids, g in zip(IDS, _grads()):
        opt.step(ids, g)
        ref.grad = torch.sparse_coo_tensor(ids.unsqueeze(0), g, (50, 4), check_invariants=True)
        ref_opt.step()
    torch.testing.assert_close(ours, ref.detach(), rtol=1e-6, atol=1e-7)
    assert not torch.equal(ours, w0)


def test_rowwise_adagrad_matches_its_equation():
    """Check s_r += mean_d(g_rd²), w_r -= lr·g_r/(sqrt(s_r)+eps), with a batch's repeated ids summed first (NumPy loop)."""
    w0 = torch.randn(50, 4, generator=torch.Generator().manual_seed(2))
    ours = w0.clone()
    opt = SparseRowwiseAdagrad(ours, lr=0.1)
    w, s = w0.double().numpy().copy(), np.zeros(50)
    for ids, g in zip(IDS, _grads()):
        opt.step(ids, g)
        summed = {}
        for r, gr in zip(ids.tolist(), g.double().numpy()):
            summed[r] = summed.get(r, 0) + gr
        for r, gr in summed.items():
            s[r] += (gr**2).mean()
            w[r] -= 0.1 * gr / (np.sqrt(s[r]) + 1e-10)
    np.testing.assert_allclose(ours.double().numpy(), w, rtol=1e-6, atol=1e-6)
    assert opt.state.shape == (50,)  # one accumulator per row


@pytest.mark.parametrize("name", SPARSE_OPTIMIZERS)
def test_sparse_state_round_trips(name):
    """Check that loading an optimiser's state_dict into a fresh one continues with identical updates."""
    a_w, b_w = torch.zeros(20, 3), torch.zeros(20, 3)
    a = make_sparse_optimizer(name, a_w, 0.1)
    grads = _grads(3)
    a.step(IDS[0] % 20, grads[0])
    b_w.copy_(a_w)
    b = make_sparse_optimizer(name, b_w, 0.1)
    b.load_state_dict({k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in a.state_dict().items()})
    for opt in (a, b):
        opt.step(IDS[1] % 20, grads[1])
    assert torch.equal(a_w, b_w)


def test_bad_optimizer_names_are_refused():
    """Check that an unknown optimiser name is a one-line error naming the field and the allowed values."""
    with pytest.raises(ValueError, match=r"train.dense_optimizer: must be one of adagrad, adam; got 'sgd'"):
        TrainConfig(dense_optimizer="sgd")
    with pytest.raises(ValueError, match=r"train.sparse_optimizer: must be one of adagrad, rowwise_adagrad, adam; got 'lamb'"):
        TrainConfig(sparse_optimizer="lamb")
    with pytest.raises(ValueError, match=r"sparse_optimizer must be one of .*; got 'x'"):
        make_sparse_optimizer("x", torch.zeros(2, 2), 0.1)
    with pytest.raises(ValueError, match=r"dense_optimizer must be one of .*; got 'x'"):
        make_dense_optimizer("x", [torch.nn.Parameter(torch.zeros(2))], 0.1)
    assert DENSE_OPTIMIZERS == ("adagrad", "adam")


def test_spec_reads_optimizer_names():
    """Check that [train] dense_optimizer/sparse_optimizer reach TrainConfig from a spec, and a bad one names the field."""
    from recscale.study.spec import parse_spec
    from tests.study.conftest import TEST_SPEC

    raw = tomllib.loads(TEST_SPEC)
    raw["train"].update(dense_optimizer="adam", sparse_optimizer="rowwise_adagrad")
    spec = parse_spec(raw)
    assert (spec.train.dense_optimizer, spec.train.sparse_optimizer) == ("adam", "rowwise_adagrad")
    raw["train"]["sparse_optimizer"] = "adamw"
    with pytest.raises(SpecError, match=r"train.sparse_optimizer: must be one of adagrad, rowwise_adagrad, adam; got 'adamw'"):
        parse_spec(raw)


def test_learning_rates_default_per_optimizer():
    """Check that an optimiser named without a learning rate gets its own default (Adam's far below
    Adagrad's), that a given rate wins, and that the config holds the resolved number (round trip)."""
    ada = TrainConfig(dense_optimizer="adagrad", sparse_optimizer="adagrad")
    adam = TrainConfig(dense_optimizer="adam", sparse_optimizer="adam")
    assert (ada.lr_dense, ada.lr_embedding) == (DEFAULT_LR_DENSE["adagrad"], DEFAULT_LR_EMBEDDING["adagrad"])
    assert (adam.lr_dense, adam.lr_embedding) == (DEFAULT_LR_DENSE["adam"], DEFAULT_LR_EMBEDDING["adam"])
    assert adam.lr_dense <= ada.lr_dense / 4 and adam.lr_embedding <= ada.lr_embedding / 4
    assert TrainConfig(sparse_optimizer="rowwise_adagrad").lr_embedding == DEFAULT_LR_EMBEDDING["rowwise_adagrad"]
    assert TrainConfig(dense_optimizer="adam", lr_dense=0.01).lr_dense == 0.01
    assert TrainConfig(**adam.to_dict()) == adam and isinstance(adam.to_dict()["lr_embedding"], float)


def test_default_pair_is_the_measured_one():
    """Check the default recipe chosen by benchmarks/optimizer_sweep.py and benchmarks/recipe_sweep.py (RESULTS.md,
    "Optimiser defaults" and "Training recipe"): changing it changes every study's numbers, so it must be a
    deliberate edit here too."""
    cfg = TrainConfig()
    assert (cfg.dense_optimizer, cfg.sparse_optimizer) == ("adam", "adam")
    assert (cfg.lr_dense, cfg.lr_embedding, cfg.embedding_init) == (2e-3, 4e-3, None)
    assert (cfg.batch_ramp, cfg.batch_ramp_steps) == (8, 128)


def test_spec_without_rates_gets_the_optimizers_defaults():
    """Check that a spec naming an optimiser but no learning rate trains at that optimiser's default."""
    from recscale.study.spec import parse_spec
    from tests.study.conftest import TEST_SPEC

    raw = tomllib.loads(TEST_SPEC)
    raw["train"] = {k: v for k, v in raw["train"].items() if not k.startswith("lr_")}
    raw["train"].update(dense_optimizer="adagrad", sparse_optimizer="rowwise_adagrad")
    t = parse_spec(raw).train
    assert (t.lr_dense, t.lr_embedding) == (DEFAULT_LR_DENSE["adagrad"], DEFAULT_LR_EMBEDDING["rowwise_adagrad"])
