"""Model comparison: in-sample information criteria and a backtest per law form (:func:`compare_forms`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from recscale.errors import RecscaleError
from recscale.laws._common import check_curve
from recscale.laws.backtest import Backtest, backtest, holdout_cut, means_by_x
from recscale.laws.forms import FORMS
from recscale.laws.powerlaw import fit_power_law

__all__ = ["Backtest", "backtest", "compare_forms", "holdout_cut", "means_by_x"]


def compare_forms(
    x: Any,
    y: Any,
    *,
    forms: Sequence[str] = FORMS,
    x_cut: float | None = None,
    **fit_kwargs: Any,
):
    """Compare law forms on one curve by AIC/AICc/BIC (in-sample) and by backtest (extrapolation).

    Args:
        x, y: The curve.
        forms: Forms to compare.
        x_cut: Cut of the backtest; default keeps the lowest two thirds of the distinct x for fitting.
        **fit_kwargs: Passed to :func:`fit_power_law` (``bootstrap`` defaults to 0 here).

    Returns:
        A pandas DataFrame, one row per form, sorted by AICc then AIC (a form whose AICc is
        undefined, n ≤ k + 1, comes after those with one, ordered by AIC); a form that cannot be
        fitted (e.g. too few points for the broken law) has its reason in ``note`` and no numbers.
    """
    import pandas as pd

    xa, ya = check_curve(x, y, caller="compare_forms")
    fit_kwargs = {"bootstrap": 0, **fit_kwargs}
    if x_cut is None:
        ux = np.unique(xa)
        x_cut = float(ux[max(int(math.ceil(2 * ux.size / 3)) - 1, 0)])
    rows = []
    for form in forms:
        row: dict[str, Any] = {"form": form}
        try:
            f = fit_power_law(xa, ya, form=form, **fit_kwargs)
            row.update(n_free=len(f.free), rmse_log=f.rmse_log, aic=f.aic, aicc=f.aicc, bic=f.bic, beta=f.beta, gamma=f.gamma)
            bt = backtest(fit_power_law, xa, ya, x_cut, form=form, **fit_kwargs)
            row.update(backtest_rmse_log=bt.rmse_log, backtest_bias_log=bt.bias_log, note="")
        except RecscaleError as e:
            row["note"] = str(e)
        rows.append(row)
    df = pd.DataFrame(rows)
    if "aic" in df:
        df["aicc"] = pd.to_numeric(df["aicc"], errors="coerce")
        df["delta_aic"] = df["aic"] - df["aic"].min()
        df["delta_aicc"] = df["aicc"] - df["aicc"].min()
        df = df.sort_values(["aicc", "aic"], na_position="last", kind="stable").reset_index(drop=True)
    df.attrs["x_cut"] = x_cut
    return df
