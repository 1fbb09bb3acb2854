"""Scaling laws for recommendation models: fits with honest uncertainty, frontiers, regimes, plans.

Import-light on purpose (numpy, scipy, pandas only; never torch), so a user with a CSV of runs can
fit, compare and plan without the trainer.

* :func:`fit_power_law`: NE = α·x^(−β) + γ (and comparison forms: pure and broken power laws, M4,
  and ``form="auto"`` chosen by backtest), bootstrap intervals, prediction intervals, flags.
  One concept a module: ``forms`` (each law's formula and inverse), ``options`` (settings and
  defaults), ``solve`` (the search), ``bootstrap``, ``result`` (:class:`PowerLawFit`, its typed
  ``FitMethod``), ``flags``, ``backtest``, ``compare``, ``m4``, ``auto``; ``powerlaw`` puts them together.
* :func:`backtest`, :func:`compare_forms`: extrapolation checks and model comparison.
* :func:`fit_joint_law`, :func:`compute_optimal`: L(N, D) = E + A/N^α + B/D^β and its optimum.
* :func:`pareto_frontier`, :func:`fit_frontier`, :func:`scaling_table`, :func:`compare_betas`,
  :func:`rank_schemes`: scaling efficiency across schemes.
* :func:`regime`: high-return / diminishing / saturated at the edge of the data.
* :func:`plan_for_target`: resources needed for a target NE.

Files of runs (CSV, Parquet, a study ledger) are read by :func:`recscale.study.table_reader.read_table`,
outside the laws.
"""

from recscale.laws._common import Flag
from recscale.laws.frontier import (
    BetaDifference,
    FrontierFit,
    compare_betas,
    fit_frontier,
    rank_schemes,
    scaling_fits,
    scaling_table,
)
from recscale.laws.joint import ComputeOptimal, JointLawFit, JointOptions, compute_optimal, fit_joint_law
from recscale.laws.plan import Plan, plan_for_target
from recscale.laws.bootstrap import bootstrap_interval
from recscale.laws.backtest import Backtest, backtest
from recscale.laws.compare import compare_forms
from recscale.laws.forms import FORMS
from recscale.laws.options import DEFAULT_BOOTSTRAP, FitOptions
from recscale.laws.powerlaw import fit_power_law
from recscale.laws.result import PowerLawFit
from recscale.laws.regime import Regime, RegimeThresholds, regime
from recscale.laws.table import Curve, axis_curve, pareto_frontier

__all__ = [
    "DEFAULT_BOOTSTRAP", "FORMS", "Backtest", "BetaDifference", "ComputeOptimal", "Curve", "FitOptions", "Flag", "FrontierFit",
    "JointLawFit", "JointOptions", "Plan", "PowerLawFit", "Regime", "RegimeThresholds", "axis_curve", "backtest",
    "bootstrap_interval", "compare_betas", "compare_forms", "compute_optimal", "fit_frontier", "fit_joint_law",
    "fit_power_law", "pareto_frontier", "plan_for_target", "rank_schemes", "regime", "scaling_fits",
    "scaling_table",
]
