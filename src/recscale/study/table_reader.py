"""The one reader that turns a file of runs into a table: CSV, TSV, Parquet or a study ledger.

The laws take DataFrames and arrays and read no files; the CLI (``recscale fit``, ``recscale
plan``) and the report call :func:`read_table` to get one. It lives with the study because a ledger
is the study's file; it imports only pandas, :mod:`recscale.study.ledger` (sqlite3) and the
torch-free :mod:`recscale.model.cost`, never torch, so a user with only a CSV of runs reads it
without the trainer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recscale.errors import RecscaleError
from recscale.study.ledger import export_frame, train_flops

SQLITE_MAGIC = b"SQLite format 3\x00"
_SUFFIXES = ".csv, .tsv, .parquet, .pq, or a recscale ledger (SQLite)"


def is_ledger(path: str | Path) -> bool:
    """Whether ``path`` is an SQLite file (by its first 16 bytes, whatever its suffix)."""
    with open(path, "rb") as fh:
        return fh.read(16) == SQLITE_MAGIC


def read_table(path: str | Path) -> Any:
    """Read a table of runs as a pandas DataFrame (a ledger: its export, one row per evaluation).

    A table with ``flops_per_sample`` and ``samples`` but no ``train_flops`` gets that column,
    computed as the ledger computes it (:func:`recscale.study.ledger.train_flops`).

    Raises:
        RecscaleError: missing file, a directory, unreadable content, or an unknown format.
    """
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise RecscaleError(f"{p}: no such file; give a {_SUFFIXES}")
    if p.is_dir():
        raise RecscaleError(f"{p}: is a directory; give a .csv, .parquet or ledger file")
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".tsv", ".parquet", ".pq"):
        if not is_ledger(p):
            raise RecscaleError(f"{p}: unknown table format {suffix or '(no suffix)'}; allowed: {_SUFFIXES}")
        return export_frame(p)
    try:
        if suffix in (".csv", ".tsv"):
            df = pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",")
        else:
            df = pd.read_parquet(p)
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise RecscaleError(f"{p}: cannot read as {suffix[1:]}: {e}") from None
    if "train_flops" not in df.columns and {"flops_per_sample", "samples"} <= set(df.columns):
        df = df.assign(train_flops=train_flops(df["flops_per_sample"], df["samples"]))
    return df


def param_axis_ends(frame: Any, cardinalities: list[int] | tuple[int, ...]) -> dict[tuple[str, str], float]:
    """Where a study's parameter axes end: (architecture, scheme) → the most parameters the scheme can reach.

    Only the embedding-rows scheme has an end: a hash size at or above a feature's cardinality gives
    every id its own row, so its embedding parameters stop at Σ cardinality × dim
    (:func:`recscale.model.cost.embedding_params`) however large the hash size. An end is given only
    where every row of the scheme holds exactly the built-in tables' count (a plugin with other
    embeddings, or rows from other data, gets none).
    """
    import pandas as pd

    from recscale.model.cost import embedding_params

    needed = {"scheme", "embedding_dim", "embedding_rows", "params_sparse"}
    if not cardinalities or not needed <= set(frame.columns):
        return {}
    part = frame[frame["scheme"] == "embedding_rows"]
    arch = part["architecture"].astype(str) if "architecture" in part.columns else pd.Series("", index=part.index)
    ends: dict[tuple[str, str], float] = {}
    for name, rows in part.groupby(arch, sort=True):
        cells = rows[["embedding_dim", "embedding_rows", "params_sparse"]].drop_duplicates()
        if cells.isna().any().any() or cells["embedding_dim"].nunique() != 1:
            continue
        exact = all(embedding_params(cardinalities, d, r) == p for d, r, p in cells.itertuples(index=False))
        if exact:
            ends[(str(name), "embedding_rows")] = float(embedding_params(cardinalities, cells["embedding_dim"].iloc[0]))
    return ends
