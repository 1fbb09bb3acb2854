"""Warnings a reader can act on: one line per kind of warning, the curves it touches by scheme, and a remedy to run.

The analysis raises one warning per curve and fit (a small study gets dozens, most repeating one
statement); ``fits.json`` and the report's collapsed full list keep them all. This module groups
them: each warning's code (and, for ``param_at_bound``, which parameter) maps to a *kind*, one
statement with what it means for the report's conclusions and a remedy a user can run: a flag of
``recscale fit`` / ``recscale plan`` that exists, or a measurement to make ("train to 4× more
samples", "add a size beyond ..."), never a Python argument. Kinds that change a conclusion of the
key findings come first (sanity checks always; a β not pinned down or a flat curve only when it is
on a headline curve's primary fit). At most :data:`MAX_LINES` lines: the least important kinds are
merged into the last one.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from typing import Any

from recscale.laws import FitOptions
from recscale.report.analysis import (
    ARCH_SEP,
    AXIS_END_REASON,
    AXIS_NOUN,
    PARAM_TITLES,
    Analysis,
    Fitted,
    Warning_,
    fmt_num,
    scheme_title,
    value_label,
)

MAX_LINES = 10  # the summary's length; the full list is in the collapsed section and fits.json
AXES_ORDER = {"data": 0, "compute": 1, "params": 2}
MIN_DECADES = FitOptions().min_decades  # decades of x below which the laws flag β and γ as hard to separate


@dataclass(frozen=True)
class Kind:
    """One statement behind many warnings.

    Attributes:
        title: The statement, short.
        meaning: What it means for the report's conclusions.
        conclusion: "always" (changes a conclusion wherever it appears), "headline" (only on a
            headline curve's primary fit) or "never" (context for how far to trust a fit).
    """

    title: str
    meaning: str
    conclusion: str


KINDS: dict[str, Kind] = {
    "did_not_train": Kind("a trial never trained (NE stayed at the base rate's)",
                          "its model never learned (a narrow layer's ReLUs can all close in the first steps): it is left "
                          "out of every fit, so its size rests on fewer seeds (or is missing)", "always"),
    "floor_below_floor": Kind("free floor below the known floor",
                              "impossible for any model: the free law extrapolates too optimistically", "always"),
    "rises": Kind("NE rises with x beyond seed noise",
                  "no decreasing law describes the curve there; its exponent and plan are suspect", "always"),
    "no_law": Kind("no law or plan", "these curves have no law (the full list says why)", "always"),
    "backtest_missed": Kind("the law missed held-out points beyond its interval",
                            "plans along these curves are less certain than their intervals say", "always"),
    "forms_disagree": Kind("law forms disagree at the plan's target",
                           "the plan's answer depends on which law holds beyond the data", "always"),
    "beta_unpinned": Kind("β not pinned down (trades off with γ, or at its bound)",
                          "the exponent is not determined by these points", "headline"),
    "flat": Kind("NE does not fall with x (α = 0)", "a flat curve has no exponent: read it as saturation", "headline"),
    "start_dependent": Kind("β depends on where the fit starts",
                            "the curve is not yet inside its scaling regime: its exponent is not a property of the data",
                            "headline"),
    "narrow_range": Kind(f"x spans under {MIN_DECADES:g} decades", "β and γ are hard to separate", "never"),
    "sparse_points": Kind("few distinct x per decade", "the curve's shape rests on few points", "never"),
    "no_floor_seen": Kind("γ on its lower bound: no floor visible within the data",
                          "the law is a pure power law down to that bound; where the curve flattens is not measured",
                          "never"),
    "gamma_at_upper": Kind("γ on its upper bound", "the floor is set by the bound, not the data", "never"),
    "bootstrap_failures": Kind("bootstrap refits dropped", "refits with too few distinct x were degenerate; intervals may be "
                               "too narrow", "never"),
}
_ORDER = list(KINDS)


def kind_of(w: Warning_) -> str:
    """The kind of a warning (its code, refined by the parameter for ``param_at_bound``)."""
    c, m = w.code, w.message
    if c == "param_at_bound":
        if m.startswith("beta"):
            return "beta_unpinned"
        if m.startswith("alpha"):
            return "flat"
        return "gamma_at_upper" if "upper bound" in m else "no_floor_seen"
    return {"floor_below_bayes": "floor_below_floor", "not_decreasing": "rises", "non_monotone": "rises",
            "fit_failed": "no_law", "plan_failed": "no_law", "backtest_outside_interval": "backtest_missed",
            "forms_disagree": "forms_disagree", "beta_gamma_tradeoff": "beta_unpinned", "narrow_range": "narrow_range",
            "few_points_per_decade": "sparse_points", "bootstrap_failures": "bootstrap_failures",
            "start_dependent": "start_dependent"}.get(c, c)


@dataclass(frozen=True)
class WarningGroup:
    """One line of the warning summary.

    Attributes:
        kind: Key of :data:`KINDS` (an unknown code stands for itself).
        title, meaning: From the kind.
        changes_conclusion: Whether it changes a conclusion of the key findings here.
        where: {scheme title: curve labels} it touches.
        count: Warnings behind the line.
        remedy: What to run or measure.
        codes: The warning codes behind it.
        curves: Keys of the curves it touches (:class:`~recscale.report.analysis.Fitted` keys).
    """

    kind: str
    title: str
    meaning: str
    changes_conclusion: bool
    where: dict[str, list[str]] = field(compare=False)
    count: int
    remedy: str
    codes: tuple[str, ...]
    curves: tuple[str, ...] = ()

    @property
    def where_text(self) -> str:
        return "; ".join(f"{s}: {', '.join(c)}" if c else s for s, c in self.where.items())

    @property
    def n_curves(self) -> int:
        return len(self.curves)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "meaning": self.meaning, "changes_conclusion": self.changes_conclusion,
                "where": self.where, "count": self.count, "remedy": self.remedy, "codes": list(self.codes),
                "curves": list(self.curves)}


# ---- remedies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ctx:
    """What remedies quote: the source, the largest data size, the known floor, and each curve."""

    source: str
    max_samples: float
    floor: float | None
    fitted: dict[str, Fitted]
    targets: dict[str, float]  # headline curve key -> the plan's target NE
    schemes: tuple[str, ...]
    ends: dict[str, float]  # scheme -> where its parameter axis ends (embedding rows: every id its own row)


HOW_TO_TRAIN_LONGER = ("To train to more samples, raise the spec's [data] rows and its last checkpoint ([train] "
                       "checkpoints) and run it into a new ledger (`recscale study run SPEC --db NEW.db`): a ledger keeps "
                       "the spec it was started with.")


def _more_samples(k: float, ctx: _Ctx) -> str:
    return f"train to {k:g}× more samples (to {fmt_num(ctx.max_samples * k, 2)})"


def _factor_for_decades(span: float) -> int:
    """The power of 2 (at least 2) by which x must grow to span :data:`MIN_DECADES`."""
    need = 10 ** max(MIN_DECADES - span, 0.0)
    return max(2, 2 ** math.ceil(math.log2(need) - 1e-9))


def _span(f: Fitted) -> float:
    return math.log10(float(f.mean_x.max()) / float(f.mean_x.min())) if f.mean_x.size and f.mean_x.min() > 0 else 0.0


def _extend(fs: list[Fitted], ctx: _Ctx, to_decades: bool) -> str:
    """Measure further out along each axis the curves lie on: more samples (data, compute), a bigger model (parameters)."""
    parts = []
    along = [f for f in fs if f.axis in ("data", "compute")]
    if along:
        k = max(_factor_for_decades(_span(f)) for f in along) if to_decades else 4
        parts.append(_more_samples(k, ctx))
    params = [f for f in fs if f.axis == "params"]
    for s in sorted(dict.fromkeys(f.scheme for f in params), key=lambda x: ctx.schemes.index(x) if x in ctx.schemes else 99):
        g = [f for f in params if f.scheme == s]
        top = max(float(f.mean_x.max()) for f in g)
        noun = PARAM_TITLES.get(g[0].x_col, g[0].x_col)
        name = s.split(ARCH_SEP)[-1]
        end = ctx.ends.get(s) if g[0].x_col == "params_sparse" else None
        if end is not None:  # no size beyond the end adds a parameter
            parts.append(f"[schemes] {name}: its largest size already gives every id its own row, so no larger size "
                         "adds a parameter" if top >= end else
                         f"add the size where the axis ends ({fmt_num(end, 2)} {noun}, {AXIS_END_REASON}: a hash size at "
                         f"or above the largest cardinality) to [schemes] {name}")
            continue
        extra = ""
        if to_decades:
            reach = min(float(f.mean_x.min()) for f in g) * 10**MIN_DECADES
            extra = f", up to {fmt_num(reach, 2)} for {MIN_DECADES:g} decades" if reach > top else ""
        parts.append(f"add a size beyond {fmt_num(top, 2)} {noun} to [schemes] {name}{extra}")
    return "; ".join(parts)


def _where_args(f: Fitted) -> str:
    arch, _, scheme = f.scheme.rpartition(ARCH_SEP)
    w = (f"--where architecture={arch} " if arch else "") + f"--where scheme={scheme}"
    if f.kind == "param_slice":
        return f"--x {f.x_col} {w} --where samples={int(f.samples)}"
    return f"--x {f.x_col} {w} --frontier" if f.kind == "frontier" else f"--x {f.x_col} {w} --where value={f.value:g}"


def _remedy(kind: str, fs: list[Fitted], ctx: _Ctx) -> str:
    src = ctx.source
    f0 = fs[0] if fs else None
    if kind == "did_not_train":
        return ("start hidden layers at zero bias (`mlp_bias_init = \"zero\"` in [train]: it trained an earlier demo's "
                "2-wide top MLP on both seeds), widen the narrowest layer, or drop that size")
    if kind == "floor_below_floor":
        cmd = (f"; by hand: `recscale fit {src} {_where_args(f0)} --gamma-bounds {ctx.floor:.4f},inf`"
               if f0 is not None and ctx.floor is not None else "")
        return "read the γ ≥ floor laws (the report's primary fits), not the free ones" + cmd
    if kind == "rises":
        return ("add seeds (the spec's `seeds`) to tell a real rise from noise; one that stays means that model trained "
                "badly there (check its [train] learning rates)")
    if kind == "no_law":
        return "add sizes (a parameter law needs at least 3) or checkpoints; the full list says why each failed"
    if kind in ("backtest_missed", "forms_disagree"):
        head = next((f for f in fs if f.key in ctx.targets), f0)
        cmd = ""
        if head is not None and head.key in ctx.targets:
            cmd = (f"`recscale plan {src} --target-ne {ctx.targets[head.key]:.4f} {_where_args(head)} --form auto` plans "
                   "with the form that backtests best; ")
        then = "measuring nearer the target decides" if kind == "forms_disagree" else "to test the law further out"
        return cmd + f"{then}: " + _extend(fs, ctx, to_decades=False)
    if kind == "beta_unpinned":
        return _extend(fs, ctx, to_decades=True)
    if kind == "flat":
        return "a finding (saturation along x), not a fault; to confirm it: " + _extend(fs, ctx, to_decades=False)
    if kind == "start_dependent":
        text = "the first points are still the optimiser's start-up: " + _extend(fs, ctx, to_decades=True)
        if f0 is not None and f0.mean_x.size > 1:
            text += f"; or fit from a later point: `recscale fit {src} {_where_args(f0)} --fit-from {f0.mean_x[1]:.6g}`"
        return text
    if kind == "narrow_range":
        return _extend(fs, ctx, to_decades=True)
    if kind == "sparse_points":
        parts = []
        if any(f.axis in ("data", "compute") for f in fs):
            parts.append("evaluate more often (raise `per_doubling` of the spec's [train] checkpoints)")
        for s in dict.fromkeys(f.scheme for f in fs if f.axis == "params"):
            parts.append(f"add sizes between the measured ones to [schemes] {s.split(ARCH_SEP)[-1]}")
        return "; ".join(parts)
    if kind == "no_floor_seen":
        return "nothing to fix; to see where the curve flattens: " + _extend(fs, ctx, to_decades=False)
    if kind == "gamma_at_upper":
        return f"widen the bound: `recscale fit {src} {_where_args(f0)} --gamma-bounds LO,HI`" if f0 else "widen the bound"
    if kind == "bootstrap_failures":
        return "add checkpoints or sizes (each refit needs enough distinct x)"
    return "see the full list below"


# ---- grouping -----------------------------------------------------------------------------------


def _label(f: Fitted) -> str:
    if f.kind == "frontier":
        return f"{AXIS_NOUN[f.axis]} frontier"
    if f.kind == "param_slice":
        return f"parameters at D={fmt_num(f.samples, 2)}"
    return value_label(f.scheme, f.value) if f.value is not None else f.key


def _where(ws: list[Warning_], fitted: dict[str, Fitted], schemes: tuple[str, ...]) -> dict[str, list[str]]:
    """{scheme title: curve labels}: the frontiers, the parameter slices in one label (D ascending), then the models;
    a curve flagged only on its free fit says so."""
    per: dict[str, dict[str, set]] = {}
    mark_free = any(w.fit != "free" for w in ws)  # a kind seen only on free fits (a free floor) needs no mark
    for w in ws:
        per.setdefault(w.scheme or "", {}).setdefault(w.curve or w.where, set()).add(w.fit)
    out = {}
    for s in sorted(per, key=lambda x: schemes.index(x) if x in schemes else len(schemes)):
        frontiers, slices, models, other = [], [], [], []
        for key, fits in per[s].items():
            f = fitted.get(key)
            free = " (free fit)" if mark_free and fits == {"free"} else ""
            if f is None:
                other.append(key + free)
            elif f.kind == "frontier":
                frontiers.append((AXES_ORDER.get(f.axis, 9), _label(f) + free))
            elif f.kind == "param_slice":
                slices.append((f.samples, fmt_num(f.samples, 2) + free))
            else:
                models.append((f.value if f.value is not None else 0.0, _label(f) + free))
        labels = [lab for _, lab in sorted(frontiers)]
        labels += ["parameters at D=" + ", ".join(lab for _, lab in sorted(slices))] if slices else []
        labels += [lab for _, lab in sorted(models)] + other
        out[scheme_title(s) if s else "study"] = labels
    return out


def _is_headline_primary(w: Warning_, a: Analysis, headline_keys: set[str]) -> bool:
    if w.curve not in headline_keys:
        return False
    f = next((h.fitted for h in a.headlines.values() if h.fitted.key == w.curve), None)
    return w.fit is None or f is None or w.fit == f.primary_name


def warning_groups(a: Analysis) -> list[WarningGroup]:
    """The warning summary: one group per kind, those that change a conclusion first, at most :data:`MAX_LINES`."""
    fitted = {f.key: f for f in a.all_fitted()}
    for s in a.schemes:
        for f in a.models.get(s, []):
            fitted.setdefault(f.key, f)
    headline_keys = {h.fitted.key for h in a.headlines.values()}
    targets = {h.fitted.key: h.target_ne for h in a.headlines.values() if h.target_ne is not None}
    ends = {s: e for s in a.schemes if (e := a.study.axis_end(s)) is not None}
    ctx = _Ctx(shlex.quote(str(a.study.source)), float(a.study.frame["samples"].max()), a.study.floor, fitted, targets,
               a.schemes, ends)
    by_kind: dict[str, list[Warning_]] = {}
    for w in a.warnings:
        by_kind.setdefault(kind_of(w), []).append(w)
    groups = []
    for kind, ws in by_kind.items():
        # A code this module does not know yet: its own line, named by the code; on a headline curve it comes first.
        k = KINDS.get(kind, Kind(kind.replace("_", " "), "see the messages in the full list below", "headline"))
        changes = k.conclusion == "always" or (k.conclusion == "headline" and any(_is_headline_primary(w, a, headline_keys)
                                                                                  for w in ws))
        fs = list({w.curve: fitted[w.curve] for w in ws if w.curve in fitted}.values())
        fs.sort(key=lambda f: (f.key not in headline_keys, f.kind != "frontier", f.axis, f.value or 0.0))
        where = _where(ws, fitted, a.schemes)
        groups.append(WarningGroup(kind, k.title, k.meaning, changes, where, len(ws), _remedy(kind, fs, ctx),
                                   tuple(dict.fromkeys(w.code for w in ws)), tuple(dict.fromkeys(w.curve or w.where for w in ws))))
    groups.sort(key=lambda g: (not g.changes_conclusion, _ORDER.index(g.kind) if g.kind in _ORDER else len(_ORDER)))
    if len(groups) > MAX_LINES:
        keep, rest = groups[: MAX_LINES - 1], groups[MAX_LINES - 1:]
        where = {}
        for g in rest:
            for s, labels in g.where.items():
                where.setdefault(s, [])
                where[s] += [lab for lab in labels if lab not in where[s]]
        groups = keep + [WarningGroup(
            "more", "also: " + "; ".join(f"{g.title} ({g.count})" for g in rest), "each kind is explained in the full list below",
            any(g.changes_conclusion for g in rest), where, sum(g.count for g in rest),
            " / ".join(dict.fromkeys(g.remedy for g in rest)), tuple(c for g in rest for c in g.codes),
            tuple(dict.fromkeys(c for g in rest for c in g.curves)))]
    return groups
