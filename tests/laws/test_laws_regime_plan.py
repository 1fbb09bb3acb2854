"""Regimes at the edge of the data, and planning for a target NE."""

from __future__ import annotations

import json
import math
import re

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
    th = RegimeThresholds(high_return=1e-3, saturated=1e-3)  # per doubling and per 10×
    steep = regime(fit_power_law(X, law(0.4, 0.5, reducible=0.3)[1], bootstrap=0), thresholds=th)
    flat = regime(fit_power_law(X, law(0.5, 0.8, reducible=0.005)[1], bootstrap=0), thresholds=th)
    mid = regime(fit_power_law(X, law(0.3, 0.8, reducible=0.02)[1], bootstrap=0), thresholds=th)
    assert steep.label == "high-return" and steep.gain_rel >= 1e-3
    assert flat.label == "saturated" and flat.gain10_rel < 1e-3
    assert mid.label == "diminishing" and mid.gain_rel < 1e-3 and mid.gain10_rel >= 1e-3
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
    with pytest.raises(RecscaleError, match=r"saturated must be in \(0, 1\), e\.g\. 0\.003; got 1\.5"):
        RegimeThresholds(saturated=1.5)
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
    plan = plan_for_target(fit, target, max_reach=None)
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


def _axis(beta, drop, seed, noise=0.002):
    """A parameter axis like the demo's: 5 sizes over 2.8 decades, 2 seeds, NE falling by ``drop`` (relative) across it."""
    x = np.repeat(np.geomspace(3e3, 2e6, 5), 2)
    shape = (x / 3e3) ** -beta if beta > 0 else np.zeros_like(x)
    span = 1.0 - (2e6 / 3e3) ** -beta if beta > 0 else 1.0
    y = (0.85 + 0.85 * drop / span * shape) * np.exp(np.random.default_rng(seed).normal(0, noise, x.size))
    return x, y, np.tile([0, 1], 5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_flat_axis_is_saturated(seed):
    """Check a planted flat axis (NE constant within 0.2% noise) is called saturated, a finding with its numbers."""
    x, y, seeds = _axis(0.0, 0.0, seed)
    r = regime(fit_power_law(x, y, seeds=seeds, bootstrap=300, seed=0, gamma_bounds=(0.8, math.inf)))
    assert r.label == "saturated" and r.determined
    assert r.intervals["gain10_rel"][1] < RegimeThresholds().saturated
    assert r.finding.startswith("saturated: across 2.8 decades NE ")
    assert "the next 10× gains at most" in r.finding and "(95%)" in r.finding


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_slightly_falling_axis_is_saturated_even_when_beta_is_not_determined(seed):
    """Check the issue's case: NE falls 0.5% across 2.8 decades; β is not pinned down but the regime is."""
    x, y, seeds = _axis(1.0, 0.005, seed)
    fit = fit_power_law(x, y, seeds=seeds, bootstrap=300, seed=0, gamma_bounds=(0.8, math.inf))
    lo, hi = fit.ci()["beta"]
    assert hi / lo > 3  # β not determined
    r = regime(fit)
    assert r.label == "saturated"
    assert re.search(r"NE fell 0\.\d+% \[0\.\d+%, 0\.\d+%\]", r.finding), r.finding


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_beta_03_axis_is_not_saturated(seed):
    """Check a planted β = 0.3 axis (NE falls 20% across 2.8 decades) is high-return, not saturated."""
    x, y, seeds = _axis(0.3, 0.2, seed)
    r = regime(fit_power_law(x, y, seeds=seeds, bootstrap=300, seed=0, gamma_bounds=(0.5, math.inf)))
    assert r.label == "high-return" and r.intervals["gain_rel"][0] >= 1e-3
    assert "the next doubling gains at least" in r.finding


def test_regime_is_undetermined_only_where_the_data_bound_neither():
    """Check a doubling gain straddling the high-return threshold, with a 10× gain above saturation, is undetermined,
    and that the same fit with thresholds its intervals clear is determined."""
    _, y = law(0.3, 0.7, noise=0.01, seed=3)
    fit = fit_power_law(X, y, bootstrap=400, seed=0)
    r0 = regime(fit)
    lo, hi = r0.intervals["gain_rel"]
    th = RegimeThresholds(high_return=0.5 * (lo + hi), saturated=0.5 * r0.gain10_rel)
    r = regime(fit, thresholds=th)
    assert r.label == "undetermined" and not r.determined and r.estimate_label in ("high-return", "diminishing")
    assert "the data bound neither" in r.finding and r.to_dict()["finding"] == r.finding
    g10_hi = r0.intervals["gain10_rel"][1]
    named = regime(fit, thresholds=RegimeThresholds(high_return=0.5, saturated=1.01 * g10_hi))
    assert named.label == named.text == "saturated" and named.label_share >= 0.9


def test_regime_at_a_beta_bound_names_no_gain_rate():
    """Check that with β on its search bound only 'saturated' can be found; otherwise undetermined, saying why."""
    from recscale.laws import FitOptions

    fit = fit_power_law(X, law(0.4, 0.5, reducible=0.3)[1], bootstrap=0, options=FitOptions(beta_bounds=(0.01, 0.2)))
    assert fit.beta == pytest.approx(0.2)
    r = regime(fit)
    assert r.beta_at_bound and r.label == "undetermined"
    assert r.text == "undetermined (β at its search bound)" and "set by the bound" in r.finding


def test_plan_for_gain_multiple_means_how_much_more():
    """Check the multiple's interval to lower NE by 1% comes from per-refit edges and targets: never below 1×, brackets
    the estimate, and matches x_needed / x_max."""
    from recscale.laws.plan import plan_for_gain

    for seed in range(3):
        fit = fit_power_law(X, law(0.3, 0.7, noise=0.004, seed=seed)[1], bootstrap=300, seed=seed)
        p = plan_for_gain(fit, 0.01, max_reach=None)
        assert p.factor == pytest.approx(p.x_needed / X[-1])
        lo, hi = p.factor_interval
        assert 1.0 <= lo <= p.factor and (hi is None or p.factor <= hi)
        assert p.target_ne == pytest.approx(0.99 * float(fit.predict(X[-1])))
        assert p.x_interval[0] == pytest.approx(lo * X[-1]) and (hi is None) == (p.x_interval[1] is None)


def test_plan_past_the_reach_limit_gives_no_number():
    """Check a target further beyond the data than the data span is 'beyond reach': no x, no implied resources."""
    from recscale.laws.plan import MAX_REACH

    alpha, y = law(0.3, 0.7)
    fit = fit_power_law(X, y, bootstrap=50)
    far = float(fit.predict(X[-1] * 10 ** (3 * MAX_REACH + 1)))  # data span 3 decades; 4 beyond
    p = plan_for_target(fit, far, axis="samples")
    assert p.status == "beyond reach" and not p.reachable and p.x_needed is None and p.x_interval is None
    assert p.extrapolation_decades == pytest.approx(4.0, rel=1e-4) and p.reach_limit_decades == pytest.approx(3.0)
    assert p.implied["samples"]["value"] is None
    assert "beyond the data's reach" in p.notes[0] and "4.0 decades" in p.notes[0]
    near = plan_for_target(fit, float(fit.predict(X[-1] * 100)), axis="samples")
    assert near.reachable and near.x_needed == pytest.approx(X[-1] * 100, rel=1e-6)
    with pytest.raises(RecscaleError, match=r"max_reach must be a number > 0 .*got -1"):
        plan_for_target(fit, far, max_reach=-1)


def test_plan_names_the_forms_that_disagree():
    """Check a plan whose comparable forms disagree names each, its NE at the plan's x and the x it needs."""
    alpha, y = law(0.3, 0.7, noise=0.002)
    fit = fit_power_law(X, y, bootstrap=100)
    target = float(fit.predict(3e9))
    alt = {"m4": {"alpha": 1.0, "beta": 1.0, "gamma": 0.5, "c": -0.3, "eps0": 1.5}}
    from recscale.laws.forms import predict

    p = plan_for_target(fit, target, alternatives=alt, axis="samples")
    note = next(n for n in p.notes if n.startswith("extrapolation unreliable"))
    assert "power law + constant (this plan)" in note and "M4 " in note and "samples" in note
    assert p.forms["m4"]["ne"] == pytest.approx(float(predict("m4", alt["m4"], 3e9)), rel=1e-6)
    assert set(p.forms) == {"powerlaw_const", "m4"}


def test_constant_resource_column_gets_no_interval():
    """Check a column that does not change along x (parameters along samples) has its value and no interval."""
    alpha, y = law(0.3, 0.7, noise=0.002)
    rows = pd.DataFrame({"samples": X, "params_total": 3.131e5, "train_flops": 3e4 * X, "ne": y})
    fit = fit_power_law(X, y, bootstrap=100)
    p = plan_for_target(fit, float(fit.predict(2e9)), axis="samples", resources=rows)
    assert p.implied["params_total"] == {"value": pytest.approx(3.131e5), "lo": None, "hi": None, "constant": True}
    assert p.implied["train_flops"]["lo"] is not None


def test_gamma_at_a_known_floor_is_not_called_a_pure_power_law():
    """Check param_at_bound for γ on a known floor says 'at the floor', for γ on 0 names no denormal, and that γ's
    interval never reaches above every measured NE."""
    x = np.geomspace(1e4, 1e6, 8)
    y = (0.3 * (x / 1e4) ** -0.2 + 0.5) * np.exp(np.random.default_rng(0).normal(0, 0.002, x.size))
    bounded = fit_power_law(x, y, gamma_bounds=(0.7, math.inf), bootstrap=100)
    msgs = [f.message for f in bounded.flags if f.code == "param_at_bound" and "gamma" in f.message]
    assert msgs and "at the floor it is bounded by (0.7)" in msgs[0] and "pure power law" not in msgs[0]
    free = fit_power_law(x, 0.3 * (x / 1e4) ** -0.2, bootstrap=100)
    msgs = [f.message for f in free.flags if f.code == "param_at_bound" and "gamma" in f.message]
    assert msgs == ["gamma is at its lower bound 0: the curve shows no floor within the data; beta is that of a pure "
                    "power law"]
    for fit in (bounded, free):
        assert fit.ci()["gamma"][1] <= float(np.max(fit.y)) + 1e-12


def test_cli_cells_show_gamma_at_its_bound_and_no_rate_for_beta_at_its_bound():
    """Check the fit table's cells: γ on its bound reads 'at floor'/'at bound 0', a regime with β on its bound has no
    '%/doubling', and repeated flag codes are shown once."""
    from recscale.cli.laws import _flag_codes, _gamma_cell, _regime_cell
    from recscale.laws import FitOptions
    from recscale.laws.groups import GroupResult

    x = np.geomspace(1e4, 1e6, 8)
    y = (0.3 * (x / 1e4) ** -0.2 + 0.5) * np.exp(np.random.default_rng(0).normal(0, 0.002, x.size))
    bounded = fit_power_law(x, y, gamma_bounds=(0.7, math.inf), bootstrap=50)
    assert _gamma_cell(bounded, bounded.ci()).startswith("at floor 0.7")
    free = fit_power_law(x, 0.3 * (x / 1e4) ** -0.2, bootstrap=0)
    assert _gamma_cell(free, {}) == "at bound 0" and "e-3" not in _gamma_cell(free, {})
    steep = fit_power_law(X, law(0.4, 0.5, reducible=0.3)[1], bootstrap=0, options=FitOptions(beta_bounds=(0.01, 0.2)))
    r = GroupResult(key={}, n_rows=12, fit=steep, regime=regime(steep), plan=None, error=None)
    assert "/doubling" not in _regime_cell(r) and _regime_cell(r).startswith("undetermined")
    ok = fit_power_law(X, law(0.3, 0.7, reducible=0.3)[1], bootstrap=0)
    assert _regime_cell(GroupResult({}, 12, ok, regime(ok), None, None)).endswith("/doubling)")
    assert _flag_codes(bounded).count("param_at_bound") <= 1


@pytest.mark.parametrize("seed", [0, 1])
def test_an_axis_that_ends_near_the_data_is_saturated_by_what_is_left(seed):
    """Check a steep axis (β = 0.3, high-return without an end) whose resource cannot grow past 1.3× (or 1.01×) its
    largest x: the gains are read at the end, so what is left (the law's own ŷ(x_max) − ŷ(x_end)) is all there is."""
    x, y, seeds = _axis(0.3, 0.2, seed)
    fit = fit_power_law(x, y, seeds=seeds, bootstrap=300, seed=0, gamma_bounds=(0.5, math.inf))
    assert regime(fit).label == "high-return"
    end = 1.3 * x.max()
    r = regime(fit, x_end=end)
    left = (fit.predict(x.max()) - fit.predict(end)) / fit.predict(x.max())
    assert r.gain_rel == pytest.approx(left, rel=1e-9) and r.gain10_rel == pytest.approx(left, rel=1e-9)
    assert r.intervals["gain10_rel"] == r.intervals["gain_rel"]  # both read at the end: 2× and 10× lie past it
    assert r.label == "high-return" and r.x_end == end  # 1.3× more still gains over 0.1%: worth having, and all there is
    assert re.search(r"; the rest of the axis gains at least \d\.\d+% \(95%\): it ends at 2\.6e6, 0\.11 decades beyond the largest x$",
                     r.finding), r.finding
    near = regime(fit, x_end=1.01 * x.max())  # what is left is too little to measure: saturated by the end alone
    assert near.label == "saturated" and near.intervals["gain10_rel"][1] < RegimeThresholds().saturated
    # An end beyond 10× changes nothing; an end at the data leaves nothing to gain.
    far = regime(fit, x_end=20 * x.max())
    assert far.gain10_rel == pytest.approx(regime(fit).gain10_rel) and far.label == "high-return"
    assert "rest of the axis" not in far.finding and "ends at" not in far.finding
    done = regime(fit, x_end=x.max())
    assert done.gain_rel == 0 and done.gain10_rel == 0 and done.label == "saturated"


def test_regime_rejects_an_axis_end_that_is_not_a_number():
    fit = fit_power_law(X, law(0.3, 0.7)[1], bootstrap=0)
    with pytest.raises(RecscaleError, match=r"regime: x_end must be finite and > 0; got -1"):
        regime(fit, x_end=-1)


def test_a_plan_past_the_axis_end_gives_no_number():
    """Check a target the law reaches only past where the axis ends is "past the axis's end", with no x, while an end
    beyond the x needed changes nothing."""
    fit = fit_power_law(X, law(0.3, 0.7, noise=0.002)[1], bootstrap=200)
    plain_plan = plan_for_target(fit, float(fit.predict(3 * X[-1])))
    assert plain_plan.reachable and plain_plan.x_needed == pytest.approx(3 * X[-1], rel=1e-4)
    ended = plan_for_target(fit, plain_plan.target_ne, x_end=2 * X[-1], axis="params_sparse")
    assert ended.status == "past the axis's end" and ended.x_needed is None and not ended.reachable
    assert ended.notes[0].startswith("past the axis's end: the law reaches") and "but the axis ends at 2e+09" in ended.notes[0]
    assert ended.implied["params_sparse"]["value"] is None
    assert plan_for_target(fit, plain_plan.target_ne, x_end=4 * X[-1]).x_needed == pytest.approx(plain_plan.x_needed)
    with pytest.raises(RecscaleError, match="x_end must be a number > 0"):
        plan_for_target(fit, 0.8, x_end=0)


def test_an_undetermined_regime_near_an_axis_end_names_one_gain():
    """Check that with the end within a doubling (both gains read there) an undetermined finding states the gain once
    and asks for nothing past the end."""
    _, y = law(0.3, 0.7, noise=0.01, seed=3)
    fit = fit_power_law(X, y, bootstrap=400, seed=0)
    end = 1.5 * X[-1]
    r0 = regime(fit, x_end=end)
    lo, hi = r0.intervals["gain_rel"]
    r = regime(fit, x_end=end, thresholds=RegimeThresholds(high_return=0.5 * (lo + hi), saturated=0.5 * r0.gain10_rel))
    assert r.label == "undetermined"
    assert r.finding.count("the rest of the axis gains") == 1 and "and the rest of the axis" not in r.finding
    assert "(more seeds, or sizes up to the axis's end)" in r.finding and "add sizes beyond" not in r.finding
