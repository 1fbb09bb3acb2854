"""Goal-driven design: which run to measure next, scored by how much it narrows a goal's interval per unit cost.

A *goal* is one number computed from a fitted law (a one-x law of any form :func:`fit_power_law`
fits, or the joint law NE(N, D) of :func:`fit_joint_law`): the NE at a point beyond the data, the
NE the compute-optimal frontier reaches at a compute budget, the exponent, the x a target NE needs,
or the predictions on a set of target rows. Its estimate and 95% interval are the laws engine's:
the goal evaluated on every bootstrap refit of the law, with the engine's interval method (the
expanded percentile for one-x laws, the percentile for the joint law). No other model is fitted.

**The rule.** A *pool* is a table whose x (and cost) are known for every row and whose y is known
only for the rows of the candidates already chosen. With the law fitted on the chosen rows:

* Σ: the covariance of the law's parameters over its bootstrap refits (in the fitter's own
  coordinates: log α, β, γ…; the joint law's (log A, log B, log E, α, β)), the current uncertainty.
  Refits outside the 1–99% range of any parameter are left out of Σ, so one refit that ran off to
  a plateau does not dominate it.
* σ²(x): the noise of one measurement around the law in log y, at each row (see **Noise** below).
* J_c: the Jacobian of log ŷ with respect to the parameters at the candidate's rows (central
  differences). A candidate's y is imputed as the current prediction; in this linearisation only
  its position enters, so the imputation is exact.
* g: the gradient of the goal functional (central differences; for target rows one row per row).

After measuring candidate c the expected covariance is (Σ⁻¹ + J_cᵀV_c⁻¹J_c)⁻¹, V_c = diag(σ²(x))
over its rows, computed without inverting Σ as Σ − ΣJ_cᵀ(V_c + J_cΣJ_cᵀ)⁻¹J_cΣ. The goal's
half-width is z·√(gᵀΣg) (for target rows, the root mean square over rows), converted to the
goal's units and scaled so that the current one equals the bootstrap interval's. **Score = (width_now − width_after) / cost**; the best available
candidate is chosen. Several at once are chosen greedily: Σ is updated with each pick as if it had
been measured, then the next is scored (a conditional batch, not top-k, so two near-identical
runs are not both chosen for the same information). Nothing in a pick after the first needs its
y, so the whole batch is known at once.

**Noise.** One number σ is wrong when the residuals are heteroscedastic, and learning curves are:
on the demo ledger the joint law's residuals have RMS 0.02 in log NE at 4k–16k samples (the
optimiser's start-up, which the law cannot fit) and 0.004–0.007 from 46k samples on, so the one
number √(SSE/(n − 5)) = 0.012 made every prediction interval at the largest runs ~10x too wide
(coverage 1.00) and told the scorer that a long run is as noisy as a start-up one. So σ is a
*variance function* of the x (Carroll & Ruppert, *Transformation and Weighting in Regression*,
1988, ch. 3; Harvey's multiplicative heteroscedasticity, Econometrica 1976): log σ²(x) = γ₀ +
Σⱼ γⱼ log xⱼ, fitted by least squares of log r² (r: the log residuals of the chosen rows) on
(1, log x), the intercept corrected by E[log χ²₁] = −1.27 (less a little for the floor and the
cap below). Each r² is first divided by its
expected share of the noise, E[r²]/σ²(x) from the linearised fit (the analogue of SSE/(n − p):
with an unweighted fit a quiet row next to noisy ones also carries part of their noise, which is
the fit's error, already in the interval's band; :func:`_expected_r2`). Least squares on log r²
rather than the likelihood of r² (the gamma GLM, about twice as efficient) because it is robust:
on the demo ledger one trial that never learns has residuals growing to 0.16 along its curve,
and the likelihood let it turn the trend of σ along samples upside down (σ at the largest runs
0.036), while log r² bounds its pull (0.004; 0.003 without that trial), and capping each r² at
the χ²₁ 99.9% point of its σ²(x) bounds it further (0.0033). On a planted law with one such run
(10 of 90 rows), σ̂ at the largest D read 1.95x the truth uncapped, 1.25x capped. Log-linear because the
noise of a loss is multiplicative and its trend along a log axis is smooth: it has d + 1
parameters, a sign that can go either way, and no knots to choose. Guards:

* at least :data:`NOISE_ROWS_PER_PARAM` (10) rows per variance parameter (30 for the joint law,
  20 for one x): the log of a χ²₁ has standard deviation 2.2, so a trend needs many rows;
* it is used only when its slopes are significant (Harvey's test: the explained sum of squares of
  log r² over π²/2 is χ² with d degrees of freedom under a constant variance; at
  :data:`NOISE_TEST_LEVEL`); otherwise the scalar σ (one x: :attr:`PowerLawFit.noise_log`, which
  also counts the seed-to-seed spread; joint: √(SSE/(n − 5))) is kept, so a homoscedastic law
  reads as before;
* σ(x) is clamped to the range of its fitted values at the chosen rows: a trend is not
  extrapolated to a noise below (or above) what was observed.

The prediction interval's noise term is q(x)·σ(x) at each row. With the constant σ, q is Student's
t quantile with n − p degrees of freedom, as before. With σ(x), log σ̂²(x) is about normal about
log σ²(x) with variance v(x) = (π²/2)·zᵀ(ZᵀZ)⁻¹z (z = (1, log x); least squares on log r²), so q
is the quantile of the normal scale mixture |Z|·e^(−ε/2), ε ~ N(0, v(x)) (Gauss–Hermite): it grows
where σ(x) is extrapolated. (A t quantile with ν = 2/v matched on Var(log σ̂²) is too wide for
this log-normal σ̂: on a planted law it covered 0.966 with the noise alone.) The scorer and
D-optimal use σ²(x) per row (D-optimal: log det(I + V_c^(−1/2)J_cΣJ_cᵀV_c^(−1/2))). The mean
law is still fitted unweighted (the fitters' own loss); only the noise around it is modelled.

**Extrapolation.** The bootstrap and σ(x) see only the scatter of the rows about the law; they
cannot see a law that is slightly wrong, nor an error every row shares (all trials of a ledger see
one training stream, so a stretch of it that teaches more or less moves every curve at once).
Both show when the law predicts beyond its data, which is what a goal asks of it. So the law is
also judged by its own backtests (:func:`_backtest_widening`): refitted without the rows in the
last quarter (:data:`BACKTEST_HOLDOUT`) of the log-range of the data axis, and (two x) of the
product of the x (a proxy of compute), it predicts the rows held out; each residual over its
95% prediction interval's half-width, times 1.96, is a z-score, N(0, 1) if the intervals are
right. When Σz² is beyond the χ² 95% point (the 5% split over the directions; at least
:data:`WIDEN_MIN_ROWS` rows held out), every interval of the goal and every prediction interval
is widened by the factor that makes the backtest's own interval hold 95% of its held-out rows
(the 95% quantile of |z| over 1.96), the largest over the directions; otherwise by 1. Not for
the exponent goal (a parameter, not a prediction). This calibrates the engine's intervals by their
own out-of-range record; the estimate is unchanged and the widening is reported
(:attr:`GoalEstimate.widened`). Measured on the all-runs fits (2-core CPU, 2026-12-03): the
share of the target rows (highest-compute tenth) inside the 95% interval went from 0.79 to 0.95
on the demo ledger (widened 2.00×), 0.49 to 0.92 on a 4× larger synthetic study (3.65×), 0.82
to 1.00 on the architectures ledger (1.82×); on planted laws whose form is right it widened 2 of
20 joint-law pools (coverage 0.96, mean widening 1.01) and 2-5 of 20 one-x pools (coverage
0.95-0.97); on a planted joint law whose data exponent grows with N (β(N) = 0.38 +
0.01·log₁₀(N/2·10⁴), which E + A/N^α + B/D^β cannot follow) the target coverage went from
0.11-0.44 to 1.00 (2.2-2.4×). The square root of mean z² instead of the quantile widened more
(demo 2.32×, coverage 0.97 from all rows but 0.99 from a quarter of the cost: beyond the 0.98
a 95% interval should reach). A data-axis backtest alone missed the planted misfit (it lies in
the high-compute corner) and a compute-proxy backtest alone missed the demo's (all its late
rows): hence both.

**A finite budget.** Greedy by gain per cost fills a budget with cheap runs and can leave no room
for the one expensive run that matters most (the knapsack weakness of ratio greedy). With a budget
the design therefore plans to its end: the ratio-greedy sequence, and sequences that open with one
of the 4 candidates of largest absolute narrowing and continue ratio-greedy, are each simulated
(Σ updated pick by pick) until nothing more fits; the one with the narrowest final half-width is
followed until the next refit. Without a budget (``budget_left=inf``) it is plain ratio greedy.

**The end nearest the goal.** With one x and a goal beyond every candidate (target rows past the
pool, or the NE at an x past it), an optimal design for extrapolating includes the end of the design
range nearest the goal (Hoel & Levine, *Optimal spacing and weighting in polynomial prediction*,
Ann. Math. Statist. 1964: the optimal extrapolation design's support holds both ends of the range;
the same holds for a smooth law that is locally polynomial in log x). With a budget the design range
is what the budget can still buy, so its end is the largest x the budget left can buy: while no chosen
row reaches that x, only the budget plans that include it are followed (:func:`_extrapolation_tops`,
:func:`_affordable_end`). The linearised score alone could pass it over: on a broken law fitted on
start-up rows nearly all before its break, its Jacobians rated two mid-range runs above the
largest, and the target error tripled. Measured (``benchmarks/design.py --pools broken_powerlaw,
powerlaw_const,m4 --methods recscale --reps 20``, 2-core CPU, 2026-12-03): at 25% of the cost the
broken law's error went from 1.96× the all-runs fit's to 1.44× (0.0310 → 0.0228, paired difference
−0.0082, SE 0.0039; the 5 repetitions that changed had skipped the end), M4 from 1.29× to 1.15×,
power law + constant from 0.99× to 1.05× (+0.0004, SE 0.0011); the other budgets are unchanged or
within one SE. The end as the largest x the budget left can buy (before: the pool's largest x, so a
budget that could not buy it had no end) changes only the budgets below the largest x's cost (same
command, 2026-12-03): at 5% and 10% of the cost power law + constant went from 0.0231 and 0.0161 to
0.0185 and 0.0115 (paired −0.0047 ± 0.0031 and −0.0046 ± 0.0027), the broken law from 0.2199 and
0.1085 to 0.2241 and 0.1015 (+0.0042 ± 0.0042, −0.0070 ± 0.0062), M4 from 0.0506 and 0.0301 to
0.0516 and 0.0290 (within one SE). Two x (the joint law) are left as they were: its candidates are
chained extensions of runs, and "the end nearest the goal" is not one candidate there.

**Start-up.** Until the law is fittable on the chosen rows (one-x: at least 2× its free
parameters and one more distinct x than parameters; joint: 10 rows, 3 distinct N and 3 distinct
D; and a bootstrap with at least 10 usable refits), the next run is the one that spreads the design
most: among the available candidates costing at most their median, the one whose rows lie
farthest (in log x, each x column scaled to [0, 1] over the pool) from every row already chosen;
the first is the cheapest.

**Met.** A goal is met when its half-width is within the tolerance *and* the rows span at least a
decade of every x (:data:`MIN_SPAN_DECADES`). Without the second condition a design on the demo
ledger met "exponent within 0.05" after 10 runs (15 rows, 4k–8k samples, where NE is still flat):
β = 0.045 [0.022, 0.057], while all 390 rows give 0.296 [0.254, 0.321]. The bootstrap cannot see
that the rows lie before the scaling regime; a decade of data at least gives it the chance.

**Baselines** (:data:`METHODS`): ``"spec"`` (the candidates' own order, as a study grid runs
today), ``"random"``, ``"cheapest"`` (cheapest first), ``"d_optimal"`` (the same Σ, J and σ²(x),
scored by the gain in log det of the information, log det(I + V_c^(−1/2)J_cΣJ_cᵀV_c^(−1/2)), per
unit cost: goal-blind) and ``"recscale"`` (the rule above).

:func:`replay` runs a design on a pool whose y is all measured, revealing a candidate's y only
when it is chosen, and refits when the cost spent has grown by ``refit_growth`` since the last fit
(greedy conditional picks in between).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
from scipy import stats

from recscale.errors import RecscaleError
from recscale.laws._common import percentile_interval
from recscale.laws.backtest import holdout_cut
from recscale.laws.fitrange import fit_start
from recscale.laws.forms import FORMS, log_params, n_free, x_for_value
from recscale.laws.forms import predict as form_predict
from recscale.laws.joint import compute_optimal, fit_joint_law
from recscale.laws.powerlaw import fit_power_law
from recscale.laws.table import require_columns, untrained_trials

METHODS = ("recscale", "spec", "random", "cheapest", "d_optimal")
GOAL_SYNTAX = ("goal must be one of: 'ne at compute 10x within 0.5%' (or an absolute FLOPs value), "
               "'ne at <x column> <value|Nx> within 0.5%', 'exponent within 0.05', "
               "'<x column> for ne <value> within 1.5x', 'target rows within 1%'")
BUDGET_SYNTAX = "budget must be one of: '1e15 flops', '30m' / '2h' / '90s' (wall time), '12 trials', '25%' (of the pool's full cost)"
DEFAULT_BOOTSTRAP = 100  # refits per design fit: Σ and the 95% interval need ~100; the joint law's cost grows with it
MIN_DRAWS = 10
MIN_SPAN_DECADES = 1.0  # a goal is never met on rows spanning less than this in some x (see the module docstring)
NOISE_ROWS_PER_PARAM = 10  # rows per parameter before σ(x) is fitted (module docstring, Noise)
NOISE_TEST_LEVEL = 0.05  # σ(x) replaces the scalar only when Harvey's test rejects a constant variance at this level
BACKTEST_HOLDOUT = 0.25  # the law's own backtests hold out this last share of the log-range of D (and of N·D) (Extrapolation)
WIDEN_MIN_ROWS = 8  # held-out rows the backtest needs before it may widen the intervals
WIDEN_TEST_LEVEL = 0.05  # intervals are widened only when the backtest's Σz² rejects "they are right" at this level


# ----------------------------------------------------------------------------------------------
# Goals and budgets
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Goal:
    """What a study is for: one number from the fitted law, and how precisely it must be known.

    Attributes:
        kind: ``"ne_at"`` (the law's y at a point), ``"exponent"`` (β of a one-x law: the slope
            after the break for the broken law, −c for M4; the data exponent β of the joint law),
            ``"x_for"`` (the x at which y reaches ``value``) or ``"target"`` (y on ``rows``).
        tolerance: The half-width to reach, in the goal's units: percent of y for ``ne_at`` and
            ``target`` (root mean square over the rows), absolute for ``exponent``, a factor for
            ``x_for``.
        axis: The x column of ``ne_at`` / ``x_for``, or ``"compute"`` (``ne_at`` with the joint law:
            the compute-optimal frontier).
        at: An absolute x (or FLOPs) for ``ne_at``; None when ``factor`` is given.
        factor: A multiple of the pool's largest x (or compute) for ``ne_at``.
        value: The target y of ``x_for``.
        rows: Positions of the target rows in the pool (``target``); set with :func:`with_rows`.
        text: The text it was parsed from.
    """

    kind: str
    tolerance: float
    axis: str | None = None
    at: float | None = None
    factor: float | None = None
    value: float | None = None
    rows: tuple[int, ...] = ()
    text: str = ""

    @property
    def units(self) -> str:
        """How ``tolerance`` and half-widths are expressed."""
        return {"ne_at": "%", "target": "%", "exponent": "", "x_for": "x"}[self.kind]

    def met(self, estimate: GoalEstimate) -> bool:
        """True when the estimate's half-width is finite and within the tolerance, on rows spanning a decade of every x."""
        hw = estimate.half_width
        return bool(estimate.met) and hw is not None and math.isfinite(hw) and hw <= self.tolerance


_NUM = r"([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"


def _number(s: str) -> float:
    return float(s)


def parse_goal(text: str) -> Goal:
    """Parse a goal (see :data:`GOAL_SYNTAX`); raises :class:`RecscaleError` with the syntax on one line."""
    t = " ".join(str(text).strip().split())  # column names keep their case; keywords match in any case
    m = re.fullmatch(rf"\w+ at (\w+) {_NUM}([xX]?) within {_NUM} ?%", t, re.IGNORECASE)
    if m:
        axis, v, is_factor, r = m.groups()
        v = _number(v)
        if v <= 0:
            raise RecscaleError(f"goal {text!r}: the point must be > 0; {GOAL_SYNTAX}")
        return Goal("ne_at", _number(r), axis=axis, at=None if is_factor else v, factor=v if is_factor else None,
                    text=str(text))
    m = re.fullmatch(rf"exponent within {_NUM}", t, re.IGNORECASE)
    if m:
        return Goal("exponent", _number(m.group(1)), text=str(text))
    m = re.fullmatch(rf"(\w+) for \w+ {_NUM} within {_NUM} ?x", t, re.IGNORECASE)
    if m:
        axis, v, f = m.groups()
        if _number(f) < 1:
            raise RecscaleError(f"goal {text!r}: the factor must be >= 1 (e.g. 1.5x); {GOAL_SYNTAX}")
        return Goal("x_for", _number(f), axis=axis, value=_number(v), text=str(text))
    m = re.fullmatch(rf"target rows within {_NUM} ?%", t, re.IGNORECASE)
    if m:
        return Goal("target", _number(m.group(1)), text=str(text))
    raise RecscaleError(f"cannot read goal {text!r}; {GOAL_SYNTAX}")


def with_rows(goal: Goal, rows: Any) -> Goal:
    """The goal with its target rows (positions in the pool) set."""
    return replace(goal, rows=tuple(int(r) for r in rows))


@dataclass(frozen=True)
class Budget:
    """How much a design may spend.

    Attributes:
        kind: ``"flops"``, ``"seconds"`` (wall), ``"trials"`` (candidates chosen) or ``"fraction"``
            (of the pool's full cost).
        amount: The amount in those units (a fraction in (0, 1] for ``"fraction"``).
    """

    kind: str
    amount: float

    def cost_limit(self, full_cost: float) -> float:
        """The limit in the candidates' cost units (``"fraction"`` of ``full_cost``; FLOPs and seconds as given; inf for trials)."""
        if self.kind == "fraction":
            return self.amount * full_cost
        return math.inf if self.kind == "trials" else self.amount

    @property
    def max_picks(self) -> int | None:
        """The most candidates to choose (``"trials"`` only)."""
        return int(self.amount) if self.kind == "trials" else None


def parse_budget(text: str) -> Budget:
    """Parse a budget (see :data:`BUDGET_SYNTAX`); raises :class:`RecscaleError` on one line."""
    t = " ".join(str(text).strip().lower().split())
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    for pattern, build in (
        (rf"{_NUM} ?flops?", lambda v: Budget("flops", v)),
        (rf"{_NUM} ?([smh])", None),
        (rf"{_NUM} ?trials?", lambda v: Budget("trials", v)),
        (rf"{_NUM} ?%", lambda v: Budget("fraction", v / 100.0)),
    ):
        m = re.fullmatch(pattern, t)
        if not m:
            continue
        v = _number(m.group(1))
        b = Budget("seconds", v * units[m.group(2)]) if build is None else build(v)
        if b.amount <= 0 or (b.kind == "fraction" and b.amount > 1) or (b.kind == "trials" and v != int(v)):
            raise RecscaleError(f"budget {text!r} is out of range (> 0; a percentage up to 100%; whole trials); {BUDGET_SYNTAX}")
        return b
    raise RecscaleError(f"cannot read budget {text!r}; {BUDGET_SYNTAX}")


# ----------------------------------------------------------------------------------------------
# Candidates
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A run that can be chosen: it reveals the y of ``rows`` (positions in the pool table).

    Attributes:
        id: Unique name.
        rows: Positions of the rows it reveals.
        cost: What it costs (FLOPs, seconds: any unit, the same for all candidates of a pool).
        requires: The id of the candidate that must be chosen first (the previous data doubling
            of the same run), or None.
        label: Words for a person.
    """

    id: str
    rows: tuple[int, ...]
    cost: float
    requires: str | None
    label: str


def row_candidates(table: Any, *, cost: str, id_col: str | None = None) -> list[Candidate]:
    """One candidate per row of ``table`` (a table of finished runs), costing ``table[cost]``."""
    require_columns(table, [cost] + ([id_col] if id_col else []), where="row_candidates")
    c = table[cost].to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(c) | (c <= 0))
    if bad.size:
        raise RecscaleError(f"row_candidates: column {cost!r} must be finite and > 0 (the cost of each run); row {int(bad[0])} has {c[bad[0]]}")
    ids = [str(v) for v in table[id_col]] if id_col else [f"row{i}" for i in range(len(table))]
    return [Candidate(id=ids[i], rows=(i,), cost=float(c[i]), requires=None, label=ids[i]) for i in range(len(table))]


def curve_candidates(table: Any, *, run: str = "trial_id", samples: str = "samples", cost_per_sample: str = "flops_per_sample",
                     stops: Any = None) -> list[Candidate]:
    """A learning-curve pool: one candidate per run per data doubling.

    Candidate k of a run reveals its rows with samples in (stop_{k−1}, stop_k], requires candidate
    k − 1 of that run, and costs cost_per_sample × (stop_k − stop_{k−1}) (the first: × stop_0).

    Args:
        table: One row per run and checkpoint (positions are the row ids of the candidates).
        run, samples, cost_per_sample: Columns (cost_per_sample: the run's first value is used).
        stops: Sample counts at which a run may stop (each run's are capped at its last
            checkpoint, which is always a stop). Default: each run's own checkpoints at every
            doubling from its first (the largest checkpoint ≤ first·2^k).

    Order: runs in order of first appearance, stops ascending (the order a fixed study runs them).
    """
    require_columns(table, [run, samples, cost_per_sample], where="curve_candidates")
    runs = table[run].to_numpy()
    s_all = table[samples].to_numpy(dtype=float)
    cps_all = table[cost_per_sample].to_numpy(dtype=float)
    if np.any(~np.isfinite(s_all) | (s_all <= 0)):
        raise RecscaleError(f"curve_candidates: column {samples!r} must be finite and > 0")
    out: list[Candidate] = []
    seen: dict[Any, None] = {}
    for r in runs:
        seen.setdefault(r, None)
    for r in seen:
        pos = np.flatnonzero(runs == r)
        s = s_all[pos]
        cps = float(cps_all[pos[0]])
        if not (math.isfinite(cps) and cps > 0):
            raise RecscaleError(f"curve_candidates: column {cost_per_sample!r} must be finite and > 0; run {r!r} has {cps}")
        checkpoints = np.unique(s)
        if stops is None:
            st = []
            k = 0
            while True:
                ok = checkpoints[checkpoints <= checkpoints[0] * 2.0**k * (1 + 1e-9)]
                if not st or ok[-1] > st[-1]:
                    st.append(float(ok[-1]))
                if ok[-1] >= checkpoints[-1]:
                    break
                k += 1
        else:
            st = sorted({float(v) for v in stops if v < checkpoints[-1]} | {float(checkpoints[-1])})
        prev = 0.0
        prev_id = None
        for stop in st:
            rows = tuple(int(p) for p in pos[(s > prev) & (s <= stop)])
            if not rows:
                continue
            cid = f"{r}@{stop:.10g}"
            what = f"{r} to {stop:.6g} {samples}" if prev_id is None else f"extend {r} {prev:.6g} -> {stop:.6g} {samples}"
            out.append(Candidate(id=cid, rows=rows, cost=cps * (stop - prev), requires=prev_id, label=what))
            prev, prev_id = stop, cid
    return out


def without_rows(candidates: list[Candidate], rows: Any) -> list[Candidate]:
    """The candidates with ``rows`` taken out (a target region nobody may choose).

    A candidate left with no rows is dropped, and so is every candidate that requires a dropped
    one; the others keep their cost (running them still costs the same).
    """
    drop = {int(r) for r in rows}
    out, dropped = [], set()
    for c in candidates:
        kept = tuple(r for r in c.rows if r not in drop)
        if not kept or (c.requires is not None and c.requires in dropped):
            dropped.add(c.id)
            continue
        out.append(replace(c, rows=kept))
    return out


def top_rows(compute: Any, fraction: float) -> np.ndarray:
    """Positions of the highest-``compute`` ``fraction`` of rows (at least one), ascending."""
    c = np.asarray(compute, dtype=float)
    if not 0 < fraction < 1:
        raise RecscaleError(f"the target fraction must be between 0 and 1 (e.g. top10%); got {fraction}")
    k = max(1, int(round(fraction * c.size)))
    return np.sort(np.argsort(-c, kind="stable")[:k])


# ----------------------------------------------------------------------------------------------
# The fitted law in parameter coordinates
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Noise:
    """σ(x) of one measurement around the law, in log y: a constant, or a clamped log-linear variance function.

    With ``gamma`` None it is the constant ``sigma`` with ``dof`` degrees of freedom everywhere.
    Otherwise log σ²(x) = z·γ, z = (1, log x − ``centre``), clamped to [``lo``, ``hi``] (the fitted
    σ at the chosen rows). See the module docstring (Noise).
    """

    sigma: float
    dof: int
    gamma: np.ndarray | None = None
    centre: np.ndarray | None = None
    inv: np.ndarray | None = None  # (ZᵀZ)⁻¹ of the chosen rows
    lo: float = 0.0
    hi: float = math.inf

    def _z(self, X: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones(len(X)), np.log(np.asarray(X, dtype=float)) - self.centre])

    def sd(self, X: np.ndarray) -> np.ndarray:
        """σ at rows X (n, d)."""
        if self.gamma is None:
            return np.full(len(X), self.sigma)
        return np.clip(np.exp(0.5 * self._z(X) @ self.gamma), self.lo, self.hi)

    def quantile(self, X: np.ndarray, level: float) -> np.ndarray:
        """The multiple of σ(x) a new measurement stays within with probability ``level``, at rows X.

        Constant σ: Student's t with ``dof``. Variance function: σ̂² is log-normal about σ² with
        Var(log σ̂²(x)) = (π²/2)·zᵀ(ZᵀZ)⁻¹z (least squares on log r²), so the quantile of
        |Z|·σ/σ̂ is that of a normal scale mixture (:func:`_mixture_quantile`); it grows where σ(x)
        is extrapolated.
        """
        if self.gamma is None:
            return np.full(len(X), float(stats.t.ppf(0.5 + level / 2, self.dof)))
        z = self._z(X)
        v = LOG_CHI2_VAR * np.einsum("ni,ij,nj->n", z, self.inv, z)
        return _mixture_quantile(level, v)


def _mixture_quantile(level: float, v: np.ndarray) -> np.ndarray:
    """q with P(|Z| < q·e^(ε/2)) = level, Z ~ N(0, 1), ε ~ N(0, v) (Gauss–Hermite over ε, bisection over q)."""
    v = np.asarray(v, dtype=float)
    nodes, weights = np.polynomial.hermite.hermgauss(40)
    eps = np.sqrt(2 * np.maximum(v, 0.0))[:, None] * nodes[None, :]
    w = weights / math.sqrt(math.pi)
    lo = np.full(v.shape, float(stats.norm.ppf(0.5 + level / 2)))
    hi = lo * np.exp(4 * np.sqrt(np.maximum(v, 0.0)) + 1.0)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        cover = (2 * stats.norm.cdf(mid[:, None] * np.exp(eps / 2)) - 1) @ w
        below = cover < level
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


LOG_CHI2_MEAN = -1.2703628454614782  # E[log χ²₁] = −γ_Euler − log 2
LOG_CHI2_VAR = math.pi**2 / 2  # Var[log χ²₁]
NOISE_FLOOR = 1e-4  # a squared residual counts as at least this fraction of its σ²(x) (log 0 = −∞)
NOISE_OUTLIER = float(stats.chi2.ppf(0.999, 1))  # r² is capped at this multiple of σ²(x) (10.8: once in 1000 for a normal noise)


def _log_chi2_kept() -> float:
    """E[log clip(χ²₁, NOISE_FLOOR, NOISE_OUTLIER)]: the intercept's offset with the floor and the cap."""
    from scipy import integrate

    f = lambda u: math.log(min(max(u, NOISE_FLOOR), NOISE_OUTLIER)) * stats.chi2.pdf(u, 1)  # noqa: E731
    parts = [integrate.quad(f, a, b, limit=200)[0] for a, b in ((0, NOISE_FLOOR), (NOISE_FLOOR, 1.0), (1.0, NOISE_OUTLIER))]
    return float(sum(parts) + math.log(NOISE_OUTLIER) * stats.chi2.sf(NOISE_OUTLIER, 1))


_LOG_CHI2_KEPT = _log_chi2_kept()


def _expected_r2(J: np.ndarray, var: np.ndarray, delta: float) -> np.ndarray:
    """E[r²] at each fitted row when the noise variances are ``var``: a fit's residual is not its noise.

    Linearised M-estimate (Huber with threshold δ on log residuals, δ = inf: least squares) with
    ψ-moments a = E[ψ'(e)], b = E[ψ(e)²] and E[eψ(e)] = σ²a (Stein): θ̂ − θ ≈ C Σⱼ Jⱼψ(eⱼ),
    C = (Σⱼ aⱼJⱼJⱼᵀ)⁻¹, so E[rᵢ²] = σᵢ² − 2σᵢ²aᵢGᵢᵢ + Σⱼ Gᵢⱼ²bⱼ with G = JCJᵀ. With an unweighted
    fit, a quiet row next to noisy ones carries part of their noise in its residual (Σⱼ Gᵢⱼ²bⱼ).
    """
    if math.isinf(delta):
        a, b = np.ones_like(var), var
    else:
        sd = np.sqrt(var)
        k = delta / sd
        a = 2 * stats.norm.cdf(k) - 1
        b = var * (a - 2 * k * stats.norm.pdf(k)) + delta**2 * (1 - a)
    G = J @ np.linalg.pinv((J * a[:, None]).T @ J) @ J.T
    return var - 2 * var * a * np.diag(G) + (G**2) @ b


def _fit_noise(X: np.ndarray, resid: np.ndarray, J: np.ndarray, scalar: float, dof: int, delta: float = math.inf) -> _Noise:
    """σ(x) from the log residuals of the chosen rows (module docstring, Noise); the scalar when not supported.

    Least squares of log r² on z = (1, log x): log r² = log σ²(x) + log χ²₁, so the slopes are the
    variance function's and the intercept is off by E[log χ²₁]. Chosen over the likelihood of r²
    for robustness: one run the law does not describe (a trial that never learns) has residuals
    growing along its curve, and r² lets it set the trend alone; log r² bounds its pull, and r² is
    capped at :data:`NOISE_OUTLIER`·σ²(x) of the previous pass (the χ²₁ 99.9% point) to bound it
    further. Capping, not trimming: trimmed rows at a σ²(x) that is already too low make it lower
    (on a planted law σ̂ at the noisiest end fell to 0.65x the truth; capped 0.75x). r² is also
    floored at :data:`NOISE_FLOOR`·σ²(x) (a residual near 0 cannot pull the other way), the
    intercept corrected by E[log clip(χ²₁, floor, cap)]. Each r² is divided by E[r²]/σ²(x)
    (:func:`_expected_r2`; ``J`` the Jacobian of log ŷ at the rows, ``delta`` the fit's Huber
    threshold), recomputed each pass, so that σ(x) is the noise and not the fit's error (which the
    interval's band already holds).
    """
    flat = _Noise(float(scalar), int(dof))
    n, d = X.shape
    p = J.shape[1]
    r2 = np.asarray(resid, dtype=float) ** 2
    if n < NOISE_ROWS_PER_PARAM * (d + 1) or n <= p or not np.all(np.isfinite(r2)) or np.count_nonzero(r2 > 0) < n // 2 \
            or not np.all(np.isfinite(J)):
        return flat
    L = np.log(X)
    centre = L.mean(axis=0)
    Z = np.column_stack([np.ones(n), L - centre])
    ZtZ = Z.T @ Z
    if np.linalg.matrix_rank(ZtZ) < d + 1:
        return flat
    pos = r2 > 0
    coef, *_ = np.linalg.lstsq(Z[pos], np.log(r2[pos]), rcond=None)
    kappa = _LOG_CHI2_KEPT
    ratio = np.ones(n)
    inv = np.linalg.inv(ZtZ)
    for _ in range(6):
        var = np.exp(Z @ coef - kappa)
        coef = inv @ (Z.T @ np.log(np.clip(r2 / ratio, NOISE_FLOOR * var, NOISE_OUTLIER * var)))
        var = np.exp(Z @ coef - kappa)
        ratio = np.clip(_expected_r2(J, var, delta) / var, 0.05, 20.0)
    fit = Z @ coef
    wald = float(np.sum((fit - fit.mean()) ** 2) / LOG_CHI2_VAR)  # Harvey's test: χ²_d under a constant variance
    if not stats.chi2.sf(wald, d) < NOISE_TEST_LEVEL:
        return flat
    g = coef.copy()
    g[0] -= kappa
    fitted = np.exp(0.5 * Z @ g)
    return _Noise(float(scalar), int(dof), g, centre, inv, float(fitted.min()), float(fitted.max()))


@dataclass(frozen=True)
class _Law:
    """A fitted law as a function of a parameter vector θ (for Σ, Jacobians and goals)."""

    kind: str  # "1x" or "joint"
    fit: Any
    theta: np.ndarray
    draws: np.ndarray  # (B, p), NaN rows for failed refits
    sigma: float
    names: tuple[str, ...]
    logs: tuple[bool, ...]
    dof: int
    noise: _Noise | None = None  # σ(x); None: the constant ``sigma``
    widened: float = 1.0  # intervals' multiple from the law's own backtest (module docstring, Extrapolation)

    def params(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Parameter dict (one-x forms) from θ of shape (p,) or (B, p)."""
        th = np.asarray(theta, dtype=float)
        out = {k: np.asarray(v, dtype=float) for k, v in self.fit.params.items()}
        if th.ndim == 2:
            out = {k: np.full(th.shape[0], v) for k, v in out.items()}
        for j, (name, lg) in enumerate(zip(self.names, self.logs)):
            with np.errstate(over="ignore"):
                out[name] = np.exp(th[..., j]) if lg else th[..., j]
        return out

    def logpred(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """log ŷ at rows X (n, d): shape (n,) for θ (p,), (B, n) for θ (B, p)."""
        th = np.asarray(theta, dtype=float)
        if self.kind == "joint":
            lN, lD = np.log(X[:, 0]), np.log(X[:, 1])
            c = [th[..., i, None] for i in range(5)]
            return np.logaddexp(np.logaddexp(c[0] - c[3] * lN, c[1] - c[4] * lD), c[2])
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(form_predict(self.fit.form, self.params(th), X[:, 0]))


def _one_x_law(fit) -> _Law:
    names = tuple(fit.free)
    lp = log_params(fit.form)
    logs = tuple(n in lp for n in names)
    draws = np.full((0, len(names)), np.nan)
    if fit.draws:
        cols = []
        for n, lg in zip(names, logs):
            v = np.asarray(fit.draws[n], dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                cols.append(np.log(v) if lg else v)
        draws = np.stack(cols, axis=1)
    theta = np.array([math.log(fit.params[n]) if lg else fit.params[n] for n, lg in zip(names, logs)], dtype=float)
    law = _Law("1x", fit, theta, draws, float(fit.noise_log), names, logs, int(fit.dof))
    X = np.asarray(fit.x, dtype=float).reshape(-1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(np.abs(fit.y)) - law.logpred(theta, X)
        J = _jacobian(lambda T: law.logpred(T, X), theta)
    return replace(law, noise=_fit_noise(X, r, J, law.sigma, law.dof))


def _joint_law(fit, X: np.ndarray, ylog: np.ndarray) -> _Law:
    theta = np.asarray(fit.theta, dtype=float)
    d = fit.draws
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = np.stack([np.log(d["A"]), np.log(d["B"]), np.log(d["E"]), d["alpha"], d["beta"]], axis=1) if d else np.full((0, 5), np.nan)
    law = _Law("joint", fit, theta, draws, 0.0, ("a", "b", "e", "alpha", "beta"), (False,) * 5, max(len(ylog) - 5, 1))
    r = ylog - law.logpred(theta, X)
    sigma = float(math.sqrt(np.sum(r**2) / law.dof))
    delta = float(fit.method.delta) if fit.method is not None else math.inf
    J = _jacobian(lambda T: law.logpred(T, X), theta)
    return replace(law, sigma=sigma, noise=_fit_noise(X, r, J, sigma, law.dof, delta))


def _robust_cov(draws: np.ndarray) -> np.ndarray | None:
    """Covariance of the refits, leaving out those outside the 1–99% range of any parameter."""
    d = draws[np.all(np.isfinite(draws), axis=1)]
    if len(d) < MIN_DRAWS:
        return None
    lo, hi = np.percentile(d, 1, axis=0), np.percentile(d, 99, axis=0)
    keep = np.all((d >= lo) & (d <= hi), axis=1)
    if keep.sum() >= MIN_DRAWS:
        d = d[keep]
    S = np.cov(d, rowvar=False).reshape(d.shape[1], d.shape[1])
    return S + np.diag(1e-12 * (np.abs(np.diag(S)) + 1e-12))


def _jacobian(f, theta: np.ndarray) -> np.ndarray:
    """Central differences of f (θ (B, p) → (B, m)) at θ: shape (m, p)."""
    p = theta.size
    h = 1e-5 * np.maximum(1.0, np.abs(theta))
    T = np.concatenate([theta + np.diag(h), theta - np.diag(h)])
    F = np.asarray(f(T), dtype=float).reshape(2 * p, -1)
    return ((F[:p] - F[p:]) / (2 * h[:, None])).T


# ----------------------------------------------------------------------------------------------
# Goal functionals
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Setup:
    """Pool arrays and design settings shared by one design step."""

    X: np.ndarray  # (n, d) x of every pool row (known)
    x_cols: tuple[str, ...]
    fps: np.ndarray | None  # FLOPs per sample of every pool row (compute goals)
    form: str
    bootstrap: int
    level: float


def _goal_function(law: _Law, goal: Goal, s: _Setup):
    """θ (B, p) → goal values in its working space (log y, raw exponent, log x): (B,) or (B, m)."""
    X = s.X
    if goal.kind == "target":
        if not goal.rows:
            raise RecscaleError("goal 'target rows': no target rows are set (give them with with_rows or --target)")
        Xt = X[list(goal.rows)]
        return lambda th: law.logpred(th, Xt)
    if goal.kind == "exponent":
        if law.kind == "joint":
            return lambda th: np.asarray(th)[..., 4]
        form = law.fit.form
        name = "beta2" if form == "broken_powerlaw" else ("c" if form == "m4" else "beta")
        sign = -1.0 if form == "m4" else 1.0
        return lambda th: sign * np.asarray(law.params(th)[name], dtype=float)
    axis = goal.axis
    if law.kind == "1x":
        if axis not in (s.x_cols[0], "x"):
            raise RecscaleError(f"goal {goal.text!r}: a one-x law along {s.x_cols[0]!r} takes '{s.x_cols[0]}' (or 'x') as the axis; "
                                f"got {axis!r}")
        xmax = float(np.max(X[:, 0]))
        if goal.kind == "ne_at":
            xs = np.array([[goal.at if goal.at is not None else goal.factor * xmax]])
            return lambda th: law.logpred(th, xs)[..., 0]
        xlo = float(np.min(X[:, 0]))

        def xfor(th):
            th2 = np.atleast_2d(th)
            with np.errstate(divide="ignore"):
                return np.log(x_for_value(law.fit.form, law.params(th2), goal.value, xlo, xmax))
        return xfor
    Ncol, Dcol = s.x_cols
    Nmax, Dmax = float(np.max(X[:, 0])), float(np.max(X[:, 1]))
    if goal.kind == "x_for":
        if axis not in (Ncol, Dcol):
            raise RecscaleError(f"goal {goal.text!r}: with the joint law the axis is {Ncol!r} or {Dcol!r}; got {axis!r}")
        lt = math.log(goal.value)

        def xfor_joint(th):
            th = np.atleast_2d(th)
            a, b, e, al, be = (th[:, i] for i in range(5))
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                if axis == Dcol:  # D at the largest N: B/D^β = y − E − A/N^α
                    rest = np.exp(lt) - np.exp(e) - np.exp(a - al * math.log(Nmax))
                    out = (b - np.log(rest)) / be
                else:
                    rest = np.exp(lt) - np.exp(e) - np.exp(b - be * math.log(Dmax))
                    out = (a - np.log(rest)) / al
            return np.where(rest > 0, out, np.inf)
        return xfor_joint
    if axis == "compute":
        if s.fps is None:
            raise RecscaleError(f"goal {goal.text!r} needs the FLOPs per sample of every row (the flops_per_sample column)")
        C = goal.at if goal.at is not None else goal.factor * float(np.max(s.fps * X[:, 1]))
        N_u, idx = np.unique(X[:, 0], return_index=True)
        pairs = (N_u, s.fps[idx])
        bounds = (float(N_u[0]), float(N_u[-1]))

        def frontier(th):
            th = np.atleast_2d(th)
            out = np.empty(len(th))
            for i, row in enumerate(th):
                if not np.all(np.isfinite(row)):
                    out[i] = np.nan
                    continue
                f = replace(law.fit, theta=tuple(float(v) for v in row))
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    out[i] = math.log(float(compute_optimal(f, C, flops_per_sample=pairs, n_bounds=bounds, grid_size=60).loss[0]))
            return out
        return frontier
    if axis not in (Ncol, Dcol):
        raise RecscaleError(f"goal {goal.text!r}: with the joint law the axis is 'compute', {Ncol!r} or {Dcol!r}; got {axis!r}")
    j = 0 if axis == Ncol else 1
    v = goal.at if goal.at is not None else goal.factor * float(np.max(X[:, j]))
    pt = np.array([[v, Dmax]]) if j == 0 else np.array([[Nmax, v]])
    return lambda th: law.logpred(th, pt)[..., 0]


def _to_units(goal: Goal, half_log: np.ndarray) -> float:
    """A half-width in the working space → the goal's units (target: root mean square over rows)."""
    h = np.asarray(half_log, dtype=float)
    if goal.kind == "exponent":
        return float(np.max(h))
    if goal.kind == "x_for":
        return float(np.exp(np.max(h)))
    with np.errstate(over="ignore"):
        pct = 100.0 * np.expm1(h)
    return float(np.sqrt(np.mean(pct**2)))


# ----------------------------------------------------------------------------------------------
# Estimate
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoalEstimate:
    """The goal's value and interval from the law fitted on the rows measured so far.

    Attributes:
        value, lo, hi: Estimate and interval in natural units (y, exponent, x; for target rows
            the geometric means over the rows); None when no law could be fitted.
        level: Confidence level.
        half_width: In the goal's units (see :class:`Goal`); inf when unbounded, None when no fit.
        met: Whether the goal is met.
        n_rows: Rows the law was fitted on.
        law: What was fitted, in words.
        note: Why there is no estimate, or a caveat.
        widened: How many times wider than the bootstrap's the interval was made because the
            law's own backtest missed beyond its intervals (1: not widened; module docstring,
            Extrapolation).
    """

    value: float | None
    lo: float | None
    hi: float | None
    level: float
    half_width: float | None
    met: bool
    n_rows: int
    law: str
    note: str = ""
    widened: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class _State:
    """One design step: the law on the chosen rows, its Σ, the pool's Jacobian and the goal's."""

    law: _Law | None
    estimate: GoalEstimate
    cov: np.ndarray | None = None
    J: np.ndarray | None = None  # (n_pool, p)
    g: np.ndarray | None = None  # (m, p)
    scale: float = 1.0  # bootstrap half-width / linearised half-width (working space)
    goal_draws: np.ndarray | None = field(default=None, repr=False)
    noise2: np.ndarray | None = None  # (n_pool,) σ²(x) of one measurement at every pool row


def _setup(pool: Any, x: list[str], y: str, goal: Goal, form: str, bootstrap: int, level: float, flops_per_sample: str) -> _Setup:
    if isinstance(x, str):
        x = [x]
    if len(x) not in (1, 2):
        raise RecscaleError(f"design: give one x column (a one-x law) or two (the joint law N, D); got {len(x)}")
    if form not in FORMS:
        raise RecscaleError(f"design: form must be one of {', '.join(FORMS)}; got {form!r}")
    require_columns(pool, list(x) + [y], where="design")
    X = pool[list(x)].to_numpy(dtype=float)
    bad = np.argwhere(~np.isfinite(X) | (X <= 0))
    if bad.size:
        i, j = bad[0]
        raise RecscaleError(f"design: column {x[j]!r} must be finite and > 0 in every row (x is known for every candidate); row {i} has {X[i, j]}")
    fps = None
    if goal.kind == "ne_at" and goal.axis == "compute":
        if len(x) != 2:
            raise RecscaleError(f"goal {goal.text!r} is a point of the compute-optimal frontier: give two x columns (N, D) for the joint law")
        require_columns(pool, [flops_per_sample], where=f"goal {goal.text!r}")
        fps = pool[flops_per_sample].to_numpy(dtype=float)
    if goal.kind == "target":
        bad_rows = [r for r in goal.rows if not 0 <= r < len(pool)]
        if bad_rows:
            raise RecscaleError(f"goal 'target rows': row {bad_rows[0]} is not in the pool (0..{len(pool) - 1})")
    return _Setup(X=X, x_cols=tuple(x), fps=fps, form=form, bootstrap=int(bootstrap), level=float(level))


def _fittable(s: _Setup, rows: np.ndarray) -> str | None:
    """Why the law cannot be fitted on these rows yet (None if it can be tried)."""
    n = rows.size
    if len(s.x_cols) == 2:
        dn, dd = np.unique(s.X[rows, 0]).size, np.unique(s.X[rows, 1]).size
        if n < 10 or dn < 3 or dd < 3:
            return f"start-up: the joint law needs 10 rows, 3 distinct {s.x_cols[0]} and 3 distinct {s.x_cols[1]}; have {n}, {dn}, {dd}"
        return None
    k = n_free(s.form, False)
    dx = np.unique(s.X[rows, 0]).size
    if n < 2 * k or dx < k + 1:
        return f"start-up: the {s.form} law needs {2 * k} rows and {k + 1} distinct {s.x_cols[0]}; have {n}, {dx}"
    return None


def _fit_law(s: _Setup, X: np.ndarray, yv: np.ndarray, bootstrap: int, seed: int) -> _Law:
    """The law (joint for two x, ``s.form`` for one) fitted on rows X with y ``yv``, with its bootstrap and noise."""
    if len(s.x_cols) == 2:
        return _joint_law(fit_joint_law(X[:, 0], X[:, 1], yv, bootstrap=bootstrap, seed=seed), X, np.log(yv))
    return _one_x_law(fit_power_law(X[:, 0], yv, form=s.form, bootstrap=bootstrap, seed=seed))


def _backtest_widening(s: _Setup, X: np.ndarray, yv: np.ndarray, seed: int) -> float:
    """How many times wider the law's intervals must be to hold its own backtests (module docstring, Extrapolation).

    Each backtest refits the law without the rows in the last quarter of the log-range along one
    direction (the data axis, the last x column; with two x also their product, a proxy of compute)
    and divides each held-out row's residual by its prediction interval's half-width on the side
    it fell, times z: z-scores, N(0, 1) if the intervals are right. A backtest whose Σz² exceeds the
    χ² quantile at :data:`WIDEN_TEST_LEVEL` (split over the directions) asks for the factor that
    makes its intervals hold ``s.level`` of its rows (the ``s.level`` quantile of |z| over z); the
    largest ask is the widening, 1 when none asks (or too few rows can be held out).
    """
    directions = [X[:, -1]] + ([np.prod(X, axis=1)] if X.shape[1] > 1 else [])
    level = WIDEN_TEST_LEVEL / len(directions)
    z_level = float(stats.norm.ppf(0.5 + s.level / 2))
    widen = 1.0
    for d in directions:
        cut = holdout_cut(d, BACKTEST_HOLDOUT, min_train=3)
        if cut is None:
            continue
        train, test = d <= cut, d > cut
        if test.sum() < WIDEN_MIN_ROWS or _fittable(s, np.flatnonzero(train)) is not None:
            continue
        try:
            law = _fit_law(s, X[train], yv[train], max(MIN_DRAWS * 2, s.bootstrap // 2), seed)
        except RecscaleError:
            continue
        Xt = X[test]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            centre = law.logpred(law.theta, Xt)
            lo, hi = (np.log(v) for v in _prediction_interval(law, Xt, s.level))
            r = np.log(yv[test]) - centre
            z = r * z_level / np.where(r > 0, hi - centre, centre - lo)
        z = z[np.isfinite(z)]
        if z.size >= WIDEN_MIN_ROWS and np.sum(z**2) > stats.chi2.ppf(1 - level, z.size):
            widen = max(widen, float(np.quantile(np.abs(z), s.level)) / z_level)
    return widen


def _state(s: _Setup, goal: Goal, rows: np.ndarray, yv: np.ndarray, seed: int) -> _State:
    """Fit the law on the chosen rows and compute everything a step needs (never raises for too few rows)."""
    law_txt = f"{s.form} along {s.x_cols[0]}" if len(s.x_cols) == 1 else f"joint law E + A/{s.x_cols[0]}^alpha + B/{s.x_cols[1]}^beta"
    empty = GoalEstimate(None, None, None, s.level, None, False, int(rows.size), law_txt)
    why = _fittable(s, rows)
    if why is None and np.any(~np.isfinite(yv) | (yv <= 0)):
        why = "some chosen rows have no positive, finite y"
    if why is not None:
        return _State(None, replace(empty, note=why))
    X = s.X[rows]
    try:
        law = _fit_law(s, X, yv, s.bootstrap, seed)
    except RecscaleError as e:
        return _State(None, replace(empty, note=f"start-up: the law cannot be fitted yet ({e})"))
    if goal.kind != "exponent":
        law = replace(law, widened=_backtest_widening(s, X, yv, seed))
    cov = _robust_cov(law.draws)
    if cov is None:
        return _State(None, replace(empty, note=f"start-up: fewer than {MIN_DRAWS} usable bootstrap refits"))
    G = _goal_function(law, goal, s)
    g_hat = np.asarray(G(law.theta[None, :]), dtype=float).reshape(-1)
    gd = np.asarray(G(law.draws), dtype=float).reshape(len(law.draws), -1)
    if law.kind == "1x":
        lo, hi = law.fit.stat_interval(gd, g_hat, level=s.level)
    else:
        lo, hi = percentile_interval(gd, s.level)
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    with np.errstate(invalid="ignore"):
        lo, hi = g_hat - law.widened * (g_hat - lo), g_hat + law.widened * (hi - g_hat)
        half = np.maximum(hi - g_hat, g_hat - lo)
    half = np.where(np.isfinite(g_hat), half, np.inf)
    hw = _to_units(goal, half)
    if goal.kind == "exponent":
        value, vlo, vhi = float(g_hat[0]), float(lo[0]), float(hi[0])
    else:
        with np.errstate(over="ignore"):
            value, vlo, vhi = (float(np.exp(np.mean(v))) for v in (g_hat, lo, hi))
    span = np.log10(X.max(axis=0) / X.min(axis=0))
    narrow = [c for c, d in zip(s.x_cols, span) if d < MIN_SPAN_DECADES]
    note = "" if math.isfinite(hw) else "the interval is unbounded"
    if law.widened > 1:
        note = "; ".join(filter(None, [note, f"interval widened {law.widened:.2f}x: the law, fitted without its last quarter "
                                             "of data, missed there beyond its own intervals"]))
    if narrow:
        note = (f"not met until the rows span {MIN_SPAN_DECADES:g} decade of {', '.join(narrow)} "
                f"(an interval from a narrow start can be confidently wrong)")
    est = GoalEstimate(value, vlo, vhi, s.level, hw, bool(math.isfinite(hw) and hw <= goal.tolerance and not narrow),
                       int(rows.size), law_txt, note, law.widened)
    J = _jacobian(lambda T: law.logpred(T, s.X), law.theta)
    g = _jacobian(lambda T: np.asarray(G(T), dtype=float).reshape(len(T), -1), law.theta)
    z = float(stats.norm.ppf(0.5 + s.level / 2))
    lin = z * np.sqrt(np.maximum(np.einsum("mp,pq,mq->m", g, cov, g), 0.0))
    ok = np.isfinite(half) & np.isfinite(lin) & (lin > 0)
    scale = float(np.sqrt(np.mean(half[ok] ** 2) / np.mean(lin[ok] ** 2))) if ok.any() else 1.0
    if not np.all(np.isfinite(J)):
        J = np.nan_to_num(J, nan=0.0, posinf=0.0, neginf=0.0)
    return _State(law, est, cov, J, g, scale, gd, _noise2(law, s.X))


def _noise2(law: _Law, X: np.ndarray) -> np.ndarray:
    """σ²(x) at rows X, floored at 1e-12 (a law that fits exactly still has information limited by something)."""
    sd = law.noise.sd(X) if law.noise is not None else np.full(len(X), law.sigma)
    return np.maximum(sd, 1e-6) ** 2


def widened_text(widened: float | None) -> str:
    """'' or the clause a printed interval carries when the law's own backtest widened it (module docstring, Extrapolation)."""
    return f", widened {widened:.2f}x by the law's own backtest" if widened and widened > 1 else ""


def estimate_goal(table: Any, goal: Goal, *, x: list[str], y: str, form: str = "powerlaw_const",
                  bootstrap: int = DEFAULT_BOOTSTRAP, level: float = 0.95, flops_per_sample: str = "flops_per_sample",
                  seed: int = 0) -> GoalEstimate:
    """The goal's estimate and interval from the law fitted on the rows of ``table`` with a finite y.

    Args:
        table: The pool: every candidate row, y NaN where not measured yet. Its x anchor the goal
            (the largest x or compute; target rows are its positions).
        goal: A :class:`Goal`.
        x: One x column (a one-x law of ``form``) or two (N, D: the joint law).
        y: The metric column.
        form, bootstrap, level, flops_per_sample, seed: The law's form (one x), bootstrap refits,
            confidence level, the FLOPs-per-sample column (compute goals), bootstrap seed.

    Returns:
        A :class:`GoalEstimate` (met=False with a note when the law cannot be fitted yet).
    """
    s = _setup(table, x, y, goal, form, bootstrap, level, flops_per_sample)
    yv = table[y].to_numpy(dtype=float)
    rows = np.flatnonzero(np.isfinite(yv))
    return _state(s, goal, rows, yv[rows], seed).estimate


# ----------------------------------------------------------------------------------------------
# Choosing
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """A chosen candidate and its expected effect.

    Attributes:
        candidate: The :class:`Candidate`.
        width_now, width_after: The goal's half-width (its units) before and, expected, after
            measuring it (and the picks before it in the same batch); None in start-up and for
            baselines that do not score.
        gain_per_cost: The score (narrowing per unit cost; log-det gain per cost for d_optimal).
        reason: Why it was chosen, in words.
    """

    candidate: Candidate
    width_now: float | None
    width_after: float | None
    gain_per_cost: float | None
    reason: str


def _available(candidates: list[Candidate], chosen: set[str], budget_left: float) -> list[Candidate]:
    return [c for c in candidates if c.id not in chosen and (c.requires is None or c.requires in chosen)
            and c.cost <= budget_left * (1 + 1e-9)]


def _startup_pick(s: _Setup, avail: list[Candidate], revealed: np.ndarray) -> Candidate:
    """The cheaper half's candidate farthest (log x scaled to [0, 1]) from every chosen row; the cheapest first."""
    costs = np.array([c.cost for c in avail])
    cheap = [c for c in avail if c.cost <= np.median(costs) * (1 + 1e-12)]
    if revealed.size == 0:
        return min(cheap, key=lambda c: c.cost)
    L = np.log(s.X)
    span = L.max(axis=0) - L.min(axis=0)
    U = (L - L.min(axis=0)) / np.where(span > 0, span, 1.0)
    R = U[revealed]
    best, best_d = None, -1.0
    for c in cheap:
        d = float(np.max(np.min(np.linalg.norm(U[list(c.rows)][:, None, :] - R[None, :, :], axis=2), axis=1)))
        if d > best_d + 1e-12 or (abs(d - best_d) <= 1e-12 and best is not None and c.cost < best.cost):
            best, best_d = c, d
    return best


def _posterior(cov: np.ndarray, Jr: np.ndarray, sigma2: Any) -> np.ndarray:
    """Σ − ΣJᵀ(V + JΣJᵀ)⁻¹JΣ, V = diag(σ²) of the rows: the covariance after measuring rows with Jacobian J."""
    SJ = cov @ Jr.T
    S = np.diag(np.broadcast_to(np.asarray(sigma2, dtype=float), (len(Jr),))) + Jr @ SJ
    return cov - SJ @ np.linalg.solve(S, SJ.T)


def _units_vec(goal: Goal, H: np.ndarray) -> np.ndarray:
    """Half-widths (k, m) in the working space → k half-widths in the goal's units."""
    if goal.kind == "exponent":
        return H.max(axis=1)
    if goal.kind == "x_for":
        with np.errstate(over="ignore"):
            return np.exp(H.max(axis=1))
    with np.errstate(over="ignore", invalid="ignore"):
        return np.sqrt(np.mean((100.0 * np.expm1(H)) ** 2, axis=1))


N_PLANS = 4  # with a finite budget, the ratio-greedy plan is compared with this many plans that start with a big-gain run


class _Scorer:
    """Every candidate's expected effect at once: its rows' Jacobians stacked (padded rows are zero, so they add nothing)."""

    def __init__(self, st: _State, goal: Goal, candidates: list[Candidate], level: float, top: np.ndarray | None = None):
        self.cands, self.goal, self.g, self.scale = candidates, goal, st.g, st.scale
        self.top = top  # each candidate's largest x where the goal lies beyond them all (Hoel-Levine), or None
        self.z = float(stats.norm.ppf(0.5 + level / 2))
        r = max(len(c.rows) for c in candidates)
        self.Jc = np.zeros((len(candidates), r, st.J.shape[1]))
        self.V = np.ones((len(candidates), r))  # σ² of each candidate's rows; padded rows 1 (zero J: they add nothing)
        for i, c in enumerate(candidates):
            self.Jc[i, : len(c.rows)] = st.J[list(c.rows)]
            self.V[i, : len(c.rows)] = st.noise2[list(c.rows)]
        self.cost = np.array([c.cost for c in candidates])
        index = {c.id: i for i, c in enumerate(candidates)}
        self.req = np.array([-1 if c.requires is None else index.get(c.requires, -2) for c in candidates])

    def width(self, cov: np.ndarray) -> float:
        v = np.einsum("mp,pq,mq->m", self.g, cov, self.g)
        return float(_units_vec(self.goal, (self.scale * self.z * np.sqrt(np.maximum(v, 0.0)))[None, :])[0])

    def after(self, cov: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Widths after measuring each candidate of idx, and the log-det information gain of each."""
        Jc = self.Jc[idx]
        JS = Jc @ cov
        V = self.V[idx]
        S = JS @ Jc.transpose(0, 2, 1) + V[:, :, None] * np.eye(Jc.shape[1])[None]
        U = JS @ self.g.T
        red = np.sum(U * np.linalg.solve(S, U), axis=1)
        v = np.einsum("mp,pq,mq->m", self.g, cov, self.g)[None, :] - red
        widths = _units_vec(self.goal, self.scale * self.z * np.sqrt(np.maximum(v, 0.0)))
        logdet = np.linalg.slogdet(S)[1] - np.sum(np.log(V), axis=1)
        return widths, logdet

    def available(self, chosen: np.ndarray, budget_left: float) -> np.ndarray:
        ok_req = (self.req == -1) | ((self.req >= 0) & chosen[np.maximum(self.req, 0)])
        return np.flatnonzero(~chosen & ok_req & (self.cost <= budget_left * (1 + 1e-9)))

    def step(self, cov, chosen, budget_left, method, first=None):
        """The best next candidate (or ``first``): (index, width now, width after, score, new Σ), or None."""
        idx = self.available(chosen, budget_left)
        if idx.size == 0:
            return None
        now = self.width(cov)
        widths, logdet = self.after(cov, idx)
        gain = logdet if method == "d_optimal" else np.where(np.isfinite(widths) & np.isfinite(now), now - widths, 0.0)
        score = gain / self.cost[idx]
        if first is not None:
            j = int(np.flatnonzero(idx == first)[0])
        elif np.max(score) <= 0:
            j = int(np.argmin(self.cost[idx]))  # nothing narrows it (linearised): the cheapest keeps the design moving
        else:
            j = int(np.argmax(score))
        i = int(idx[j])
        return i, now, float(widths[j]), float(score[j]), _posterior(cov, self.Jc[i], self.V[i])

    def plan(self, cov, chosen, budget_left, method, first=None, limit=None):
        """Greedy conditional picks until the budget (or ``limit`` picks); returns (picks, final width)."""
        chosen = chosen.copy()
        picks = []
        while limit is None or len(picks) < limit:
            st = self.step(cov, chosen, budget_left, method, first if not picks else None)
            if st is None:
                break
            i, now, after, score, cov = st
            picks.append((i, now, after, score))
            chosen[i] = True
            budget_left -= self.cost[i]
        return picks, self.width(cov)

    def best_plan(self, cov, chosen, budget_left, method, limit=None):
        """Ratio-greedy, compared (recscale, finite budget) with plans opening on one of the largest absolute gains.

        Greedy by gain per cost fills a budget with cheap runs and can leave no room for the one
        expensive run that matters most (the knapsack weakness of ratio greedy); taking the better
        of both kinds of plan, each simulated to the end of the budget, guards against that.
        """
        base = self.plan(cov, chosen, budget_left, method, limit=None if math.isfinite(budget_left) else limit)
        if method != "recscale" or not math.isfinite(budget_left) or not base[0]:
            return base[0][:limit] if limit else base[0]
        idx = self.available(chosen, budget_left)
        widths, _ = self.after(cov, idx)
        order = [int(idx[j]) for j in np.argsort(widths, kind="stable") if int(idx[j]) != base[0][0][0]][:N_PLANS]
        # The end nearest an extrapolation goal belongs to every optimal design (_extrapolation_tops): while no
        # chosen row reaches the largest x the budget left can buy, only plans that include one are followed.
        ends = _affordable_end(self.top, chosen, idx)
        if ends:
            order.append(min(ends, key=lambda i: self.cost[i]))
        plans = [base, *(self.plan(cov, chosen, budget_left, method, first=first) for first in order)]
        if ends:
            plans = [p for p in plans if any(i in ends for i, *_ in p[0])]
        best = plans[0]
        for alt in plans[1:]:
            if alt[1] < best[1] * (1 - 1e-9):
                best = alt
        return best[0][:limit] if limit else best[0]


def _greedy(s: _Setup, st: _State, goal: Goal, candidates: list[Candidate], chosen: set[str], revealed: np.ndarray,
            k: int, method: str, budget_left: float, rng: np.random.Generator) -> list[Choice]:
    """Up to k picks, each scored given the ones before it (Σ updated as if measured)."""
    chosen = set(chosen)
    revealed = np.asarray(revealed, dtype=int)
    if method in ("recscale", "d_optimal") and st.law is not None:
        sc = _Scorer(st, goal, candidates, s.level, _extrapolation_tops(s, goal, candidates))
        mask = np.array([c.id in chosen for c in candidates])
        out = []
        for i, now, after, score in sc.best_plan(st.cov, mask, budget_left, method, limit=k):
            c = candidates[i]
            why = ("largest gain in log det of the information per unit cost" if method == "d_optimal"
                   else f"narrows the goal's half-width {now:.4g} -> {after:.4g}{goal.units} for {c.cost:.3g}")
            out.append(Choice(c, float(now), float(after), float(score), why))
        return out
    out: list[Choice] = []
    for _ in range(k):
        avail = _available(candidates, chosen, budget_left)
        if not avail:
            break
        if method == "spec":
            c, why = avail[0], "next in the pool's order"
        elif method == "cheapest":
            c, why = min(avail, key=lambda a: a.cost), "cheapest available"
        elif method == "random":
            c, why = avail[int(rng.integers(len(avail)))], "drawn at random"
        else:
            c, why = _startup_pick(s, avail, revealed), st.estimate.note or "start-up"
        out.append(Choice(c, None, None, None, why))
        chosen.add(c.id)
        revealed = np.concatenate([revealed, np.asarray(c.rows, dtype=int)])
        budget_left -= c.cost
        if method in ("recscale", "d_optimal"):
            break  # start-up: one at a time, the caller refits and checks fittability again
    return out


def _extrapolation_tops(s: _Setup, goal: Goal, candidates: list[Candidate]) -> np.ndarray | None:
    """Each candidate's largest x, when a one-x goal lies beyond every candidate; else None.

    Optimal designs for extrapolating a regression in one x put a support point at the end of the
    design range nearest the prediction point (Hoel & Levine 1964, polynomial prediction; the same
    holds for any smooth law locally polynomial in log x): the rows measured nearest the goal bound
    its extrapolation, which a linearisation at a poorly fitted law can underrate. With a budget the
    design range is what the budget can still buy (:func:`_affordable_end`).
    """
    if s.X.shape[1] != 1:
        return None
    top = np.array([float(np.max(s.X[list(c.rows), 0])) for c in candidates])
    if goal.kind == "target" and goal.rows:
        where = float(np.min(s.X[list(goal.rows), 0]))
    elif goal.kind == "ne_at" and goal.axis == s.x_cols[0]:
        where = goal.at if goal.at is not None else float(goal.factor) * float(np.max(s.X[:, 0]))
    else:
        return None
    return top if where > top.max() else None


def _affordable_end(top: np.ndarray | None, chosen: np.ndarray, idx: np.ndarray) -> set[int]:
    """The available candidates (``idx``) at the largest x the budget left can buy, unless a chosen row reaches that x.

    With a budget the design range is what the budget can still buy: when the pool's largest x is
    too dear, the end nearest the goal is the largest affordable one. Once a chosen row reaches it,
    the end is held, and smaller budgets later in the design ask for nothing more.
    """
    if top is None or idx.size == 0:
        return set()
    end = float(top[idx].max()) * (1 - 1e-12)
    if chosen.any() and float(top[chosen].max()) >= end:
        return set()
    return {int(i) for i in idx if top[i] >= end}


def _revealed(candidates: list[Candidate], chosen: set[str]) -> np.ndarray:
    rows = sorted({r for c in candidates if c.id in chosen for r in c.rows})
    return np.asarray(rows, dtype=int)


def _check_candidates(pool: Any, candidates: list[Candidate], chosen: set[str]) -> None:
    ids = [c.id for c in candidates]
    if len(set(ids)) != len(ids):
        raise RecscaleError("design: candidate ids must be unique")
    unknown = sorted(set(chosen) - set(ids))
    if unknown:
        raise RecscaleError(f"design: chosen id {unknown[0]!r} is not a candidate of this pool")
    n = len(pool)
    for c in candidates:
        if any(not 0 <= r < n for r in c.rows):
            raise RecscaleError(f"design: candidate {c.id!r} names a row outside the pool (0..{n - 1})")
        if not (math.isfinite(c.cost) and c.cost > 0):
            raise RecscaleError(f"design: candidate {c.id!r} must cost > 0; got {c.cost}")


def rank_candidates(pool: Any, candidates: list[Candidate], chosen: set[str], goal: Goal, *, x: list[str], y: str, k: int = 1,
                    seed: int = 0, method: str = "recscale", budget_left: float = math.inf, form: str = "powerlaw_const",
                    bootstrap: int = DEFAULT_BOOTSTRAP, level: float = 0.95,
                    flops_per_sample: str = "flops_per_sample") -> list[Choice]:
    """The next k candidates to run, best first (a greedy conditional batch), by ``method``.

    Only the y of the rows of ``chosen`` candidates is read. Only candidates whose ``requires`` is
    chosen (or picked earlier in the batch) and whose cost fits in ``budget_left`` are considered.
    Same inputs and seed give the same choices.
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise RecscaleError(f"design: k must be an integer >= 1; got {k!r}")
    return design_step(pool, candidates, chosen, goal, x=x, y=y, k=k, seed=seed, method=method, budget_left=budget_left,
                       form=form, bootstrap=bootstrap, level=level, flops_per_sample=flops_per_sample,
                       estimate=method in ("recscale", "d_optimal"))[1]


def design_step(pool: Any, candidates: list[Candidate], chosen: set[str], goal: Goal, *, x: list[str], y: str, k: int = 1,
                seed: int = 0, method: str = "recscale", budget_left: float = math.inf, form: str = "powerlaw_const",
                bootstrap: int = DEFAULT_BOOTSTRAP, level: float = 0.95,
                flops_per_sample: str = "flops_per_sample", estimate: bool = True) -> tuple[GoalEstimate, list[Choice]]:
    """The goal's estimate from the chosen rows and the next k choices (:func:`rank_candidates`), from one fit.

    ``k = 0`` only estimates. ``estimate=False`` skips the fit for the baselines, which choose without
    it (the estimate returned is then empty).
    """
    if method not in METHODS:
        raise RecscaleError(f"design: method must be one of {', '.join(METHODS)}; got {method!r}")
    if not isinstance(k, (int, np.integer)) or k < 0:
        raise RecscaleError(f"design: k must be an integer >= 0; got {k!r}")
    _check_candidates(pool, candidates, chosen)
    s = _setup(pool, x, y, goal, form, bootstrap, level, flops_per_sample)
    rows = _revealed(candidates, chosen)
    st = _State(None, GoalEstimate(None, None, None, level, None, False, int(rows.size), ""))
    if estimate or method in ("recscale", "d_optimal"):
        st = _state(s, goal, rows, pool[y].to_numpy(dtype=float)[rows], seed)
    result = st.estimate
    if method not in ("recscale", "d_optimal"):
        st = _State(None, result)
    rng = np.random.default_rng(seed)
    out: list[Choice] = []
    chosen = set(chosen)
    while len(out) < k:
        picks = _greedy(s, st, goal, candidates, chosen, rows, k - len(out), method, budget_left, rng)
        if not picks:
            break
        out.extend(picks)
        for p in picks:
            chosen.add(p.candidate.id)
            budget_left -= p.candidate.cost
        rows = _revealed(candidates, chosen)
        if st.law is None and method in ("recscale", "d_optimal"):
            # Start-up: the next pick spreads the design further; its y is not needed (x only).
            st = _State(None, st.estimate)
    return result, out


class GoalDesign:
    """A goal over a study's grid, as :func:`recscale.study.goal.run_goal_study` asks for it.

    The pool is a ledger's grid (one row per trial and checkpoint, ``ne`` NaN where not measured);
    the law is the joint law NE(N, D) over ``x`` = (parameters, samples); candidates cost training
    FLOPs (``cost_per_sample``), and compute goals count compute the same way.

    ``fit_from`` is where the law's rows start along samples: ``"all"`` (the default) fits every
    row; ``"auto"`` applies the fit-range rule (:func:`recscale.laws.fitrange.fit_start`, its steps
    1-4) to every measured trial's curve and starts at the median of the start-ups it finds; a
    number is a sample count. Why "all" for this law, measured on the demo (quick) ledger: the
    goal "ne at compute 10x" reads 0.8213 [0.8151, 0.8253] from every row and 0.8222 [0.8079,
    0.8310] from the rows after the start-up (13,952 samples), the same value with a wider
    interval; but a goal-driven study that stopped at 43% of the grid's FLOPs with "auto" answered
    0.8342 [0.8258, 0.8450], outside the full grid's interval, while with "all" it stopped at 30%
    and answered 0.8251 [0.8180, 0.8317], inside it. The start-up rows are shared by every trial,
    so they do not bias one subset of the grid against another; cutting them leaves each
    subset's law resting on fewer, longer runs.
    """

    def __init__(self, goal_text: str, *, x: tuple[str, str] = ("params_total", "samples"), y: str = "ne",
                 cost_per_sample: str = "train_flops_per_sample", bootstrap: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                 fit_from: str | float = "all"):
        self.goal = parse_goal(goal_text)
        if self.goal.kind == "target":
            raise RecscaleError(f"goal {goal_text!r}: 'target rows' is for `recscale design --target`; a study's goal is "
                                "one of 'ne at compute 10x within 2%', 'exponent within 0.05', 'samples for ne 0.85 within 1.5x'")
        if not (fit_from in ("auto", "all") or (isinstance(fit_from, (int, float)) and fit_from > 0)):
            raise RecscaleError(f"fit_from must be 'auto', 'all' or a sample count > 0; got {fit_from!r}")
        self.goal_text, self.x, self.y = goal_text, list(x), y
        self.cost_per_sample, self.bootstrap, self.seed, self.fit_from = cost_per_sample, bootstrap, seed, fit_from

    def fit_start(self, pool: Any) -> float:
        """The first sample count the law is fitted from (0: every row), from the measured rows of ``pool``."""
        if self.fit_from == "all":
            return 0.0
        if self.fit_from != "auto":
            return float(self.fit_from)
        samples = self.x[1]
        seen = pool[np.isfinite(pool[self.y].to_numpy(dtype=float))]
        starts = [r.x_start for _, sub in seen.groupby("trial_id", sort=True)
                  if (r := fit_start(sub[samples].to_numpy(dtype=float), sub[self.y].to_numpy(dtype=float))).n_left_out > 0]
        return float(np.median(starts)) if starts else 0.0

    def untrained(self, pool: Any) -> dict[Any, dict[str, Any]]:
        """Measured trials that never trained while the others did (:func:`recscale.laws.table.untrained_trials`
        with ``peers_learned``): a dead model's flat curve is no evidence about the law, and extending it buys nothing."""
        return untrained_trials(pool, run="trial_id", x=self.x[1], y=self.y, peers_learned=True)

    def candidates(self, pool: Any, stops: Any) -> list[Candidate]:
        """Every trial to each data doubling of ``stops``: :func:`curve_candidates`."""
        return curve_candidates(pool, run="trial_id", samples=self.x[1], cost_per_sample=self.cost_per_sample, stops=stops)

    def step(self, pool: Any, candidates: list[Candidate], chosen: set[str], k: int,
             budget_left: float) -> tuple[GoalEstimate, list[Choice]]:
        """The goal now, and the next ``k`` runs that fit in ``budget_left`` (:func:`design_step`)."""
        return design_step(pool, candidates, chosen, self.goal, x=self.x, y=self.y, k=max(0, k), seed=self.seed,
                           budget_left=budget_left, bootstrap=self.bootstrap, flops_per_sample=self.cost_per_sample)


# ----------------------------------------------------------------------------------------------
# Replay
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One pick of a replay: what was chosen, the cost so far, and the estimate if the law was refitted."""

    choice: Choice
    cost_so_far: float
    estimate: GoalEstimate | None


@dataclass(frozen=True)
class ReplayResult:
    """A replayed design.

    Attributes:
        chosen: Candidate ids in the order chosen.
        cost: Cost spent.
        stopped: ``"goal met"``, ``"budget spent"`` or ``"pool exhausted"``.
        estimate: The goal's estimate from all chosen rows.
        target_error: Median |log ŷ − log y| on the goal's target rows (``target`` goals with
            measured y there), else None.
        coverage: Share of target rows whose measured y lies in the 95% prediction interval, else None.
        steps: Every pick (:class:`Step`).
        method, seed: As given.
        target_pred: The final law's ŷ at every target row (``target`` goals), else None.
    """

    chosen: tuple[str, ...]
    cost: float
    stopped: str
    estimate: GoalEstimate
    target_error: float | None
    coverage: float | None
    steps: tuple[Step, ...] = field(repr=False)
    method: str = "recscale"
    seed: int = 0
    target_pred: tuple[float, ...] | None = field(default=None, repr=False)


def _prediction_interval(law: _Law, X: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Where a new measurement falls: the engine's band at X combined with the noise, as :meth:`PowerLawFit.prediction_interval`.

    The noise term is q(x)·σ(x) at each row (:meth:`_Noise.quantile`); with a constant σ (one x)
    it is exactly :meth:`PowerLawFit.prediction_interval`.
    """
    noise_model = law.noise if law.noise is not None else _Noise(law.sigma, law.dof)
    if law.kind == "1x" and noise_model.gamma is None and law.widened == 1:
        return law.fit.prediction_interval(X[:, 0], level=level)
    noise = noise_model.quantile(X, level) * noise_model.sd(X)
    if law.kind == "1x":
        centre = law.logpred(law.theta, X)
        with np.errstate(divide="ignore", invalid="ignore"):
            lo_c, hi_c = (np.log(v) for v in law.fit.predict_interval(X[:, 0], level=level))
    else:
        centre = law.logpred(law.theta, X)
        lo_c, hi_c = percentile_interval(law.logpred(law.draws, X), level)
    down = law.widened * np.sqrt(np.maximum(centre - lo_c, 0) ** 2 + noise**2)
    up = law.widened * np.sqrt(np.maximum(hi_c - centre, 0) ** 2 + noise**2)
    lo, hi = np.exp(centre - down), np.exp(centre + up)
    if law.kind == "1x":
        for form, params in (law.fit.alternatives or {}).items():
            # As PowerLawFit.prediction_interval: a measurement could follow a comparable form.
            alt = np.log(form_predict(form, params, X[:, 0]))
            lo, hi = np.minimum(lo, np.exp(alt - law.widened * noise)), np.maximum(hi, np.exp(alt + law.widened * noise))
    return lo, hi


class Evaluation(NamedTuple):
    """The law fitted on a design's rows, scored on the goal's target rows (``target`` goals; else None)."""

    estimate: GoalEstimate
    target_error: float | None  # median |log ŷ − log y| over the target rows with a measured y
    coverage: float | None  # share of those rows inside the 95% prediction interval
    target_pred: tuple[float, ...] | None  # ŷ at every target row, so other scores need no second fit


def evaluate(pool: Any, candidates: list[Candidate], chosen: Any, goal: Goal, *, x: list[str], y: str, form: str = "powerlaw_const",
             bootstrap: int = DEFAULT_BOOTSTRAP, level: float = 0.95, flops_per_sample: str = "flops_per_sample",
             seed: int = 0) -> Evaluation:
    """The estimate from the chosen candidates' rows, and (target goals) the error and coverage on the target rows.

    Reads the measured y of the target rows (only to score, as a benchmark does).
    """
    s = _setup(pool, x, y, goal, form, bootstrap, level, flops_per_sample)
    rows = _revealed(candidates, set(chosen))
    yall = pool[y].to_numpy(dtype=float)
    st = _state(s, goal, rows, yall[rows], seed)
    err = cov = pred = None
    if goal.kind == "target" and goal.rows and st.law is not None:
        t = np.asarray(goal.rows, dtype=int)
        logpred = st.law.logpred(st.law.theta, s.X[t])
        pred = tuple(float(v) for v in np.exp(logpred))
        yt = yall[t]
        ok = np.isfinite(yt) & (yt > 0)
        if ok.any():
            err = float(np.median(np.abs(logpred[ok] - np.log(yt[ok]))))
            lo, hi = _prediction_interval(st.law, s.X[t[ok]], level)
            cov = float(np.mean((yt[ok] >= lo) & (yt[ok] <= hi)))
    return Evaluation(st.estimate, err, cov, pred)


def replay(pool: Any, candidates: list[Candidate], goal: Goal, *, x: list[str], y: str, budget_cost: float, method: str,
           seed: int = 0, max_picks: int | None = None, refit_growth: float = 0.25, form: str = "powerlaw_const",
           bootstrap: int = DEFAULT_BOOTSTRAP, level: float = 0.95, flops_per_sample: str = "flops_per_sample",
           on_step: Any = None) -> ReplayResult:
    """Run a design on a fully measured pool, revealing a candidate's y only when it is chosen.

    The law is refitted (and the goal checked) when the cost spent has grown by ``refit_growth``
    (0: after every pick) since the last fit, and after every start-up pick; between refits the
    picks are the greedy conditional batch of :func:`rank_candidates`. Baselines are refitted on
    the same schedule when the goal has a tolerance (to stop when it is met). The design stops
    when the goal is met, when no available candidate fits in the budget, or after ``max_picks``.

    Args:
        on_step: Optional callable receiving each :class:`Step` as it happens (for printing).
    """
    if method not in METHODS:
        raise RecscaleError(f"design: method must be one of {', '.join(METHODS)}; got {method!r}")
    if not (budget_cost > 0):
        raise RecscaleError(f"design: the budget must be > 0; got {budget_cost}")
    _check_candidates(pool, candidates, set())
    s = _setup(pool, x, y, goal, form, bootstrap, level, flops_per_sample)
    yall = pool[y].to_numpy(dtype=float)
    hidden = np.full(len(yall), np.nan)  # what the design may see: y of chosen rows only
    rng = np.random.default_rng(seed)
    chosen: list[str] = []
    chosen_set: set[str] = set()
    spent = 0.0
    steps: list[Step] = []
    adaptive = method in ("recscale", "d_optimal")
    track = adaptive or goal.tolerance > 0
    st: _State | None = None
    fit_cost = -1.0
    stopped = "pool exhausted"
    plan: list[Choice] = []
    while True:
        if max_picks is not None and len(chosen) >= max_picks:
            stopped = "budget spent"
            break
        rows = _revealed(candidates, chosen_set)
        est = None
        if track and (st is None or st.law is None or spent >= fit_cost * (1 + refit_growth) - 1e-12):
            st = _state(s, goal, rows, hidden[rows], seed + len(chosen))
            fit_cost = spent
            est = st.estimate
            if goal.met(est):
                stopped = "goal met"
                if steps:
                    steps[-1] = replace(steps[-1], estimate=est)
                break
            if steps:
                steps[-1] = replace(steps[-1], estimate=est)
        if not _available(candidates, chosen_set, budget_cost - spent):
            stopped = "budget spent" if any(c.id not in chosen_set for c in candidates) else "pool exhausted"
            break
        if est is not None:
            plan = []  # refitted: plan again
        base = st if st is not None else _State(None, GoalEstimate(None, None, None, level, None, False, int(rows.size), ""))
        if adaptive and base.law is not None:
            # Between refits the picks follow the plan made at the last refit: the greedy conditional batch,
            # to the end of the budget (Σ updated with each pick; no y is needed for that).
            ok = {c.id for c in _available(candidates, chosen_set, budget_cost - spent)}
            if not plan or plan[0].candidate.id not in ok:
                plan = _greedy(s, base, goal, candidates, chosen_set, rows, len(candidates), method, budget_cost - spent, rng)
            picks = plan[:1]
            plan = plan[1:]
        else:
            picks = _greedy(s, base, goal, candidates, chosen_set, rows, 1, method, budget_cost - spent, rng)
        if not picks:
            break
        p = picks[0]
        if adaptive and st is not None and st.law is not None:
            # Keep the conditional Σ for a plan made again before the next refit.
            post = _posterior(st.cov, st.J[list(p.candidate.rows)], st.noise2[list(p.candidate.rows)])
            st = replace(st, cov=post)
        chosen.append(p.candidate.id)
        chosen_set.add(p.candidate.id)
        r = list(p.candidate.rows)
        hidden[r] = yall[r]
        spent += p.candidate.cost
        steps.append(Step(p, spent, None))
        if on_step is not None and len(steps) > 1:
            on_step(steps[-2])
    # The seed of the last refit on these rows: a goal met there reads the same at the end.
    final, err, cov, pred = evaluate(pool, candidates, chosen, goal, x=x, y=y, form=form, bootstrap=bootstrap, level=level,
                               flops_per_sample=flops_per_sample, seed=seed + len(chosen))
    if steps:
        steps[-1] = replace(steps[-1], estimate=final)
        if on_step is not None:
            on_step(steps[-1])
    if goal.met(final):
        stopped = "goal met"
    return ReplayResult(tuple(chosen), spent, stopped, final, err, cov, tuple(steps), method, seed, pred)
