"""The built-in DLRM's bottom MLP, dot interaction and top MLP re-written as a plugin (for tests).

Same layers in the same order, the last one without its bias (recscale's output bias takes its
place), so the built-in's weights load into it one to one (:func:`builtin_state`).
"""

from __future__ import annotations

import torch
from torch import nn

from recscale.model.parts import init_linears, mlp
from recscale.model.plugin import Architecture, Context


class DLRMPlugin(Architecture):
    def __init__(self, context: Context, bottom: tuple[int, ...] = (64,), top: tuple[int, ...] | int = (64,)):
        super().__init__()
        top = (top,) if isinstance(top, int) else top  # a scheme's value: one hidden layer of that width
        d, f = context.embedding_dim, context.n_sparse + 1
        self.bottom = mlp([context.n_dense, *bottom, d], final_relu=True)
        self.top = mlp([d + f * (f - 1) // 2, *top, 1], final_relu=False)
        self.top[-1] = nn.Linear(self.top[-1].in_features, 1, bias=False)
        li, lj = torch.tril_indices(f, f, offset=-1)
        self.register_buffer("tri_flat", li * f + lj, persistent=False)
        init_linears([*self.bottom, *self.top[:-1]])
        nn.init.normal_(self.top[-1].weight, 0.0, 0.01)

    def forward_embedded(self, dense: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        x = self.bottom(dense)
        t = torch.cat([x.unsqueeze(1), emb], dim=1)
        z = torch.bmm(t, t.transpose(1, 2))
        r = torch.cat([x, z.flatten(1).index_select(1, self.tri_flat)], dim=1)
        return self.top(r).squeeze(1)


def builtin_state(dlrm) -> dict[str, torch.Tensor]:
    """A built-in DLRM's weights as a state dict of the plugin model (PluginModel over DLRMPlugin)."""
    last = len(dlrm.top) - 1
    out = {}
    for k, v in dlrm.state_dict().items():
        if k == f"top.{last}.bias":
            out["output_bias"] = v.clone()
        elif k.startswith(("bottom.", "top.")):
            out[f"arch.{k}"] = v.clone()
        else:
            out[k] = v.clone()
    return out


TARGET = "tests.model.dlrm_plugin:DLRMPlugin"
