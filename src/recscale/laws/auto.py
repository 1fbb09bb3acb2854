"""``form="auto"``: choose the law form by how well each extrapolates the curve's own largest points.

In-sample criteria always favour the form with more parameters; what a plan needs is the form
that predicts beyond the data. The rule, fixed in advance:

1. **Backtest.** Each candidate (:data:`CANDIDATES`: power law + constant, broken power law, M4)
   is fitted without bootstrap on the points whose x lies in the lower three quarters of the
   curve's log-range (:func:`~recscale.laws.backtest.holdout_cut` with ``holdout=0.25``; at least
   one distinct x is held out), and scored by the root-mean-square log error of its prediction of
   the seed-mean y at each held-out x. A form that cannot be fitted on the training part (too few
   points for its parameters) is not eligible; power law + constant always is.
2. **Choose.** Power law + constant is kept unless another form's backtest error is lower than
   its own by more than :data:`MARGIN` = 3σ, σ = the measurement noise (the smallest
   :attr:`PowerLawFit.noise_log` of the eligible forms' full-data fits: a form that misfits the
   curve would inflate its own); among the forms that clear it, the lowest backtest error wins.
   One backtest is a noisy score, and the winner of a noisy contest is usually lucky. The margin
   was set on 480 planted curves of :mod:`recscale.laws.simulate` (seeds 11 and 12; error of the
   noise-free truth 4× beyond the data) and checked on 240 more (seed 13). Over all 720, relative
   to power law + constant alone: a margin of 1σ made the mean error 8–10% worse on its own shape
   and on a break beyond the data; 2σ 1–3% worse there; 3σ 0.1% and 2% worse there (a bend beyond
   the data no backtest can see), 6% better on a break inside the range and 10% better on M4
   curves with a slow start (``benchmarks/extrapolation.py --margins 240 --margin-seeds 11 12 13``).
   The forms whose backtest error lies within the margin of the chosen one's are *comparable*.
3. **Fit and widen.** The chosen form is fitted on all points with the requested bootstrap; the
   other comparable forms are fitted on all points without bootstrap and kept as
   :attr:`PowerLawFit.alternatives`, so that :meth:`PowerLawFit.prediction_interval` covers where
   they say a measurement will fall.

The result's ``form`` is the chosen form; the evidence (cut, each form's backtest, comparable set,
choice, and the power law + constant parameters, whose β stays the comparable exponent) is in
``fit.method.extra["auto"]`` and ``fit.to_dict()["method"]["auto"]``. A ``backtest_outside_interval`` flag says when the chosen form's own
backtest missed by more than its prediction interval's half-width at those x.

**Not the default.** Power law + constant stays the default form of :func:`fit_power_law`,
``recscale fit``/``plan`` and the report: ``auto`` was not at least as good on every validation
set (2% worse on planted breaks beyond the data, see above; equal on the demo study and
Chinchilla). Fits and plans of the default form are instead checked against the other forms
(:func:`forms_check`): a ``backtest_outside_interval`` flag, and a plan note when a form that
backtests as well disagrees at the target beyond the prediction interval.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from recscale.errors import RecscaleError
from recscale.laws._common import Flag, check_curve
from recscale.laws.backtest import backtest, holdout_cut
from recscale.laws.result import PowerLawFit

CANDIDATES = ("powerlaw_const", "m4", "broken_powerlaw")  # in order of preference on a tie (simplest first)
HOLDOUT = 0.25  # share of the log-range held out by the backtest
MARGIN = 3.0  # backtest improvement, in units of the measurement noise σ, needed to leave power law + constant
_MIN_TRAIN = 4


def _backtests(fit_power_law, x, y, seeds, fit_kwargs) -> tuple[float | None, dict[str, dict[str, Any]]]:
    """Each candidate's backtest summary (or its error), and the cut."""
    cut = holdout_cut(x, HOLDOUT, _MIN_TRAIN)
    out: dict[str, dict[str, Any]] = {}
    if cut is None:
        return None, {f: {"error": f"too few distinct x ({np.unique(x).size}) to hold any out"} for f in CANDIDATES}
    # Row-aligned extras (weights, trial ids) do not follow the cut; the backtest fits are unweighted.
    kw = {k: v for k, v in fit_kwargs.items() if k not in ("weights", "trial_ids")}
    kw["bootstrap"] = 0
    for form in CANDIDATES:
        try:
            bt = backtest(fit_power_law, x, y, cut, seeds=seeds, aggregate="means", form=form, **kw)
        except RecscaleError as e:
            out[form] = {"error": str(e)}
            continue
        out[form] = {"rmse_log": bt.rmse_log, "bias_log": bt.bias_log, "max_abs_log": bt.max_abs_log,
                     "n_test": bt.n_test, "x_test": bt.x_test.tolist(), "y_test": bt.y_test.tolist(),
                     "predicted": bt.predicted.tolist(), "params": dict(bt.fit.params)}
    return cut, out


def choose_form(backtests: dict[str, dict[str, Any]], noise: float, margin: float = MARGIN) -> tuple[str, list[str]]:
    """The chosen form and the comparable set from backtest summaries (module docstring, step 2).

    ``margin`` is in units of ``noise``; ``benchmarks/extrapolation.py`` replays the choice at other margins.
    """
    scored = {f: b["rmse_log"] for f, b in backtests.items() if "rmse_log" in b and math.isfinite(b["rmse_log"])}
    if "powerlaw_const" not in scored:
        return "powerlaw_const", ["powerlaw_const"]
    margin = margin * noise
    clear = [f for f in CANDIDATES[1:] if f in scored and scored[f] < scored["powerlaw_const"] - margin]
    chosen = min(clear, key=scored.__getitem__) if clear else "powerlaw_const"
    comparable = [chosen] + [f for f in CANDIDATES if f != chosen and f in scored and abs(scored[f] - scored[chosen]) <= margin]
    return chosen, comparable


def fit_auto(fit_power_law, x: Any, y: Any, *, seeds: Any = None, bootstrap: int, **fit_kwargs: Any) -> PowerLawFit:
    """Fit ``form="auto"`` (see the module docstring) with ``fit_power_law`` (passed in: no import cycle).

    ``fit_kwargs`` go to every candidate's fit.
    """
    xa, ya = check_curve(x, y, caller="fit_power_law")
    base = fit_power_law(xa, ya, seeds=seeds, bootstrap=bootstrap, form="powerlaw_const", **fit_kwargs)
    cut, bts = _backtests(fit_power_law, xa, ya, seeds, fit_kwargs)
    full: dict[str, PowerLawFit] = {"powerlaw_const": base}
    for form in CANDIDATES[1:]:
        if "rmse_log" in bts[form]:
            try:
                full[form] = fit_power_law(xa, ya, seeds=seeds, bootstrap=0, form=form, **fit_kwargs)
            except RecscaleError as e:
                bts[form] = {"error": str(e)}
    noise = min(f.noise_log for f in full.values())  # the best-fitting form's noise: a misfit inflates its own
    chosen, comparable = choose_form(bts, noise)
    fit = base if chosen == "powerlaw_const" else fit_power_law(xa, ya, seeds=seeds, bootstrap=bootstrap, form=chosen,
                                                                **fit_kwargs)
    alternatives = {form: dict(full[form].params) for form in comparable if form != chosen}
    evidence = {"auto": {"rule": f"backtest without the last {HOLDOUT:.0%} of the log-range of x; power law + constant "
                                 f"unless another form's backtest error is lower by more than {MARGIN:g}x the noise",
                         "x_cut": cut, "noise_log": noise, "margin_log": MARGIN * noise, "chosen": chosen,
                         "comparable": comparable, "backtests": bts,
                         "full_params": {form: dict(f.params) for form, f in full.items()},
                         "powerlaw_const": {"params": dict(base.params)}}}
    method = dataclasses.replace(fit.method, extra=evidence)
    out = dataclasses.replace(fit, method=method, alternatives=alternatives or None)
    flag = _backtest_flag(out, bts.get(chosen, {}))
    if flag is not None:
        out = dataclasses.replace(out, flags=out.flags + (flag,))
    return out


def _backtest_flag(fit: PowerLawFit, bt: dict[str, Any]) -> Flag | None:
    """Flag when the chosen form's backtest missed by more than its prediction interval's half-width."""
    if "rmse_log" not in bt or not fit.draws:
        return None
    xt, yt, pred = (np.asarray(bt[k], dtype=float) for k in ("x_test", "y_test", "predicted"))
    lo, hi = fit.prediction_interval(xt)
    half = 0.5 * np.log(hi / lo)
    err = np.abs(np.log(pred / yt))
    if np.all(err <= half):
        return None
    i = int(np.argmax(err - half))
    return Flag("backtest_outside_interval", f"the {fit.form} law fitted without the largest points missed y at x = "
                f"{xt[i]:.3g} by {math.expm1(err[i]):.1%}, more than its prediction interval's half-width "
                f"({math.expm1(half[i]):.1%}): extrapolation is less certain than the interval says")


def comparable_to(evidence: dict[str, Any], form: str = "powerlaw_const") -> dict[str, dict[str, float]]:
    """Full-data parameters of the forms that backtest as well as ``form`` or better (within the margin).

    Read from a ``form="auto"`` fit's ``method.extra["auto"]``. A plan made with ``form`` (the
    default power law + constant) checks these for disagreement at its target: a form that
    predicted the held-out points about as well is a credible alternative future.
    """
    bts, params = evidence.get("backtests", {}), evidence.get("full_params", {})
    ref = bts.get(form, {}).get("rmse_log")
    if ref is None or not math.isfinite(ref):
        return {}
    limit = ref + evidence.get("margin_log", 0.0)
    return {f: params[f] for f in CANDIDATES
            if f != form and f in params and bts.get(f, {}).get("rmse_log", math.inf) <= limit}


@dataclass(frozen=True)
class FormsCheck:
    """What the other law forms say about a fit: comparable forms for its plans, and its own backtest flag.

    Attributes:
        alternatives: Full-data parameters of the forms that backtest as well as the fit's own
            (:func:`comparable_to`); None for a ``form="auto"`` fit, which carries its own.
        flag: ``backtest_outside_interval`` when the fit's form, refitted without the largest
            points, missed them by more than the fit's prediction interval half-width there.
    """

    alternatives: dict[str, dict[str, float]] | None
    flag: Flag | None


def forms_check(fit_power_law, fit: PowerLawFit, **fit_kwargs: Any) -> FormsCheck:
    """Backtest the other law forms on ``fit``'s data (a ``form="auto"`` refit without bootstrap).

    A fit of ``form="auto"`` has done this already (nothing to add). ``fit_kwargs``: the floor
    options the fit was made with. Empty when the check cannot run (too few points) or the fit's
    form is not a candidate.
    """
    if "auto" in (fit.method.extra or {}):
        return FormsCheck(None, None)
    if fit.form not in CANDIDATES:
        return FormsCheck({}, None)
    kw = {k: v for k, v in fit_kwargs.items() if k in ("gamma", "gamma_bounds", "space", "options")}
    try:
        ev = fit_power_law(fit.x, fit.y, seeds=fit.seeds, form="auto", bootstrap=0, **kw).method.extra["auto"]
    except RecscaleError:
        return FormsCheck({}, None)
    return FormsCheck(comparable_to(ev, fit.form), _backtest_flag(fit, ev["backtests"].get(fit.form, {})))
