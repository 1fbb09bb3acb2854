"""Regimes at the edge of the data, and planning for a target NE."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from recscale.errors import RecscaleError
from recscale.laws import RegimeThresholds, fit_power_law, plan_for_target, regime

X = np.geomspace(1e6, 1e9, 12)


def law(beta, gamma, reducible=0.1, noise=0.0, seed=0):
    alpha = reducible * 1e6**beta
    y = alpha * X**-beta + gamma
    if noise:
        y = y * np.exp(np.random.default_rng(seed).normal(0, noise, X.size))
    return alpha, y


def test_regime_numbers_match_the_formulas():
    """Check gain, elasticity, reducible fraction and the saturation point against closed forms."""
    alpha, y = law(0.3, 0.7)
    fit = fit_power_law(X, y, bootstrap=0)
    r = regime(fit)
    xm = X[-1]
    ne = alpha * xm**-0.3 + 0.7
    assert r.x_max == xm and r.ne == pytest.approx(ne, rel=1e-7)
    assert r.gain_abs == pytest.approx(alpha * xm**-0.3 * (1 - 2**-0.3), rel=1e-5)
    assert r.elasticity == pytest.approx(-0.3 * alpha * xm**-0.3 / ne, rel=1e-5)
    assert r.reducible_fraction == pytest.approx(alpha * xm**-0.3 / ne, rel=1e-5)
    t = RegimeThresholds().sat_gain
    xs = r.x_saturation
    gain_at = (fit.predict(xs) - fit.predict(2 * xs)) / fit.predict(xs)
    assert gain_at == pytest.approx(t, rel=1e-6)
    assert r.intervals is None and r.label_share is None


def test_regime_labels_follow_thresholds():
    """Check that a steep curve is high-return, a floor-dominated one saturated, one in between diminishing."""
    th = RegimeThresholds(high_return=1e-3, saturated=1e-4)
    steep = regime(fit_power_law(X, law(0.4, 0.5, reducible=0.3)[1], bootstrap=0), thresholds=th)
    flat = regime(fit_power_law(X, law(0.5, 0.8, reducible=0.005)[1], bootstrap=0), thresholds=th)
    mid = regime(fit_power_law(X, law(0.3, 0.8, reducible=0.02)[1], bootstrap=0), thresholds=th)
    assert steep.label == "high-return" and steep.gain_rel >= 1e-3
    assert flat.label == "saturated" and flat.gain_rel < 1e-4
    assert mid.label == "diminishing" and 1e-4 <= mid.gain_rel < 1e-3
    assert flat.x_saturation < X[-1] < steep.x_saturation
    assert json.dumps(steep.to_dict(), allow_nan=False)


def test_regime_intervals_and_agreement_share():
    """Check bootstrap intervals bracket the estimates and the label share is a probability."""
    fit = fit_power_law(X, law(0.3, 0.7, noise=0.002)[1], bootstrap=300)
    r = regime(fit)
    for name in ("ne", "gain_abs", "gain_rel", "reducible_fraction"):
        lo, hi = r.intervals[name]
        assert lo <= getattr(r, name) <= hi, name
    assert 0.0 <= r.label_share <= 1.0
    json.dumps(r.to_dict(), allow_nan=False)


def test_pure_power_law_never_saturates():
    """Check that without a floor the relative gain per doubling never falls: x_saturation is None."""
    y = 3.0 * X**-0.2
    r = regime(fit_power_law(X, y, form="powerlaw", bootstrap=0))
    assert r.x_saturation is None and r.reducible_fraction == pytest.approx(1.0)


def test_regime_errors():
    """Check threshold and x_max validation."""
    with pytest.raises(RecscaleError, match=r"need 0 < saturated < high_return < 1; got saturated=0\.01, high_return=0\.001"):
        RegimeThresholds(high_return=1e-3, saturated=1e-2)
    fit = fit_power_law(X, law(0.3, 0.7)[1], bootstrap=0)
    with pytest.raises(RecscaleError, match=r"x_max must be finite and > 0; got -1\.0"):
        regime(fit, -1.0)


def test_plan_inverts_the_law_with_an_interval():
    """Check that the planned x reaches the target on the fitted curve and its interval brackets it."""
    fit = fit_power_law(X, law(0.3, 0.7, noise=0.002)[1], bootstrap=300)
    target = float(fit.predict(3e9))
    plan = plan_for_target(fit, target)
    assert plan.reachable and plan.x_needed == pytest.approx(3e9, rel=1e-6)
    lo, hi = plan.x_interval
    assert lo < plan.x_needed < hi
    assert plan.extrapolation_decades == pytest.approx(math.log10(3), rel=1e-6)
    assert any("beyond the largest observed x" in n for n in plan.notes)
    json.dumps(plan.to_dict(), allow_nan=False)


def test_plan_below_the_floor_is_unreachable():
    """Check that a target under γ is 'unreachable' with the floor's interval, never a number of samples."""
    fit = fit_power_law(X, law(0.3, 0.7, noise=0.002)[1], bootstrap=300)
    plan = plan_for_target(fit, 0.65)
    assert plan.status == "unreachable" and plan.x_needed is None and plan.x_interval is None
    flo, fhi = plan.floor_interval
    assert flo <= fit.gamma <= fhi and plan.share_unreachable == 1.0
    assert "at or below the fitted floor" in plan.notes[0]
    d = plan.to_dict()
    json.dumps(d, allow_nan=False)


def test_plan_near_the_floor_has_unbounded_upper_end():
    """Check that when some bootstrap floors exceed the target the interval's upper end is None."""
    fit = fit_power_law(X, law(0.3, 0.7, noise=0.004, seed=2)[1], bootstrap=400)
    target = fit.gamma + 0.0015
    plan = plan_for_target(fit, target)
    assert plan.reachable and 0 < plan.share_unreachable < 1
    assert plan.x_interval[1] is None
    assert any("unbounded" in n for n in plan.notes)


def test_plan_implied_resources_along_samples():
    """Check implied resources: parameters stay, FLOPs scale with samples, memory = sparse params × bytes."""
    alpha, y = law(0.3, 0.7)
    rows = pd.DataFrame({"samples": X, "params_total": 8e6, "params_sparse": 7.9e6, "params_dense": 1e5,
                         "flops_per_sample": 3e4, "train_flops": 3e4 * X, "ne": y})
    fit = fit_power_law(X, y, bootstrap=100)
    plan = plan_for_target(fit, float(fit.predict(1e10)), axis="samples", resources=rows, bytes_per_param=2.0)
    imp = plan.implied
    assert imp["samples"]["value"] == pytest.approx(1e10, rel=1e-6)
    assert imp["params_total"]["value"] == pytest.approx(8e6)
    assert imp["train_flops"]["value"] == pytest.approx(3e14, rel=1e-6)
    assert imp["embedding_memory_bytes"]["value"] == pytest.approx(7.9e6 * 2.0)
    assert imp["train_flops"]["lo"] == pytest.approx(3e4 * plan.x_interval[0], rel=1e-6)


def test_plan_with_broken_form():
    """Check that planning works for the broken power law by numerical inversion."""
    x = np.geomspace(1e4, 1e9, 16)
    y = 0.5 + 2.0 * x**-0.1 * (1 + (x / 1e6) ** 2) ** (-(0.6 - 0.1) * 0.5)
    fit = fit_power_law(x, y, form="broken_powerlaw", bootstrap=0)
    target = float(fit.predict(5e8))
    assert plan_for_target(fit, target).x_needed == pytest.approx(5e8, rel=1e-6)


@pytest.mark.parametrize(
    "kwargs,match",
    [({"target_ne": -1}, r"target_ne must be finite and > 0; got -1"),
     ({"target_ne": float("nan")}, r"target_ne must be finite and > 0; got nan"),
     ({"target_ne": "low"}, r"target_ne must be a number > 0; got 'low'"),
     ({"target_ne": 0.75, "resources": pd.DataFrame({"a": [1]})}, r"resources were given without axis"),
     ({"target_ne": 0.75, "axis": "samples", "resources": pd.DataFrame({"a": [1]})}, r"resources has no column 'samples'"),
     ({"target_ne": 0.75, "level": 1.5}, r"level must be in \(0, 1\)")],
)
def test_plan_errors(kwargs, match):
    """Check that bad planning requests raise errors naming the problem."""
    fit = fit_power_law(X, law(0.3, 0.7)[1], bootstrap=0)
    with pytest.raises(RecscaleError, match=match):
        plan_for_target(fit, **kwargs)


def test_regime_is_undetermined_where_the_bootstrap_disagrees():
    """Check a label below min_agreement becomes 'undetermined (high-return in N% of refits)', and is named above."""
    _, y = law(0.3, 0.7, noise=0.01, seed=3)
    fit = fit_power_law(X, y, bootstrap=400, seed=0)
    gain = regime(fit).gain_rel
    # A high-return threshold just below the estimate's gain: the point says high-return, many refits do not.
    th = RegimeThresholds(high_return=0.95 * gain, saturated=0.01 * gain)
    r = regime(fit, thresholds=th)
    assert r.estimate_label == "high-return" and r.label_share is not None and r.label_share < 0.8
    assert r.label == "undetermined" and not r.determined
    assert r.text == f"undetermined (high-return in {r.label_share:.0%} of refits)"
    assert r.to_dict()["text"] == r.text
    named = regime(fit, thresholds=RegimeThresholds(high_return=0.95 * gain, saturated=0.01 * gain,
                                                    min_agreement=r.label_share))
    assert named.label == named.text == "high-return"
    _, y_clear = law(0.3, 0.7, reducible=1.0, noise=0.002, seed=3)
    clear = regime(fit_power_law(X, y_clear, bootstrap=400, seed=0))  # ~0.3% per doubling, far above 0.1%
    assert clear.determined and clear.label_share >= 0.8
    with pytest.raises(RecscaleError, match=r"min_agreement must be in \[0, 1\], e\.g\. 0\.8; got 1\.5"):
        RegimeThresholds(min_agreement=1.5)
