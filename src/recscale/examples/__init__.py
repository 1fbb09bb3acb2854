"""The example study specs, shipped inside the package so an installed recscale can run them.

Each ``NAME.toml`` here is package data, read through :mod:`importlib.resources`; the repository's
``examples/`` folder holds links to these same files. ``recscale example`` lists them,
``recscale example NAME`` prints one, and ``recscale study run NAME`` runs one.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def names() -> list[str]:
    """Names of the packaged example specs, sorted (``tiny``, ``quick``, ...)."""
    return sorted(p.name[: -len(".toml")] for p in files(__name__).iterdir() if p.name.endswith(".toml"))


def path(name: str) -> Path | None:
    """The file of the packaged example ``name`` (".toml" optional), or None if there is none."""
    stem = name[: -len(".toml")] if name.endswith(".toml") else name
    if stem not in names():
        return None
    return Path(str(files(__name__).joinpath(f"{stem}.toml")))
