"""Which columns of a table are the label, the dense and the sparse features, named or by pattern.

Real tables have many columns (Criteo's CSV layout has I1..I13 and C1..C26; Avazu 22 categorical
ones), so ``--dense`` / ``--sparse`` / ``--ignore`` take a comma-separated list of *selectors*, each
resolved against the first input's columns, in this order:

``name``
    A column of that exact name (a column named ``user-id`` or ``a*b`` is always itself).
``PREFIXa-PREFIXb`` (``C1-C26``)
    The columns PREFIXa, PREFIXa+1, ..., PREFIXb; every one must exist.
``PREFIX[a-b]SUFFIX`` (``I[1-13]``)
    The same numeric range written with brackets (numeric, unlike a shell's one-character class:
    ``I[1-13]`` is I1..I13); may contain ``*`` or ``?`` too, e.g. ``C[1-3]_*``.
shell pattern (``I*``, ``C?``, ``f_[ab]*``)
    Every column it matches (:func:`fnmatch.fnmatchcase`: case-sensitive), in the table's order.
``rest`` (the whole of ``--dense`` or ``--sparse``)
    Every column that is not the label, not in the other role and not ``--ignore``\\ d.

``--ignore`` removes columns from what the patterns, ranges and ``rest`` of ``--dense`` and
``--sparse`` select (``--dense 'I*' --ignore Id`` on the Kaggle layout ``Id,Label,I1..I13,...``);
a column named exactly in a role and in ``--ignore`` is an error.

A selector that matches no column is an error naming it and listing the columns that exist (with
"did you mean" for a name in the wrong case or nearly right). A column selected twice in one role
counts once; in two roles it is an error (see :class:`TableColumns`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from recscale.errors import DataError

REST = "rest"
_DASH_RANGE = re.compile(r"(?P<prefix>\D*?)(?P<a>\d+)-(?P=prefix)(?P<b>\d+)")
_BRACKET_RANGE = re.compile(r"\[(?P<a>\d+)-(?P<b>\d+)\]")


@dataclass(frozen=True)
class TableColumns:
    """Which columns of the table are the label, the dense features and the sparse features."""

    label: str
    dense: tuple[str, ...] = ()
    sparse: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "dense", tuple(self.dense))
        object.__setattr__(self, "sparse", tuple(self.sparse))
        if not self.label:
            raise DataError("--label must name a column")
        if not self.dense and not self.sparse:
            raise DataError("give at least one feature column with --dense or --sparse")
        seen: dict[str, str] = {}
        for role, cols in (("--label", (self.label,)), ("--dense", self.dense), ("--sparse", self.sparse)):
            for c in cols:
                if c in seen:
                    raise DataError(f"column {c!r} is given twice ({seen[c]} and {role}); each column has one role")
                seen[c] = role

    @property
    def all(self) -> list[str]:
        return [self.label, *self.dense, *self.sparse]


@dataclass(frozen=True)
class ColumnSpec:
    """Column roles as the user wrote them (names, ranges, patterns, ``rest``), before the file is read.

    Attributes:
        label: The label column's exact name.
        dense, sparse, ignore: Selectors (see module docstring); ``("rest",)`` in at most one role.
    """

    label: str
    dense: tuple[str, ...] = ()
    sparse: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("dense", "sparse", "ignore"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.label:
            raise DataError("--label must name a column")
        if not self.dense and not self.sparse:
            raise DataError("give at least one feature column with --dense or --sparse")
        for role in ("dense", "sparse"):
            sel = getattr(self, role)
            if REST in sel and len(sel) > 1:
                raise DataError(f"--{role} {','.join(sel)!r}: 'rest' stands alone (every other column); drop the other names")
        if self.dense == (REST,) and self.sparse == (REST,):
            raise DataError("--dense rest and --sparse rest conflict: 'rest' may stand for one role only")
        if REST in self.ignore:
            raise DataError("--ignore rest would leave nothing to read; name the columns to ignore")

    def resolve(self, available: list[str], where: str) -> TableColumns:
        """The exact columns of each role, in order, given the columns of the first input ``where``."""
        if self.label not in available:
            raise DataError(f"--label {self.label!r} is not a column of {where}{did_you_mean(self.label, available)}; "
                            f"its columns are: {', '.join(available)}")
        ignored = select(self.ignore, available, "--ignore", where)
        roles = {}
        for role in ("dense", "sparse"):
            sel = getattr(self, role)
            if sel == (REST,):
                roles[role] = ()
                continue
            both = [c for c in sel if c in ignored and c in available]
            if both:
                raise DataError(f"column {both[0]!r} is given in --{role} and in --ignore; drop it from one")
            roles[role] = tuple(c for c in select(sel, available, f"--{role}", where) if c not in ignored)
        for role, other in (("dense", "sparse"), ("sparse", "dense")):
            if getattr(self, role) == (REST,):
                taken = {self.label, *roles[other], *ignored}
                roles[role] = tuple(c for c in available if c not in taken)
                if not roles[role]:
                    raise DataError(f"--{role} rest: no column left in {where} after the label, --{other} and --ignore")
        return TableColumns(self.label, roles["dense"], roles["sparse"])


def select(selectors: tuple[str, ...], available: list[str], flag: str, where: str) -> tuple[str, ...]:
    """The columns that ``selectors`` name, in selector order (table order within a pattern), each once."""
    out: dict[str, None] = {}
    for s in selectors:
        found = _one(s, available)
        if isinstance(found, str):
            hint = did_you_mean(s, available) if found == "is not a column" else ""
            raise DataError(f"{flag} {s!r} {found} in {where}{hint}; its columns are: {', '.join(available)}")
        out.update(dict.fromkeys(found))
    return tuple(out)


def _one(selector: str, available: list[str]) -> list[str] | str:
    """Columns of one selector, or the reason it selects none (for the error message)."""
    if selector in available:
        return [selector]
    m = _DASH_RANGE.fullmatch(selector) or _BRACKET_RANGE.search(selector)
    if m and int(m["b"]) < int(m["a"]):
        return "runs backwards (write the smaller number first)"
    numbers = range(int(m["a"]), int(m["b"]) + 1) if m else range(0)
    if m and m.re is _DASH_RANGE:
        names = [f"{m['prefix']}{i}" for i in numbers]
        lacking = [n for n in names if n not in available]
        return names if not lacking else f"names {_list(lacking)}, which do not exist"
    if m:
        patterns = [selector[: m.start()] + str(i) + selector[m.end() :] for i in numbers]
        names = [c for p in patterns for c in available if fnmatchcase(c, p)]
        return list(dict.fromkeys(names)) or "matches no column"
    if any(ch in selector for ch in "*?["):
        return [c for c in available if fnmatchcase(c, selector)] or "matches no column"
    return "is not a column"


def _list(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def did_you_mean(name: str, available: list[str]) -> str:
    """``" (did you mean 'Label'?)"`` for a name in the wrong case or nearly right, else ``""``."""
    same = [c for c in available if c.lower() == name.lower()]
    close = same or difflib.get_close_matches(name, available, n=1, cutoff=0.8)
    return f" (did you mean {close[0]!r}?)" if close else ""


_NUMBERED = re.compile(r"(.*?)(\d+)")


def compact(names: list[str] | tuple[str, ...]) -> str:
    """Column names with runs of consecutive numbers shortened: ``I1..I13, C1..C26`` → ``"I1-I13, C1-C26"``."""
    parts: list[str] = []
    run: list[tuple[str, int, str]] = []  # (prefix, number, name) of the current run

    def flush() -> None:
        if len(run) >= 3:
            parts.append(f"{run[0][2]}-{run[-1][2]}")
        else:
            parts.extend(r[2] for r in run)
        run.clear()

    for n in names:
        m = _NUMBERED.fullmatch(n)
        if m and run and run[-1][0] == m[1] and run[-1][1] + 1 == int(m[2]) and not m[2].startswith("0"):
            run.append((m[1], int(m[2]), n))
            continue
        flush()
        if m and not m[2].startswith("0"):
            run.append((m[1], int(m[2]), n))
        else:
            parts.append(n)
    flush()
    return ", ".join(parts)
