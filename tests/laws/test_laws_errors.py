"""The remaining error paths of recscale.laws, each matched on its message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recscale.errors import RecscaleError
from recscale.laws import (
    FitOptions,
    RegimeThresholds,
    fit_joint_law,
    fit_power_law,
    plan_for_target,
    regime,
)
from recscale.laws.groups import fit_groups

X = np.geomspace(1e6, 1e9, 8)
Y = 0.1 * (X / 1e6) ** -0.3 + 0.7


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: fit_power_law(["a", "b", "c", "d"], Y[:4]), r"fit_power_law: x must be numbers; got \['a'"),
        (lambda: fit_power_law(np.ones((2, 4)), Y[:4]), r"x must be one-dimensional; got shape \(2, 4\)"),
        (lambda: fit_power_law(X, Y, gamma_bounds=0.5), r"gamma_bounds must be a pair \(lo, hi\); got 0\.5"),
        (lambda: fit_power_law(X, Y, options=FitOptions(grid_size=3)), r"options\.grid_size must be >= 10; got 3"),
        (lambda: fit_power_law(X, Y, seeds=[0] * 8, resample="seeds"), r"at least 2 distinct seeds; got 1"),
        (lambda: fit_power_law(X, Y, bootstrap=10).ci("high"), r"level must be a number in \(0, 1\); got 'high'"),
        (lambda: fit_power_law(X, Y, bootstrap=2.5), r"bootstrap must be an integer >= 0; got 2\.5"),
        (lambda: fit_joint_law(X[:6], X[:6] * 10, Y[:6], bootstrap=-1), r"bootstrap must be an integer >= 0; got -1"),
        (lambda: RegimeThresholds(saturation_gain=2.0), r"saturation_gain must be in \(0, 1\); got 2\.0"),
        (lambda: regime(fit_power_law(X, Y, bootstrap=0), "big"), r"x_max must be a number > 0; got 'big'"),
        (lambda: plan_for_target(fit_power_law(X, Y, bootstrap=0), 0.75, bytes_per_param=0.0),
         r"bytes_per_param must be > 0; got 0\.0"),
        (lambda: plan_for_target(fit_power_law(X, Y, bootstrap=0), 0.75, axis="samples", resources=[1, 2]),
         r"resources must be a pandas DataFrame of the curve's rows; got list"),
    ],
)
def test_error_messages(call, match):
    """Check that each remaining bad input raises a RecscaleError with a message naming it."""
    with pytest.raises(RecscaleError, match=match):
        call()


def test_fit_groups_errors():
    """Check group fitting: a non-numeric --where value on a numeric column, an empty table, partial failure."""
    df = pd.DataFrame({"samples": np.r_[X, X[:3]], "ne": np.r_[Y, Y[:3]], "g": ["a"] * 8 + ["b"] * 3})
    with pytest.raises(RecscaleError, match=r"--where samples=lots: column 'samples' is numeric; got 'lots'"):
        fit_groups(df, "samples", where=[("samples", "lots")], bootstrap=0)
    with pytest.raises(RecscaleError, match=r"fit: the table has no rows"):
        fit_groups(df.iloc[:0], "samples", group=["g"], bootstrap=0)
    res = fit_groups(df, "samples", group=["g"], bootstrap=0)
    assert res[0].fit is not None and res[1].fit is None
    assert "got 3 points; at least 4" in res[1].error
    with pytest.raises(RecscaleError, match=r"got 3 points; at least 4 are needed .* \(group \{'g': 'b'\}\)"):
        fit_groups(df[df.g == "b"], "samples", group=["g"], bootstrap=0)
