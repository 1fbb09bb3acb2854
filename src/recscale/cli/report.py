"""``recscale report``: a study's scaling report (figures, HTML, summary.md, fits.json).

Thin layer over :func:`recscale.report.build_report`: parse, call, print the summary and the path.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer

from recscale.errors import printable
from recscale.laws.options import DEFAULT_BOOTSTRAP


def report_command(
    source: Path = typer.Argument(..., metavar="LEDGER", help="Study ledger (runs/NAME.db) or an exported .csv/.parquet."),
    out: Path = typer.Option(None, "--out", help="Report folder (default: reports/<study name>)."),
    bootstrap: int = typer.Option(DEFAULT_BOOTSTRAP, "--bootstrap", min=0, help="Bootstrap refits per law (0: no intervals)."),
    level: float = typer.Option(0.95, "--level", help="Confidence level of every interval."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the bootstraps."),
    joint_bootstrap: int = typer.Option(None, "--joint-bootstrap", min=0,
                                        help="Bootstrap refits of each joint law NE(N, D) (default: --bootstrap, at most 200)."),
    quiet: bool = typer.Option(False, "--quiet", help="Print only the report's path."),
) -> None:
    """Fit every scaling law of a study and write its report: report.html (self-contained), summary.md, fits.json, figures/.

    Examples:
        recscale report runs/quick.db --out reports/quick
        recscale report runs/tiny.csv --out reports/tiny --bootstrap 200
    """
    from recscale.report import ReportOptions, build_report, load_study

    opts = ReportOptions(bootstrap=bootstrap, level=level, seed=seed, joint_bootstrap=joint_bootstrap)
    if out is None:  # the name comes from the ledger or table: keep it one plain folder name under reports/
        out = Path("reports") / (re.sub(r"[^A-Za-z0-9._-]+", "_", load_study(source).name).strip("._")[:100] or "study")
    result = build_report(source, out, opts, progress=None if quiet else _progress())
    if not quiet:
        typer.echo("\n".join(printable(line, 400) for line in result.summary.splitlines()))
        typer.echo(f"report built in {result.wall_s:.1f} s")
    typer.echo(f"report: {result.html}")


def _progress():
    """Print each step of the report to stderr with the seconds since it started (stdout keeps the summary)."""
    import time

    t0 = time.perf_counter()

    def say(msg: str) -> None:
        typer.echo(f"[{time.perf_counter() - t0:6.1f} s] {msg}", err=True)

    return say


def register(app: typer.Typer) -> None:
    """Add the top-level ``report`` command to the ``recscale`` app."""
    app.command("report")(report_command)
