"""The report's figures: the paper's (Ardalani et al. 2022, Figures 2, 4 and 5) and ours.

Every figure is drawn from an :class:`~recscale.report.analysis.Analysis` with matplotlib's
object-oriented API (no pyplot, so no global state and no GUI backend), and saved as PNG and SVG.
All axes are log-scaled; each fitted law is drawn with its interval band and its equation in the
legend; where the floor is known it is a dashed line on every NE axis: the true-probability NE on
the eval rows the trials were measured on (recorded by the study runner for a synthetic world), else
the world's population Bayes NE.

Figures:

* ``data_scaling``: NE vs training samples, one panel per scheme, one line per model size (Fig. 2).
* ``param_scaling``: NE vs the parameters each scheme grows, at several data sizes.
* ``data_efficiency``: every model's data curve with the Pareto-optimal curve and its law (Fig. 4).
* ``compute_data`` and ``compute_model``: compute grown with data in tandem, and with model size in
  tandem, each with the compute frontier's law (Fig. 5).
* ``scaling_efficiency``: β with intervals for each scheme × axis, with regime labels.
* ``extrapolation``: each law form fitted on the smaller part of each headline curve, predicting the
  larger part, with the power law + constant's prediction interval and the form ``auto`` chose.
* ``floors``: fitted floors (free and bounded) against the eval-rows floor and the Bayes NE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from recscale.laws.forms import predict
from recscale.report.analysis import (
    AXES,
    AXIS_ADJ,
    AXIS_END_REASON,
    AXIS_NOUN,
    AXIS_VAR,
    FORM_NAMES,
    FORM_SHORT,
    PARAM_TITLES,
    scheme_title,
    Analysis,
    Fitted,
    beta_at_bound,
    fmt_num,
    is_flat,
    law_tex,
    value_label,
)

DPI = 130
# One colour and line style per law form, the same in every panel (the chosen form's line is thicker).
FORM_STYLE = {"powerlaw_const": ("#222222", "-"), "m4": ("#8e44ad", "--"), "broken_powerlaw": ("#e07b00", "-.")}
AXIS_COLORS = {"data": "#1f77b4", "params": "#2ca02c", "compute": "#d62728"}
REGIME_COLORS = {"high-return": "#1a7f37", "diminishing": "#b08800", "saturated": "#cf222e", "undetermined": "#6e7781"}
_RC = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 7.2, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False, "svg.fonttype": "none",
    "legend.framealpha": 0.85, "legend.borderaxespad": 0.4,
    "svg.hashsalt": "recscale",  # fixed SVG ids: the same study draws byte-identical files
}  # fmt: skip


@dataclass(frozen=True)
class FigureFile:
    """A saved figure.

    Attributes:
        name: File stem, e.g. ``"data_scaling"``.
        title: Heading for the report.
        caption: What it shows and how to read it.
        png, svg: The files.
    """

    name: str
    title: str
    caption: str
    png: Path
    svg: Path


# ---- helpers ------------------------------------------------------------------------------------


def _sizes_cmap(n: int, name: str = "viridis") -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps[name]
    return [cmap(v) for v in (np.linspace(0.08, 0.85, n) if n > 1 else [0.45])]


def _ne_axis(ax, lo: float, hi: float) -> None:
    """Log-scaled NE axis with a handful of plainly labelled ticks (NE spans far less than a decade)."""
    from matplotlib.ticker import FixedLocator, FormatStrFormatter, MaxNLocator, NullFormatter, NullLocator

    ax.set_yscale("log")
    pad = (math.log(hi) - math.log(lo)) * 0.06 or 0.01
    lo2, hi2 = math.exp(math.log(lo) - pad), math.exp(math.log(hi) + pad)
    ax.set_ylim(lo2, hi2)
    ticks = MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo2, hi2)
    ticks = [t for t in ticks if lo2 <= t <= hi2]
    digits = next((d for d in range(2, 6) if all(abs(round(t, d) - t) < 1e-9 for t in ticks)), 5)
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FormatStrFormatter(f"%.{digits}f"))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_formatter(NullFormatter())


def _tick(v: float) -> str:
    if v >= 1e4 or v < 1e-2:
        m, e = f"{v:.2e}".split("e")
        return f"{m.rstrip('0').rstrip('.')}e{int(e)}"
    return f"{v:g}"


def _x_log(ax, x: np.ndarray | None = None) -> None:
    """Log x axis; over less than a decade, a few plainly labelled ticks instead of crowded 1.2×10^4 labels."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter, NullLocator

    ax.set_xscale("log")
    ax.grid(True, which="major", alpha=0.25, lw=0.6)
    ax.grid(True, which="minor", axis="x", alpha=0.08, lw=0.4)
    if x is None or not np.size(x):
        return
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (lo > 0 and hi / lo < 8):
        return
    k0, k1 = int(math.floor(math.log10(lo))), int(math.ceil(math.log10(hi)))
    cands = sorted(m * 10.0**k for k in range(k0, k1 + 1) for m in (1, 1.5, 2, 3, 4, 5, 6, 8))
    ticks = [t for t in cands if lo * 0.98 <= t <= hi * 1.02]
    if len(ticks) > 5:
        idx = np.unique(np.round(np.linspace(0, len(ticks) - 1, 5)).astype(int))
        ticks = [ticks[i] for i in idx]
    if len(ticks) < 3:
        ticks = [t for t in MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi) if lo * 0.98 <= t <= hi * 1.02]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _tick(v)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _ne_range(a: Analysis, values: list[np.ndarray]) -> tuple[float, float]:
    vals = np.concatenate([np.asarray(v, dtype=float).ravel() for v in values if np.size(v)] or [np.array([1.0])])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    lo, hi = float(vals.min()), float(vals.max())
    if a.study.floor is not None:
        lo = min(lo, a.study.floor)
    return lo, hi


def floor_line(a: Analysis) -> tuple[float, str] | None:
    """The dashed line of every NE panel: (value, legend label), or None without a known floor."""
    st = a.study
    if st.floor is None:
        return None
    return st.floor, f"{st.floor_name} {st.floor:.4f}"


def _bayes(ax, a: Analysis, label: bool = True) -> None:
    line = floor_line(a)
    if line is None:
        return
    ax.axhline(line[0], color="black", ls="--", lw=1.0, zorder=1, label=line[1] if label else None)


def _draw_law(ax, fit, x_lo: float, x_hi: float, color, label: str | None, level: float, lw: float = 1.6,
              band: bool = True, ls: str = "-") -> None:
    xs = np.geomspace(x_lo, x_hi, 120)
    ax.plot(xs, fit.predict(xs), color=color, lw=lw, ls=ls, label=label, zorder=3)
    if band and fit.draws:
        lo, hi = fit.predict_interval(xs, level=level)
        ax.fill_between(xs, lo, hi, color=color, alpha=0.16, lw=0, zorder=2)


def _points(ax, f: Fitted, color, marker: str = "o", ms: float = 3.4, hollow: bool = False, label=None, line=False) -> None:
    """Seed means with the seed range as error bars."""
    _left_out(ax, f)
    x, m = f.mean_x, f.mean_y
    lo, hi = _seed_range(f)
    ax.errorbar(x, m, yerr=[m - lo, hi - m], fmt=marker + ("-" if line else ""), ms=ms, color=color, lw=0.8 if line else 0,
                elinewidth=0.8, capsize=0, mfc="white" if hollow else color, mec=color, label=label, zorder=4,
                alpha=0.95)


LEFT_OUT_COLOR = "0.72"
LEFT_OUT_LABEL = "left out of the fit (start-up)"


def _left_out(ax, f: Fitted, label: bool = False) -> None:
    """The points before the fit range (an optimiser start-up), greyed: drawn, not fitted."""
    lo = f.left_out
    if lo is None or lo.x.size == 0:
        return
    ux, inv = np.unique(lo.x, return_inverse=True)
    m = np.bincount(inv, weights=lo.y) / np.bincount(inv)
    ax.plot(ux, m, "o", ms=3.4, mfc="white", mec=LEFT_OUT_COLOR, mew=0.9, zorder=3, label=LEFT_OUT_LABEL if label else None)


def _seed_range(f: Fitted) -> tuple[np.ndarray, np.ndarray]:
    ux, inv = np.unique(f.curve.x, return_inverse=True)
    lo = np.full(ux.size, np.inf)
    hi = np.full(ux.size, -np.inf)
    np.minimum.at(lo, inv, f.curve.y)
    np.maximum.at(hi, inv, f.curve.y)
    return lo, hi


def _new_figure(rows: int, cols: int, w: float, h: float, **kw):
    import matplotlib as mpl
    from matplotlib.figure import Figure

    with mpl.rc_context(_RC):
        fig = Figure(figsize=(w, h), dpi=DPI, layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False, **kw)
    return fig, axes


def _scheme_grid(n: int, panel_w: float = 5.4, panel_h: float = 4.1, sharey: bool = True):
    """A grid with one panel per scheme: 2 × 2 for four schemes (readable when embedded), else one row."""
    cols = 2 if n == 4 else max(1, min(n, 3))
    rows = math.ceil(n / cols)
    fig, axes = _new_figure(rows, cols, panel_w * cols, panel_h * rows, sharey=sharey)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n], cols


def _legend(ax, **kw) -> None:
    import matplotlib as mpl

    with mpl.rc_context(_RC):
        ax.legend(**{"loc": "upper right", "handlelength": 1.6, "borderpad": 0.4, "labelspacing": 0.3, **kw})


def _panel_title(ax, scheme: str) -> None:
    ax.set_title(scheme_title(scheme), fontsize=10)


def _no_data(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=8, color="0.4", wrap=True)


# ---- the figures --------------------------------------------------------------------------------


def fig_data_scaling(a: Analysis):
    """NE vs training samples per scheme, one law per model size (the paper's Figure 2)."""
    fig, axes, cols = _scheme_grid(len(a.schemes))
    lvl = a.options.level
    ys = [f.mean_y for s in a.schemes for f in a.models[s]]
    lo, hi = _ne_range(a, ys)
    oracle = oracle_series(a)
    for j, s in enumerate(a.schemes):
        ax = axes[j]
        fs = a.models[s]
        for f, c in zip(fs, _sizes_cmap(len(fs))):
            fit = f.primary
            lab = f"{value_label(s, f.value)}: " + (law_tex(fit, "D") if fit else "no fit")
            _points(ax, f, c)
            if fit is not None:
                _draw_law(ax, fit, f.mean_x.min(), f.mean_x.max(), c, lab, lvl)
            else:
                ax.plot([], [], color=c, label=lab)
        if oracle is not None:
            ax.plot(oracle[0], oracle[1], color="0.45", ls=":", lw=1.1, label="seen-id oracle", zorder=1)
        _finish_ne_panel(ax, a, s, lo, hi, "training samples D", ylabel=j % cols == 0)
    return fig


def oracle_series(a: Analysis):
    """The seen-id oracle's (samples, NE) as drawn in the data-scaling figure, or None."""
    df = a.study.frame
    if "oracle_ne" not in df.columns:
        return None
    o = df[["samples", "oracle_ne"]].dropna().drop_duplicates().sort_values("samples")
    if o.empty:
        return None
    return o["samples"].to_numpy(dtype=float), o["oracle_ne"].to_numpy(dtype=float)


def fig_param_scaling(a: Analysis):
    """NE vs the parameters each scheme grows, one law per data size."""
    fig, axes, cols = _scheme_grid(len(a.schemes), sharey=False)
    lvl = a.options.level
    ys = [f.mean_y for s in a.schemes for f in a.param_slices.get(s, [])]
    lo, hi = _ne_range(a, ys or [np.array([1.0])])
    for j, s in enumerate(a.schemes):
        ax = axes[j]
        sl = a.param_slices.get(s, [])
        if not sl:
            _no_data(ax, "no parameter law:\nthe models do not differ\nin parameters, or too few sizes")
        for f, c in zip(sl, _sizes_cmap(len(sl), "plasma")):
            fit = f.primary
            lab = f"D={fmt_num(f.samples, 2)}: " + (law_tex(fit, "N") if fit else f"no fit ({f.mean_x.size} sizes)")
            _points(ax, f, c, line=fit is None)
            if fit is not None:
                _draw_law(ax, fit, f.mean_x.min(), f.mean_x.max(), c, lab, lvl)
            else:
                ax.plot([], [], color=c, label=lab)
        _bayes(ax, a)
        xs = np.concatenate([f.mean_x for f in sl]) if sl else None
        end = a.study.axis_end(s) if a.param_col[s] == "params_sparse" else None
        if end is not None and sl:  # no model can have more: a hash size past the cardinalities adds no row
            ax.axvline(end, color="0.35", ls=":", lw=1.2, gid="axis_end", label=f"the axis ends ({AXIS_END_REASON})")
            xs = np.append(xs, end)
        _x_log(ax, xs)
        _ne_axis(ax, lo, hi)
        ax.set_xlabel(f"{PARAM_TITLES.get(a.param_col[s], a.param_col[s])} N (what the scheme grows)")
        _panel_title(ax, s)
        if sl:
            _legend(ax, loc="best")
        if j % cols == 0:
            ax.set_ylabel("NE (eval)")
    return fig


def fig_data_efficiency(a: Analysis):
    """Every model's data curve, and the Pareto-optimal curve with its law (the paper's Figure 4)."""
    fig, axes, cols = _scheme_grid(len(a.schemes))
    lvl = a.options.level
    ys = [f.mean_y for s in a.schemes for f in a.models[s]]
    lo, hi = _ne_range(a, ys)
    for j, s in enumerate(a.schemes):
        ax = axes[j]
        fs = a.models[s]
        for f, c in zip(fs, _sizes_cmap(len(fs))):
            ax.plot(f.mean_x, f.mean_y, "-", marker=".", ms=4, lw=1.0, color=c, alpha=0.85, label=value_label(s, f.value))
            _left_out(ax, f)
        fr = a.frontiers.get((s, "data"))
        if fr is not None:
            _left_out(ax, fr, label=fr.n_left_out > 0)
            ax.plot(fr.mean_x, fr.mean_y, "o", ms=6.5, mfc="none", mec="black", mew=1.1, zorder=5, label="Pareto-optimal points")
            if fr.primary is not None:
                _draw_law(ax, fr.primary, fr.mean_x.min(), fr.mean_x.max(), "black", "Pareto: " + law_tex(fr.primary, "D"),
                          lvl, lw=2.0)
        _finish_ne_panel(ax, a, s, lo, hi, "training samples D", ylabel=j % cols == 0)
    return fig


def _compute_frontier(ax, a: Analysis, s: str, label_points: bool) -> None:
    fr = a.frontiers.get((s, "compute"))
    if fr is None:
        return
    ax.plot(fr.mean_x, fr.mean_y, "o", ms=6, mfc="none", mec="black", mew=1.0, zorder=5,
            label="compute frontier" if label_points else None)
    _left_out(ax, fr, label=label_points and fr.n_left_out > 0)
    if fr.primary is not None:
        _draw_law(ax, fr.primary, fr.mean_x.min(), fr.mean_x.max(), "black", "frontier: " + law_tex(fr.primary, "C"),
                  a.options.level, lw=2.0)


def _finish_ne_panel(ax, a: Analysis, s: str, lo: float, hi: float, xlabel: str, ylabel: bool) -> None:
    """Bayes line, log x axis, NE axis, labels, title and legend shared by every NE-vs-x panel."""
    _bayes(ax, a)
    _x_log(ax)
    _ne_axis(ax, lo, hi)
    ax.set_xlabel(xlabel)
    _panel_title(ax, s)
    _legend(ax)
    if ylabel:
        ax.set_ylabel("NE (eval)")


def fig_compute_data(a: Analysis):
    """Compute grown with data: each model's curve against training FLOPs, with the compute frontier (Fig. 5a)."""
    fig, axes, cols = _scheme_grid(len(a.schemes))
    lo, hi = _ne_range(a, [f.mean_y for s in a.schemes for f in a.models[s]])
    df = a.study.frame
    for j, s in enumerate(a.schemes):
        ax = axes[j]
        part = df[df["scheme"] == s]
        fs = a.models[s]
        for f, c in zip(fs, _sizes_cmap(len(fs))):
            g = part[part["value"] == f.value].groupby("train_flops")["ne"].mean()
            ax.plot(g.index, g.values, "-", marker=".", ms=4, lw=1.0, color=c, alpha=0.85, label=value_label(s, f.value))
        _compute_frontier(ax, a, s, True)
        _finish_ne_panel(ax, a, s, lo, hi, "training FLOPs C", ylabel=j % cols == 0)
    return fig


def fig_compute_model(a: Analysis):
    """Compute grown with model size at fixed data sizes, with the compute frontier (Fig. 5b)."""
    fig, axes, cols = _scheme_grid(len(a.schemes))
    lo, hi = _ne_range(a, [f.mean_y for s in a.schemes for f in a.models[s]])
    df = a.study.frame
    for j, s in enumerate(a.schemes):
        ax = axes[j]
        part = df[df["scheme"] == s]
        slice_d = [f.samples for f in a.param_slices.get(s, [])] or sorted(part["samples"].unique())[-1:]
        flat = True
        for d, c in zip(slice_d, _sizes_cmap(len(slice_d), "plasma")):
            g = part[part["samples"] == d].groupby("value")[["train_flops", "ne"]].mean().sort_values("train_flops")
            flat &= g["train_flops"].nunique() <= 1
            ax.plot(g["train_flops"], g["ne"], "-o", ms=3.5, lw=1.1, color=c, label=f"D={fmt_num(d, 2)}, growing model")
        if flat:
            ax.text(0.03, 0.14, "model size does not change\nFLOPs per sample in this scheme", transform=ax.transAxes,
                    fontsize=7.5, color="0.35", va="bottom")
        _compute_frontier(ax, a, s, True)
        _finish_ne_panel(ax, a, s, lo, hi, "training FLOPs C", ylabel=j % cols == 0)
    return fig


def fig_scaling_efficiency(a: Analysis):
    """β with intervals per scheme × axis, the regime at the edge of the data written beside it."""
    fig, axes = _new_figure(1, 3, 13.5, 0.55 * len(a.schemes) + 1.9)
    lvl = a.options.level
    for j, axis in enumerate(AXES):
        ax = axes[0, j]
        ylabels = []
        xmax = 0.0
        for i, s in enumerate(a.schemes):
            ylabels.append(scheme_title(s))
            h = a.headlines.get((s, axis))
            y = len(a.schemes) - 1 - i
            if h is None or h.fitted.primary is None:
                ax.text(0.0, y, "  no law", va="center", fontsize=8, color="0.4")
                continue
            f = h.fitted.primary
            ci = f.ci(lvl)["beta"] if f.draws else (f.beta, f.beta)
            loose = is_flat(f) or beta_at_bound(f)
            ax.errorbar([f.beta], [y], xerr=[[f.beta - ci[0]], [ci[1] - f.beta]], fmt="o", color=AXIS_COLORS[axis], ms=6,
                        capsize=3, lw=1.4, zorder=3, mfc="white" if loose else AXIS_COLORS[axis])
            if loose:
                ax.annotate("flat" if is_flat(f) else "β at bound", (f.beta, y), xytext=(0, 7), textcoords="offset points",
                            ha="center", fontsize=7, color="0.35")
            xmax = max(xmax, ci[1], f.beta)
            if h.fitted.free is not None and h.fitted.bounded is not None:
                ff = h.fitted.free
                ax.plot([ff.beta], [y - 0.22], marker="D", ms=4, mfc="white", mec="0.45", ls="none", zorder=3,
                        label="free fit β" if i == 0 else None)
            if h.regime is not None:
                share = f" ({h.regime.label_share:.0%})" if h.regime.label_share is not None else ""
                ax.annotate(f"{h.regime.label}{share}", (ci[1], y), xytext=(6, 0), textcoords="offset points",
                            va="center", fontsize=8, color=REGIME_COLORS.get(h.regime.label, "black"))
        ax.set_yticks(range(len(a.schemes)))
        ax.set_yticklabels(ylabels[::-1] if j == 0 else [""] * len(ylabels))
        ax.set_ylim(-0.7, len(a.schemes) - 0.4)
        ax.set_xlim(0, max(xmax * 1.6, 0.05))
        ax.set_xlabel(f"β ({AXIS_NOUN[axis]}: NE ∝ {AXIS_VAR[axis]}^-β + γ)")
        ax.set_title(f"{AXIS_ADJ[axis]} scaling", color=AXIS_COLORS[axis])
        ax.grid(True, axis="x", alpha=0.25)
        if any(a.headlines.get((s, axis)) is not None and a.headlines[(s, axis)].fitted.bounded is not None for s in a.schemes):
            _legend(ax, loc="lower right")
    return fig


def fig_extrapolation(a: Analysis):
    """Each law form fitted on the smaller part of each headline curve (filled points), drawn over all of it.

    What is drawn is what the analysis computed: every form's backtest from ``form="auto"``'s
    evidence (:attr:`Extrapolation.forms`), and the power law + constant's prediction interval
    from the report's own backtest of it when both share the cut (the default).
    """
    S = len(a.schemes)
    fig, axes = _new_figure(S, 3, 13.2, 3.4 * S + 0.7)
    lvl = a.options.level
    for i, s in enumerate(a.schemes):
        for j, axis in enumerate(AXES):
            ax = axes[i, j]
            e = a.extrapolations.get((s, axis))
            h = a.headlines.get((s, axis))
            if i == 0:
                ax.text(0.5, 1.12, f"{AXIS_ADJ[axis]} axis", transform=ax.transAxes, ha="center", va="bottom",
                        fontsize=11, color=AXIS_COLORS[axis], weight="bold")
            ax.set_title(scheme_title(s), fontsize=9)
            if e is None or h is None:
                _no_data(ax, f"no {AXIS_NOUN[axis]} curve")
                ax.set_xticks([])
                ax.set_yticks([])
                continue
            f = h.fitted
            color = AXIS_COLORS[axis]
            cut = e.forms_cut if e.forms_cut is not None else e.x_cut
            train = f.mean_x <= (cut if cut is not None else np.inf)
            ax.plot(f.mean_x[train], f.mean_y[train], "o", ms=4, color=color, zorder=4)
            ax.plot(f.mean_x[~train], f.mean_y[~train], "o", ms=5, mfc="white", mec=color, mew=1.2, zorder=4)
            if cut is not None and (e.forms_cut is not None or e.fit is not None):
                _draw_forms(ax, e, f.mean_x.min(), f.mean_x.max(), lvl)
                ax.axvline(cut, color="0.5", ls=":", lw=1.0)
                _held_out_inset(ax, e, f, cut, color, lvl)
                ax.text(0.03, 0.04, _forms_box(e, lvl), transform=ax.transAxes, fontsize=7, va="bottom",
                        family="monospace", bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.8", "alpha": 0.9},
                        zorder=5)
            else:
                _no_data(ax, f"no check: {e.error or e.forms_error}")
            _bayes(ax, a, label=False)
            _x_log(ax, f.mean_x)
            _ne_axis(ax, *_ne_range(a, [f.mean_y]))
            xl = {"data": "training samples D", "compute": "training FLOPs C",
                  "params": f"{PARAM_TITLES.get(f.x_col, f.x_col)} N"}[axis]
            ax.set_xlabel(xl)
            if j == 0:
                ax.set_ylabel("NE (eval)")
    _extrapolation_legend(fig, a, lvl)
    return fig


def _draw_forms(ax, e, x_lo: float, x_hi: float, level: float, gid: str = "form") -> list[np.ndarray]:
    """Every form's backtest law from x_lo to x_hi (gid ``<gid>:<form>``), and the power law + constant's
    prediction interval when its fit shares the forms' cut; returns the drawn y values (for limits)."""
    xs = np.geomspace(x_lo, x_hi, 160)
    same_cut = e.forms_cut is None or e.forms_cut == e.x_cut
    drawn = []
    if e.fit is not None and e.fit.draws and same_cut:
        lo, hi = e.fit.prediction_interval(xs, level=level)
        ax.fill_between(xs, lo, hi, color=FORM_STYLE["powerlaw_const"][0], alpha=0.12, lw=0, zorder=2)
        drawn += [lo, hi]
    for form, (col, ls) in FORM_STYLE.items():
        params = e.forms.get(form, {}).get("params")
        if params is not None:
            y = predict(form, params, xs)
        elif form == "powerlaw_const" and e.fit is not None and same_cut:
            y = e.fit.predict(xs)  # no forms' evidence: the report's own backtest of the power law + constant
        else:
            continue
        ax.plot(xs, y, color=col, ls=ls, lw=1.8 if form == e.chosen else 1.3, zorder=3, gid=f"{gid}:{form}")
        drawn.append(y)
    return drawn


def _held_out_inset(ax, e, f: Fitted, cut: float, color, level: float) -> None:
    """A zoom on the held-out part (upper right), where the forms part ways by fractions of a percent."""
    held = f.mean_x > cut
    if not held.any():
        return
    x_lo, x_hi = float(cut), float(f.mean_x.max())
    ins = ax.inset_axes([0.5, 0.52, 0.47, 0.44])
    ins.set_xscale("log")  # NE spans a few percent here: a linear NE scale reads the same as a log one
    drawn = _draw_forms(ins, e, x_lo, x_hi * 1.02, level, gid="inset")
    ins.plot(f.mean_x[held], f.mean_y[held], "o", ms=4.5, mfc="white", mec=color, mew=1.2, zorder=4)
    ys = np.concatenate([f.mean_y[held]] + [np.asarray(d, dtype=float) for d in drawn])
    ys = ys[np.isfinite(ys) & (ys > 0)]
    pad = 0.08 * (ys.max() - ys.min()) or 0.002
    ins.set_ylim(ys.min() - pad, ys.max() + pad)
    ins.set_xlim(x_lo / 1.05, x_hi * 1.05)
    ins.tick_params(labelsize=6, length=2, pad=1)
    ins.text(0.03, 0.04, "held out, zoomed", transform=ins.transAxes, fontsize=6.5, color="0.3", va="bottom")
    ins.grid(True, which="major", alpha=0.25, lw=0.5)
    from matplotlib.ticker import FormatStrFormatter, MaxNLocator, NullFormatter

    ins.yaxis.set_major_locator(MaxNLocator(nbins=4))
    ins.yaxis.set_major_formatter(FormatStrFormatter("%.3f"))
    ins.xaxis.set_minor_formatter(NullFormatter())


def _forms_box(e, level: float) -> str:
    """Each form's held-out RMSE of log NE, the chosen form marked, and the prediction interval's count."""
    lines = ["held-out RMSE, log NE"]
    width = max(len(v) for v in FORM_SHORT.values())
    for form in FORM_STYLE:
        b = e.forms.get(form)
        if b is None and form == "powerlaw_const" and e.rmse_log is not None:
            b = {"rmse_log": e.rmse_log}
        if b is None:
            continue
        val = f"{b['rmse_log']:.2%}" if b.get("rmse_log") is not None and math.isfinite(b["rmse_log"]) else "not fitted"
        lines.append(f"{FORM_SHORT[form]:<{width}} {val}" + (" ◀" if form == e.chosen else ""))
    if e.chosen is not None:
        lines.append(f"auto → {FORM_SHORT[e.chosen]}")
    if e.inside_interval is not None and (e.forms_cut is None or e.forms_cut == e.x_cut):
        lines.append(f"{e.inside_interval}/{e.x_test.size} in {level:.0%} PI (plc)")
    return "\n".join(lines)


def _extrapolation_legend(fig, a: Analysis, level: float) -> None:
    """One legend for every panel: points, the three forms, the interval, the cut and the floor."""
    import matplotlib as mpl
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], marker="o", ls="none", color="0.35", ms=4, label="fitted on (seed means)"),
               Line2D([], [], marker="o", ls="none", mfc="white", mec="0.35", ms=5, label="held out (seed means)")]
    handles += [Line2D([], [], color=c, ls=ls, lw=1.5, label=f"{FORM_NAMES[form]} backtest")
                for form, (c, ls) in FORM_STYLE.items()]
    handles += [Patch(color=FORM_STYLE["powerlaw_const"][0], alpha=0.12,
                      label=f"{level:.0%} prediction interval (power law + const)"),
                Line2D([], [], color="0.5", ls=":", lw=1.0, label="cut: fitted up to here")]
    line = floor_line(a)
    if line is not None:
        handles.append(Line2D([], [], color="black", ls="--", lw=1.0, label=line[1]))
    with mpl.rc_context(_RC):
        fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8, frameon=False)


def fig_floors(a: Analysis):
    """Fitted floors γ with intervals, free (open) and bounded by the Bayes NE (filled), per curve."""
    curves = [f for f in a.all_fitted() if f.kind in ("model", "frontier") and f.free is not None]
    n = max(len(curves), 1)
    fig, axes = _new_figure(1, 1, 8.5, 0.24 * n + 1.6)
    ax = axes[0, 0]
    lvl = a.options.level
    labels = []
    for i, f in enumerate(curves):
        y = n - 1 - i
        labels.append(_curve_label(f, a.base_identity))
        ff = f.free
        ci = ff.ci(lvl)["gamma"] if ff.draws else (ff.gamma, ff.gamma)
        ax.errorbar([ff.gamma], [y], xerr=[[ff.gamma - ci[0]], [ci[1] - ff.gamma]], fmt="o", ms=4.5, mfc="white",
                    color="#6e40c9", capsize=2, lw=1.0, label="free fit γ" if i == 0 else None)
        if f.bounded is not None:
            fb = f.bounded
            cb = fb.ci(lvl)["gamma"] if fb.draws else (fb.gamma, fb.gamma)
            ax.errorbar([fb.gamma], [y - 0.25], xerr=[[fb.gamma - cb[0]], [cb[1] - fb.gamma]], fmt="s", ms=3.5,
                        color="#0969da", capsize=2, lw=1.0, label="γ ≥ floor fit" if i == 0 else None)
    st = a.study
    if st.eval_floor is not None:
        ax.axvline(st.eval_floor, color="black", ls="--", lw=1.0,
                   label=f"true-probability NE on the eval rows ({st.eval_rows:,}) {st.eval_floor:.4f}" if st.eval_rows
                   else f"true-probability NE on the eval rows {st.eval_floor:.4f}")
    b = st.bayes_ne
    if b is not None:
        ls, color = (":", "0.35") if st.eval_floor is not None else ("--", "black")
        se = f" ± {1.96 * st.bayes_ne_se:.4f}" if st.bayes_ne_se else ""
        ax.axvline(b, color=color, ls=ls, lw=1.0, label=f"population Bayes NE {b:.4f}{se}")
        if st.bayes_ne_se:
            ax.axvspan(b - 1.96 * st.bayes_ne_se, b + 1.96 * st.bayes_ne_se, color="0.5", alpha=0.2, lw=0)
    ax.set_yticks(range(n))
    ax.set_yticklabels(labels[::-1], fontsize=7.5)
    ax.set_ylim(-0.8, n - 0.3)
    ax.set_xlabel("fitted floor γ (NE as the resource → ∞)")
    ax.grid(True, axis="x", alpha=0.25)
    _legend(ax, loc="lower left")
    return fig


def fig_joint(a: Analysis):
    """Measured against predicted NE of each scheme's joint law NE(N, D), coloured by model size."""
    from matplotlib.colors import LogNorm

    fig, axes, cols = _scheme_grid(len(a.schemes), panel_w=4.6, panel_h=4.0, sharey=False)
    for j, s in enumerate(a.schemes):
        ax = axes[j]
        jl = a.joint.get(s)
        _panel_title(ax, s)
        if jl is None or jl.predicted is None:
            _no_data(ax, f"no joint law:\n{jl.reason if jl else 'no points'}")
            continue
        sc = ax.scatter(jl.predicted, jl.measured, c=jl.N, s=14, cmap="viridis", norm=LogNorm(), zorder=3)
        lo = float(min(jl.predicted.min(), jl.measured.min()))
        hi = float(max(jl.predicted.max(), jl.measured.max()))
        ax.plot([lo, hi], [lo, hi], color="0.3", lw=1.0, ls="--", zorder=2, label="measured = predicted")
        cb = fig.colorbar(sc, ax=ax, pad=0.01)
        cb.set_label(f"{PARAM_TITLES.get(jl.n_col, jl.n_col)} N", fontsize=8)
        txt = (f"α = {jl.fit.alpha:.3f}, β = {jl.fit.beta:.3f}\nlog RMSE {jl.rmse_log:.2%}" if jl.identified else
               f"not identified:\n{jl.short_reason or 'exponents not determined'}")
        ax.text(0.04, 0.96, txt, transform=ax.transAxes, va="top", fontsize=7.5,
                color="black" if jl.identified else "#cf222e", bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.8"})
        ax.set_xlabel("NE predicted by the joint law")
        if j % cols == 0:
            ax.set_ylabel("NE measured (seed mean)")
        ax.grid(True, alpha=0.25)
        _legend(ax, loc="lower right")
    return fig


ARCH_COLORS = {"dlrm": "#1f77b4", "dcnv2": "#d62728", "wukong": "#2ca02c"}
_ARCH_EXTRA = ["#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]


def arch_color(archs: tuple[str, ...], arch: str):
    """One colour per architecture, the same in every figure."""
    extra = [x for x in archs if x not in ARCH_COLORS]
    return ARCH_COLORS.get(arch) or _ARCH_EXTRA[extra.index(arch) % len(_ARCH_EXTRA)]


def fig_architectures(a: Analysis):
    """Every architecture's compute frontier and parameter frontier, with its law, on two shared panels."""
    from recscale.report.architectures import arch_title

    c = a.architectures
    fig, axes = _new_figure(1, 2, 11.0, 4.4, sharey=True)
    lvl = a.options.level
    lo, hi = _ne_range(a, [l.mean_y for l in c.laws.values()])
    for j, (axis, xlabel) in enumerate((("compute", "training FLOPs C"), ("params", f"{c.param_title} N"))):
        ax = axes[0][j]
        xs_all = []
        for arch in c.architectures:
            l = c.laws[(arch, axis)]
            col = arch_color(c.architectures, arch)
            if not l.mean_x.size:
                continue
            xs_all.append(l.mean_x)
            name = arch_title(arch)
            if l.fit is not None:
                ci = f" [{l.fit.ci(lvl)['beta'][0]:.2f}, {l.fit.ci(lvl)['beta'][1]:.2f}]" if l.fit.draws else ""
                beta = f"β {l.fit.beta:.2f}{ci}" if l.determined else "β not determined"
                name += f": {beta}"
                _draw_law(ax, l.fit, l.mean_x.min(), l.mean_x.max(), col, None, lvl, lw=1.8)
            ax.plot(l.mean_x, l.mean_y, "o", ms=4.5, color=col, mec=col, label=name, zorder=4)
        b = c.at_budget
        if axis == "compute" and b is not None:
            ax.axvline(b.compute, color="0.45", ls=":", lw=1.0, zorder=1, label=f"top of common compute {fmt_num(b.compute, 2)}")
        _bayes(ax, a)
        _x_log(ax, np.concatenate(xs_all) if xs_all else None)
        _ne_axis(ax, lo, hi)
        ax.set_xlabel(xlabel)
        samples = {l.samples for (_, ax_), l in c.laws.items() if ax_ == "params" and l.samples}
        at = f" at D = {fmt_num(samples.pop(), 2)}" if len(samples) == 1 else " at each one's largest common D"
        ax.set_title("compute frontier" if axis == "compute" else "parameter frontier" + at, fontsize=10)
        if j == 0:
            ax.set_ylabel("NE (eval)")
        _legend(ax)
    return fig


def _curve_label(f: Fitted, base: str | None = None) -> str:
    if base is not None and f.kind == "model" and _ident(f) == base:
        return f"base model ({value_label(f.scheme, f.value)})"
    if f.kind == "frontier":
        return f"{f.scheme}: Pareto ({AXIS_NOUN[f.axis]})"
    if f.kind == "param_slice":
        return f"{f.scheme}: params at D={fmt_num(f.samples, 2)}"
    return f"{f.scheme}: {value_label(f.scheme, f.value)}" if f.value is not None else f.key


def _ident(f: Fitted) -> str:
    return "|".join(sorted(set(map(str, f.curve.trial_ids or ()))))


FIGURES: list[tuple[str, str, Callable, str]] = [
    ("data_scaling", "Data scaling: NE vs training samples (paper Fig. 2)", fig_data_scaling,
     "One panel per scaling scheme, one colour per model size. Points: NE averaged over seeds (bars: seed range). "
     "Lines: NE = α·D^-β + γ fitted with γ ≥ the floor, shaded: its {level} confidence band. Dashed: the floor (the NE "
     "of the true probabilities on the eval rows every model is measured on, when recorded; else the world's Bayes NE); "
     "dotted: the seen-id oracle (the teacher knowing only ids seen in the first D samples, on the same rows)."),
    ("param_scaling", "Parameter scaling at each data size", fig_param_scaling,
     "NE against the parameters each scheme grows (the bottom MLP's for bottom-MLP width, the top MLP's for top-MLP "
     "width, embedding parameters for the embedding schemes; parts the scheme holds fixed are left out), one colour "
     "per data size D, with the law NE = α·N^-β + γ and its band. Flat lines mean "
     "parameter scaling has saturated at that data size."),
    ("data_efficiency", "Data-scaling efficiency: the Pareto-optimal curve (paper Fig. 4)", fig_data_efficiency,
     "Thin lines: every model's data curve. Open circles: the Pareto-optimal points (the best model at each data "
     "size); black: their law with its band and equation."),
    ("compute_data", "Compute scaling with data in tandem (paper Fig. 5, left)", fig_compute_data,
     "Compute grown with data: each model's NE against its training FLOPs as it trains on more samples. Open circles: "
     "the compute frontier (the best NE reached for each FLOP budget, over all models and data sizes); black: its law "
     "with band and equation."),
    ("compute_model", "Compute scaling with model size in tandem (paper Fig. 5, right)", fig_compute_model,
     "Compute grown with model size: at fixed data sizes D, the scheme's models from smallest to largest. Black: the "
     "same compute frontier and law as above."),
    ("scaling_efficiency", "Scaling efficiency: exponents and regimes", fig_scaling_efficiency,
     "β of each scheme × axis with its {level} interval (filled: the primary fit; open diamond: the free fit). Beside "
     "it, the regime at the edge of the data, with the share of bootstrap fits that agree."),
    ("joint", "Joint law NE(N, D): measured against predicted", fig_joint,
     "Each scheme's joint law NE(N, D) = E + A/N^α + B/D^β against the seed-mean NE of every model (colour: the "
     "parameters the scheme grows) and data size. Points on the dashed line are predicted exactly."),
    ("extrapolation", "Extrapolation check", fig_extrapolation,
     "Each axis's headline curve: every law form (power law + constant solid, M4 dashed, broken power law dash-dot; "
     "the form chosen by form=\"auto\" drawn thicker) is fitted on the smaller part of the axis (filled points, left of "
     "the dotted line) and drawn over the whole range, so it predicts the larger part (open points; seed means). Grey: "
     "the power law + constant's {level} prediction interval (where one new measurement falls). The inset zooms on the "
     "held-out part; the box gives each form's RMSE of log NE there, the form auto chose, and how many held-out seed "
     "means the prediction interval holds (an interval for one measurement, so conservative for a mean)."),
    ("floors", "Fitted floors against the known floor", fig_floors,
     "The floor γ of every data curve and frontier: free fit (open circles) and fit bounded below by the known floor "
     "(squares), each with its {level} interval. Dashed: the NE of the true probabilities on the eval rows (the floor "
     "of every measured NE); dotted with band: the world's population Bayes NE and its 95% interval. A free floor left "
     "of the dashed line (beyond its interval) would be impossible: no model beats the true probabilities on the rows "
     "it is measured on."),
]


ARCH_FIGURE = (
    "architectures", "Architectures compared: compute and parameter frontiers", fig_architectures,
    "One colour per architecture. Left: each architecture's compute frontier (the best seed-mean NE reached with each "
    "training-FLOP budget over all its models and data sizes), with its law NE = α·C^-β + γ and {level} band; the dotted "
    "line marks the top of the compute range all architectures share. Right: the parameter frontier (NE against {param} "
    "at the largest data size all of that architecture's models reached) with its law. Dashed: the floor "
    "(true-probability NE on the eval rows when recorded, else the Bayes NE).")


def save_figures(a: Analysis, out_dir: str | Path, progress=None, workers: int | None = None) -> list[FigureFile]:
    """Draw every figure and save it as PNG and SVG under ``out_dir/figures``.

    Drawing is half of a report's time and each figure is independent, so up to ``workers``
    processes draw them at once (:func:`recscale.report.parallel.fork_map`; 1: one after another);
    the files are the same either way.

    ``progress``: called with a short message for each figure (None: silent).

    Returns:
        The saved figures, in report order.
    """
    from recscale.report.parallel import fork_map

    fig_dir = Path(out_dir) / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    figs = list(FIGURES)
    if a.architectures is not None:
        figs.insert(0, ARCH_FIGURE)
    say = None if progress is None else (lambda i: progress(f"figure {figs[i][0]} ({i + 1}/{len(figs)})"))
    return fork_map(_save_job, [(a, fig_dir, f) for f in figs], workers, on_start=say)


def _save_job(job) -> FigureFile:
    return _save_one(*job)


def _save_one(a: Analysis, fig_dir: Path, figure) -> FigureFile:
    """Draw ``figure`` = (name, title, function, caption) and save it as PNG and SVG."""
    import matplotlib as mpl

    name, title, fn, caption = figure
    if name == "floors" and a.study.floor is None:
        caption = caption[: caption.index(" Dashed:")] + " No floor is known for this study."
    with mpl.rc_context(_RC):
        fig = fn(a)
        # Lay out once, then freeze: otherwise every save re-runs the constrained layout.
        fig.get_layout_engine().execute(fig)
        fig.set_layout_engine("none")
        png, svg = fig_dir / f"{name}.png", fig_dir / f"{name}.svg"
        fig.savefig(png, dpi=DPI)
        fig.savefig(svg, metadata={"Date": None})
    level = f"{a.options.level:.0%}"
    param = a.architectures.param_title if a.architectures is not None else "parameters"
    return FigureFile(name, title, caption.format(level=level, param=param), png, svg)
