"""``recscale design``: replay a goal-driven design on a table of runs that are already measured.

Thin layer over :func:`recscale.laws.design.replay`: read the table as ``recscale fit`` does, build
the pool (one candidate per row, or with ``--run`` one per run per data doubling), set the target
rows aside, replay, print each step and the end. User errors raise
:class:`~recscale.errors.RecscaleError`, printed by ``recscale.cli.main`` on one line, exit code 2.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import typer

from recscale.errors import RecscaleError, printable

TARGET_SYNTAX = ("--target must be topN% (the highest-compute N% of rows, e.g. top10%) or COLUMN>=VALUE "
                 "(also >, <=, <, =); got {!r}")


def _target_rows(df, spec: str, compute: np.ndarray) -> np.ndarray:
    """Positions of the target rows: ``topN%`` by compute, or a comparison on a column."""
    from recscale.laws.design import top_rows
    from recscale.laws.table import require_columns

    t = "".join(spec.split())
    m = re.fullmatch(r"top([0-9]*\.?[0-9]+)%", t, re.IGNORECASE)
    if m:
        return top_rows(compute, float(m.group(1)) / 100.0)
    m = re.fullmatch(r"(\w+)(>=|<=|>|<|=)([-+0-9.eE]+)", t)
    if not m:
        raise RecscaleError(TARGET_SYNTAX.format(spec))
    col, op, v = m.groups()
    require_columns(df, [col], where="--target")
    try:
        value = float(v)
    except ValueError:
        raise RecscaleError(TARGET_SYNTAX.format(spec)) from None
    c = df[col].to_numpy(dtype=float)
    mask = {">=": c >= value, "<=": c <= value, ">": c > value, "<": c < value, "=": c == value}[op]
    rows = np.flatnonzero(mask)
    if rows.size == 0 or rows.size == len(df):
        raise RecscaleError(f"--target {spec!r} selects {rows.size} of {len(df)} rows; it must leave some rows on each side")
    return rows


def _fmt(v, digits: int = 4) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}g}"


def design_command(
    table: Path = typer.Argument(..., help="CSV, Parquet or recscale ledger of measured runs."),
    x: list[str] = typer.Option(..., "--x", help="x column; give it twice (N then D) for the joint law NE(N, D)."),
    y: str = typer.Option("ne", "--y", help="Column of the metric."),
    cost: str = typer.Option(..., "--cost", help="Cost of each row's run; with --run, the cost per sample (e.g. flops_per_sample)."),
    run: str = typer.Option(None, "--run", help="Column naming each run: one candidate per run per data doubling (learning curves)."),
    samples: str = typer.Option("samples", "--samples", help="With --run: the column of samples seen."),
    target: str = typer.Option(None, "--target", help="Rows nobody may choose, predicted at the end: topN% (by compute) or COL>=VALUE."),
    goal: str = typer.Option(None, "--goal", help="What the design is for, e.g. 'ne at compute 10x within 0.5%' "
                                                  "(default with --target: 'target rows within 0%', i.e. spend the budget)."),
    budget: str = typer.Option("100%", "--budget", help="'25%' of the pool's cost, '12 trials', or an amount in the cost's units "
                                                         "('1e15 flops'; '2h' if the cost is seconds)."),
    method: str = typer.Option("recscale", "--method", help="recscale, spec (table order), random, cheapest or d_optimal."),
    form: str = typer.Option("powerlaw_const", "--form", help="Form of a one-x law: powerlaw_const, powerlaw, broken_powerlaw or m4."),
    bootstrap: int = typer.Option(100, "--bootstrap", min=10, help="Bootstrap refits of each fit (the goal's interval and Σ)."),
    flops_per_sample: str = typer.Option("flops_per_sample", "--flops-per-sample", help="Column of FLOPs per sample (compute goals)."),
    refit_growth: float = typer.Option(0.25, "--refit-growth", min=0.0, help="Refit when the cost spent has grown by this fraction."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the bootstrap and of --method random."),
) -> None:
    """Replay a design: reveal a run's y only when it is chosen, refit, and choose the next, until the goal is met or the budget spent.

    Examples:
        recscale design runs.csv --x params_total --x samples --y ne --cost flops_per_sample --run trial_id --target top10% --budget 25%
        recscale design runs.csv --x samples --y ne --cost flops --goal 'samples for ne 0.85 within 1.5x' --budget '12 trials'
        recscale design study.db --x params_total --x samples --cost flops_per_sample --run trial_id --goal 'ne at compute 10x within 0.5%'
    """
    from recscale.laws.design import (curve_candidates, parse_budget, parse_goal, replay, row_candidates, widened_text, with_rows,
                                      without_rows)
    from recscale.laws.table import require_columns
    from recscale.study.table_reader import read_table

    if len(x) not in (1, 2):
        raise RecscaleError(f"--x takes one column (a one-x law) or two (N then D, the joint law); got {len(x)}")
    if target is None and goal is None:
        raise RecscaleError("give --target (e.g. top10%) or --goal (e.g. 'exponent within 0.05'), or both")
    g = parse_goal(goal if goal is not None else "target rows within 0%")
    b = parse_budget(budget)
    df = read_table(table)
    cols = list(dict.fromkeys([*x, y, cost] + ([run, samples] if run else [])))
    require_columns(df, cols, where="recscale design")
    n0 = len(df)
    df = df.dropna(subset=cols)
    n_missing = n0 - len(df)
    if run:
        df = df.drop_duplicates([run, samples])  # a ledger export repeats a checkpoint once per scheme it belongs to
    n_dup = n0 - n_missing - len(df)
    df = df.reset_index(drop=True)
    if df.empty:
        raise RecscaleError(f"{table}: no row has all of {', '.join(cols)}")
    if run:
        cands = curve_candidates(df, run=run, samples=samples, cost_per_sample=cost)
        compute = df[cost].to_numpy(dtype=float) * df[samples].to_numpy(dtype=float)
    else:
        cands = row_candidates(df, cost=cost)
        compute = df[cost].to_numpy(dtype=float)
    rows = np.array([], dtype=int)
    if target is not None:
        rows = _target_rows(df, target, compute)
        cands = without_rows(cands, rows)
        if g.kind == "target":
            g = with_rows(g, rows)
    elif g.kind == "target":
        raise RecscaleError("goal 'target rows' needs --target (e.g. top10%)")
    full = sum(c.cost for c in cands)
    limit = b.cost_limit(full)
    typer.echo(printable(f"pool: {len(cands)} candidates from {len(df)} rows ({n_missing} without a value, {n_dup} repeated checkpoints left out), full cost {full:.4g}; "
                         f"{len(rows)} target rows set aside; goal: {g.text}; budget: {budget} ({_fmt(limit)}); "
                         f"method: {method}", 1000))

    def show(step) -> None:
        c, e = step.choice.candidate, step.estimate
        est = ""
        if e is not None:
            est = (f"  goal {_fmt(e.value)} [{_fmt(e.lo)}, {_fmt(e.hi)}] +/-{_fmt(e.half_width, 3)}{g.units}" if e.value is not None
                   else f"  ({e.note})")
        typer.echo(printable(f"  chose {c.id}  cost so far {step.cost_so_far:.4g} ({step.cost_so_far / full:.1%})" + est, 1000))

    res = replay(df, cands, g, x=list(x), y=y, budget_cost=limit, method=method, seed=seed, max_picks=b.max_picks,
                 refit_growth=refit_growth, form=form, bootstrap=bootstrap, flops_per_sample=flops_per_sample, on_step=show)
    e = res.estimate
    typer.echo(f"stopped: {res.stopped} after {len(res.chosen)} runs, cost {res.cost:.4g} ({res.cost / full:.1%} of the pool)")
    if e.value is None:
        typer.echo(printable(f"no estimate: {e.note}", 1000))
    else:
        typer.echo(printable(f"goal: {_fmt(e.value)} [{_fmt(e.lo)}, {_fmt(e.hi)}] ({int(e.level * 100)}%), half-width "
                             f"{_fmt(e.half_width, 3)}{g.units} vs {g.tolerance:g}{g.units}{widened_text(e.widened)}: {'met' if e.met else 'not met'} "
                             f"({e.law}, {e.n_rows} rows)", 1000))
    if res.target_error is not None:
        typer.echo(f"target rows: median |log error| {res.target_error:.4f}, 95% prediction interval covers "
                   f"{res.coverage:.0%} of {len(rows)}")


def register(app: typer.Typer) -> None:
    """Add the top-level ``design`` command to the ``recscale`` app."""
    app.command("design")(design_command)
