"""Settings of the one-curve fitter: allowed choices, numerical options, and their checks.

The defaults of every knob of :func:`~recscale.laws.fit_power_law` live here and only here
(:data:`DEFAULT_BOOTSTRAP` is imported by the CLI and the report), so a default changes in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from recscale.errors import RecscaleError
from recscale.laws._common import plain, show

DEFAULT_BOOTSTRAP = 1000  # refits per law: enough for stable 95% percentile tails (~25 draws beyond each)
SPACES = ("log", "linear")
RESAMPLES = ("auto", "residuals", "points", "seeds")
INTERVALS = ("expanded_percentile", "percentile", "bca")


@dataclass(frozen=True)
class FitOptions:
    """Numerical settings and flag thresholds of :func:`fit_power_law`; the defaults live only here.

    Args:
        beta_bounds: Range searched for β (and β₂). Exponents reported for recommendation and
            language models lie well inside it (roughly 0.05–0.5); a fit at either end is flagged
            rather than trusted.
        grid_size: Number of β values (geometric grid) in the global search. 160 cells give a
            5% step over the default range, so the golden-section refinement of the best cell can
            only miss the global optimum if the profile has a dip narrower than one step.
        golden_iters: Golden-section iterations on log β. Each shrinks the two-cell bracket by
            0.618, so 30 leave β determined to ~1e-7 relative, far below any statistical error
            (40 iterations changed bootstrap β draws by < 3e-8).
        gn_iters: Gauss–Newton reweightings of the inner (α, γ) solve in log space.
        polish_tol: ``xtol``/``ftol``/``gtol`` of the final trust-region polish; tight on purpose,
            because default tolerances stop early on flat objectives.
        broken_starts: Starts (after cheap screening of 54) polished for the broken power law.
        broken_starts_bootstrap: Same for each bootstrap refit of the broken form, which screens
            its own data afresh (no warm start). All refits are solved together
            (:mod:`recscale.laws.batch_lsq`).
        tradeoff_corr: |corr(β, γ)| at or above which the β–γ trade-off is flagged ...
        tradeoff_rel_width: ... when the β interval is also wider than this fraction of β.
        min_decades: x spans below this (in decades) are flagged as too narrow to separate β and γ.
        min_points_per_decade: fewer distinct x per decade than this is flagged.
        max_failed_share: bootstrap refits failing more often than this are flagged.
        min_seeds_for_seed_resampling: ``resample="auto"`` resamples whole seeds only with at least
            this many seeds; with fewer, a seed bootstrap has too few distinct resamples.
        m4_eps0: ε0 of ``form="m4"`` (the metric of an untrained model, e.g. 1.0 for NE, whose
            base-rate predictor scores exactly 1); None fits it within (max y, 100·max y].
        m4_starts: Screened starts polished for ``form="m4"`` (see :mod:`recscale.laws.m4`).
        m4_starts_bootstrap: Same for each bootstrap refit of M4.
    """

    beta_bounds: tuple[float, float] = (1e-3, 3.0)
    grid_size: int = 160
    golden_iters: int = 30
    gn_iters: int = 3
    polish_tol: float = 1e-12
    broken_starts: int = 4
    broken_starts_bootstrap: int = 2
    tradeoff_corr: float = 0.8
    tradeoff_rel_width: float = 0.5
    min_decades: float = 2.0
    min_points_per_decade: float = 2.0
    max_failed_share: float = 0.05
    min_seeds_for_seed_resampling: int = 5
    m4_eps0: float | None = None
    m4_starts: int = 3
    m4_starts_bootstrap: int = 1

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form."""
        return plain(self.__dict__)


def check_options(opts: FitOptions, caller: str) -> None:
    """Raise on options no fit can run with."""
    blo, bhi = opts.beta_bounds
    if not (0 < blo < bhi and math.isfinite(bhi)):
        raise RecscaleError(f"{caller}: options.beta_bounds must satisfy 0 < lo < hi < inf; got {show(opts.beta_bounds)}")
    if opts.grid_size < 10:
        raise RecscaleError(f"{caller}: options.grid_size must be >= 10; got {show(opts.grid_size)}")


def check_gamma(form: str, gamma: Any, gamma_bounds: Any, caller: str) -> tuple[float, float]:
    """Resolve (lo, hi) for γ from the user's ``gamma`` / ``gamma_bounds``."""
    if gamma is not None and gamma_bounds is not None:
        raise RecscaleError(f"{caller}: give either gamma (a fixed floor) or gamma_bounds (a range), not both; "
                            f"got gamma={show(gamma)}, gamma_bounds={show(gamma_bounds)}")
    if form == "powerlaw":
        if gamma not in (None, 0, 0.0) or gamma_bounds is not None:
            raise RecscaleError(f"{caller}: form='powerlaw' has no floor (γ = 0); got gamma={show(gamma)}, "
                                f"gamma_bounds={show(gamma_bounds)}; use form='powerlaw_const' to fix or bound γ")
        return 0.0, 0.0
    if gamma is not None:
        g = float(gamma)
        if not math.isfinite(g) or g < 0:
            raise RecscaleError(f"{caller}: gamma must be a finite number >= 0; got gamma={show(gamma)}")
        return g, g
    if gamma_bounds is None:
        return 0.0, math.inf
    try:
        lo, hi = (float(v) for v in gamma_bounds)
    except (TypeError, ValueError):
        raise RecscaleError(f"{caller}: gamma_bounds must be a pair (lo, hi); got {show(gamma_bounds)}") from None
    if not (math.isfinite(lo) and lo >= 0 and lo <= hi and not math.isnan(hi)):
        raise RecscaleError(f"{caller}: gamma_bounds must satisfy 0 <= lo <= hi with lo finite; got {show(gamma_bounds)}")
    return lo, hi
