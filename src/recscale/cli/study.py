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
    keep_state: bool = typer.Option(True, "--keep-state/--no-keep-state", help="Keep each finished trial's final training state beside the ledger (DB.states/), so a raised checkpoints.stop extends it instead of retraining it. Costs 12 bytes per parameter per trial with Adam (weights + 2 moments, fp32): 243 MB for the quick example's 26 trials; --dry-run shows it."),
) -> None:
    """Run a study (or resume or grow it: finished trials are kept, the rest run).

    A ledger grows with its spec: added seeds, sizes, schemes or architectures run only their new
    trials, and a raised checkpoints.stop extends finished trials (from their kept state). A change
    to what finished trials' numbers depend on (data, [train], [model], checkpoints start and
    per_doubling) is refused naming the field; --new starts over. --dry-run says what would run.

    One driver per ledger: while it runs it holds DB.lock, and a second `study run` on the same
    --db exits 2 naming the holder (pid, host, start time), or waits for it with --wait.

    Examples:
        recscale study run tiny
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
    if dry_run:
        _print_dry_run(spec, db, workers or trials_per_device, device)
        return
    opts = RunOptions(workers=workers, executor=executor, device=device, trials_per_device=trials_per_device,
                      precision=precision, compile=compile_, new=new, progress=not quiet, ray_address=address,
                      snapshot_every_s=snapshot_every, wait=wait, keep_state=keep_state)
    summary = run_study(spec, db, opts)
    typer.echo(
        f"{db}: {summary.trials} trials, {summary.ran} run now ({summary.new} new, {summary.extended} extended), "
        f"{len(summary.failed)} failed, {summary.wall_s:.1f} s"
    )
    if summary.failed:
        typer.echo(f"failed trials (details: recscale study status {db}): {', '.join(summary.failed)}", err=True)
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
