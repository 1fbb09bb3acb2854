"""The report's content as a renderer-neutral list of blocks, plus the terminal summary.

One builder, two renderers (:mod:`recscale.report.html` writes HTML and Markdown from the same
blocks), so ``report.html`` and ``summary.md`` always say the same thing. Order, for readers in a
hurry: key findings (exponents, regimes, floor against the Bayes NE, the plan), sanity warnings,
figures, tables, provenance.

Inline text may use ``**bold**``; renderers translate it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recscale.laws.auto import CANDIDATES
from recscale.laws.design import widened_text
from recscale.report.advice import HOW_TO_TRAIN_LONGER, kind_of, warning_groups
from recscale.report.architectures import ARCH_PARAM_TITLES, arch_title
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
    Headline,
    beta_at_bound,
    beta_determined,
    floor_lower,
    fmt_num,
    is_flat,
    law_text,
    value_label,
)
from recscale.report.study import Study

OTHER_FORMS = tuple(f for f in CANDIDATES if f != "powerlaw_const")  # the table's RMSE column is the power law + constant's

SANITY_CODES = ("floor_below_bayes", "not_decreasing", "fit_failed", "plan_failed")


@dataclass(frozen=True)
class Block:
    """One block: ``kind`` is "h2", "h3", "p", "list", "table", "figure", "pre" or "details"."""

    kind: str
    text: str = ""
    items: list[Any] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    figure: Any = None
    anchor: str | None = None


def _pct(v: float | None, digits: int = 2) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v * 100:.{digits}f}%"


def _form_rmse(e: Any, form: str) -> str:
    """A form's backtest RMSE of log NE in the extrapolation table ("not fitted" when the form could not be)."""
    b = e.forms.get(form)
    if b is None:
        return "–"
    return _pct(b.get("rmse_log")) if "rmse_log" in b else "not fitted"


def _ci(ci: Any, fmt=lambda v: f"{v:.3f}") -> str:
    if ci is None or ci[0] is None or ci[1] is None:
        return ""
    return f" [{fmt(ci[0])}, {fmt(ci[1])}]"


def _beta_cell(f, level: float) -> str:
    if f is None:
        return "no law"
    if is_flat(f):
        return "flat (no decrease)"
    ci = f.ci(level)["beta"] if f.draws else None
    return f"{f.beta:.3f}{' (at bound)' if beta_at_bound(f) else ''}{_ci(ci)}"


def _gamma_cell(f, level: float) -> str:
    if f is None:
        return "–"
    ci = f.ci(level)["gamma"] if f.draws else None
    return f"{f.gamma:.4f}{_ci(ci, lambda v: f'{v:.4f}')}"


def _factor_cell(h: Headline | None) -> str:
    if h is None:
        return "no law"
    if h.plan is None:
        return f"– ({h.error})" if h.error else "–"
    if h.plan.status == "beyond reach":
        return (f"beyond the data's reach ({h.plan.extrapolation_decades:.1f} decades out, limit "
                f"{h.plan.reach_limit_decades:.1f})")
    if h.plan.status == "past the axis's end":
        return f"past the axis's end ({AXIS_END_REASON}: no more of it exists)"
    if not h.plan.reachable:
        return f"unreachable (floor {h.plan.floor:.4f} ≥ target {h.target_ne:.4f})"
    hi = "∞" if h.factor_hi is None else f"{h.factor_hi:.2f}"
    iv = f" [{h.factor_lo:.2f}, {hi}]" if h.factor_lo is not None else ""
    return f"{h.factor:.2f}×{iv}"


def _key_beta_cell(f, level: float) -> str:
    """β for the key findings: a number only when the data determine it (see ``beta_determined``)."""
    if f is None:
        return "no law"
    if is_flat(f):
        return "flat (no decrease)"
    if not beta_determined(f, level):
        why = "at its search bound" if beta_at_bound(f) else ("no interval" if not f.draws else "interval wider than 3×")
        return f"not determined ({why})"
    return _beta_cell(f, level)


def _regime_cell(h: Headline | None) -> str:
    """The regime as a finding, with the numbers it rests on (:attr:`recscale.laws.Regime.finding`)."""
    if h is None or h.regime is None:
        return "–"
    return h.regime.finding


def _x_name(a: Analysis, axis: str, scheme: str) -> str:
    if axis == "params":
        return PARAM_TITLES.get(a.param_col[scheme], a.param_col[scheme])
    return {"data": "training samples", "compute": "training FLOPs"}[axis]


def _span(h: Headline) -> str:
    lo, hi = h.x_span
    return f"{fmt_num(lo, 2)}–{fmt_num(hi, 2)}"


# ---- key findings -------------------------------------------------------------------------------


def _goal_sentence(st) -> str | None:
    """A goal-driven study's answer, as its run recorded it (recscale.study.goal)."""
    g = (st.provenance or {}).get("goal_result")
    if not isinstance(g, dict) or not g.get("goal"):
        return None
    e = g.get("estimate") or {}
    answer = ("no estimate" if e.get("value") is None
              else f"{e['value']:.4f} [{e['lo']:.4f}, {e['hi']:.4f}] (95%), half-width {e['half_width']:.3g}"
              f"{widened_text(e.get('widened'))}")
    share = 100 * g["spent_flops"] / g["grid_flops"] if g.get("grid_flops") else float("nan")
    return (f"**Goal-driven study**: \"{g['goal']}\" is **{'met' if g.get('met') else 'not met'}** ({g.get('reason')}): "
            f"{answer}, from the joint law NE(N, D) fitted on what the study chose to run, {g.get('steps')} steps "
            f"and {fmt_num(g['spent_flops'], 3)} training FLOPs, {share:.0f}% of the full grid's. The laws below are "
            "fitted on the same partial grid: curves the design did not extend are shorter.")


def _train_settings(st: Study) -> dict[str, Any]:
    """The resolved [train] of the ledger's spec ({} for a table). A field an older recscale did not
    record is absent, and the sentences below then say nothing about it."""
    spec = (st.provenance or {}).get("spec") or {}
    return spec.get("train") or {}


def _stream_sentence(st: Study) -> str:
    """What the seeds vary, so a reader knows what the seed spread (and every interval built on it) holds."""
    stream = _train_settings(st).get("stream")
    if stream == "shared":
        return ("Every trial read the training stream in the same order, so seeds vary the initialisation only: "
                "a stretch of the stream that moves every curve at once is not in the seed spread "
                "(`stream = \"per_seed\"` in [train] samples it).")
    if stream == "per_seed":
        return ("Each seed read its own order of the training stream (the trials of one seed share it), so the "
                "seed spread holds the stream's as well as the initialisation's.")
    return ""


def _recipe_item(train: dict[str, Any]) -> str:
    """The training recipe as the trials ran it (defaults resolved), for the provenance list."""
    if not train:
        return ""
    parts = []
    bs, ramp = train.get("batch_size"), train.get("batch_ramp")
    if bs is not None:
        ramp_txt = ""
        steps = train.get("batch_ramp_steps")
        if ramp and ramp > 1 and steps and bs % ramp == 0:
            b0 = bs // ramp
            ramp_txt = (f" after a batch ramp ({b0}-sample batches to {2 * b0 * steps:,} samples, then doubling every "
                        f"{steps} steps; {bs} from {bs * steps:,} samples on)")
        parts.append(f"batch {bs}{ramp_txt}")
    for opt, lr, what in (("dense_optimizer", "lr_dense", "MLPs"), ("sparse_optimizer", "lr_embedding", "embeddings")):
        if train.get(opt):
            rate = train.get(lr)  # a number in every ledger that resolves it; say nothing rather than guess otherwise
            parts.append(f"{what} {train[opt]}" + (f" at {rate:g}" if isinstance(rate, (int, float)) else ""))
    if train.get("warmup_samples"):
        parts.append(f"warm-up over {train['warmup_samples']:,} samples")
    if "embedding_init" in train:
        init = train["embedding_init"]
        parts.append("embedding rows from U(±1/√rows)" if init is None else f"embedding rows from U(±{init:g})")
    if train.get("mlp_bias_init"):
        parts.append(f"hidden biases {train['mlp_bias_init']}")
    if train.get("stream"):
        parts.append(f"stream {train['stream']}")
    return "Training (as run, defaults resolved): " + "; ".join(parts) + "."


def key_findings(a: Analysis) -> list[Block]:
    st = a.study
    lvl = a.options.level
    df = st.frame
    blocks: list[Block] = [Block("h2", "Key findings", anchor="findings")]
    n_models = df.groupby(["scheme", "value"]).ngroups
    seeds = sorted(df["seed"].unique())
    samples = np.sort(df["samples"].unique())
    dec = math.log10(samples[-1] / samples[0]) if samples.size > 1 else 0.0
    src = "ledger" if st.kind == "ledger" else "exported table (no provenance)"
    intro = (f"Study **{st.name}** ({src} `{st.source}`): {len(a.schemes)} scaling schemes, {n_models} scheme × size "
             f"curves, {len(seeds)} seed(s), data checkpoints from {fmt_num(samples[0], 2)} to {fmt_num(samples[-1], 2)} "
             f"samples ({dec:.1f} decades). Every law is NE = α·x^-β + γ with {lvl:.0%} bootstrap intervals "
             f"({a.options.bootstrap} refits).")
    if st.eval_floor is not None:
        intro += (f" The floor γ is bounded below by the **true-probability NE on the eval rows, {st.eval_floor:.4f}**: "
                  "every model is measured on the same rows, and no model beats the true click probabilities on them. "
                  "Free fits (γ ≥ 0) are reported beside them so both can be compared.")
    elif st.bayes_ne is not None:
        se = f" ± {1.96 * st.bayes_ne_se:.4f}" if st.bayes_ne_se else ""
        intro += (f" The floor γ is bounded below by the synthetic world's **Bayes NE {st.bayes_ne:.4f}{se}**, a known "
                  "lower bound (no model can beat it); free fits (γ ≥ 0) are reported beside them so both can be compared.")
    else:
        intro += " The Bayes NE is unknown for this data, so floors are free (γ ≥ 0)."
    stream = _stream_sentence(st)
    if stream:
        intro += " " + stream
    blocks.append(Block("p", intro))
    goal = _goal_sentence(st)
    if goal:
        blocks.append(Block("p", goal))
    unfinished = _unfinished_sentence(st)
    if unfinished:
        blocks.append(Block("p", unfinished))
    noise = _eval_noise_sentence(st)
    if noise:
        blocks.append(Block("p", noise))
    blocks.append(Block("p", _fit_range_sentence(a)))

    # Exponents and regimes.
    blocks.append(Block("h3", "Exponents and regimes"))
    header = ["scheme"] + [f"{AXIS_ADJ[ax]} β ({AXIS_VAR[ax]})" for ax in AXES] + [f"{AXIS_ADJ[ax]} regime" for ax in AXES]
    rows = []
    for s in a.schemes:
        row = [scheme_title(s)]
        for ax in AXES:
            h = a.headlines.get((s, ax))
            row.append(_key_beta_cell(h.fitted.primary if h else None, lvl))
        for ax in AXES:
            h = a.headlines.get((s, ax))
            row.append(h.regime.label if h and h.regime else "–")
        rows.append(row)
    blocks.append(Block("table", header=header, rows=rows))
    blocks.append(Block("p", (f"β is printed where the data determine it: off its search bound, with a {lvl:.0%} interval "
                              "whose ends are within a factor of 3. Otherwise it reads \"not determined\"; the numbers are "
                              "in the headline-laws table below. Parameter β is along the parameters each scheme grows: "
                              + "; ".join(f"{scheme_title(s)}: {PARAM_TITLES.get(a.param_col[s], a.param_col[s])}"
                                          f" ({_decades(a.headlines.get((s, 'params')))})" for s in a.schemes) + ".")))
    blocks.append(Block("list", items=_regime_sentences(a)))

    # Floors against the known floor.
    blocks.append(Block("h3", "Floors against the known floor"))
    blocks.append(Block("list", items=_floor_sentences(a)))

    # The plan.
    blocks.append(Block("h3", f"Plan: lowering NE by {a.options.plan_rel_gain:.0%} relative"))
    blocks.append(Block("p", (f"From the edge of the data (the largest x of each headline curve), the law's NE must fall by "
                              f"{a.options.plan_rel_gain:.0%}; the table gives how many times more of each resource that "
                              f"needs, with its {lvl:.0%} interval (∞: some bootstrap fits never get there).")))
    rows = []
    for s in a.schemes:
        rows.append([scheme_title(s)] + [_factor_cell(a.headlines.get((s, ax))) for ax in AXES])
    blocks.append(Block("table", header=["scheme", "× data", "× parameters", "× compute"], rows=rows))
    best = _plan_sentence(a)
    if best:
        blocks.append(Block("p", best))

    # Sanity, in one line.
    blocks.append(Block("p", _sanity_line(a)))
    if a.notes:
        blocks.append(Block("list", items=[f"Note: {n}" for n in a.notes]))
    return blocks


def _fit_range_sentence(a: Analysis) -> str:
    """Where the laws start (points left out as optimiser start-up) and the in-regime check, counted."""
    curves = a.all_fitted()
    cut = [f for f in curves if f.n_left_out]
    checked = [f for f in curves if f.axis != "params" and f.start is not None and f.start.ok is not None]
    failed = [f for f in checked if not f.start.ok]
    rule = ("Each law is fitted from where its curve's scaling regime starts: a curve that accelerates downwards before it "
            "decelerates (an optimiser leaving its initialisation, which no power law does) has those first points left "
            "out, drawn grey in the figures.")
    if cut:
        n_pts = sum(f.n_left_out for f in cut)
        rule += (f" {len(cut)} of {len(curves)} curves leave out {n_pts} points in all (at most "
                 f"{max(f.n_left_out for f in cut)} per curve, below {fmt_num(max(f.fit_range.x_start for f in cut), 2)}).")
    else:
        rule += f" None of the {len(curves)} curves shows a start-up: every point is fitted."
    if checked:
        rule += (f" In-regime check (β moves by less than its {a.options.level:.0%} interval's half-width when the fit starts "
                 f"one point later): {len(checked) - len(failed)} of {len(checked)} data and compute laws pass")
        rule += (": " + ", ".join(f.key for f in failed[:6]) + (" …" if len(failed) > 6 else "") + " fail (flag "
                 "start_dependent: β depends on where the fit starts; train further)." if failed else ".")
    return rule


def _unfinished_sentence(st) -> str | None:
    """Say up front that the study is not finished (pending or failed trials), not only under Provenance."""
    status = (st.provenance or {}).get("trial_status") or {}
    total, done = sum(status.values()), status.get("done", 0)
    if not status or done == total:
        return None
    rest = ", ".join(f"{v} {k}" for k, v in sorted(status.items()) if k != "done")
    return (f"**Built while trials are unfinished**: {done} of {total} trials are done ({rest}). Every law here uses "
            "the finished trials only and may change when the study completes; rerun `recscale study run` to finish it.")


def _regime_sentences(a: Analysis) -> list[str]:
    """One sentence per axis: how many schemes are in each regime, then each scheme's finding in words."""
    out = []
    for ax in AXES:
        hs = [a.headlines[(s, ax)] for s in a.schemes if (s, ax) in a.headlines and a.headlines[(s, ax)].regime]
        if not hs:
            continue
        labels: dict[str, list[str]] = {}
        for h in hs:
            labels.setdefault(h.regime.label, []).append(h.scheme)
        undetermined = labels.pop("undetermined", [])  # only regimes the intervals decide are counted
        parts = [f"{lab} in {len(ss)} of {len(hs)} ({', '.join(ss)})" for lab, ss in labels.items()]
        if undetermined:
            parts.append(f"not determined in {len(undetermined)} ({', '.join(undetermined)})")
        what = {"data": "along the data Pareto curve", "params": "from the smallest to the largest model at the "
                "largest data size", "compute": "along the compute frontier"}[ax]
        findings = "; ".join(f"{scheme_title(h.scheme)}: {h.regime.finding}" for h in hs)
        out.append(f"**{AXIS_ADJ[ax].capitalize()} scaling** ({what}): {'; '.join(parts)}. {findings}.")
    return out


def _decades(h: Headline | None) -> str:
    if h is None:
        return "no law"
    lo, hi = h.x_span
    if lo <= 0:
        return _span(h)
    end = h.regime.x_end if h.regime is not None else None
    ends = f"; the axis ends at {fmt_num(end, 2)}, {AXIS_END_REASON}" if end is not None else ""
    return f"{fmt_num(lo, 2)}–{fmt_num(hi, 2)}, {math.log10(hi / lo):.2f} decades{ends}"


def _eval_noise_sentence(st) -> str | None:
    """How many eval rows there are and what that means for reading differences of NE."""
    if st.eval_floor is None or not st.eval_rows:
        return None
    se = st.eval_floor_se
    b = ""
    if st.bayes_ne is not None:
        bse = f" ± {1.96 * st.bayes_ne_se:.4f}" if st.bayes_ne_se else ""
        b = (f" The world's population Bayes NE is {st.bayes_ne:.4f}{bse}; the floor of these rows differs from it by "
             f"{st.eval_floor - st.bayes_ne:+.4f}, "
             + (f"{abs(st.eval_floor - st.bayes_ne) / se:.1f} SE: " if se else "")
             + "the sampling noise of the eval rows, which is why the report bounds γ by the eval rows' floor.")
    if not se:
        return f"Every NE is measured on the same {st.eval_rows:,} eval rows.{b}"
    return (f"Every NE is measured on the same **{st.eval_rows:,} eval rows**, where the true probabilities score "
            f"{st.eval_floor:.4f} (standard error {se:.4f}, delta method). That SE is the noise of any single NE on this "
            f"many rows as an estimate of its population value: NEs measured on other rows (or a published number) "
            f"differ from these by ~{1.96 * se:.4f} at 95% without any real difference. Differences between models here "
            f"are much smaller than that and still real, because they share the rows.{b}")


def _floor_sentences(a: Analysis) -> list[str]:
    st = a.study
    out = []
    checks = a.floor_checks()
    best = min(float(np.min(f.mean_y)) for s in a.schemes for f in a.models[s])
    if st.floor is None:
        out.append(f"The Bayes NE is unknown; the best measured NE is {best:.4f}.")
        return out
    name = st.floor_name
    below = [c for c in checks if c["below_floor"]]
    if below:
        out.append(f"**{len(below)} of {len(checks)} free-fit floors lie below the {name} beyond their interval** "
                   f"({', '.join(c['curve'] for c in below)}): those free laws extrapolate to an impossible NE; trust the "
                   "bounded fits there.")
    elif checks:
        lowest = min(checks, key=lambda c: c["gamma_free_ci"][1])
        out.append(f"No free-fit floor lies below the {name} ({floor_lower(st):.4f}) beyond its interval ({len(checks)} "
                   f"curves checked; the lowest upper bound is {lowest['gamma_free_ci'][1]:.4f}, {lowest['curve']}).")
    gap = best - st.floor
    line = (f"The best measured NE is {best:.4f}, {gap:.4f} above the {name} {st.floor:.4f} ({gap / st.floor:.1%} of it): "
            "that much is still reducible by some model with enough data.")
    if "oracle_ne" in st.frame.columns and st.frame["oracle_ne"].notna().any():
        last = st.frame.loc[st.frame["samples"] == st.frame["samples"].max(), "oracle_ne"].dropna()
        if len(last) and gap > 0:
            o = float(last.iloc[0])
            share = min(max((best - o) / gap, 0.0), 1.0)
            line += (f" The seen-id oracle (the true model, knowing only ids seen in the training data) reaches "
                     f"{o:.4f} at the largest data size: {share:.0%} of the gap is what the models have not yet learned "
                     f"from the data they saw, {1 - share:.0%} ids the data never showed.")
    out.append(line)
    fr = [a.frontiers[(s, "data")] for s in a.schemes if (s, "data") in a.frontiers and a.frontiers[(s, "data")].free]
    if fr:
        parts = [f"{f.scheme} {f.free.gamma:.4f}{_ci(f.free.ci(a.options.level)['gamma'] if f.free.draws else None, lambda v: f'{v:.4f}')}"
                 for f in fr]
        out.append("Free floors of the Pareto data curves: " + "; ".join(parts) + ".")
    return out


def _plan_sentence(a: Analysis) -> str | None:
    hs = [h for h in a.headlines.values() if h.axis == "data" and h.factor is not None]
    if not hs:
        return None
    h = min(hs, key=lambda h: h.factor)
    parts = []
    for ax in AXES:
        hh = a.headlines.get((h.scheme, ax))
        if hh is None:
            continue
        if hh.factor is not None:
            parts.append(f"{hh.factor:.2f}× {AXIS_NOUN[ax]}")
        elif hh.plan is not None and hh.plan.status == "unreachable":
            parts.append(f"no amount of {AXIS_NOUN[ax]} alone")
    return (f"For example, in the {scheme_title(h.scheme)} scheme, taking NE from {h.target_ne / (1 - a.options.plan_rel_gain):.4f} "
            f"to {h.target_ne:.4f} needs " + ", or ".join(parts) + ".")


def _sanity_line(a: Analysis) -> str:
    counts: dict[str, int] = {}
    for w in a.warnings:
        counts[w.code] = counts.get(w.code, 0) + 1
    parts = []
    if a.study.floor is not None:
        n = counts.get("floor_below_bayes", 0)
        parts.append(f"{n} free floor(s) below the {a.study.floor_name} beyond their interval" if n else
                     f"no free floor below the {a.study.floor_name} beyond its interval")
    # The report's seed-mean check and the laws engine's flag are one kind of warning (advice.kind_of): count its curves.
    n = len({w.curve or w.where for w in a.warnings if kind_of(w) == "rises"})
    parts.append(f"{n} curve(s) rising beyond seed noise" if n else "no curve rising beyond seed noise")
    if counts.get("fit_failed"):
        parts.append(f"{counts['fit_failed']} failed fit(s)")
    n_flags = sum(n for c, n in counts.items() if c not in SANITY_CODES)
    groups = warning_groups(a) if a.warnings else []
    change = [g.title for g in groups if g.changes_conclusion]
    return (f"**Sanity checks**: {'; '.join(parts)}; "
            + (f"{n_flags} flags raised by the laws engine" if n_flags else "no flags raised by the laws engine")
            + (f"; {len(change)} kind(s) of warning change a conclusion: {'; '.join(change)}" if change else "")
            + " (details and what to do under Warnings).")


# ---- architectures compared ---------------------------------------------------------------------


def _arch_beta(l, level: float) -> str:
    """β [lo, hi] of an architecture's law, or why it is not determined."""
    if l.fit is None:
        return f"no law ({l.error})" if l.error else "no law"
    return _key_beta_cell(l.fit, level)


def _arch_regime(l) -> str:
    if l.regime is None:
        return "–"
    if l.regime_label is None:
        return "undetermined (β not determined)"
    r = l.regime
    share = f", {r.label_share:.0%} of bootstrap fits agree" if r.label_share is not None else ""
    return f"{r.label} ({_pct(r.gain_rel)} NE per doubling{share})"


def _arch_phrase(l, level: float, first: bool) -> str:
    """"DLRM's compute exponent is β 0.201 [0.19, 0.21]" (first) or "DCNv2's β 0.70 [..]"; or "... not determined"."""
    noun = {"compute": "compute", "params": "parameter"}[l.axis]
    head = f"{arch_title(l.architecture)}'s {noun} exponent is " if first else f"{arch_title(l.architecture)}'s "
    if l.fit is None:
        return f"{arch_title(l.architecture)} has no {noun} law" + (f" ({l.error})" if l.error else "")
    if not beta_determined(l.fit, level):
        return head + ("" if first else "exponent, ") + _arch_beta(l, level)
    return head + f"β {_beta_cell(l.fit, level)}"


def _saturation_phrase(l) -> str | None:
    """"DCNv2 is saturated beyond 3.1e11 training FLOPs", or where its law puts saturation; only where determined."""
    if l.regime_label is None or l.regime.x_saturation is None:
        return None
    unit = "training FLOPs" if l.axis == "compute" else ARCH_PARAM_TITLES.get(l.x_col, "parameters")
    r = l.regime
    xs = r.x_saturation
    gain = f"a doubling gains < {r.thresholds.sat_gain:.2%} NE"
    name = arch_title(l.architecture)
    if r.label == "saturated":
        return f"{name} is saturated beyond {fmt_num(xs, 2)} {unit} ({gain}; measured up to {fmt_num(r.x_max, 2)})"
    return (f"{name} is {r.label} at the edge of its data ({fmt_num(r.x_max, 2)} {unit}); its law saturates ({gain}) "
            f"beyond {fmt_num(xs, 2)}, {fmt_num(xs / r.x_max, 2)}× further")


def architecture_findings(a: Analysis) -> list[str]:
    """Key findings in words: exponents, their differences and overlap, saturation, the best NE at equal compute."""
    c = a.architectures
    lvl = a.options.level
    out = []
    for p in c.pairs:
        la, lb = c.laws[(p.a, p.axis)], c.laws[(p.b, p.axis)]
        s = f"{_arch_phrase(la, lvl, True)} against {_arch_phrase(lb, lvl, False)}"
        if p.diff is not None:
            d = p.diff
            s += (f"; the difference β({arch_title(p.b)}) − β({arch_title(p.a)}) is {d.diff:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}]"
                  f" ({'paired' if d.paired else 'independent'} bootstrap), "
                  + ("which excludes 0" if d.distinguishable else "which includes 0: the data do not order these two exponents"))
        elif p.error:
            s += f"; no difference interval ({p.error})"
        if p.overlap is not None:
            s += "; **the two intervals overlap**" if p.overlap else "; the two intervals do not overlap"
        sat = [x for x in (_saturation_phrase(la), _saturation_phrase(lb)) if x]
        out.append(s + ("; " + "; ".join(sat) if sat else "") + ".")
    b = c.at_budget
    if b is not None:
        def ne_of(arch: str) -> str:
            x, y = b.measured[arch]
            pr = b.predicted.get(arch)
            law = ""
            if pr is not None:
                law = f", law {pr[0]:.4f}" + (f" [{pr[1]:.4f}, {pr[2]:.4f}]" if pr[1] is not None else "")
            return f"{arch_title(arch)} {y:.4f} (at {fmt_num(x, 2)} FLOPs{law})"

        s = (f"At equal training compute, the top of the common range (C = {fmt_num(b.compute, 2)} FLOPs, the smallest of "
             f"the architectures' largest budgets), the lowest measured NE within C is **{arch_title(b.order[0])}'s**: "
             + "; ".join(ne_of(x) for x in b.order) + ". ")
        if b.noise_se is None:
            s += (f"The gap to the next is {b.gap:.4f}; the noise of a single NE on the eval rows is unknown here (no "
                  "eval-rows floor recorded), so whether it is beyond noise cannot be said.")
        else:
            verdict = "beyond" if b.beyond_noise else "**within**"
            s += (f"The gap to the next, {b.gap:.4f}, is {verdict} the noise of a single NE on the eval rows "
                  f"({1.96:.2f} × SE {b.noise_se:.4f} = {1.96 * b.noise_se:.4f}); the models share those rows, so "
                  "this is a conservative yardstick.")
        out.append(s)
    return out


def architecture_section(a: Analysis) -> list[Block]:
    """Several architectures: their compute and parameter laws side by side, β differences, findings in words."""
    c = a.architectures
    if c is None:
        return []
    lvl = a.options.level
    names = ", ".join(arch_title(x) for x in c.architectures)
    blocks = [Block("h2", "Architectures compared", anchor="architectures"), Block("p", (
        f"This study compares {len(c.architectures)} architectures ({names}) on the same data. For each, the compute "
        "frontier is the Pareto frontier of (training FLOPs, seed-mean NE) over all its models and data sizes, and the "
        f"parameter frontier is that of ({c.param_title}, seed-mean NE) at the largest data size all its models reached"
        + ("" if c.param_col != "params_dense" else
           " (dense, because the architectures share their embedding tables, which would otherwise dominate every count)")
        + "; "
        f"each is fitted with NE = α·x^-β + γ (γ ≥ the known floor when there is one), {lvl:.0%} bootstrap intervals "
        f"({a.options.bootstrap} refits). β is printed where the data determine it, and a regime is named only then. "
        "Further down, every section is given per architecture and scheme (architecture/scheme)."))]
    blocks.append(Block("list", items=architecture_findings(a)))
    rows = []
    for arch in c.architectures:
        lc, lp = c.laws[(arch, "compute")], c.laws[(arch, "params")]
        span = (f"{fmt_num(lc.mean_x.min(), 2)}–{fmt_num(lc.mean_x.max(), 2)}" if lc.mean_x.size else "–")
        pspan = (f"{fmt_num(lp.mean_x.min(), 2)}–{fmt_num(lp.mean_x.max(), 2)}" if lp.mean_x.size else "–")
        rows.append([arch_title(arch), _arch_beta(lc, lvl), _gamma_cell(lc.fit, lvl), _arch_regime(lc), span,
                     _arch_beta(lp, lvl), _gamma_cell(lp.fit, lvl), _arch_regime(lp), pspan,
                     fmt_num(lp.samples, 3) if lp.samples else "–"])
    blocks.append(Block("table", header=["architecture", "compute β", "compute γ", "compute regime", "FLOPs (frontier)",
                                         "parameter β", "parameter γ", "parameter regime",
                                         f"{c.param_title} (frontier)", "samples (param. frontier)"],
                        rows=rows))
    rows = []
    for p in c.pairs:
        d = p.diff
        rows.append([f"{arch_title(p.b)} − {arch_title(p.a)}", {"compute": "compute", "params": c.param_title}[p.axis],
                     f"{d.diff:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}]" if d else f"– ({p.error})",
                     ("yes" if d.distinguishable else "no (includes 0)") if d else "–",
                     ("paired" if d.paired else "independent") if d else "–",
                     "–" if p.overlap is None else ("overlap" if p.overlap else "do not overlap")])
    blocks.append(Block("table", header=["Δβ", "axis", f"difference [{lvl:.0%}]", "excludes 0", "bootstrap",
                                         "the two β intervals"], rows=rows))
    if c.notes:
        blocks.append(Block("list", items=[f"Note: {n}" for n in c.notes]))
    return blocks


# ---- the joint law ------------------------------------------------------------------------------


def joint_section(a: Analysis) -> list[Block]:
    """Per scheme: the joint law NE(N, D) with SEs and the compute-optimal N*, D*, NE*, or why not."""
    blocks = [Block("h2", "Joint law and compute-optimal allocation", anchor="joint")]
    if not a.joint:
        return blocks
    j0 = next(iter(a.joint.values()))
    boot = a.options.joint_refits
    blocks.append(Block("p", (
        "Per scheme, NE(N, D) = E + A/N^α + B/D^β fitted to the seed-mean NE of every model and data size (Hoffmann et "
        f"al. 2022, approach 3: Huber loss on log NE), N being the parameters the scheme grows; ± is the bootstrap "
        f"standard error ({boot} refits over the points). The compute-optimal model size N*, samples D* and NE* minimise "
        "the law under a training budget C = training FLOPs per sample(N) · D, over the scheme's measured compute range; "
        "FLOPs per sample are each model's own (from the table, interpolated in log-log between the models), because a DLRM's "
        "embedding parameters cost memory, not FLOPs. A law whose exponents' intervals are wider than 3× is reported as "
        "not identified, and no allocation is given where the models' FLOPs per sample differ by under "
        f"{a.options.min_flops_ratio:g}×." + (" One architecture in this study." if j0 and a.architectures is None else
                                              " Each architecture's schemes are fitted separately (architecture/scheme)."))))
    for s, j in a.joint.items():
        blocks.append(Block("h3", f"{scheme_title(s)} (N: {PARAM_TITLES.get(j.n_col, j.n_col)})"))
        if j.fit is None:
            blocks.append(Block("p", f"No joint law: {j.reason}."))
            continue
        if not j.identified:
            blocks.append(Block("p", f"**Not identified**: {j.reason}. No law or allocation is given; the fit is in fits.json."))
            continue
        f = j.fit
        se = f.se or {}

        def pm(k: str, digits: int = 3) -> str:
            v, e = getattr(f, k), se.get(k)
            return f"{fmt_num(v, digits)} ± {fmt_num(e, 2)}" if e is not None else fmt_num(v, digits)

        blocks.append(Block("p", (f"NE(N, D) = E + A/N^α + B/D^β with **E = {pm('E', 4)}**, A = {pm('A')}, **α = {pm('alpha')}**, "
                                  f"B = {pm('B')}, **β = {pm('beta')}** ({f.n_points} points, N {fmt_num(j.n_range[0], 2)}–"
                                  f"{fmt_num(j.n_range[1], 2)}; log RMSE {_pct(j.rmse_log)}).")))
        if j.optimal is None:
            blocks.append(Block("p", f"No compute-optimal allocation: {j.optimal_reason}."))
            continue
        o = j.optimal
        rows = []
        for c, n, d, l, fl, b in zip(o.compute, o.N, o.D, o.loss, o.flops_per_sample, o.at_bound):
            note = "at the search bound (10× beyond the models)" if b else (
                "beyond the measured model sizes" if not j.n_range[0] <= n <= j.n_range[1] else "")
            rows.append([fmt_num(c, 3), fmt_num(n, 3), fmt_num(d, 3), f"{l:.4f}", fmt_num(fl, 3), note])
        blocks.append(Block("table", header=["compute C (training FLOPs)", "N*", "D* (samples)", "NE*", "training FLOPs/sample",
                                             "note"], rows=rows))
    return blocks


# ---- warnings -----------------------------------------------------------------------------------

def warnings_section(a: Analysis) -> list[Block]:
    """The warning summary (one line per kind, conclusion-changing first, a remedy each) and every warning, collapsed."""
    blocks = [Block("h2", "Warnings", anchor="warnings")]
    if not a.warnings:
        blocks.append(Block("p", "None: every check passed and the laws engine raised no flags."))
        return blocks
    groups = warning_groups(a)
    n_curves = len({w.curve or w.where for w in a.warnings})
    n_change = sum(g.changes_conclusion for g in groups)
    blocks.append(Block("p", (
        f"{len(a.warnings)} warnings on {n_curves} curves, in {len(groups)} lines: one per kind of warning, with the "
        "schemes and curves it touches and what to run or measure. "
        + (f"The first {n_change} change a conclusion of the key findings; the rest" if n_change else
           "None changes a conclusion of the key findings; they")
        + " say how far to trust each fit (flags on parameter slices and on fits with γ at the floor bound are expected "
        f"in a small study). {HOW_TO_TRAIN_LONGER} Every warning, with its message, is in the collapsed list below and in "
        "fits.json.")))
    rows = [["**yes**" if g.changes_conclusion else "no", f"**{g.title}** ({g.count})", g.meaning, g.where_text, g.remedy]
            for g in groups]
    blocks.append(Block("table", header=["changes a conclusion", "warning (count)", "what it means", "where (scheme: curves)",
                                         "what to do"], rows=rows))
    blocks.append(Block("details", text=f"All {len(a.warnings)} warnings with their messages",
                        rows=[[w.code, w.where, w.message] for w in a.warnings], header=["code", "where", "message"]))
    return blocks


# ---- tables -------------------------------------------------------------------------------------


def tables_section(a: Analysis) -> list[Block]:
    lvl = a.options.level
    blocks = [Block("h2", "Tables", anchor="tables")]
    var = AXIS_VAR

    blocks.append(Block("h3", "Headline laws: each scheme × axis"))
    blocks.append(Block("p", ("Data and compute: the Pareto frontier of the scheme's models; parameters: all models at the "
                              "largest data size every model reached. β and γ with their intervals, for the primary fit "
                              "(γ ≥ the known floor) and the free fit; RMSE: of log NE, seed means against the primary law. "
                              "Every β is here, determined or not.")))
    rows = []
    for (s, ax), h in a.headlines.items():
        f = h.fitted
        p, fr = f.primary, f.free
        pts = str(f.mean_x.size) + (f" (+{f.n_left_out} left out)" if f.n_left_out else "")
        rows.append([s, AXIS_ADJ[ax], _x_name(a, ax, s), _span(h), pts,
                     law_text(p, var[ax]) if p else "–", _beta_cell(p, lvl), _gamma_cell(p, lvl),
                     _beta_cell(fr, lvl), _gamma_cell(fr, lvl), _pct(f.curve_rmse_log), _regime_cell(h),
                     ", ".join(sorted(set(p.flag_codes))) if p else (f.error or "")])
    blocks.append(Block("table", header=["scheme", "axis", "x", "x range", "points", "law (primary)", "β", "γ", "β (free)",
                                         "γ (free)", "RMSE", "regime", "flags"], rows=rows))

    blocks.append(Block("h3", "Data-scaling laws of every model"))
    bt = {b["identity"]: b for b in a.model_backtests}
    rows = []
    base = a.base_identity
    for s in a.schemes:
        for f in a.models[s]:
            ident = "|".join(sorted(set(map(str, f.curve.trial_ids or ()))))
            p, fr = f.primary, f.free
            label = value_label(s, f.value) + (" (base)" if ident == base else "")
            b = bt.get(ident)
            rows.append([s, label, fmt_num(float(f.curve.rows["params_total"].iloc[0]), 3),
                         fmt_num(f.fit_range.x_start, 3) if f.fit_range is not None else "–",
                         law_text(p, "D") if p else "–", _beta_cell(p, lvl), _gamma_cell(p, lvl), _gamma_cell(fr, lvl),
                         _pct(f.curve_rmse_log), _pct(b["rmse_log"]) if b and b["rmse_log"] is not None else "–",
                         ", ".join(sorted(set(p.flag_codes))) if p else (f.error or "")])
    blocks.append(Block("table", header=["scheme", "model", "parameters", "fit from", "law (primary)", "β", "γ", "γ (free)",
                                         "fit RMSE", "held-out RMSE", "flags"], rows=rows))
    blocks.append(Block("p", ("Fit RMSE: of log NE, seed means against the law over all data sizes (the power law plus "
                              "constant describes a curve well when this is a fraction of a percent). Held-out RMSE: the "
                              f"law fitted on the smaller {1 - a.options.holdout:.0%} of the log data range, scored on the rest.")))

    blocks.append(Block("h3", "Parameter-scaling laws at each data size"))
    rows = []
    for s in a.schemes:
        for f in a.param_slices.get(s, []):
            p = f.primary
            rows.append([s, fmt_num(f.samples, 3), PARAM_TITLES.get(f.x_col, f.x_col),
                         f"{fmt_num(f.mean_x.min(), 3)}–{fmt_num(f.mean_x.max(), 3)}", law_text(p, "N") if p else "–",
                         _beta_cell(p, lvl), _gamma_cell(p, lvl), _pct(f.mean_y[-1] / f.mean_y[0] - 1),
                         ", ".join(sorted(set(p.flag_codes))) if p else (f.error or "")])
    blocks.append(Block("table", header=["scheme", "samples", "x", "x range", "law (primary)", "β", "γ",
                                         "NE change small → large", "flags"], rows=rows))

    blocks.append(Block("h3", "Extrapolation check"))
    rows = []
    for (s, ax), e in a.extrapolations.items():
        forms = ([_form_rmse(e, form) for form in OTHER_FORMS] if e.forms_cut is not None else ["–"] * len(OTHER_FORMS))
        forms.append(FORM_SHORT.get(e.chosen, e.chosen) if e.chosen else "–")
        note = e.forms_error or ""
        if e.forms_cut is not None and e.x_cut is not None and e.forms_cut != e.x_cut:
            note = f"forms' backtests fitted up to x = {fmt_num(e.forms_cut, 3)}"
        if e.error:
            rows.append([s, AXIS_ADJ[ax], "–", "–", "–", "–", "–", "–", *forms, e.error])
            continue
        rows.append([s, AXIS_ADJ[ax], fmt_num(e.x_cut, 3), str(e.x_test.size), _pct(e.rmse_log), _pct(e.bias_log),
                     _pct(e.max_abs_log), f"{e.inside_interval}/{e.x_test.size}" if e.inside_interval is not None else "–",
                     *forms, note])
    blocks.append(Block("table", header=["scheme", "axis", "fitted up to x", "held out", "RMSE plc", "bias", "max |error|",
                                         f"inside {lvl:.0%} prediction interval",
                                         *(f"RMSE {FORM_SHORT.get(f, f)}" for f in OTHER_FORMS), "auto chose", "note"], rows=rows))
    rule = next((e.forms_rule for e in a.extrapolations.values() if e.forms_rule), None)
    others = " and ".join(FORM_NAMES.get(f, f) + (f" ({FORM_SHORT[f]})" if FORM_SHORT.get(f, f) != FORM_NAMES.get(f, f) else "")
                          for f in OTHER_FORMS)
    blocks.append(Block("p", (
        "Errors are of log NE (≈ relative NE) on the held-out seed means. RMSE plc, bias and max |error| are the power "
        "law + constant's (plc, the report's law); bias > 0 means it predicted a worse NE than measured. Its prediction "
        "interval is where one new measurement would fall; the held-out values are seed means, which vary less, so the "
        f"count inside is conservative. The other RMSE columns are the {others} laws' backtests on the same curve and "
        "cut, as form=\"auto\" ran them"
        + (f"; it chooses thus: {rule}." if rule else ".")
    )))

    blocks.append(Block("h3", "Plan detail"))
    rows = []
    for (s, ax), h in a.headlines.items():
        p = h.plan
        if p is None:
            rows.append([s, AXIS_ADJ[ax], "–", "–", "–", "–", "–", "–", h.error or ""])
            continue
        imp = p.implied or {}

        def iv(col):
            d = imp.get(col) or {}
            return fmt_num(d.get("value"), 3) if d.get("value") is not None else "–"

        rows.append([s, AXIS_ADJ[ax], fmt_num(float(np.max(h.fitted.curve.x)), 3), f"{h.target_ne:.4f}",
                     _x_needed_cell(p),
                     _factor_cell(h), iv("samples"), iv("train_flops"), "; ".join(p.notes)])
    blocks.append(Block("table", header=["scheme", "axis", "largest x", "target NE", "x needed", "factor", "samples",
                                         "training FLOPs", "notes"], rows=rows))
    return blocks


def _x_needed_cell(p) -> str:
    if not p.reachable:  # "never" below the floor; otherwise the status says why no number is given
        return "never" if p.status == "unreachable" else p.status
    out = fmt_num(p.x_needed, 3)
    if p.x_interval:
        lo, hi = p.x_interval
        out += f" [{fmt_num(lo, 3)}, {'∞' if hi is None else fmt_num(hi, 3)}]"
    return out


# ---- provenance ---------------------------------------------------------------------------------


def _dataset_checks(meta: dict[str, Any]) -> str:
    """The ingest's duplicate and eval-in-train counts and its warnings, as a sentence (empty if none recorded)."""
    dups = (meta.get("stats") or {}).get("duplicates")
    out = ""
    if dups:
        about = "" if dups.get("exact", True) else "about "
        out += (f" Ingest: {about}{dups['duplicate_records']:,} exact duplicate records of {dups['records']:,}; "
                f"{about}{dups['eval_in_train']:,} of {dups['eval_records']:,} eval records also in train.")
    for w in meta.get("warnings") or []:
        out += f" **Ingest warning**: {w}."
    return out


def provenance_section(a: Analysis, wall_s: float | None) -> list[Block]:
    st = a.study
    blocks = [Block("h2", "Provenance", anchor="provenance")]
    items = [f"Source: `{st.source}` ({'recscale ledger' if st.kind == 'ledger' else 'exported table'}), "
             f"{len(st.frame)} evaluation rows."]
    if st.eval_floor is not None:
        se = f" (standard error {st.eval_floor_se:.2g}, delta method)" if st.eval_floor_se else ""
        items.append(f"Eval-rows floor {st.eval_floor:.5f}{se}: the NE of the shards' true probabilities on the "
                     f"{st.eval_rows:,} eval rows every trial was measured on, recorded by the study runner; it bounds γ.")
    if st.bayes_ne is not None:
        se = f" (standard error {st.bayes_ne_se:.2g})" if st.bayes_ne_se else ""
        items.append(f"Bayes NE {st.bayes_ne:.5f}{se}: {st.bayes_source}.")
    opts = a.options
    items.append(f"Report settings: {opts.bootstrap} bootstrap refits per law, {opts.level:.0%} intervals, seed {opts.seed}, "
                 f"{opts.param_slices} parameter slices, {opts.holdout:.0%} of each log-axis held out; analysis took "
                 f"{a.elapsed_s:.1f} s" + (f", the whole report {wall_s:.1f} s" if wall_s is not None else "") + ".")
    pv = st.provenance
    if pv is None:
        items.append("**Provenance unavailable**: this report was built from an exported table (CSV or Parquet), which "
                     "carries no spec, versions, machine or timing. Build it from the study's ledger to include them.")
        blocks.append(Block("list", items=items))
        return blocks
    if pv.get("created_at"):
        items.append(f"Study created {pv['created_at']}.")
    recipe = _recipe_item(_train_settings(st))
    if recipe:
        items.append(recipe)
    status = pv.get("trial_status") or {}
    if status:
        items.append("Trials: " + ", ".join(f"{v} {k}" for k, v in sorted(status.items())) + ".")
    if pv.get("last_run_wall_s") is not None:
        extra = ", ".join(f"{k.replace('last_run_', '')} {pv[k]}" for k in ("last_run_workers", "last_run_executor",
                                                                            "last_run_device", "last_run_precision") if pv.get(k) is not None)
        items.append(f"Last `study run`: {pv['last_run_wall_s']:.1f} s wall" + (f" ({extra})" if extra else "")
                     + (f"; training time summed over trials {pv['trial_wall_s_total']:.1f} s" if pv.get("trial_wall_s_total") else "")
                     + ".")
    if pv.get("versions"):
        items.append("Versions: " + ", ".join(f"{k} {v}" for k, v in pv["versions"].items()) + ".")
    if pv.get("machine"):
        items.append("Machine: " + ", ".join(f"{k} {v}" for k, v in pv["machine"].items() if v not in (None, "")) + ".")
    meta = pv.get("dataset_meta") or {}
    if pv.get("dataset"):
        items.append(f"Dataset: `{pv['dataset']}`." + _dataset_checks(meta))
    blocks.append(Block("list", items=items))
    world = meta.get("world")
    if world:
        blocks.append(Block("details", text="Synthetic world", rows=[[k, json.dumps(v)] for k, v in world.items()],
                            header=["field", "value"]))
    if pv.get("spec_toml"):
        blocks.append(Block("h3", "Spec"))
        blocks.append(Block("pre", pv["spec_toml"]))
    elif pv.get("spec"):
        blocks.append(Block("h3", "Spec (resolved)"))
        blocks.append(Block("pre", json.dumps(pv["spec"], indent=2)))
    return blocks


def figures_section(figures: list[Any]) -> list[Block]:
    blocks = [Block("h2", "Figures", anchor="figures")]
    for fig in figures:
        blocks.append(Block("figure", text=fig.title, figure=fig, anchor=f"fig-{fig.name}"))
    return blocks


def build_document(a: Analysis, figures: list[Any], wall_s: float | None = None) -> list[Block]:
    """All blocks of the report, in reading order."""
    return (key_findings(a) + architecture_section(a) + joint_section(a) + warnings_section(a) + figures_section(figures) + tables_section(a)
            + provenance_section(a, wall_s))


# ---- the terminal summary -----------------------------------------------------------------------


def terminal_summary(a: Analysis) -> str:
    """A short plain-text summary: exponents and regimes per scheme × axis, floors against the Bayes NE, the plan."""
    lvl = a.options.level
    st = a.study
    w = max([len(s) for s in a.schemes] + [6])
    col = 34
    lines = ["exponents beta of NE = a*x^-beta + c, with " + f"{lvl:.0%}" + " intervals, and the regime at the edge of the data:",
             f"  {'scheme':<{w}}  " + "".join(f"{AXIS_ADJ[ax]:<{col}}" for ax in AXES).rstrip()]
    loose = False
    for s in a.schemes:
        cells = []
        for ax in AXES:
            h = a.headlines.get((s, ax))
            f = h.fitted.primary if h else None
            if f is None:
                cell = "no law"
            elif is_flat(f):
                cell = "flat"
            else:
                ci = f.ci(lvl)["beta"] if f.draws else None
                star = "" if beta_determined(f, lvl) else "*"
                loose |= bool(star)
                cell = f"{f.beta:.3f}{star}" + (f" [{ci[0]:.3f},{ci[1]:.3f}]" if ci else "")
            if h and h.regime:
                cell += f" {h.regime.label}"
            cells.append(f"{cell:<{col}}")
        lines.append(f"  {s:<{w}}  " + "".join(cells).rstrip())
    if loose:
        lines.append("  * beta not determined (at its search bound, or an interval wider than 3x)")
    for s in a.schemes:
        h = a.headlines.get((s, "params"))
        if h is not None and h.regime is not None and h.regime.x_end is not None:
            lines.append(f"  {s}: the parameter axis ends at {fmt_num(h.regime.x_end, 2)} ({AXIS_END_REASON}), "
                         f"{h.regime.end_decades:.2g} decades beyond its largest model; "
                         "its regime is what is left to gain up to there")
    rmses = [f.curve_rmse_log for s in a.schemes for f in a.models[s] if f.curve_rmse_log is not None]
    if rmses:
        lines.append(f"data curves: power law + constant on each of {len(rmses)} curves, log RMSE "
                     f"{min(rmses):.2%} to {max(rmses):.2%}")
    if st.floor is not None:
        checks = a.floor_checks()
        below = [c for c in checks if c["below_floor"]]
        fr = [a.frontiers[(s, "data")] for s in a.schemes if (s, "data") in a.frontiers and a.frontiers[(s, "data")].free]
        extra = f" (population Bayes NE {st.bayes_ne:.4f})" if st.eval_floor is not None and st.bayes_ne is not None else ""
        lines.append(f"floors: free fits of the Pareto data curves against the {st.floor_name} {st.floor:.4f}{extra}:")
        for f in fr:
            ci = f.free.ci(lvl)["gamma"] if f.free.draws else (f.free.gamma, f.free.gamma)
            lines.append(f"  {f.scheme:<{w}}  gamma {f.free.gamma:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]")
        lines.append(f"  {len(below)} of {len(checks)} free floors below the {st.floor_name} beyond their interval"
                     + (": " + ", ".join(c["curve"] for c in below) if below else ""))
    lines.append(f"plan: to lower NE by {a.options.plan_rel_gain:.0%} (relative) from the edge of the data, times more")
    for s in a.schemes:
        lines.append(f"  {s:<{w}}  " + "   ".join(f"{AXIS_NOUN[ax]} {_short_factor(a.headlines.get((s, ax)))}" for ax in AXES))
    if a.joint:
        no = [s for s, j in a.joint.items() if not j.identified or j.fit is None]
        lines.append("joint law NE(N, D) = E + A/N^alpha + B/D^beta (+- bootstrap SE)"
                     + (f"; not identified: {', '.join(no)}" if no else ""))
        for s, j in a.joint.items():
            if s in no:
                continue
            f, se = j.fit, j.fit.se or {}
            opt = "compute-optimal N*(C) given" if j.optimal is not None else "no compute-optimal allocation"
            lines.append(f"  {s:<{w}}  E {f.E:.4f}+-{se.get('E', float('nan')):.4f}  alpha {f.alpha:.3f}+-"
                         f"{se.get('alpha', float('nan')):.3f}  beta {f.beta:.3f}+-{se.get('beta', float('nan')):.3f}  ({opt})")
    lines += _architecture_lines(a)
    lines += _warning_lines(a)
    return "\n".join(lines)


def _warning_lines(a: Analysis) -> list[str]:
    """Terminal lines of the warning summary: one per kind, those that change a conclusion marked "!"."""
    if not a.warnings:
        return ["warnings: none"]
    groups = warning_groups(a)
    change = [g for g in groups if g.changes_conclusion]
    rest = [g for g in groups if not g.changes_conclusion]
    head = f"warnings: {len(a.warnings)} in {len(groups)} kinds (each with what to do in the report)"
    head += f"; {len(change)} change a conclusion (below)" if change else "; none changes a conclusion"
    head += ("; the others: " + "; ".join(f"{g.title} ({g.count})" for g in rest)) if rest else ""
    lines = [head]
    for g in change:
        lines.append(f"  ! {g.title}: {g.n_curves} curve(s) in {len(g.where)} scheme(s); {g.remedy}")
    return lines


def fits_dict(a: Analysis) -> dict[str, Any]:
    """What ``fits.json`` holds: the analysis (:meth:`Analysis.to_dict`) and its warning summary, grouped by kind."""
    return a.to_dict() | {"warning_summary": [g.to_dict() for g in warning_groups(a)]}


def _architecture_lines(a: Analysis) -> list[str]:
    """Terminal lines of the architecture comparison (none for a single-architecture study)."""
    c = a.architectures
    if c is None:
        return []
    lvl = a.options.level
    lines = [f"architectures: beta of the compute and parameter frontiers ({c.param_title}), regime where determined"]
    for arch in c.architectures:
        cells = []
        for ax in ("compute", "params"):
            law = c.laws[(arch, ax)]
            cells.append(f"{ax} {_arch_beta(law, lvl)}" + (f" {law.regime_label}" if law.regime_label else ""))
        lines.append(f"  {arch_title(arch):<8}  " + "   ".join(cells))
    b = c.at_budget
    if b is not None:
        noise = ("noise unknown" if b.beyond_noise is None
                 else f"{'beyond' if b.beyond_noise else 'within'} 1.96 SE = {1.96 * b.noise_se:.4f}")
        lines.append(f"  lowest NE within C = {fmt_num(b.compute, 2)} FLOPs: "
                     + ", ".join(f"{arch_title(x)} {b.measured[x][1]:.4f}" for x in b.order) + f" (gap {b.gap:.4f}, {noise})")
    return lines


def _short_factor(h: Headline | None) -> str:
    if h is None or h.plan is None:
        return "-"
    if not h.plan.reachable:
        return "unreachable"
    return f"{h.factor:.2f}x"
