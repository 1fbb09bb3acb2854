"""``recscale example [NAME]``: list the packaged study specs, or print one to start your own from."""

from __future__ import annotations

import typer

from recscale.errors import RecscaleError


def example_command(
    name: str = typer.Argument(None, metavar="[NAME]", help="An example's name (omit to list them)."),
) -> None:
    """List the example study specs shipped with recscale, or print one (TOML) to standard output.

    Any command that takes a spec also takes an example's name (when no file of that name exists).

    Examples:
        recscale example
        recscale example quick > my_study.toml
        recscale study run tiny --db runs/tiny.db
    """
    from recscale import examples

    if name is None:
        for n in examples.names():
            typer.echo(f"{n}\t{_summary(examples.path(n).read_text())}")
        return
    p = examples.path(name)
    if p is None:
        raise RecscaleError(f"example {name!r} does not exist; examples: {', '.join(examples.names())}")
    typer.echo(p.read_text(), nl=False)


def _summary(toml_text: str) -> str:
    """The first sentence of a spec's opening comment, whole (it may span several comment lines)."""
    lines = []
    for line in toml_text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    text = " ".join(lines)
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch in "([") - (ch in ")]")
        if ch == "." and depth == 0 and (i + 1 == len(text) or (text[i + 1] == " " and text[i + 2 : i + 3].isupper())):
            return text[: i + 1]
    return text


def register(app: typer.Typer) -> None:
    """Add the top-level ``example`` command to the ``recscale`` app."""
    app.command("example")(example_command)
