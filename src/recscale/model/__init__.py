"""Architectures (DLRM, DCNv2, Wukong, user plugins) built from torch-free configs; :func:`build_model` picks one.

Importing this package does not import torch: configs and cost stay usable for planning.
"""

from __future__ import annotations

from recscale.model.config import ARCHITECTURES, DCNConfig, DLRMConfig, ModelConfig, PluginConfig, WukongConfig

__all__ = ["ARCHITECTURES", "DCNConfig", "DLRMConfig", "ModelConfig", "PluginConfig", "WukongConfig", "build_model"]


def build_model(cfg: ModelConfig):
    """The network (an :class:`recscale.model.parts.EmbeddingModel`) that ``cfg`` describes."""
    if isinstance(cfg, DLRMConfig):
        from recscale.model.dlrm import DLRM

        return DLRM(cfg)
    if isinstance(cfg, DCNConfig):
        from recscale.model.dcn import DCNv2

        return DCNv2(cfg)
    if isinstance(cfg, WukongConfig):
        from recscale.model.wukong import Wukong

        return Wukong(cfg)
    if isinstance(cfg, PluginConfig):  # a user's architecture (recscale.model.plugin)
        from recscale.model.plugin import PluginModel

        return PluginModel(cfg)
    raise TypeError(f"build_model: unknown config type {type(cfg).__name__}; allowed: {', '.join(ARCHITECTURES)} or a PluginConfig")
