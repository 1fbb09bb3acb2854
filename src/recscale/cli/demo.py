"""``recscale demo`` (``make demo``): the paper's study on the built-in synthetic world, end to end.

Runs the packaged example ``quick`` (``recscale example quick``; ``examples/quick.toml`` in the
repository) into ``runs/quick.db`` (resumable: rerunning keeps finished trials),
then writes the report into ``reports/quick/`` and prints a short summary, the report's path and the
measured wall time. Two library calls, :func:`recscale.study.runner.run_study` and
:func:`recscale.report.build_report`; nothing else happens here.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from recscale.laws.options import DEFAULT_BOOTSTRAP

DEFAULT_SPEC = "quick"  # a packaged example (recscale.examples), so the demo runs from any folder


def _find_spec(spec: str | None) -> Path:
    """The spec file ``spec`` (a path, or a packaged example's name), by default the packaged ``quick``."""
    from recscale.study.spec import resolve_spec

    return resolve_spec(DEFAULT_SPEC if spec is None else spec).resolve()


def _minutes(s: float) -> str:
    return f"{int(s // 60)} min {s % 60:.0f} s" if s >= 60 else f"{s:.1f} s"


def demo_command(
    spec: str = typer.Option(None, "--spec", help="Study spec: a TOML file or a packaged example's name (default: quick)."),
    db: Path = typer.Option(None, "--db", help="Ledger (default: runs/<spec name>.db)."),
    out: Path = typer.Option(None, "--out", help="Report folder (default: reports/<spec name>)."),
    workers: int = typer.Option(None, "--workers", min=1, help="Concurrent trials (default: cores / train.threads)."),
    device: str = typer.Option("auto", "--device", help="Torch device: auto, cpu, cuda, cuda:N."),
    bootstrap: int = typer.Option(DEFAULT_BOOTSTRAP, "--bootstrap", min=0, help="Bootstrap refits per law in the report."),
    new: bool = typer.Option(False, "--new", help="Discard the ledger's results and train every trial again."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress display while training or reporting."),
) -> None:
    """Run the demo study (a synthetic CTR world with a known Bayes NE, four scaling schemes), then its report.

    Rerunning resumes: finished trials are kept, so a second run only rebuilds the report.

    Examples:
        recscale demo
        recscale demo --workers 2 --out reports/quick
        recscale demo --spec tiny
    """
    from recscale.report import ReportOptions, build_report
    from recscale.study.runner import RunOptions, run_study
    from recscale.study.spec import load_spec

    t0 = time.perf_counter()
    spec_path = _find_spec(spec)
    study = load_spec(spec_path)
    db = db or Path("runs") / f"{study.name}.db"
    out = out or Path("reports") / study.name
    typer.echo(f"demo: study {spec_path} -> {db}, report -> {out}")
    run = run_study(study, db, RunOptions(workers=workers, device=device, new=new, progress=not quiet))
    t_study = time.perf_counter() - t0
    before = run.trials - run.ran
    typer.echo(f"study: {run.trials} trials ({run.ran} trained now" + (f", {before} already in {db}" if before else "")
               + f", {len(run.failed)} failed) in {_minutes(t_study)}")
    if run.failed:
        typer.echo(f"failed trials (details: recscale study status {db}): {', '.join(run.failed)}; "
                   "the report covers the finished ones", err=True)
    from recscale.cli.report import _progress

    result = build_report(db, out, ReportOptions(bootstrap=bootstrap), progress=None if quiet else _progress())
    total = time.perf_counter() - t0
    typer.echo("")
    typer.echo(result.summary)
    typer.echo("")
    typer.echo(f"report: {result.html}  (also {result.markdown.name}, {result.fits_json.name}, figures/)")
    typer.echo(f"demo wall time: {_minutes(total)} (study {_minutes(t_study)}, report {_minutes(result.wall_s)})")
    if run.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the top-level ``demo`` command to the ``recscale`` app."""
    app.command("demo")(demo_command)
