"""The architecture of a model (DLRM, DCNv2, Wukong, or a user's plugin) as a plain, torch-free value.

Specs, cost accounting and the scaling schemes work on these objects alone, so planning and dry runs
never import torch. :func:`recscale.model.build_model` builds the network from one. Every config has
the fields the trainer and the study read (n_dense, cardinalities, embedding_dim, embedding_rows,
bottom_mlp, top_mlp, base_ctr, table_rows, with_) and an ``architecture`` name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

INTERACTIONS = ("dot", "cat")  # pairwise dot products (DLRM), or concatenation


@dataclass(frozen=True)
class DLRMConfig:
    """Architecture of one DLRM; every default lives here.

    Attributes:
        n_dense: Number of dense features.
        cardinalities: Id-space size of each sparse feature (ids are in [0, cardinality)).
        embedding_dim: D, the width of every embedding and of the bottom MLP's output.
        embedding_rows: Cap on rows per table (the paper's "hash size"); None means no cap.
        bottom_mlp: Hidden widths of the bottom (dense) MLP; a final layer of width D is appended.
        top_mlp: Hidden widths of the top ("overarch") MLP; a final layer of width 1 is appended.
        interaction: "dot" (pairwise dot products, as DLRM) or "cat" (concatenation).
        base_ctr: If given, the output bias starts at logit(base_ctr), so NE starts near 1 instead of
            above it and the first decade of data is not spent learning the base rate.
    """

    architecture: ClassVar[str] = "dlrm"
    n_dense: int
    cardinalities: tuple[int, ...]
    embedding_dim: int = 16
    embedding_rows: int | None = None
    bottom_mlp: tuple[int, ...] = (64,)
    top_mlp: tuple[int, ...] = (64,)
    interaction: str = "dot"
    base_ctr: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "cardinalities", tuple(int(c) for c in self.cardinalities))
        object.__setattr__(self, "bottom_mlp", tuple(int(w) for w in self.bottom_mlp))
        object.__setattr__(self, "top_mlp", tuple(int(w) for w in self.top_mlp))
        if self.interaction not in INTERACTIONS:
            raise ValueError(f"interaction must be {' or '.join(map(repr, INTERACTIONS))}, got {self.interaction!r}")
        bad = [w for w in (self.embedding_dim, *self.bottom_mlp, *self.top_mlp, *self.cardinalities) if w < 1]
        if bad or (self.embedding_rows is not None and self.embedding_rows < 1) or self.n_dense < 0:
            raise ValueError(f"all widths, rows and cardinalities must be positive: {self}")

    @property
    def table_rows(self) -> tuple[int, ...]:
        """Rows of each embedding table: min(cardinality, embedding_rows)."""
        cap = self.embedding_rows
        return tuple(c if cap is None else min(c, cap) for c in self.cardinalities)

    @property
    def interaction_width(self) -> int:
        """Width of the interaction output fed to the top MLP."""
        f, d = len(self.cardinalities), self.embedding_dim
        if self.interaction == "dot":
            return d + (f + 1) * f // 2
        return d * (f + 1)

    def with_(self, **changes) -> "DLRMConfig":
        """A copy with some fields changed (scaling schemes build sizes this way)."""
        return replace(self, **changes)


def _check_sizes(cfg, positive: tuple[str, ...], non_negative: tuple[str, ...]) -> None:
    """One-line error naming the first field whose size is out of range (None means unset and passes)."""
    for name in (*positive, *non_negative):
        value = getattr(cfg, name)
        low = 1 if name in positive else 0
        if value is not None and any(v < low for v in (value if isinstance(value, tuple) else (value,))):
            allowed = "positive" if low else ">= 0"
            raise ValueError(f"{type(cfg).__name__}.{name}: every size must be {allowed}, got {value!r}")


_COMMON_POSITIVE = ("embedding_dim", "embedding_rows", "bottom_mlp", "top_mlp", "cardinalities")


def _tuples(cfg, names: tuple[str, ...]) -> None:
    for n in names:
        object.__setattr__(cfg, n, tuple(int(v) for v in getattr(cfg, n)))


@dataclass(frozen=True)
class DCNConfig:
    """Architecture of one DCNv2 (Wang et al. 2021) as TorchRec's ``DLRM_DCN`` arranges it.

    Bottom MLP → concatenation of its output and all embeddings x_0 [(F+1)·D] → ``cross_layers``
    cross layers x_{l+1} = x_0 ⊙ (U_l (V_l^T x_l) + b_l) + x_l → top MLP. Stacked: there is no
    parallel deep tower.

    Attributes:
        n_dense, cardinalities, embedding_dim, embedding_rows, bottom_mlp, top_mlp, base_ctr: As
            :class:`DLRMConfig`.
        cross_layers: L, the number of cross layers (0: the top MLP reads x_0).
        cross_rank: r, the rank of U_l [(F+1)D, r] and V_l [(F+1)D, r]; None: full rank, one
            W_l [(F+1)D, (F+1)D] per layer.
    """

    architecture: ClassVar[str] = "dcnv2"
    n_dense: int
    cardinalities: tuple[int, ...]
    embedding_dim: int = 16
    embedding_rows: int | None = None
    bottom_mlp: tuple[int, ...] = (64,)
    top_mlp: tuple[int, ...] = (64,)
    cross_layers: int = 3
    cross_rank: int | None = 32
    base_ctr: float | None = None

    def __post_init__(self) -> None:
        _tuples(self, ("cardinalities", "bottom_mlp", "top_mlp"))
        _check_sizes(self, (*_COMMON_POSITIVE, "cross_rank"), ("n_dense", "cross_layers"))

    table_rows = DLRMConfig.table_rows

    @property
    def interaction_width(self) -> int:
        """Width of x_0 (and of every cross layer's output): (F+1)·D."""
        return (len(self.cardinalities) + 1) * self.embedding_dim

    with_ = DLRMConfig.with_


@dataclass(frozen=True)
class WukongConfig:
    """Architecture of one Wukong (Zhang et al., ICML 2024): a stack of FM and linear-compress blocks.

    The bottom MLP turns the dense features into ``dense_embeddings`` vectors of width D, which join
    the F embeddings in X_0 [n_0 = F + dense_embeddings, D]. Each of ``layers`` layers maps
    X_i [n_i, D] to X_{i+1} [n_F + n_L, D]; the top MLP reads the last one flattened.

    Attributes:
        n_dense, cardinalities, embedding_dim, embedding_rows, bottom_mlp, top_mlp, base_ctr: As
            :class:`DLRMConfig` (the bottom MLP's last layer has width dense_embeddings·D).
        dense_embeddings: How many D-wide embeddings the dense features become.
        layers: L, the number of Wukong layers (0: the top MLP reads X_0).
        fmb_embeddings: n_F, embeddings each factorisation-machine block outputs.
        lcb_embeddings: n_L, embeddings each linear-compress block outputs.
        fm_rank: k, the columns of the FM's learned projection Y [n_i, k].
        fmb_mlp: Hidden widths of each FMB's MLP (its last layer outputs n_F·D).
    """

    architecture: ClassVar[str] = "wukong"
    n_dense: int
    cardinalities: tuple[int, ...]
    embedding_dim: int = 16
    embedding_rows: int | None = None
    bottom_mlp: tuple[int, ...] = (64,)
    top_mlp: tuple[int, ...] = (64,)
    dense_embeddings: int = 1
    layers: int = 3
    fmb_embeddings: int = 8
    lcb_embeddings: int = 8
    fm_rank: int = 8
    fmb_mlp: tuple[int, ...] = (64,)
    base_ctr: float | None = None

    def __post_init__(self) -> None:
        _tuples(self, ("cardinalities", "bottom_mlp", "top_mlp", "fmb_mlp"))
        wukong = ("dense_embeddings", "fmb_embeddings", "lcb_embeddings", "fm_rank", "fmb_mlp")
        _check_sizes(self, (*_COMMON_POSITIVE, *wukong), ("n_dense", "layers"))

    table_rows = DLRMConfig.table_rows

    @property
    def layer_embeddings(self) -> tuple[int, ...]:
        """n_0, n_1, ..., n_L: embeddings entering each layer and leaving the last."""
        n0 = len(self.cardinalities) + self.dense_embeddings
        return (n0, *[self.fmb_embeddings + self.lcb_embeddings] * self.layers)

    @property
    def interaction_width(self) -> int:
        """Width of the flattened last layer fed to the top MLP: n_L·D."""
        return self.layer_embeddings[-1] * self.embedding_dim

    with_ = DLRMConfig.with_


@dataclass(frozen=True)
class PluginConfig:
    """A user architecture (:mod:`recscale.model.plugin`) on recscale's embedding tables.

    Only strings and numbers: it pickles to any worker (process pool, Ray), which imports the
    plugin itself from ``target`` and ``search_path``.

    Attributes:
        architecture: Its name in the spec (``[model.<architecture>]``, the ledger's column).
        target: ``"pkg.module:Class"``, ``"path/file.py:Class"`` (relative to ``search_path``), or
            the name of an entry point in the ``recscale.architectures`` group.
        n_dense, cardinalities, embedding_dim, embedding_rows, base_ctr: As :class:`DLRMConfig`
            (recscale owns the tables and the output bias, which starts at logit(base_ctr)).
        kwargs: The plugin's own keyword arguments, sorted (lists become tuples, so it hashes).
        search_path: The spec's folder: module paths and files beside the spec are found there.
    """

    architecture: str
    target: str
    n_dense: int
    cardinalities: tuple[int, ...]
    embedding_dim: int = 16
    embedding_rows: int | None = None
    kwargs: tuple[tuple[str, Any], ...] = ()
    search_path: str | None = None
    base_ctr: float | None = None

    def __post_init__(self) -> None:
        _tuples(self, ("cardinalities",))
        object.__setattr__(self, "kwargs", tuple(sorted((str(k), frozen_value(v)) for k, v in dict(self.kwargs).items())))
        _check_sizes(self, ("embedding_dim", "embedding_rows", "cardinalities"), ("n_dense",))

    table_rows = DLRMConfig.table_rows
    with_ = DLRMConfig.with_


def frozen_value(v: Any) -> Any:
    """A TOML value made hashable: lists (nested too) become tuples."""
    return tuple(frozen_value(x) for x in v) if isinstance(v, (list, tuple)) else v


ModelConfig = DLRMConfig | DCNConfig | WukongConfig | PluginConfig
ARCHITECTURES: dict[str, type] = {"dlrm": DLRMConfig, "dcnv2": DCNConfig, "wukong": WukongConfig}
