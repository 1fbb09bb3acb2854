"""Planted learning curves of the shapes scaling laws take, for checking fitters against known truth.

A fitter's intervals mean what they say only if they cover where new measurements fall on curves
whose truth is known. :func:`planted_curve` draws one such curve, of one of :data:`SHAPES`:

* ``powerlaw_const``: y = γ·(1 + r·(x/x₁)^−β), the default law's own shape;
* ``broken_inside``: a smoothly broken power law whose break lies inside the measured range;
* ``broken_beyond``: the same with the break 1–4× beyond the largest measured x, so the data
  cannot show it; the exponent changes by at most 0.2 there (a bend a forecaster could miss);
* ``m4_slow_start``: the M4 law with ε0 = 1 (the NE of a base-rate predictor) and α > 0, the
  first points on its slow initial regime.

Every curve has 6–15 points spread evenly in log x over 1.5–3 decades and multiplicative
Gaussian noise of 0.1–1% on log scale; its ``truth`` gives the noise-free value anywhere, and
:meth:`PlantedCurve.measure` draws a new measurement with the same noise.

:func:`startup_curve` draws the other thing a learning curve can hold: an optimiser's start-up (NE
≈ 1 on a plateau, then a cliff onto a power law + constant), which the fit-range rule
(:mod:`recscale.laws.fitrange`) must leave out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recscale.laws.forms import predict

SHAPES = ("powerlaw_const", "broken_inside", "broken_beyond", "m4_slow_start")


@dataclass(frozen=True)
class PlantedCurve:
    """One simulated curve: its shape, the measured points, the noise level and the noise-free truth."""

    shape: str
    x: np.ndarray
    y: np.ndarray
    noise: float
    truth: Callable[[np.ndarray], np.ndarray]

    def measure(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """New measurements at x: truth times the curve's log-normal noise."""
        x = np.asarray(x, dtype=float)
        return self.truth(x) * np.exp(rng.normal(0.0, self.noise, x.shape))


def _broken(gamma: float, a: float, b1: float, b2: float, xb: float, x1: float):
    def f(x):
        return gamma + a * (x / x1) ** -b1 * (1.0 + x / xb) ** -(b2 - b1)
    return f


def planted_curve(shape: str, rng: np.random.Generator) -> PlantedCurve:
    """Draw one curve of ``shape`` (see the module docstring) from ``rng``."""
    if shape not in SHAPES:
        raise ValueError(f"planted_curve: shape must be one of {', '.join(SHAPES)}; got {shape!r}")
    n = int(rng.integers(6, 16))
    decades = rng.uniform(1.5, 3.0)
    noise = rng.uniform(0.001, 0.01)
    x1 = 1e6
    x = np.geomspace(x1, x1 * 10**decades, n)
    gamma = rng.uniform(0.5, 0.85)
    if shape == "powerlaw_const":
        r, b = rng.uniform(0.05, 0.5), rng.uniform(0.1, 0.6)

        def truth(xx):
            return gamma * (1.0 + r * (xx / x1) ** -b)
    elif shape == "broken_inside":
        b1, b2 = rng.uniform(0.05, 0.8, 2)
        xb = x1 * 10 ** (decades * rng.uniform(0.25, 0.75))
        truth = _broken(gamma, gamma * rng.uniform(0.05, 0.4), b1, b2, xb, x1)
    elif shape == "broken_beyond":
        b1 = rng.uniform(0.1, 0.6)
        b2 = float(np.clip(b1 + rng.uniform(-0.2, 0.2), 0.05, 0.8))
        xb = x[-1] * rng.uniform(1.0, 4.0)
        truth = _broken(gamma, gamma * rng.uniform(0.05, 0.4), b1, b2, xb, x1)
    else:
        # Slow start: at the first point u = ε − ε∞ sits at 60–90% of its ceiling ε0 − ε∞.
        alpha, c = rng.uniform(0.3, 1.5), -rng.uniform(0.2, 0.7)
        frac = rng.uniform(0.6, 0.9)
        D = 1.0 - gamma
        beta = (frac * D) / (D * (1.0 - frac)) ** alpha  # so that ε(x1) − ε∞ = frac·D
        p = {"alpha": alpha, "beta": beta * x1 ** -c, "gamma": gamma, "c": c, "eps0": 1.0}

        def truth(xx):
            return predict("m4", p, xx)
    y = truth(x) * np.exp(rng.normal(0.0, noise, n))
    return PlantedCurve(shape, x, y, noise, truth)


def startup_curve(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """A power law + constant behind a start-up gate, the demo's early shape: (x, y, the planted β).

    NE ≈ 1 until x_s (2-5× the first x), then y = γ·(1 + r·(x/x₁)^−β) through a logistic gate in
    log x 0.03-0.08 decades wide; 11-15 points over 1.8-2.4 decades from 4,096, log-normal noise 0.05-0.3%.
    """
    n = int(rng.integers(11, 16))
    x = np.geomspace(4096, 4096 * 10 ** rng.uniform(1.8, 2.4), n)
    g, r, b = rng.uniform(0.7, 0.85), rng.uniform(0.05, 0.3), rng.uniform(0.15, 0.5)
    xs, w = 4096 * 10 ** rng.uniform(0.3, 0.7), rng.uniform(0.03, 0.08)

    def truth(xx):
        law = g * (1 + r * (xx / 4096) ** -b)
        gate = 1 / (1 + np.exp(-(np.log10(xx) - np.log10(xs)) / w))
        return 1 - (1 - law) * gate

    noise = rng.uniform(0.0005, 0.003)
    return x, truth(x) * np.exp(rng.normal(0, noise, n)), float(b)
