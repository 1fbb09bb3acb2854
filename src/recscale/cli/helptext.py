"""Help text that reads right at any terminal width.

Docstrings are wrapped at about 100 columns in the source; printed as they are, an 80-column terminal
wraps each long line again and leaves a half-line after it. So prose paragraphs are joined into one
line each (the help formatter wraps them to the terminal), while the lines of an ``Examples:``
paragraph and indented lines stay one per line; an example longer than :data:`EXAMPLE_WIDTH` is
split before an option into shell continuation lines (``\\``), so it can still be pasted as it is.

Help is printed by rich, which reads ``[word]`` as a markup tag and drops it; the texts name spec
sections that way (``[train]``, ``[goal]``), so every help is escaped before it is printed.
"""

from __future__ import annotations

import inspect
from typing import Any

EXAMPLE_WIDTH = 72  # an 80-column help panel leaves this much after its indent and margins


def _continued(line: str) -> str:
    """A long example line split before its options into ``\\``-continued lines of at most EXAMPLE_WIDTH."""
    if len(line) <= EXAMPLE_WIDTH or not line.lstrip().startswith("recscale "):
        return line
    indent = line[: len(line) - len(line.lstrip())]
    units: list[str] = []  # the command and its arguments, then each option with its values
    for w in line.strip().split(" "):
        if w.startswith("-") or not units:
            units.append(w)
        else:
            units[-1] += " " + w
    out, cur = [], indent + units[0]
    for u in units[1:]:
        if len(cur) + 1 + len(u) + 2 > EXAMPLE_WIDTH:
            out.append(cur + " \\")
            cur = indent + "    " + u
        else:
            cur += " " + u
    return "\n".join([*out, cur])


def reflow(text: str | None) -> str | None:
    """``text`` with each prose paragraph on one line; example and indented lines kept as they are."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    out = []
    for p in paragraphs:
        lines = p.split("\n")
        keep = lines[0].rstrip().endswith(":") or any(line.startswith((" ", "\b")) for line in lines)
        out.append("\n".join(map(_continued, lines)) if keep else " ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def reflow_tree(command: Any) -> Any:
    """Reflow and escape the help of a click command, its options and every subcommand under it (in place); returns it."""
    from rich.markup import escape

    command.help = escape(reflow(command.help)) if command.help else command.help
    for param in command.params:
        if getattr(param, "help", None):
            param.help = escape(param.help)
    for sub in getattr(command, "commands", {}).values():
        reflow_tree(sub)
    return command
