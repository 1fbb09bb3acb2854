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


def _headline(fit):
    import pandas as pd

    from recscale.laws.table import Curve
    from recscale.report.analysis import Fitted, ReportOptions, _regime_and_plan

    x = np.asarray(fit.x)
    curve = Curve(x, np.ones_like(x), None, None, "test", pd.DataFrame({"params": x}))
    empty = np.array([])
    f = Fitted("params:test:1", "param_slice", "test", "params", "params", None, 1.0, curve, fit, None, None,
               empty, empty, empty, empty, None)
    return _regime_and_plan(f, ReportOptions())


def test_no_regime_or_plan_from_a_law_whose_beta_is_not_determined():
    """Check an undetermined β (interval wider than 3×) gives no plan, by design, not as a failure; the regime is still
    the one its gains' intervals decide (issue 16: saturation is a finding even when β is not)."""
    from recscale.report.analysis import LAW_NOT_DETERMINED

    from recscale.report.analysis import beta_at_bound

    loose = _curve(0.15)  # β 0.59 [0.001, 1.23]: off its bound, but the interval spans far more than 3×
    assert not beta_at_bound(loose) and not beta_determined(loose, 0.95)
    narrow, wide = _headline(loose), _headline(_curve(3.0))
    assert narrow.plan is None and narrow.factor is None
    from recscale.laws import regime

    assert narrow.regime.label == regime(loose).label
    assert narrow.error.endswith(LAW_NOT_DETERMINED)
    assert wide.plan is not None and wide.factor is not None and wide.error is None
