"""Check every command's help at 80 columns: it has examples, and no line is re-wrapped into a half-line."""

from __future__ import annotations

import pytest
import typer

from recscale.cli.helptext import EXAMPLE_WIDTH, reflow
from recscale.cli.main import app, main


def _commands() -> list[list[str]]:
    """The path of every command and group (``[]`` is ``recscale`` itself)."""
    out = []

    def walk(cmd, path):
        out.append(path)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return out


def test_reflow_joins_prose_and_keeps_examples():
    """Check that prose lines join, example lines stay, and a long example is continued with a backslash."""
    text = """First line
    goes on.

    A paragraph wrapped
    at some width.

    Examples:
        recscale data table clicks.parquet --out data/mine --label clicked --dense price,age --sparse user,item
        recscale example
    """
    out = reflow(text)
    assert out.startswith("First line goes on.\n\nA paragraph wrapped at some width.\n\nExamples:\n")
    examples = out.split("Examples:\n")[1].split("\n")
    assert examples == ["    recscale data table clicks.parquet --out data/mine --label clicked \\",
                        "        --dense price,age --sparse user,item", "    recscale example"]
    assert all(len(e) <= EXAMPLE_WIDTH for e in examples)


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p) or "recscale")
def test_help_at_80_columns_has_examples_and_no_half_lines(path, monkeypatch, capsys):
    """Check each help: fits 80 columns, shows an example, and each example line is whole or continued with '\\'."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TERMINAL_WIDTH", "80")
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "Example" in out, f"{' '.join(path)} --help shows no example"
    starts = [i for i, line in enumerate(lines) if line.strip().startswith(("Examples:", "Example:"))]
    i = starts[0] + 1
    while i < len(lines) and lines[i].strip() and not lines[i].lstrip().startswith("╭"):
        line = lines[i].strip()
        if line.startswith("recscale"):
            pass
        else:  # a continuation line: an option after a line ending in a backslash
            assert line.startswith("-") and lines[i - 1].rstrip().endswith("\\"), f"half-line in help: {lines[i]!r}"
        i += 1
    assert "--eval-files" not in out or path != ["data", "movielens100k"]


def _help_sources() -> list[tuple[str, str]]:
    """(command path, text) of every command's help and every option's help, as written in the source."""
    out = []

    def walk(cmd, path):
        out.append((path, cmd.help or ""))
        out.extend((f"{path} {p.name}", p.help) for p in cmd.params if getattr(p, "help", None))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "recscale")
    return out


def test_square_brackets_in_help_are_printed_not_eaten_as_markup(monkeypatch, capsys):
    """Check that a spec section named in help ("[train]", "[goal]") reaches the terminal: rich markup would drop it."""
    bracketed = sorted({w for _, text in _help_sources() for w in text.split() if w.startswith("[") and w[1:2].isalpha()})
    assert "[train]," in bracketed and "[goal]" in bracketed  # the texts below do name sections
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["study", "run", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())  # options' help is drawn in a box
    for section in ("[train]", "[model]", "[goal] target", "[goal] budget"):
        assert section in out, f"{section!r} missing from `recscale study run --help`"
