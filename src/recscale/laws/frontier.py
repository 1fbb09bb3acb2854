"""Pareto frontiers, scaling efficiency across schemes, and their ranking.

"Scaling efficiency" compares the exponents β of different scaling schemes (grow embedding
dimension, grow MLPs, grow everything...) along the same axis. Exponents from separate fits look
comparable but are not, unless their uncertainty is compared too: the difference of two β has its
own interval, computed here by a *paired* bootstrap when the two curves share their x grid (and
seeds), because then their noise is shared (common random numbers: the same training stream and
evaluation set) and pairing cancels it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from recscale.errors import RecscaleError
from recscale.laws._common import check_level, plain
from recscale.laws.options import DEFAULT_BOOTSTRAP
from recscale.laws.powerlaw import PowerLawFit, bootstrap_interval, fit_power_law
from recscale.laws.regime import RegimeThresholds, regime
from recscale.laws.table import Curve, axis_curve, pareto_frontier, require_columns

__all__ = [
    "BetaDifference", "FrontierFit", "compare_betas", "fit_frontier", "pareto_frontier", "rank_schemes",
    "scaling_fits", "scaling_table",
]

DEFAULT_AXES = ("samples", "params_total", "train_flops")


@dataclass(frozen=True)
class FrontierFit:
    """A law fitted to the Pareto frontier of (resource, NE) (see :func:`fit_frontier`).

    Attributes:
        indices: Indices of the frontier points in the input, in increasing x.
        fit: The :class:`~recscale.laws.powerlaw.PowerLawFit` on those points.
    """

    indices: np.ndarray
    fit: PowerLawFit

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """Plain-Python form."""
        return plain({"indices": self.indices, "fit": self.fit.to_dict(level)})


def fit_frontier(x: Any, y: Any, **fit_kwargs: Any) -> FrontierFit:
    """Fit a law to the Pareto frontier of all runs: the best NE reachable with each amount of x.

    Args:
        x, y: All runs' resource and NE (e.g. training FLOPs and NE of every evaluation).
        **fit_kwargs: Passed to :func:`~recscale.laws.powerlaw.fit_power_law`.

    Raises:
        RecscaleError: the frontier has fewer points than the fit needs (the message says how many).
    """
    idx = pareto_frontier(x, y)
    xa = np.asarray(x, dtype=float)[idx]
    ya = np.asarray(y, dtype=float)[idx]
    if idx.size < 4:
        raise RecscaleError(f"fit_frontier: the Pareto frontier has {idx.size} points; at least 4 are needed "
                            "(add runs that improve on the frontier, e.g. larger models at larger budgets)")
    return FrontierFit(indices=idx, fit=fit_power_law(xa, ya, **fit_kwargs))


def scaling_fits(
    df: Any,
    *,
    axes: tuple[str, ...] = DEFAULT_AXES,
    scheme_col: str = "scheme",
    y: str = "ne",
    **fit_kwargs: Any,
) -> tuple[dict[tuple[Any, str], tuple[Curve, PowerLawFit]], list[dict[str, Any]]]:
    """Fit one law per scheme × axis of a study table.

    Returns:
        (fits, skipped): ``fits[(scheme, axis)] = (curve, fit)``; ``skipped`` lists
        ``{"scheme", "axis", "reason"}`` for pairs that could not be fitted (too few points...).
    """
    require_columns(df, [scheme_col, y, *axes], where="scaling_fits")
    fits: dict[tuple[Any, str], tuple[Curve, PowerLawFit]] = {}
    skipped: list[dict[str, Any]] = []
    for scheme, part in df.groupby(scheme_col, sort=True):
        for axis in axes:
            try:
                curve = axis_curve(part, axis, y)
                fit = fit_power_law(curve.x, curve.y, seeds=curve.seeds, trial_ids=curve.trial_ids, **fit_kwargs)
            except RecscaleError as e:
                skipped.append({"scheme": scheme, "axis": axis, "reason": str(e)})
                continue
            fits[(scheme, axis)] = (curve, fit)
    return fits, skipped


def scaling_table(
    df: Any,
    *,
    axes: tuple[str, ...] = DEFAULT_AXES,
    scheme_col: str = "scheme",
    y: str = "ne",
    level: float = 0.95,
    thresholds: RegimeThresholds | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    **fit_kwargs: Any,
):
    """Table of β (with interval), α, γ and regime for each scheme × axis of a study table.

    Curves are chosen as described in :mod:`recscale.laws.table` (frontier for samples and FLOPs,
    equal-data slice for parameters). Pass ``gamma=...`` or ``gamma_bounds=...`` to share a known
    floor across all curves.

    Returns:
        A pandas DataFrame with columns scheme, axis, beta, beta_lo, beta_hi, alpha, alpha_lo,
        alpha_hi, gamma, gamma_lo, gamma_hi, beta_gamma_corr, n_points, x_min, x_max, decades,
        rmse_log, regime, regime_share, gain_rel_per_doubling, reducible_fraction, x_saturation,
        flags (comma-separated codes), selection. Missing values are None (never NaN). Pairs that
        could not be fitted are listed in ``df.attrs["skipped"]``.
    """
    import pandas as pd

    level = check_level(level, caller="scaling_table")
    fits, skipped = scaling_fits(df, axes=axes, scheme_col=scheme_col, y=y, bootstrap=bootstrap, seed=seed, **fit_kwargs)
    rows = []
    for (scheme, axis), (curve, fit) in fits.items():
        ci = fit.ci(level) if fit.draws else {}
        reg = regime(fit, thresholds=thresholds, level=level)
        rows.append({
            "scheme": scheme, "axis": axis,
            "beta": fit.beta, "beta_lo": ci.get("beta", (None, None))[0], "beta_hi": ci.get("beta", (None, None))[1],
            "alpha": fit.alpha, "alpha_lo": ci.get("alpha", (None, None))[0], "alpha_hi": ci.get("alpha", (None, None))[1],
            "gamma": fit.gamma, "gamma_lo": ci.get("gamma", (None, None))[0], "gamma_hi": ci.get("gamma", (None, None))[1],
            "beta_gamma_corr": fit.beta_gamma_corr, "n_points": fit.n_points,
            "x_min": float(fit.x.min()), "x_max": float(fit.x.max()), "decades": float(np.log10(fit.x.max() / fit.x.min())),
            "rmse_log": fit.rmse_log, "regime": reg.label, "regime_share": reg.label_share,
            "gain_rel_per_doubling": reg.gain_rel, "reducible_fraction": reg.reducible_fraction,
            "x_saturation": reg.x_saturation, "flags": ",".join(fit.flag_codes), "selection": curve.selection,
        })
    out = pd.DataFrame(rows)
    out = _no_nan(out)
    out.attrs["skipped"] = skipped
    out.attrs["level"] = level
    return out


def _no_nan(df):
    """Replace NaN/inf by None in columns that have any, so no table cell reads as a number."""
    import pandas as pd

    for c in df.columns:
        vals = df[c].tolist()
        if any(v is None or (isinstance(v, float) and not math.isfinite(v)) for v in vals):
            df[c] = pd.Series([None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v for v in vals],
                              index=df.index, dtype=object)
    return df


@dataclass(frozen=True)
class BetaDifference:
    """Difference of two curves' exponents, β_b − β_a, with a bootstrap interval.

    Attributes:
        beta_a, beta_b: The two exponents.
        diff: β_b − β_a.
        lo, hi: Interval of the difference.
        p_boot: Two-sided bootstrap p-value, 2·min(P*(diff ≤ 0), P*(diff ≥ 0)).
        paired: True when both curves were resampled with the same draws (same x grid and seeds).
        level, bootstrap, seed: Settings.
        note: How the pairing was decided.
    """

    beta_a: float
    beta_b: float
    diff: float
    lo: float
    hi: float
    p_boot: float
    paired: bool
    level: float
    bootstrap: int
    seed: int
    note: str

    @property
    def distinguishable(self) -> bool:
        """True if the interval excludes 0."""
        return self.lo > 0 or self.hi < 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form."""
        return plain({**self.__dict__, "distinguishable": self.distinguishable})


def _sorted(x, y, seeds):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    s = None if seeds is None else np.asarray(seeds)
    keys = (x,) if s is None else (s.astype(str), x)
    order = np.lexsort(keys[::-1]) if s is not None else np.argsort(x, kind="stable")
    return x[order], y[order], None if s is None else s[order]


def compare_betas(
    x_a: Any, y_a: Any, x_b: Any, y_b: Any,
    *,
    seeds_a: Any = None,
    seeds_b: Any = None,
    level: float = 0.95,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    **fit_kwargs: Any,
) -> BetaDifference:
    """Bootstrap interval for β_b − β_a, paired when the curves share their x grid and seeds.

    Pairing: with the same number of points at the same x (and the same seeds), both curves are
    refitted on the same resampling draws (the same residual positions, points or seeds), so noise
    shared between them, such as the common evaluation set, cancels in the difference. Otherwise
    the two bootstraps are independent (``paired=False``).

    Args:
        x_a, y_a, x_b, y_b: The two curves.
        seeds_a, seeds_b: Optional seed labels per row.
        level: Confidence level.
        bootstrap: Resamples (> 0).
        seed: Seed.
        **fit_kwargs: Passed to :func:`~recscale.laws.powerlaw.fit_power_law` for both.

    Raises:
        RecscaleError: bootstrap < 1, or whatever the fits raise.
    """
    level = check_level(level, caller="compare_betas")
    if not isinstance(bootstrap, (int, np.integer)) or bootstrap < 1:
        raise RecscaleError(f"compare_betas: bootstrap must be an integer >= 1; got {bootstrap!r}")
    xa, ya, sa = _sorted(x_a, y_a, seeds_a)
    xb, yb, sb = _sorted(x_b, y_b, seeds_b)
    same_x = xa.size == xb.size and np.allclose(xa, xb, rtol=1e-9, atol=0)
    same_s = (sa is None and sb is None) or (sa is not None and sb is not None and sa.size == sb.size and np.array_equal(sa, sb))
    paired = bool(same_x and same_s)
    fa = fit_power_law(xa, ya, seeds=sa, bootstrap=bootstrap, seed=seed, **fit_kwargs)
    fb = fit_power_law(xb, yb, seeds=sb, bootstrap=bootstrap, seed=seed if paired else seed + 1, **fit_kwargs)
    if paired and fa.method.bootstrap.resample != fb.method.bootstrap.resample:  # pragma: no cover
        paired = False
    d = fb.draws["beta"] - fa.draws["beta"]
    est = fb.beta - fa.beta
    lo, hi = bootstrap_interval(d, est, level=level, dof=min(fa.dof, fb.dof),
                                method="percentile" if fa.interval == "bca" else fa.interval)
    ok = d[np.isfinite(d)]
    p = float(min(1.0, 2 * min(np.mean(ok <= 0), np.mean(ok >= 0)))) if ok.size else 1.0
    note = ("paired: same x grid and seeds, same resampling draws" if paired
            else "independent bootstraps: the curves differ in x grid or seeds")
    return BetaDifference(beta_a=fa.beta, beta_b=fb.beta, diff=est, lo=float(lo), hi=float(hi), p_boot=p, paired=paired,
                          level=level, bootstrap=int(bootstrap), seed=seed, note=note)


def rank_schemes(
    df: Any,
    axis: str = "samples",
    *,
    scheme_col: str = "scheme",
    y: str = "ne",
    level: float = 0.95,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    **fit_kwargs: Any,
):
    """Rank schemes by β along one axis, saying whether each differs from the next one down.

    A larger β means NE falls faster as the resource grows. Neighbours in the ranking are compared
    with :func:`compare_betas`; ``distinguishable`` is False where the interval of the difference
    includes 0, i.e. the order of those two is not supported by the data.

    Returns:
        A pandas DataFrame: rank, scheme, beta, beta_lo, beta_hi, gamma, diff_to_next, diff_lo,
        diff_hi, p_boot, paired, distinguishable (None for the last row). Skipped schemes are in
        ``attrs["skipped"]``.
    """
    import pandas as pd

    fits, skipped = scaling_fits(df, axes=(axis,), scheme_col=scheme_col, y=y, bootstrap=bootstrap, seed=seed, **fit_kwargs)
    items = sorted(fits.items(), key=lambda kv: -kv[1][1].beta)
    rows = []
    for i, ((scheme, _), (curve, fit)) in enumerate(items):
        ci = fit.ci(level)
        row: dict[str, Any] = {"rank": i + 1, "scheme": scheme, "beta": fit.beta, "beta_lo": ci["beta"][0],
                               "beta_hi": ci["beta"][1], "gamma": fit.gamma, "diff_to_next": None, "diff_lo": None,
                               "diff_hi": None, "p_boot": None, "paired": None, "distinguishable": None}
        if i + 1 < len(items):
            nxt_curve = items[i + 1][1][0]
            bd = compare_betas(nxt_curve.x, nxt_curve.y, curve.x, curve.y, seeds_a=nxt_curve.seeds, seeds_b=curve.seeds,
                               level=level, bootstrap=bootstrap, seed=seed, **fit_kwargs)
            row.update(diff_to_next=bd.diff, diff_lo=bd.lo, diff_hi=bd.hi, p_boot=bd.p_boot, paired=bd.paired,
                       distinguishable=bd.distinguishable)
        rows.append(row)
    out = _no_nan(pd.DataFrame(rows))
    out.attrs["skipped"] = skipped
    out.attrs["axis"] = axis
    return out
