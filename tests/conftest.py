"""Shared fixtures: small datasets written once per test session into a temporary folder."""

from __future__ import annotations

import pytest

from recscale.data.synthetic import WorldConfig, generate

SMALL_WORLD = WorldConfig(max_cardinality=5_000, interaction_max_cardinality=1_000)


@pytest.fixture(scope="session")
def small_synth(tmp_path_factory):
    """A 40k-row synthetic dataset (10k eval rows) of a small world, seed 0."""
    out = tmp_path_factory.mktemp("synth") / "world"
    return generate(SMALL_WORLD, out, rows=40_000, eval_rows=10_000, seed=0)
