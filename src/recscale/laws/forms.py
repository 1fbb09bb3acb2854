"""The law forms, each written once: parameter names, ``predict`` and its inverse.

Every other module (fitting, regimes, plans, the report) evaluates a law through these functions,
so a form's formula lives in exactly one place.

* ``"powerlaw_const"``: ŷ = α·x^(−β) + γ.
* ``"powerlaw"``: the same with γ = 0.
* ``"broken_powerlaw"``: one break (Caballero et al. 2022),
  ŷ = γ + α·x^(−β)·(1 + (x/x_b)^(1/s))^(−(β₂−β)·s): slope β before the break x_b, β₂ after it.
* ``"m4"``: (ŷ − γ)/(ε0 − ŷ)^α = β·x^c (Alabdulmohsin et al. 2022), implicit in ŷ; see
  :mod:`recscale.laws.m4` (there α, β are M4's shape and coefficient, c its exponent).

Parameters may be floats or arrays of shape (B,) (bootstrap draws). :func:`predict` broadcasts
parameters × x (B, len(x)); :func:`predict_diag` pairs parameter set i with x[i].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import recscale.laws.m4 as m4

FORMS = ("powerlaw_const", "powerlaw", "broken_powerlaw", "m4")
POWER_FORMS = ("powerlaw_const", "powerlaw", "broken_powerlaw")  # forms whose β is a power-law exponent
LOG_PARAMS = ("alpha", "break_x", "sharpness")  # positive parameters whose intervals are taken on log scale


def log_params(form: str) -> tuple[str, ...]:
    """Parameters of a form whose intervals are taken on log scale (positive, multiplicative)."""
    return ("beta", "eps0") if form == "m4" else LOG_PARAMS


def param_names(form: str) -> tuple[str, ...]:
    """Names of a form's parameters, in the order they are reported."""
    if form == "broken_powerlaw":
        return ("alpha", "beta", "gamma", "beta2", "break_x", "sharpness")
    if form == "m4":
        return m4.PARAMS
    return ("alpha", "beta", "gamma")


def n_free(form: str, gamma_fixed: bool, eps0_fixed: bool = False) -> int:
    """Number of fitted parameters of a form (γ counts unless it is fixed or absent; M4's ε0 unless given)."""
    if form == "m4":
        return 5 - int(gamma_fixed) - int(eps0_fixed)
    base = 6 if form == "broken_powerlaw" else (2 if form == "powerlaw" else 3)
    return base - (1 if gamma_fixed and form != "powerlaw" else 0)


def _log_term(form: str, p: dict[str, np.ndarray], logx: np.ndarray) -> np.ndarray:
    """log(ŷ − γ): computed in logs so that α in original units (often ~1e6) never overflows."""
    term = np.log(p["alpha"]) - p["beta"] * logx
    if form == "broken_powerlaw":
        s = p["sharpness"]
        term = term - (p["beta2"] - p["beta"]) * s * np.logaddexp(0.0, (logx - np.log(p["break_x"])) / s)
    return term


def predict(form: str, params: dict[str, Any], x: Any) -> np.ndarray:
    """Evaluate a law at x, broadcasting parameters × x.

    Parameters given as arrays of shape (B,) give predictions of shape (B, len(x)).
    """
    logx = np.log(np.asarray(x, dtype=float))
    p = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    if p["alpha"].ndim:
        p = {k: v[..., None] for k, v in p.items()}
    if form == "m4":
        return m4.predict(p, logx)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return np.exp(_log_term(form, p, logx)) + p["gamma"]


def predict_diag(form: str, p: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Evaluate element-wise: parameter set i at x[i] (no B × B outer product as in :func:`predict`)."""
    logx = np.log(np.asarray(x, dtype=float))
    if form == "m4":
        return m4.predict(p, logx)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        return np.exp(_log_term(form, p, logx)) + p["gamma"]


def x_for_value(form: str, params: dict[str, Any], target: float, x_lo: float, x_hi: float) -> np.ndarray:
    """The inverse of :func:`predict`: x where the law equals ``target`` (inf where it never does).

    Closed form for the power laws; bisection on log x over a generous bracket around the data
    [x_lo, x_hi] for the broken form (it decreases monotonically in x, so bisection is exact).
    Returns an array of shape (B,) (B = 1 for scalar parameters).
    """
    p = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in params.items()}
    al, be, ga = p["alpha"], p["beta"], p["gamma"]
    if form == "m4":
        return m4.x_for_value(p, target)
    if form != "broken_powerlaw":
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            x = np.exp(-(np.log(target - ga) - np.log(al)) / be)
        return np.where((target <= ga) | (al <= 0), np.inf, x)

    def pred(lx):
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            return np.exp(_log_term(form, p, lx)) + ga

    lo = np.full(al.shape, math.log(x_lo) - 50.0)
    hi = np.full(al.shape, math.log(x_hi) + 200.0)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        above = pred(mid) > target
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    x = np.exp(0.5 * (lo + hi))
    return np.where((target <= ga) | (pred(hi) > target), np.inf, x)
