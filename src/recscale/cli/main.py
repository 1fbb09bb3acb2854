"""Entry point of the ``recscale`` command.

Subcommand groups live in their own modules and are registered here. Modules import torch (and
other heavy libraries) inside command bodies only, so ``recscale --help`` and the analysis commands
start fast. A :class:`~recscale.errors.RecscaleError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import click
import typer

from recscale.cli import data as data_cli
from recscale.cli import study as study_cli
from recscale.errors import RecscaleError

app = typer.Typer(
    name="recscale",
    help="Scaling laws for recommendation models: train DLRMs at many sizes, fit laws, plan resources.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_cli.app, name="data")
app.add_typer(study_cli.app, name="study")
# Further groups register below (one line each): fit/plan, report, demo.


def _register_optional() -> None:
    """Commands whose modules may not exist yet in a partial checkout are added if importable."""
    import importlib

    for module in ("recscale.cli.laws", "recscale.cli.report", "recscale.cli.demo"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue
        mod.register(app)


_register_optional()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 user error, 130 interrupted)."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="recscale", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return 2
    except click.exceptions.Abort:
        print("interrupted", file=sys.stderr)
        return 130
    except RecscaleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
