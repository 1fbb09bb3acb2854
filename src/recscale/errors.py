"""User-facing errors.

Anything a user can cause (a bad spec, a malformed input file, an impossible request) raises a
:class:`RecscaleError`. The CLI prints its message on one line and exits with code 2; a traceback
means a bug in recscale, never a user mistake.
"""

from __future__ import annotations


class RecscaleError(Exception):
    """An error the user can fix; its message says what and where."""


class SpecError(RecscaleError):
    """One or more problems in a study spec, all reported together.

    Args:
        problems: One line per problem, each naming the TOML key path, the value and what is allowed.
        source: The spec file, if any.
    """

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(self.problems))


class DataError(RecscaleError):
    """A problem with input data: names the file, and the line and column where known."""


# C0 and C1 controls (ESC among them), and the bidirectional overrides that reorder what is shown.
_CONTROL: dict[int, str | None] = {c: None for c in [*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0x200B, 0x2010),
                                                     *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]}
_CONTROL[0x09] = _CONTROL[0x0A] = _CONTROL[0x0D] = " "


def printable(text: object, limit: int = 200) -> str:
    """``text`` made safe for a terminal or a Markdown line: control and escape characters dropped
    (a name from a ledger or CSV cannot move the cursor or recolour the terminal), at most ``limit``
    characters (a 20 MB label is cut, saying how long it was)."""
    s = str(text).translate(_CONTROL)
    if len(s) > limit:
        s = f"{s[: max(limit - 30, 10)]}… ({len(s):,} characters)"
    return s
