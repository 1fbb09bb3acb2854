"""The architecture of a DLRM as a plain, torch-free value.

Specs, cost accounting and the scaling schemes work on this object alone, so planning and dry runs
never import torch. :class:`recscale.model.dlrm.DLRM` builds the network from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
