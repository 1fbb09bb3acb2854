"""Check that β is printed in the key findings only where the points determine it."""

from __future__ import annotations

import numpy as np

from recscale.laws import fit_power_law
from recscale.report.analysis import beta_determined
from recscale.report.document import _key_beta_cell


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
