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
