"""Check DCNv2's cross layer and a Wukong layer against their equations, computed independently in NumPy.

Each test takes the module's own weights (randomised, so no term can hide behind a zero or a one),
evaluates the paper's equation in float64 NumPy, and compares with the float32 module to 1e-5.
Where TorchRec is importable, the cross network also matches ``LowRankCrossNet`` with copied weights.
"""

import numpy as np
import pytest
import torch

from recscale.model import build_model
from recscale.model.config import DCNConfig, WukongConfig
from recscale.model.dcn import CrossNet
from recscale.model.wukong import WukongLayer


def _randomise(module: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


@pytest.mark.parametrize("rank", [3, None])
def test_cross_layer_matches_equation(rank):
    """Check x_1 = x_0 ⊙ (U (V^T x_0) + b) + x_0 (or W x_0 + b at full rank) for one cross layer."""
    net = CrossNet(12, 1, rank)
    _randomise(net, 0)
    x0 = torch.randn(5, 12, generator=torch.Generator().manual_seed(1))
    x = _np(x0)
    if rank is None:
        w, b = _np(net.w[0].weight), _np(net.w[0].bias)
        expected = x * (x @ w.T + b) + x
    else:
        v_t, u, b = _np(net.v[0].weight), _np(net.u[0].weight), _np(net.u[0].bias)  # V^T [r, W], U [W, r]
        assert v_t.shape == (rank, 12) and u.shape == (12, rank)
        expected = x * ((x @ v_t.T) @ u.T + b) + x
    np.testing.assert_allclose(_np(net(x0)), expected, rtol=1e-5, atol=1e-5)


def test_dcn_model_is_cross_network_on_concatenation():
    """Check the whole DCNv2: top MLP of two cross layers applied to [bottom(dense), e_1, ..., e_F]."""
    cfg = DCNConfig(n_dense=3, cardinalities=(4, 6), embedding_dim=4, bottom_mlp=(5,), top_mlp=(6,), cross_layers=2, cross_rank=2)
    model = build_model(cfg)
    _randomise(model, 2)
    gen = torch.Generator().manual_seed(3)
    dense, emb = torch.randn(7, 3, generator=gen), torch.randn(7, 2, 4, generator=gen)
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    lin = lambda m, a: a @ _np(m.weight).T + _np(m.bias)  # noqa: E731
    x = relu(lin(model.bottom[0], _np(dense)))  # bottom: Linear, ReLU, Linear, ReLU
    x = relu(lin(model.bottom[2], x))
    x0 = np.concatenate([x, _np(emb).reshape(7, -1)], axis=1)
    xl = x0
    for v, u in zip(model.cross.v, model.cross.u):
        xl = x0 * ((xl @ _np(v.weight).T) @ _np(u.weight).T + _np(u.bias)) + xl
    logit = lin(model.top[2], relu(lin(model.top[0], xl)))[:, 0]
    np.testing.assert_allclose(_np(model.forward_embedded(dense, emb)), logit, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("n_in", "n_f", "n_l"), [(6, 2, 3), (5, 2, 3)])
def test_wukong_layer_matches_equation(n_in, n_f, n_l):
    """Check X_1 = LN(concat(FMB(X), LCB(X)) + residual(X)) with FMB(X) = MLP(LN(flatten(X X^T Y)))
    reshaped to [n_F, D], LCB(X) = W_L X and residual W_R X (projected: n_in=6) or X (n_in=5)."""
    d, k = 4, 3
    layer = WukongLayer(n_in, d, n_f, n_l, k, hidden=(7,))
    _randomise(layer, 4)
    xt = torch.randn(3, n_in, d, generator=torch.Generator().manual_seed(5))
    x = _np(xt)
    y, w_l = _np(layer.fm_proj), _np(layer.lcb)
    assert y.shape == (n_in, k) and w_l.shape == (n_l, n_in)
    fm = np.einsum("bnd,bmd,mk->bnk", x, x, y)  # X X^T Y, the unoptimised order
    h = _layer_norm(fm.reshape(3, -1), _np(layer.fm_norm.weight), _np(layer.fm_norm.bias))
    m0, m1 = layer.fm_mlp[0], layer.fm_mlp[2]
    h = np.maximum(h @ _np(m0.weight).T + _np(m0.bias), 0) @ _np(m1.weight).T + _np(m1.bias)
    fmb = h.reshape(3, n_f, d)
    lcb = np.einsum("ln,bnd->bld", w_l, x)
    res = x if layer.res_proj is None else np.einsum("on,bnd->bod", _np(layer.res_proj), x)
    assert (layer.res_proj is None) == (n_in == n_f + n_l)
    expected = _layer_norm(np.concatenate([fmb, lcb], axis=1) + res, _np(layer.norm.weight), _np(layer.norm.bias))
    np.testing.assert_allclose(_np(layer(xt)), expected, rtol=1e-5, atol=1e-5)


def test_wukong_model_stacks_layers_on_embedding_matrix():
    """Check the whole Wukong: X_0 = [bottom(dense) as dense_embeddings rows of D, e_1..e_F], layers, top."""
    cfg = WukongConfig(n_dense=3, cardinalities=(4, 6), embedding_dim=4, bottom_mlp=(5,), top_mlp=(6,),
                       dense_embeddings=2, layers=2, fmb_embeddings=2, lcb_embeddings=2, fm_rank=2, fmb_mlp=(8,))  # fmt: skip
    model = build_model(cfg)
    _randomise(model, 6)
    gen = torch.Generator().manual_seed(7)
    dense, emb = torch.randn(7, 3, generator=gen), torch.randn(7, 2, 4, generator=gen)
    with torch.no_grad():
        x = torch.cat([model.bottom(dense).view(7, 2, 4), emb], dim=1)
        assert x.shape == (7, 4, 4)
        for layer in model.layers:
            x = layer(x)
        expected = model.top(x.flatten(1)).squeeze(1)
    torch.testing.assert_close(model.forward_embedded(dense, emb), expected, rtol=0, atol=0)


def test_cross_network_matches_torchrec_low_rank_cross_net():
    """Check CrossNet against torchrec.modules.crossnet.LowRankCrossNet with copied weights (needs TorchRec)."""
    crossnet = pytest.importorskip("torchrec.modules.crossnet")
    width, layers, rank = 24, 3, 5
    ours = CrossNet(width, layers, rank)
    _randomise(ours, 8)
    ref = crossnet.LowRankCrossNet(in_features=width, num_layers=layers, low_rank=rank)
    with torch.no_grad():
        for i in range(layers):
            ref.V_kernels[i].copy_(ours.v[i].weight)  # [r, W]: x_l_v = x_l V^T
            ref.W_kernels[i].copy_(ours.u[i].weight)  # [W, r]
            ref.bias[i].copy_(ours.u[i].bias)
    x0 = torch.randn(9, width, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(ours(x0), ref(x0), rtol=1e-5, atol=1e-5)
