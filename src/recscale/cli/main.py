"""Entry point of the ``recscale`` command.

Subcommand groups live in their own modules and are registered here. Modules import torch (and
other heavy libraries) inside command bodies only, so ``recscale --help`` and the analysis commands
start fast. A :class:`~recscale.errors.RecscaleError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import typer

from recscale.cli import data as data_cli
from recscale.cli import demo as demo_cli
from recscale.cli import example as example_cli
from recscale.cli import laws as laws_cli
from recscale.cli import report as report_cli
from recscale.cli import study as study_cli
from recscale.errors import RecscaleError, printable

app = typer.Typer(
    name="recscale",
    help="Scaling laws for recommendation models: train DLRMs at many sizes, fit laws, plan resources.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_cli.app, name="data")
app.add_typer(study_cli.app, name="study")
laws_cli.register(app)  # fit, plan
report_cli.register(app)  # report
demo_cli.register(app)  # demo
example_cli.register(app)  # example


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failed trials, 2 user error, 130 interrupted)."""
    try:
        app(args=argv, prog_name="recscale")  # standalone: usage errors exit 2, success exits 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except RecscaleError as e:
        print(f"error: {printable(e, 4000)}", file=sys.stderr)  # one line, whatever text from a file it quotes
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
