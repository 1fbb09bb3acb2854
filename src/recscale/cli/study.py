"""``recscale study ...``: run a study spec into a ledger, show its status, export it."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="""Run scaling studies and read their ledgers.

    A study is a TOML spec (`recscale example` lists the packaged ones; a packaged example's name
    works wherever a spec file does); its results go to one SQLite ledger per study.

    Examples:
        recscale example tiny > tiny.toml
        recscale study run tiny.toml --db runs/tiny.db
        recscale study run quick --dry-run
        recscale study status runs/tiny.db
        recscale study export runs/tiny.db --out runs/tiny.csv
    """,
    no_args_is_help=True,
)


def _default_db(spec_name: str) -> Path:
    return Path("runs") / f"{spec_name}.db"


@app.command("run")
def run(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="Study spec: a TOML file, or a packaged example's name (`recscale example`)."),
    db: Path = typer.Option(None, "--db", help="Ledger file (default: runs/<name>.db)."),
    workers: int = typer.Option(None, "--workers", min=1, help="Concurrent trials (default: cores / train.threads)."),
    executor: str = typer.Option(None, "--executor", help="inline, process or ray (default: inline for 1 worker, else process)."),
    device: str = typer.Option("auto", "--device", help="Torch device: auto (cuda when available), cpu, cuda, cuda:N."),
    trials_per_device: int = typer.Option(None, "--trials-per-device", min=1, help="Trials run concurrently on one device (default: cores / train.threads on CPU, 1 on a GPU)."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 (default), tf32 (CUDA) or bf16 (autocast)."),
    compile_: bool = typer.Option(False, "--compile", help="Train through torch.compile."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (with --executor ray)."),
    new: bool = typer.Option(False, "--new", help="Discard the ledger's results and start over."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress display."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print trials, samples, FLOPs and an estimated wall time; run nothing."),
    snapshot_every: float = typer.Option(60.0, "--snapshot-every", min=0, help="Seconds between a running trial's state snapshots (a killed trial resumes from its last)."),
    wait: bool = typer.Option(False, "--wait", help="If another driver is running on this --db, wait for it instead of refusing."),
    goal: str = typer.Option(None, "--goal", help="Run goal-driven: choose each next run by how much it narrows this goal's 95% interval per FLOP, and stop when it is met, e.g. 'ne at compute 10x within 2%' (default: the spec's [goal] target)."),
    budget: str = typer.Option(None, "--budget", help="What a goal-driven run may spend: '50%' (of the grid's FLOPs), '1e15 flops', '12 trials', '30m' (default: the spec's [goal] budget, else the whole grid)."),
    grid: bool = typer.Option(False, "--grid", help="Run the whole grid, ignoring the spec's [goal]."),
    fit_from: str = typer.Option("all", "--fit-from", help="Where a goal's law starts along samples: all (every row; the default, measured in recscale.laws.design.GoalDesign), auto (after the curves' start-up, by the fit-range rule), or a sample count."),
    keep_state: bool = typer.Option(True, "--keep-state/--no-keep-state", help="Keep each finished trial's final training state beside the ledger (DB.states/), so a raised checkpoints.stop extends it instead of retraining it. Costs 12 bytes per parameter per trial with Adam (weights + 2 moments, fp32): 243 MB for the quick example's 26 trials; --dry-run shows it."),
) -> None:
    """Run a study (or resume or grow it: finished trials are kept, the rest run).

    A ledger grows with its spec: added seeds, sizes, schemes or architectures run only their new
    trials, and a raised checkpoints.stop extends finished trials (from their kept state). A change
    to what finished trials' numbers depend on (data, [train], [model], checkpoints start and
    per_doubling) is refused naming the field; --new starts over. --dry-run says what would run.

    One driver per ledger: while it runs it holds DB.lock, and a second `study run` on the same
    --db exits 2 naming the holder (pid, host, start time), or waits for it with --wait.

    With a goal (--goal, or the spec's [goal] target) the spec's grid is the pool of candidate runs
    (every trial, and every extension of a trial to the next data doubling): after each run the
    study refits, runs the candidates that most narrow the goal's 95% interval per FLOP (one per
    worker), and stops when the goal is met, the budget is spent or the grid is exhausted, saying
    which. Each choice is recorded in the ledger before it runs; a killed run resumes with the
    same choices.

    Examples:
        recscale study run tiny
        recscale study run quick --goal 'ne at compute 10x within 2%' --budget 50%
        recscale example tiny > tiny.toml && recscale study run tiny.toml
        recscale study run quick --db runs/quick.db --workers 2
        recscale study run tiny.toml --dry-run
        recscale study run tiny.toml --device cuda --trials-per-device 4
        recscale study run tiny.toml --executor ray --address 10.0.0.1:6379
        recscale study run tiny.toml --db runs/tiny.db --wait
    """
    from recscale.study.runner import RunOptions, run_study
    from recscale.study.spec import load_spec

    spec = load_spec(spec_path)
    db = db or _default_db(spec.name)
    if spec.train.stream == "per_seed" and spec.data.path is not None:
        typer.echo(f"note: train.stream = \"per_seed\": each seed reads {spec.data.path} in its own shuffled order, "
                   "not the file's (for a log, not its time order)", err=True)
    goal_text = None if grid else (goal or spec.goal)
    design = _design(goal_text, budget or spec.budget, fit_from) if goal_text else None  # a bad goal: one line, nothing run
    if dry_run:
        _print_dry_run(spec, db, workers or trials_per_device, device)
        if design is not None:
            typer.echo(f"goal-driven: runs only the candidates it chooses toward {goal_text!r}, within "
                       f"{_budget_words(design[1])}; `recscale study suggest {db} --goal ...` shows the next ones")
        return
    opts = RunOptions(workers=workers, executor=executor, device=device, trials_per_device=trials_per_device,
                      precision=precision, compile=compile_, new=new, progress=not quiet, ray_address=address,
                      snapshot_every_s=snapshot_every, wait=wait, keep_state=keep_state)
    if design is not None:
        _run_goal(spec, db, opts, *design)
        return
    summary = run_study(spec, db, opts)
    typer.echo(
        f"{db}: {summary.trials} trials, {summary.ran} run now ({summary.new} new, {summary.extended} extended), "
        f"{len(summary.failed)} failed, {summary.wall_s:.1f} s"
    )
    if summary.failed:
        typer.echo(f"failed trials (details: recscale study status {db}): {', '.join(summary.failed)}", err=True)
        raise typer.Exit(1)


def _design(goal_text: str, budget_text: str | None, fit_from: str = "all"):
    """The design of a goal and its budget (one-line errors name the option and the syntax)."""
    from recscale.cli.laws import parse_fit_from
    from recscale.laws.design import GoalDesign, parse_budget

    return GoalDesign(goal_text, fit_from=parse_fit_from(fit_from)), (parse_budget(budget_text) if budget_text else None)


def _budget_words(budget) -> str:
    from recscale.study.goal import budget_text

    return "the whole grid" if budget is None else budget_text(budget)


def _run_goal(spec, db: Path, opts, design, budget) -> None:
    from recscale.study.goal import run_goal_study

    s = run_goal_study(spec, db, opts, design, budget, say=typer.echo)
    e = s.estimate
    answer = "no estimate" if e.get("value") is None else f"{e['value']:.4g} [{e['lo']:.4g}, {e['hi']:.4g}] (95%)"
    verdict = "goal met" if s.met else "goal NOT met"
    typer.echo(f"{db}: {verdict}: {s.goal}: {answer}; {s.steps} steps now; the ledger holds {s.spent:.3g} training FLOPs, "
               f"{100 * s.spent / s.grid_flops:.1f}% of the grid's {s.grid_flops:.3g} ({s.reason})")
    if s.failed:
        raise typer.Exit(1)


def _print_dry_run(spec, db: Path, workers: int | None, device: str) -> None:
    from recscale.study.dryrun import dry_run
    from recscale.train.device import resolve_device

    print_estimate(spec.name, dry_run(spec, db, workers=workers, device=resolve_device(device)))


def print_estimate(name: str, est) -> None:
    """The dry run's table and totals. Model ids are never cut: they are how schemes are told apart,
    so in a terminal a long id folds onto a second line, and piped to a file or a pager the table is
    as wide as it needs."""
    import sys

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{name}: {est.trials} trials, {len(est.models)} distinct models")
    for col in ("model", "trials", "params", "FLOPs/sample", "ms/step", "s/eval"):
        table.add_column(col, justify="right" if col != "model" else "left", overflow="fold", no_wrap=col != "model")
    for m in est.models:
        flops = f"{m.flops_per_sample:,}" + (" m" if m.flops_source == "measured" else "")
        table.add_row(m.label, str(m.trials), f"{m.params_total:,}", flops, f"{1e3 * m.step_s:.2f}", f"{m.eval_s:.2f}")
    console = Console() if sys.stdout.isatty() else Console(width=100_000, soft_wrap=True)
    console.print(table)
    if any(m.flops_source == "measured" for m in est.models):
        console.print("m: a plugin's FLOPs, measured with FlopCounterMode on a probe batch (the built-ins': closed form)")
    console.print(
        f"checkpoints: {len(est.checkpoints)} ({est.checkpoints[0]:,} … {est.checkpoints[-1]:,} samples); "
        f"training samples: {est.samples:,}; training FLOPs: {est.train_flops:.3g}\n"
        f"estimated wall time with {est.workers} worker(s): {est.estimated_s / 60:.1f} min (calibrated on this machine)"
    )
    if getattr(est, "ledger", False):  # an estimate without a ledger has no work section
        _print_work(console, est)


def _print_work(console, est) -> None:
    """What a run on the existing ledger would do: new, extended and kept trials, and the new work's cost."""
    new, ext = est.new, est.extended
    console.print(f"the ledger has results: this run would train {len(new)} new and extend {len(ext)} trials; "
                  f"{len(est.kept)} kept (already at their stop)", markup=False, highlight=False)
    for w in new:
        console.print(f"  new       {w.trial_id}: 0 → {w.target:,} samples, {w.train_flops:.3g} FLOPs", markup=False, highlight=False)
    for w in ext:
        how = "from its kept state" if w.from_state else "retrained from scratch (no kept state; its old points are checked)"
        console.print(f"  extended  {w.trial_id}: {w.start:,} → {w.target:,} samples {how}, {w.train_flops:.3g} FLOPs",
                      markup=False, highlight=False)  # fmt: skip
    for tid in est.kept_not_in_spec:
        console.print(f"  kept      {tid}: no longer in the spec (its results stay in the ledger)", markup=False, highlight=False)
    when = "" if est.work_estimated_s is None else f", about {est.work_estimated_s / 60:.1f} min"
    console.print(f"new work: {est.work_samples:,} samples, {est.work_train_flops:.3g} training FLOPs{when}; "
                  f"kept states of these trials: {est.state_bytes / 1e6:.1f} MB on disk (with --keep-state)",
                  markup=False, highlight=False)  # fmt: skip


@app.command("suggest")
def suggest(
    db: Path = typer.Argument(..., metavar="DB", help="Ledger file."),
    goal: str = typer.Option(None, "--goal", help="The goal, e.g. 'ne at compute 10x within 2%' (default: the last goal-driven run's, else the spec's [goal] target)."),
    k: int = typer.Option(3, "-k", "--next", min=1, help="How many next runs to show."),
    spec_path: Path = typer.Option(None, "--spec", help="The study spec whose grid is the pool (default: the one the ledger recorded)."),
    fit_from: str = typer.Option("all", "--fit-from", help="Where the goal's law starts along samples: all (default), auto, or a sample count."),
) -> None:
    """Print the goal's estimate from a ledger and the next runs a goal-driven study would choose,
    with their cost and expected effect; run nothing.

    Example:
        recscale study suggest runs/quick-goal.db --goal 'ne at compute 10x within 2%'
    """
    from recscale.laws.design import widened_text
    from recscale.study.goal import suggest as suggest_runs

    spec, goal_text = _ledger_spec(db, spec_path, goal)
    design, _ = _design(goal_text, None, fit_from)
    out = suggest_runs(spec, db, design, k)
    e = out["estimate"]
    now = (e.get("note") or "no estimate") if e.get("value") is None else (
        f"{e['value']:.4g} [{e['lo']:.4g}, {e['hi']:.4g}] (95%), half-width {e['half_width']:.3g} "
        f"(want {design.goal.tolerance:g}{design.goal.units}){widened_text(e.get('widened'))}")
    typer.echo(f"{db}: {goal_text}: {now}; {'met' if e.get('met') else 'not met'}")
    typer.echo(f"  spent {out['spent']:.3g} training FLOPs, {100 * out['spent'] / out['grid_flops']:.1f}% of the grid's {out['grid_flops']:.3g}")
    if out["untrained"]:
        typer.echo(f"  left out (never trained while the others did): {', '.join(map(str, out['untrained']))}")
    if e.get("met"):
        return
    if not out["choices"]:
        typer.echo("  no candidate left: every trial of the grid ran to its last checkpoint")
        return
    rate = out["seconds_per_flop"]
    timing = "" if rate is None else " and training time at this ledger's measured rate (one worker)"
    typer.echo(f"  next runs (best first; cost{timing}; linearised half-width after each, with the ones before it):")
    for c in out["choices"]:
        after = "start-up: spreads the design" if c.width_after is None else f"-> {c.width_after:.3g}"
        took = "" if rate is None else f" (~{c.candidate.cost * rate / 60:.1f} min)"
        typer.echo(f"    {c.candidate.label}: +{c.candidate.cost:.3g} FLOPs{took}, {after}")
    typer.echo("  the linearised half-widths rank the runs; they are optimistic, since a refit also meets what the law "
               "misses: on the demo's goal-driven study each step's refit was 3-130x wider than its linearised width")


def _ledger_spec(db: Path, spec_path: Path | None, goal: str | None):
    """The spec (given, or the one the ledger recorded) and the goal (given, the last run's, or the spec's)."""
    import tomllib

    from recscale.errors import RecscaleError
    from recscale.study.ledger import open_existing
    from recscale.study.spec import load_spec, parse_spec

    with open_existing(db) as led:
        toml, decisions = led.get_meta("spec_toml"), led.decisions()
    if spec_path is not None:
        spec = load_spec(spec_path)
    elif toml:
        spec = parse_spec(tomllib.loads(toml))
    else:
        raise RecscaleError(f"{db} does not hold its spec's text; give it with --spec SPEC")
    goal = goal or (decisions[-1]["payload"].get("goal") if decisions else None) or spec.goal
    if not goal:
        raise RecscaleError("give the goal with --goal, e.g. --goal 'ne at compute 10x within 2%' (the ledger and its spec name none)")
    return spec, goal


@app.command("status")
def status(db: Path = typer.Argument(..., metavar="DB", help="Ledger file.")) -> None:
    """Show a ledger's trials by status, its evaluations and export rows, and errors of failed trials.

    Example: recscale study status runs/tiny.db
    """
    from recscale.errors import RecscaleError, printable
    from recscale.study.ledger import open_existing

    with open_existing(db) as led:  # read-only; names from the ledger are shown escaped and cut (printable)
        counts = led.status_counts()
        name = printable(led.get_meta("spec_name"), 120)
        total = sum(counts.values())
        typer.echo(f"{db} ({name}): {total} trials: " + ", ".join(f"{v} {printable(k, 40)}" for k, v in sorted(counts.items())))
        evals, rows = led.evaluation_counts()
        typer.echo(f"  {evals} evaluations, one per (trial, samples); the export has {rows} rows "
                   "(a trial's evaluations appear once per scheme it stands in)")
        try:
            grid, done_to = led.get_meta("checkpoints"), led.samples_done()
        except RecscaleError as e:  # status reports counts; a damaged value only costs this line
            grid, done_to = None, {}
            typer.echo(f"  how far each trial got cannot be read: {e}")
        stop = max(grid) if isinstance(grid, list) and grid and all(isinstance(c, int) for c in grid) else None
        partly = {t: n for t, n in done_to.items() if stop is not None and n < stop}
        if stop is not None and done_to:  # a done trial is one with committed results, not necessarily at the stop
            typer.echo(f"  {len(done_to) - len(partly)} done trials trained to the study's stop {stop:,} samples, "
                       f"{len(partly)} partly (rerun the spec to extend them)")
            for t, n in sorted(partly.items())[:20]:
                typer.echo(f"    {printable(t, 120)}: to {n:,} samples")
            if len(partly) > 20:
                typer.echo(f"    ... and {len(partly) - 20} more (the export's samples_done column has each)")
        for trial_id, msg in led.trial_errors().items():
            typer.echo(f"  {printable(trial_id, 120)}: {printable(msg.splitlines()[-1] if msg.strip() else '', 300)}")


@app.command("export")
def export(
    db: Path = typer.Argument(..., metavar="DB", help="Ledger file."),
    out: Path = typer.Option(..., "--out", help="Output table: .csv or .parquet."),
) -> None:
    """Export one row per evaluation (trial, scheme, sizes, FLOPs, samples, NE, ...).

    Example: recscale study export runs/tiny.db --out runs/tiny.csv
    """
    from recscale.study.ledger import export as export_table

    n = export_table(db, out)
    typer.echo(f"wrote {n} rows to {out}")
