"""Bring your own model: a user's interaction architecture trained on recscale's embedding tables.

A plugin is one PyTorch module for the part that differs between architectures: the interaction
and the layers above it. recscale keeps everything else, exactly as for DLRM, DCNv2 and Wukong: the
fused hashed embedding tables and their initialisation, the fused sparse optimiser, a scalar output
bias started at logit(base CTR), exact prefix evaluation, bitwise resume and common random numbers.

Shapes (as in :mod:`recscale.model.dlrm`):
    B: batch size
    F: number of sparse features (``context.n_sparse``), one embedding table each
    D: embedding dimension (``context.embedding_dim``)

The protocol (:class:`Architecture`)::

    class GatedCross(Architecture):
        def __init__(self, context: Context, hidden: int = 64):   # its own keywords come from the spec
            super().__init__()
            ...
        def forward_embedded(self, dense, emb):                    # [B, n_dense], [B, F, D] -> [B] logits
            ...

A spec names it by import path (``architectures = ["dlrm", "mypkg.towers:GatedCross"]``), by a file
beside the spec (``"towers.py:GatedCross"``), or by the name an installed package gives it in the
``recscale.architectures`` entry-point group; ``[model.GatedCross]`` holds its keywords and
``[schemes.GatedCross]`` scales any of them. :func:`probe` builds each configuration and runs it
once, forward and backward, on a random batch before anything trains: that catches a bad name,
keyword, output or gradient as one line, and measures the FLOPs with
``torch.utils.flop_counter.FlopCounterMode`` (``recscale.model.cost.model_cost`` reports them), counted as
:mod:`recscale.model.cost` counts the built-ins (tested equal on them).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from recscale.model.config import PluginConfig
from recscale.model.parts import EmbeddingModel

ENTRY_POINT_GROUP = "recscale.architectures"
PROBE_BATCH = 8


class PluginError(ValueError):
    """A plugin that cannot be loaded, built or trained; the message is one line naming the problem."""


@dataclass(frozen=True)
class Context:
    """What recscale tells a plugin about the data (its own keywords come from the spec).

    Attributes:
        n_dense: Dense features per sample (the width of ``dense``).
        n_sparse: F, sparse features per sample (embeddings per sample).
        embedding_dim: D, the width of every embedding.
    """

    n_dense: int
    n_sparse: int
    embedding_dim: int


class Architecture(nn.Module):
    """The protocol every plugin implements (subclassing it is optional; the two methods are not).

    ``__init__(context, **kwargs)``: build the layers from a :class:`Context` and the keyword
    arguments of ``[model.<Name>]`` (and of any scheme in ``[schemes.<Name>]``). Initialise them
    here: recscale seeds torch's global generator with the trial's seed before calling it, so the
    same seed gives the same weights. No I/O, printing or data reading.

    ``forward_embedded(dense [B, n_dense], emb [B, F, D]) -> logits [B]`` (same dtype as ``emb``):
    the interaction and everything above it, without a final bias (recscale adds one, started at
    the training data's base rate). ``emb`` holds the looked-up embeddings; the trainer gathers
    them outside autograd and updates the touched rows with its fused sparse optimiser, so every
    parameter of the module trains with the dense optimiser (``[train]`` or ``[train.<Name>]``).
    """

    def __init__(self, context: Context | None = None) -> None:
        super().__init__()  # no **kwargs: a keyword the subclass does not take is an error, not ignored

    def forward_embedded(self, dense: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define forward_embedded(dense, emb) -> logits [B]")


# ---- loading --------------------------------------------------------------------------------------


def short_name(target: str) -> str:
    """The name a spec's ``[model.<Name>]`` tables use: the class after ``:``, or the entry point's name."""
    return target.rsplit(":", 1)[1] if ":" in target else target


def is_file_target(target: str) -> bool:
    """Whether ``target`` names a Python file (``path/file.py:Class``) rather than a module."""
    module = target.rsplit(":", 1)[0]
    return module.endswith(".py") or "/" in module or "\\" in module


def entry_point_names() -> list[str]:
    """Names installed packages register in the ``recscale.architectures`` entry-point group."""
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)})


def _import_file(path: Path):
    """Import a plugin file under a name unique to its path (so two ``towers.py`` never collide)."""
    name = f"recscale_plugin_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_class(target: str, search_path: str | None = None) -> type:
    """The plugin class ``target`` names (import path, file beside the spec, or entry point).

    ``search_path`` (the spec's folder) resolves relative files and is added to ``sys.path`` (at its
    end: installed packages win), so ``towers:GatedCross`` finds a ``towers.py`` beside the spec in
    every worker too.

    Raises:
        PluginError: One line: the module that does not import (and why), the missing class or
            entry point, or an object that is not a module class with ``forward_embedded``.
    """
    if search_path is not None and search_path not in sys.path:
        sys.path.append(search_path)
    if ":" in target:
        module_name, cls_name = target.rsplit(":", 1)
        if is_file_target(target):
            path = Path(module_name)
            if not path.is_absolute() and search_path is not None:
                path = Path(search_path) / path
            if not path.is_file():
                raise PluginError(f"plugin file {path} does not exist (a relative path is read from the spec's folder)")
            try:
                module = _import_file(path.resolve())
            except Exception as e:  # noqa: BLE001 - any import failure is the user's, reported in one line
                raise PluginError(f"importing {path} failed: {type(e).__name__}: {_one_line(e)}") from None
        else:
            try:
                module = importlib.import_module(module_name)
            except Exception as e:  # noqa: BLE001
                raise PluginError(f"cannot import module {module_name!r}: {type(e).__name__}: {_one_line(e)}") from None
        cls = getattr(module, cls_name, None)
        if cls is None:
            raise PluginError(f"module {module_name!r} has no class {cls_name!r}")
    else:
        eps = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == target]
        if not eps:
            installed = ", ".join(entry_point_names()) or "none installed"
            raise PluginError(f"no entry point {target!r} in group {ENTRY_POINT_GROUP} ({installed})")
        try:
            cls = eps[0].load()
        except Exception as e:  # noqa: BLE001
            raise PluginError(f"entry point {target!r} ({eps[0].value}) does not load: {type(e).__name__}: {_one_line(e)}") from None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module) and callable(getattr(cls, "forward_embedded", None))):
        raise PluginError(f"{target} is not a torch.nn.Module class with forward_embedded(dense, emb) (see recscale.model.plugin.Architecture)")
    return cls


def source_digest(target: str, search_path: str | None = None) -> str | None:
    """SHA-256 of the file that defines the plugin's class (None if it has none, e.g. built in C).

    Recorded with each plugin trial in the ledger, so a changed plugin is visible next to its numbers.
    """
    import inspect

    try:
        path = inspect.getsourcefile(load_class(target, search_path))
    except TypeError:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def build_architecture(cfg: PluginConfig) -> nn.Module:
    """The user's module for ``cfg`` (raises PluginError if the constructor rejects its keywords)."""
    cls = load_class(cfg.target, cfg.search_path)
    ctx = Context(cfg.n_dense, len(cfg.cardinalities), cfg.embedding_dim)
    kwargs = dict(cfg.kwargs)
    try:
        return cls(ctx, **kwargs)
    except TypeError as e:
        raise PluginError(f"{cls.__name__}(context, **{kwargs}) rejects its keywords: {_one_line(e)}") from None
    except Exception as e:  # noqa: BLE001
        raise PluginError(f"{cls.__name__}(context, **{kwargs}) raised {type(e).__name__}: {_one_line(e)}") from None


class PluginModel(EmbeddingModel):
    """A plugin on recscale's fused embedding tables, with recscale's output bias.

    logits = arch.forward_embedded(dense, emb) + b, with b started at logit(base_ctr).

    Args:
        config: The plugin and its keywords. The plugin is built first (it draws the first random
            numbers after the seed), then the tables are built and initialised as the built-ins'.
    """

    def __init__(self, config: PluginConfig):
        super().__init__()
        self.config = config
        self.arch = build_architecture(config)
        self.output_bias = nn.Parameter(torch.zeros(1))
        self._build_embedding(config.cardinalities, config.table_rows, config.embedding_dim)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """The tables as the DLRM reference; the bias at the base rate (the plugin initialised itself)."""
        self._init_embedding(self.config.table_rows)
        ctr = self.config.base_ctr
        self.output_bias.fill_(0.0 if ctr is None else math.log(ctr / (1 - ctr)))

    def zero_hidden_biases(self) -> None:
        """Nothing: a plugin initialises its own layers (``train.mlp_bias_init`` is the built-ins')."""

    def forward_embedded(self, dense: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """Logits [B] from dense features [B, n_dense] and looked-up embeddings [B, F, D]."""
        return self.arch.forward_embedded(dense, emb) + self.output_bias


# ---- the probe: checks and measured cost ----------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """What one forward and backward pass of a plugin on a random batch measured.

    Attributes:
        params_dense: Parameters of the plugin plus recscale's output bias.
        flops_forward: FLOPs per sample of the forward pass (FlopCounterMode: matrix products).
        flops_backward: FLOPs per sample of the backward pass, every input requiring a gradient
            (the cost convention: gradients for activations and weights; 2 × forward for matrix
            products, so forward + backward = 3 × forward, as the built-ins' closed form).
    """

    params_dense: int
    flops_forward: int
    flops_backward: int


@functools.lru_cache(maxsize=256)
def probe(cfg: PluginConfig, batch: int = PROBE_BATCH) -> Probe:
    """Build ``cfg`` and run one forward and backward pass on a random batch; check it and measure it.

    Deterministic (fixed seed, the global generator restored) and cached per configuration.

    Raises:
        PluginError: One line: the plugin does not load or build, raises, returns logits of the
            wrong shape or dtype, gives a non-finite loss, or has parameters (or embeddings) the
            loss does not reach.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = PluginModel(cfg.with_(base_ctr=cfg.base_ctr or 0.25))
        gen = torch.Generator().manual_seed(0)
        dense = torch.randn(batch, cfg.n_dense, generator=gen).requires_grad_()
        emb = (0.1 * torch.randn(batch, len(cfg.cardinalities), cfg.embedding_dim, generator=gen)).requires_grad_()
        labels = (torch.rand(batch, generator=gen) < 0.25).float()
        name = type(model.arch).__name__
        try:
            with FlopCounterMode(display=False) as fwd:
                logits = model.arch.forward_embedded(dense, emb)
        except Exception as e:  # noqa: BLE001
            raise PluginError(f"{name}.forward_embedded raised {type(e).__name__}: {_one_line(e)}") from None
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (batch,) or logits.dtype != emb.dtype:
            got = f"shape {list(logits.shape)}, {str(logits.dtype).replace('torch.', '')}" if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise PluginError(f"{name}.forward_embedded returned {got}; it must return logits of shape [B] = [{batch}], "
                              f"{str(emb.dtype).replace('torch.', '')} (squeeze a trailing dimension of 1)")  # fmt: skip
        loss = nn.functional.binary_cross_entropy_with_logits(logits + model.output_bias, labels)
        if not torch.isfinite(loss):
            raise PluginError(f"{name}: the loss on a random probe batch is {loss.item()} (not finite)")
        try:
            with FlopCounterMode(display=False) as bwd:
                loss.backward()
        except Exception as e:  # noqa: BLE001
            raise PluginError(f"{name}: backward raised {type(e).__name__}: {_one_line(e)}") from None
    frozen = [n for n, p in model.arch.named_parameters() if not p.requires_grad]
    if frozen:
        raise PluginError(f"{name}: parameters {', '.join(frozen[:5])} do not train (requires_grad=False); register fixed tensors as buffers")
    unreached = [n for n, p in model.arch.named_parameters() if p.grad is None]
    if unreached:
        raise PluginError(f"{name}: parameters {', '.join(unreached[:5])} do not train (the loss does not reach them); use them in forward_embedded or remove them")
    if emb.grad is None or not bool(torch.isfinite(emb.grad).all()):
        raise PluginError(f"{name}: the embeddings do not train (forward_embedded must use emb, and its gradient must be finite)")
    return Probe(
        params_dense=sum(p.numel() for n, p in model.named_parameters() if not n.startswith("embedding.")),
        flops_forward=round(fwd.get_total_flops() / batch),
        flops_backward=round(bwd.get_total_flops() / batch),
    )


def measure_flops(model: EmbeddingModel, batch: int = PROBE_BATCH) -> tuple[int, int]:
    """Forward and backward FLOPs per sample of any recscale model (built-in or plugin), as :func:`probe` counts.

    The independent check of :mod:`recscale.model.cost` on the built-ins.
    """
    from torch.utils.flop_counter import FlopCounterMode

    cfg = model.config
    gen = torch.Generator().manual_seed(0)
    dense = torch.randn(batch, cfg.n_dense, generator=gen).requires_grad_()
    emb = torch.randn(batch, len(cfg.cardinalities), cfg.embedding_dim, generator=gen).requires_grad_()
    with FlopCounterMode(display=False) as fwd:
        out = model.forward_embedded(dense, emb)
    with FlopCounterMode(display=False) as bwd:
        out.sum().backward()
    return round(fwd.get_total_flops() / batch), round(bwd.get_total_flops() / batch)
