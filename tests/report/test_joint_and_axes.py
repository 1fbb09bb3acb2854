"""Check the report's joint-law section and that β is printed in the key findings only where determined."""

from __future__ import annotations

import json

import numpy as np

from recscale.laws import fit_power_law
from recscale.report.analysis import beta_determined
from recscale.report.document import _key_beta_cell


def test_joint_section_gives_numbers_or_says_why_not(ledger_report):
    """Check every scheme has a joint-law entry: identified with SEs and an allocation, or a stated reason, never both."""
    fits = json.loads(ledger_report.fits_json.read_text())
    joint = {j["scheme"]: j for j in fits["joint"]}
    assert set(joint) == {"mlp_width", "overarch_width", "embedding_dim", "embedding_rows"}
    md = ledger_report.markdown.read_text()
    assert "## Joint law and compute-optimal allocation" in md
    for s, j in joint.items():
        assert j["fit"] is not None and j["fit"]["n_points"] == len(j["points"]["N"])
        if j["identified"]:
            assert j["reason"] is None and all(j["fit"]["se"][k] > 0 for k in ("E", "A", "B", "alpha", "beta"))
        else:
            assert j["reason"] and j["compute_optimal"] is None
    # The planted embedding-rows models all cost the same FLOPs per sample: no allocation, and the report says why.
    rows = joint["embedding_rows"]
    assert rows["flops_ratio"] == 1.0 and rows["compute_optimal"] is None
    assert "differ in FLOPs per sample by only 1.00×" in rows["compute_optimal_reason"] or not rows["identified"]
    # Where an allocation is given, it spends the budget: C = 3 · FLOPs/sample(N*) · D*.
    for j in joint.values():
        o = j["compute_optimal"]
        if o:
            c, f, d = (np.array(o[k]) for k in ("compute", "flops_per_sample", "D"))
            np.testing.assert_allclose(f * d, c, rtol=1e-9)  # C = training FLOPs per sample · D*


def test_joint_figure_is_drawn(ledger_report):
    """Check the joint figure exists as PNG and SVG."""
    fig = [f for f in ledger_report.figures if f.name == "joint"]
    assert fig and fig[0].png.stat().st_size > 10_000 and fig[0].svg.exists()


def _curve(decades: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e3, 1e3 * 10**decades, 8)
    y = (5.0 * x**-0.3 + 0.75) * np.exp(rng.normal(0, 0.001, x.size))
    return fit_power_law(x, y, bootstrap=100, seed=seed)


def test_beta_is_a_number_only_where_the_points_determine_it():
    """Check β over 3 decades is determined (interval within 3×) and over 0.04 decades is 'not determined'."""
    wide, narrow = _curve(3.0), _curve(0.04)
    assert beta_determined(wide, 0.95)
    lo, hi = wide.ci(0.95)["beta"]
    assert lo <= 0.3 <= hi
    assert not beta_determined(narrow, 0.95)
    assert _key_beta_cell(narrow, 0.95).startswith("not determined")
    assert _key_beta_cell(wide, 0.95).startswith(f"{wide.beta:.3f}")
