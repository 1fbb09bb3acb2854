"""Entry point of the ``recscale`` command.

Subcommand groups live in their own modules and are registered here. Modules import torch (and
other heavy libraries) inside command bodies only, so ``recscale --help`` and the analysis commands
start fast. Every mistake a user can make ends the same way: one line on stderr, ``error: ...``,
and exit code 2; a :class:`~recscale.errors.RecscaleError` from the library and a parser error
(an unknown option, a value that is not a number, ``--workers 0``) alike.
"""

from __future__ import annotations

import sys

import typer

from recscale import __version__
from recscale.cli import data as data_cli
from recscale.cli import demo as demo_cli
from recscale.cli import design as design_cli
from recscale.cli import example as example_cli
from recscale.cli import laws as laws_cli
from recscale.cli import report as report_cli
from recscale.cli import study as study_cli
from recscale.cli.helptext import reflow_tree
from recscale.cli.translate import in_user_words
from recscale.errors import RecscaleError, printable

app = typer.Typer(
    name="recscale",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every subcommand
)
app.add_typer(data_cli.app, name="data")
app.add_typer(study_cli.app, name="study")
laws_cli.register(app)  # fit, plan
report_cli.register(app)  # report
demo_cli.register(app)  # demo
design_cli.register(app)  # design
example_cli.register(app)  # example


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"recscale {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print recscale's version and exit."),
) -> None:
    """Scaling laws for recommendation models: train DLRMs at many sizes, fit laws, plan resources.

    Every command prints its own examples with -h. A mistake in an option, a spec or an input file
    is one line naming it, exit code 2.

    Examples:
        recscale data synth --out data/synth --rows 200000 --eval-rows 20000
        recscale example tiny > tiny.toml
        recscale study run tiny.toml --db runs/tiny.db
        recscale fit runs/tiny.db --x samples --group scheme,value
        recscale report runs/tiny.db --out reports/tiny
    """


def _usage_errors() -> tuple[type[BaseException], ...]:
    """The parser's error classes: typer ≥ 0.20 carries its own click, older typer uses click's."""
    found: list[type[BaseException]] = []
    try:
        from typer._click.exceptions import ClickException as Vendored
        found.append(Vendored)
    except ImportError:
        pass
    try:
        from click import ClickException
        found.append(ClickException)
    except ImportError:
        pass
    return tuple(found)


def _usage_line(e: BaseException) -> str:
    """A parser error as one line, ending with where the command's help is."""
    msg = " ".join(e.format_message().split())  # type: ignore[attr-defined]
    msg = msg[:1].lower() + msg[1:]
    ctx = getattr(e, "ctx", None)
    where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
    return f"error: {msg}{where}"


def argv_command(argv: list[str] | None) -> str | None:
    """The command word of a command line (``fit`` in ``recscale fit runs.csv ...``)."""
    args = sys.argv[1:] if argv is None else argv
    return next((a for a in args if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failed trials, 2 user error, 130 interrupted)."""
    command = reflow_tree(typer.main.get_command(app))
    usage = _usage_errors()
    try:
        code = command.main(args=argv, prog_name="recscale", standalone_mode=False)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except RecscaleError as e:
        message = str(e)
        if argv_command(argv) in ("fit", "plan", "report", "demo"):  # options that set the laws' arguments
            message = in_user_words(message)
        print(f"error: {printable(message, 4000)}", file=sys.stderr)  # one line, whatever text from a file it quotes
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except usage as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # `recscale` or `recscale data` alone: the help
            help_text = e.ctx.get_help()  # type: ignore[attr-defined]
            if help_text:
                typer.echo(help_text)
            return 0
        print(_usage_line(e), file=sys.stderr)
        return 2
    except Exception as e:
        if type(e).__name__ == "Abort":  # a prompt interrupted
            print("interrupted", file=sys.stderr)
            return 130
        raise
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
