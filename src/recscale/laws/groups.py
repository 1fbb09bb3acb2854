"""Fit or plan one law per group of a table: the library side of ``recscale fit`` and ``recscale plan``.

Kept separate from the CLI so the commands stay thin (parse, call one function, print) and the
same results are available to scripts and the report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recscale.errors import RecscaleError
from recscale.laws._common import plain
from recscale.laws.auto import FormsCheck, forms_check as check_forms
from recscale.laws.fitrange import FitRange, StartSensitivity, resolve_fit_range, start_sensitivity
from recscale.laws.plan import Plan, plan_for_gain, plan_for_target
from recscale.laws.powerlaw import PowerLawFit, fit_power_law
from recscale.laws.regime import Regime, RegimeThresholds, regime
from recscale.laws.table import frontier_curve, require_columns


@dataclass(frozen=True)
class GroupResult:
    """The outcome for one group of rows.

    Attributes:
        key: Group column → value (empty without grouping).
        n_rows: Rows in the group (before frontier selection).
        fit: The fit, or None if it failed.
        regime: Its regime at the largest x, or None.
        plan: The plan for the target (``plan_groups`` only), or None.
        error: Why the group could not be fitted, or None.
        rows: The rows fitted (not compared).
        alternatives: Law forms that backtest as well as the fit's on these rows
            (:func:`~recscale.laws.auto.forms_check`), checked by the plan for disagreement.
        fit_range: Where the fit starts (:mod:`recscale.laws.fitrange`); rows before it are in
            ``rows`` but not in the fit.
        start: How far β moves when the fit starts one point later (the in-regime check).
        x_end: Where the group's x axis ends (``axis_end`` of :func:`fit_groups`), or None.
    """

    key: dict[str, Any]
    n_rows: int
    fit: PowerLawFit | None
    regime: Regime | None
    plan: Plan | None
    error: str | None
    rows: Any = field(repr=False, compare=False, default=None)
    alternatives: dict[str, dict[str, float]] | None = field(repr=False, compare=False, default=None)
    fit_range: FitRange | None = None
    start: StartSensitivity | None = None
    x_end: float | None = None

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """Plain-Python form."""
        return plain({
            "group": self.key, "n_rows": self.n_rows, "error": self.error,
            "fit": self.fit.to_dict(level) if self.fit else None,
            "regime": self.regime.to_dict() if self.regime else None,
            "plan": self.plan.to_dict() if self.plan else None,
            "fit_range": self.fit_range.to_dict() if self.fit_range else None,
            "start_sensitivity": self.start.to_dict() if self.start else None, "x_end": self.x_end,
        })


def parse_where(where: list[str] | tuple[str, ...] | None) -> list[tuple[str, str]]:
    """Parse filters ``COL=VALUE``; raise naming the malformed one."""
    out = []
    for item in where or ():
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise RecscaleError(f"--where must look like COL=VALUE; got {item!r}")
        col, val = item.split("=", 1)
        out.append((col.strip(), val.strip()))
    return out


def _filter(df, where: list[tuple[str, str]]):
    """Keep rows where each column equals its value (numerically for numeric columns)."""
    import pandas as pd

    for col, val in where:
        require_columns(df, [col], where="--where")
        s = df[col]
        if pd.api.types.is_numeric_dtype(s):
            try:
                v = float(val)
            except ValueError:
                raise RecscaleError(f"--where {col}={val}: column {col!r} is numeric; got {val!r}") from None
            mask = np.isclose(s.to_numpy(dtype=float), v, rtol=1e-12, atol=0.0)
        else:
            mask = (s.astype(str) == val).to_numpy()
        if not mask.any():
            raise RecscaleError(f"--where {col}={val}: no rows match; values of {col!r} include "
                                f"{', '.join(map(str, s.drop_duplicates().head(8).tolist()))}")
        df = df[mask]
    return df


def _numeric(df, col: str):
    import pandas as pd

    try:
        return pd.to_numeric(df[col], errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError):
        bad = df[col][pd.to_numeric(df[col], errors="coerce").isna() & df[col].notna()]
        first = bad.iloc[0] if len(bad) else "?"
        raise RecscaleError(f"column {col!r} must be numeric; got {first!r} in row {bad.index[0] if len(bad) else '?'}") from None


def fit_groups(
    df: Any,
    x: str,
    y: str = "ne",
    *,
    group: list[str] | tuple[str, ...] = (),
    where: list[tuple[str, str]] | None = None,
    frontier: bool = False,
    seed_col: str | None = "seed",
    thresholds: RegimeThresholds | None = None,
    level: float = 0.95,
    forms_check: bool = True,
    fit_from: str | float | None = "auto",
    axis_end: Callable[[Any], float | None] | None = None,
    **fit_kwargs: Any,
) -> list[GroupResult]:
    """Fit ``y`` against ``x`` for each group of rows.

    Args:
        df: The table.
        x, y: Column names.
        group: Columns whose value combinations define separate curves.
        where: Filters (column, value) applied first.
        frontier: Fit the Pareto frontier of each group instead of all its rows.
        seed_col: Column of seed labels, used for resampling when present (None to ignore).
        thresholds: Regime thresholds.
        level: Confidence level of the regime intervals.
        forms_check: Check each fit against the other law forms (below); False skips it (faster).
        fit_from: Where each fit starts: ``"auto"`` (default: after an optimiser start-up, by the
            rule of :mod:`recscale.laws.fitrange`), ``"all"`` or an x value. Each fit is then
            checked for dependence on its start (a ``start_dependent`` flag).
        axis_end: A group's rows → where its x axis ends (embedding rows: every id its own row), or
            None; the regime reads its gains no further (:func:`~recscale.laws.regime.regime`), and
            a plan past it gives no number. The laws read no files: the caller knows the study.
        **fit_kwargs: Passed to :func:`~recscale.laws.powerlaw.fit_power_law`.

    Each fit is also checked against the other law forms (:func:`~recscale.laws.auto.forms_check`):
    a ``backtest_outside_interval`` flag when its own backtest missed by more than its prediction
    interval, and the comparable forms a plan checks for disagreement.

    Returns:
        One :class:`GroupResult` per group, in sorted group order.

    Raises:
        RecscaleError: missing or non-numeric columns, no rows, or every group failing (the first
            group's reason is given).
    """
    require_columns(df, [x, y, *group], where="fit")
    df = _filter(df, where or [])
    results = []
    parts = df.groupby(list(group), sort=True, dropna=False) if group else [((), df)]
    for key, part in parts:
        key_t = key if isinstance(key, tuple) else (key,)
        kd = dict(zip(group, key_t))
        try:
            rows = part
            if frontier:
                rows = frontier_curve(part, x, y).rows
            xv, yv = _numeric(rows, x), _numeric(rows, y)
            seeds = rows[seed_col].to_numpy() if seed_col and seed_col in rows.columns else None
            fr = resolve_fit_range(xv, yv, fit_from, fit_fn=fit_power_law, seeds=seeds, level=level, **fit_kwargs)
            inside = fr.mask(xv)
            fitted = rows[inside]
            xv, yv = xv[inside], yv[inside]
            seeds = None if seeds is None else seeds[inside]
            tids = tuple(fitted["trial_id"].tolist()) if "trial_id" in fitted.columns else None
            fit = fit_power_law(xv, yv, seeds=seeds, trial_ids=tids, **fit_kwargs)
            check = check_forms(fit_power_law, fit, **fit_kwargs) if forms_check else FormsCheck({}, None)
            start = start_sensitivity(fit_power_law, fit, xv, yv, seeds=seeds, level=level, **fit_kwargs)
            extra = tuple(f for f in (check.flag, start.flag()) if f is not None)
            if extra:
                fit = dataclasses.replace(fit, flags=fit.flags + extra)
            end = axis_end(part) if axis_end is not None else None
            reg = regime(fit, x_end=end, thresholds=thresholds, level=level)
            results.append(GroupResult(key=kd, n_rows=len(part), fit=fit, regime=reg, plan=None, error=None, rows=fitted,
                                       alternatives=check.alternatives, fit_range=fr, start=start, x_end=end))
        except RecscaleError as e:
            results.append(GroupResult(key=kd, n_rows=len(part), fit=None, regime=None, plan=None, error=str(e), rows=part))
    if not results:
        raise RecscaleError("fit: the table has no rows")
    if all(r.error for r in results):
        first = results[0]
        where_s = f" (group {first.key})" if first.key else ""
        raise RecscaleError(f"{first.error}{where_s}")
    return results


def plan_groups(
    df: Any,
    target_ne: float | None,
    x: str,
    y: str = "ne",
    *,
    group: list[str] | tuple[str, ...] = (),
    where: list[tuple[str, str]] | None = None,
    frontier: bool = False,
    seed_col: str | None = "seed",
    level: float = 0.95,
    bytes_per_param: float = 4.0,
    forms_check: bool = True,
    rel_gain: float | None = None,
    **fit_kwargs: Any,
) -> list[GroupResult]:
    """Fit each group (as :func:`fit_groups`) and plan the x needed for ``target_ne``.

    With ``rel_gain`` instead (``target_ne=None``), each group's plan lowers its NE by that fraction
    from the edge of its data (:func:`~recscale.laws.plan.plan_for_gain`: the "× more" multiple and
    its interval, never below 1×).

    Implied resources come from the group's rows (see :func:`~recscale.laws.plan.plan_for_target`).
    Each plan also checks the law forms that backtest as well as the fitted one
    (:func:`~recscale.laws.auto.forms_check`) and says when they disagree at the target.
    """
    if (target_ne is None) == (rel_gain is None):
        raise RecscaleError("plan: give either a target NE (--target-ne 0.74) or a relative gain (--lower-by 0.01), not "
                            f"both or neither; got target_ne={target_ne}, rel_gain={rel_gain}")
    results = fit_groups(df, x, y, group=group, where=where, frontier=frontier, seed_col=seed_col, level=level,
                         forms_check=forms_check, **fit_kwargs)
    out = []
    for r in results:
        if r.fit is None:
            out.append(r)
            continue
        kw = dict(level=level, axis=x, resources=r.rows, bytes_per_param=bytes_per_param, alternatives=r.alternatives,
                  x_end=r.x_end)
        plan = (plan_for_target(r.fit, target_ne, **kw) if rel_gain is None else plan_for_gain(r.fit, rel_gain, **kw))
        out.append(dataclasses.replace(r, plan=plan))
    return out
