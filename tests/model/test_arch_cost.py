"""Check that cost.py counts DCNv2 and Wukong exactly: parameters == numel, FLOPs within 1% of FlopCounterMode."""

import pytest

from recscale.model import build_model
from recscale.model.config import DCNConfig, WukongConfig
from recscale.model.cost import model_cost
from tests.model.flops import measured_flops_per_sample

CARDS = (3, 50, 1000, 100_000)
DCN_GRID = [
    DCNConfig(n_dense=13, cardinalities=CARDS, embedding_dim=8, embedding_rows=500, cross_layers=1, cross_rank=4),
    DCNConfig(n_dense=13, cardinalities=CARDS, embedding_dim=16, embedding_rows=500, cross_layers=3, cross_rank=32),
    DCNConfig(n_dense=13, cardinalities=(10,) * 26, embedding_dim=16, bottom_mlp=(512, 256, 64), top_mlp=(512, 256),
              cross_layers=3, cross_rank=64),  # fmt: skip
    DCNConfig(n_dense=4, cardinalities=(7, 9), embedding_dim=4, bottom_mlp=(), top_mlp=(8,), cross_layers=2, cross_rank=None),
    DCNConfig(n_dense=13, cardinalities=(10,) * 8, embedding_dim=8, cross_layers=4, cross_rank=None),
    DCNConfig(n_dense=13, cardinalities=CARDS, embedding_dim=8, cross_layers=0),
]
WUKONG_GRID = [
    WukongConfig(n_dense=13, cardinalities=CARDS, embedding_dim=8, embedding_rows=500, layers=1, fmb_embeddings=2,
                 lcb_embeddings=3, fm_rank=2, fmb_mlp=(16,)),  # fmt: skip  (n_0 = 5 = n_F + n_L: no projection)
    WukongConfig(n_dense=13, cardinalities=CARDS, embedding_dim=8, embedding_rows=500),
    WukongConfig(n_dense=13, cardinalities=(10,) * 26, embedding_dim=16, layers=3, fmb_embeddings=8, lcb_embeddings=8,
                 fm_rank=8, fmb_mlp=(64,), top_mlp=(256, 128)),  # fmt: skip
    WukongConfig(n_dense=4, cardinalities=(7, 9), embedding_dim=4, bottom_mlp=(), dense_embeddings=3, layers=2,
                 fmb_embeddings=4, lcb_embeddings=4, fm_rank=4, fmb_mlp=(32, 16)),  # fmt: skip
    WukongConfig(n_dense=13, cardinalities=(10,) * 12, embedding_dim=32, layers=4, fmb_embeddings=16, lcb_embeddings=12,
                 fm_rank=16, fmb_mlp=(128,)),  # fmt: skip
    WukongConfig(n_dense=13, cardinalities=CARDS, embedding_dim=8, layers=0),
]
GRID = DCN_GRID + WUKONG_GRID


@pytest.mark.parametrize("cfg", GRID, ids=lambda c: c.architecture)
def test_param_count_is_exact(cfg):
    """Check params_total == sum(numel) and the dense/sparse split."""
    model = build_model(cfg)
    cost = model_cost(cfg)
    assert cost.params_total == sum(p.numel() for p in model.parameters())
    assert cost.params_sparse == model.embedding.weight.numel()
    assert cost.params_dense == sum(p.numel() for n, p in model.named_parameters() if not n.startswith("embedding"))


@pytest.mark.parametrize("cfg", GRID, ids=lambda c: c.architecture)
def test_flops_match_flop_counter(cfg):
    """Check analytic forward FLOPs per sample against FlopCounterMode within 1%."""
    measured = measured_flops_per_sample(build_model(cfg), cfg, 16)
    assert model_cost(cfg).flops_per_sample == pytest.approx(measured, rel=0.01)


def test_interaction_flops_grow_with_their_knobs():
    """Check that the cross and FM terms are counted: more layers, rank or width cost more FLOPs."""
    d = DCN_GRID[1]
    assert model_cost(d.with_(cross_rank=64)).flops_per_sample > model_cost(d).flops_per_sample
    assert model_cost(d.with_(cross_layers=4)).flops_per_sample > model_cost(d).flops_per_sample
    w = WUKONG_GRID[1]
    for change in ({"fm_rank": 16}, {"layers": 4}, {"fmb_embeddings": 16}, {"lcb_embeddings": 16}, {"fmb_mlp": (128,)}):
        assert model_cost(w.with_(**change)).flops_per_sample > model_cost(w).flops_per_sample, change


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: DCNConfig(n_dense=1, cardinalities=(5,), cross_rank=0), r"DCNConfig.cross_rank: every size must be positive, got 0"),
        (lambda: DCNConfig(n_dense=1, cardinalities=(5,), cross_layers=-1), r"DCNConfig.cross_layers: .* >= 0, got -1"),
        (lambda: DCNConfig(n_dense=1, cardinalities=(5, 0)), r"DCNConfig.cardinalities: .* positive, got \(5, 0\)"),
        (lambda: WukongConfig(n_dense=1, cardinalities=(5,), fm_rank=0), r"WukongConfig.fm_rank: .* positive, got 0"),
        (lambda: WukongConfig(n_dense=1, cardinalities=(5,), fmb_mlp=(8, 0)), r"WukongConfig.fmb_mlp: .* got \(8, 0\)"),
        (lambda: WukongConfig(n_dense=1, cardinalities=(5,), embedding_rows=0), r"WukongConfig.embedding_rows: .* got 0"),
        (lambda: WukongConfig(n_dense=1, cardinalities=(5,), layers=-2), r"WukongConfig.layers: .* >= 0, got -2"),
    ],
)
def test_bad_config_is_rejected(make, match):
    """Check that a non-positive size is rejected, naming what is wrong."""
    with pytest.raises(ValueError, match=match):
        make()


def test_architecture_names():
    """Check each config carries its architecture name and build_model builds the matching network."""
    from recscale.model import ARCHITECTURES

    assert {n: c.architecture for n, c in ARCHITECTURES.items()} == {n: n for n in ("dlrm", "dcnv2", "wukong")}
    assert type(build_model(DCN_GRID[0])).__name__ == "DCNv2"
    assert type(build_model(WUKONG_GRID[0])).__name__ == "Wukong"
