"""Library messages in the words of the command line: options, not functions and keyword arguments.

The laws check their arguments and say so in Python's terms (``fit_power_law: bootstrap must be an
integer >= 0``, ``form='m4' cannot fix gamma``), which is right for a library caller. On the command
line the same mistake was made with an option, so the message names the option
(``--bootstrap must be an integer ≥ 0; got -1``): the name of the function that checked it goes, and
each argument that an option sets becomes that option.
"""

from __future__ import annotations

import re

#: Keyword arguments of the laws (and the report's options) that a command-line option sets.
OPTIONS: dict[str, str] = {
    "bootstrap": "--bootstrap",
    "joint_bootstrap": "--joint-bootstrap",
    "level": "--level",
    "seed": "--seed",
    "form": "--form",
    "gamma": "--gamma",
    "gamma_bounds": "--gamma-bounds",
    "target_ne": "--target-ne",
    "bytes_per_param": "--bytes-per-param",
    "forms_check": "--forms-check",
    "free_floor": "--free-floor",
}

_NAMES = "|".join(sorted(map(re.escape, OPTIONS), key=len, reverse=True))
_PREFIX = re.compile(r"^([A-Za-z_]\w*(?:\.\w+)*|report options): (?=\S)")  # "fit_power_law: ", "JointLawFit.ci: "
_COMMANDS = {"fit", "plan", "report options"}  # where= labels the library adds; the user knows which command ran
_KEYWORD = re.compile(rf"(?<![\w-])({_NAMES})=(\([^)]*\)|'[^']*'|[^\s;,)]+)")
_BARE = re.compile(rf"(?<![\w-])({_NAMES})(?= (?:must|cannot)\b)")
_ADVICE = re.compile(r" ?\((?:use|pass|set) [a-z_]+=[^)]*\)")  # "(use space='linear' for signed y)": no option does it


def internal_names() -> set[str]:
    """Names of the functions and classes of :mod:`recscale.laws` (what a message must not start with)."""
    import importlib
    import inspect
    import pkgutil

    import recscale.laws as laws

    names = set(_COMMANDS)
    for mod in pkgutil.iter_modules(laws.__path__):
        m = importlib.import_module(f"recscale.laws.{mod.name}")
        names.update(n for n, obj in vars(m).items() if inspect.isfunction(obj) or inspect.isclass(obj))
    return names


def _value(value: str) -> str:
    if value.startswith("(") and value.endswith(")"):  # gamma_bounds=(lo, hi) -> LO,HI
        return ",".join(v.strip().upper() if v.strip().isalpha() else v.strip() for v in value[1:-1].split(","))
    return value.strip("'")


def in_user_words(message: str) -> str:
    """``message`` without a leading function name, its keyword arguments spelled as the options that set them.

    Example:
        >>> in_user_words("fit_power_law: bootstrap must be an integer >= 0; got -1")
        '--bootstrap must be an integer ≥ 0; got -1'
    """
    lead = _PREFIX.match(message)
    if lead and lead.group(1).split(".")[0] in internal_names():
        message = message[lead.end():]
    message = _ADVICE.sub("", message)
    message = re.sub(rf"got ({_NAMES})=", "got ", message)
    message = _KEYWORD.sub(lambda m: f"{OPTIONS[m[1]]} {_value(m[2])}", message)
    message = _BARE.sub(lambda m: OPTIONS[m[1]], message)
    return message.replace(">=", "≥").replace("<=", "≤")
