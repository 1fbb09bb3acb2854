"""Check that imports inside recscale point the one way ARCHITECTURE.md draws (/work/shared/ARCHITECTURE.md,
"Imports point one way"), and that no modules import each other.

Every module under src/recscale is parsed with ``ast`` (nothing is imported, so the check is fast and
sees imports inside functions and ``importlib.import_module("...")`` calls too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import recscale

ROOT = Path(recscale.__file__).parent

# What each layer may never import (by the first component under recscale).
FORBIDDEN = {
    "errors": {"metrics", "data", "model", "train", "study", "laws", "report", "cli"},
    "metrics": {"data", "model", "train", "study", "laws", "report", "cli"},
    "data": {"train", "study", "laws", "report", "cli"},
    "model": {"data", "train", "study", "laws", "report", "cli"},
    "train": {"study", "laws", "report", "cli"},
    "study": {"laws", "report", "cli"},
    "laws": {"data", "model", "train", "study", "report", "cli"},
    "report": {"data", "model", "train", "cli"},
}
# The report reads files only through the one table reader (and the ledger, for provenance).
REPORT_MAY_USE_FROM_STUDY = {"recscale.study.table_reader", "recscale.study.ledger"}
TORCH_FREE = {"errors", "metrics", "laws", "report"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _known(name: str, modules: set[str]) -> str:
    """The longest prefix of ``name`` that is a recscale module (``from pkg import submodule``)."""
    while name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(path: Path, modules: set[str], source: str | None = None) -> list[tuple[int, str]]:
    """(line, module) of every import in ``path`` (or ``source`` as if it were there), wherever it
    sits, with ``from package import submodule`` resolved to the submodule."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:  # `from recscale.study import ledger` imports recscale.study.ledger
                full = f"{base}.{a.name}"
                out.append((node.lineno, full if full in modules else base))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.append((node.lineno, node.args[0].value))
    return out


def _graph() -> tuple[dict[str, Path], dict[str, set[str]], list[str]]:
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(files)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    bad = []
    for mod, path in sorted(files.items()):
        layer = mod.split(".")[1] if "." in mod else None
        for line, name in imports_of(path, modules):
            where = f"{path.relative_to(ROOT.parent)}:{line}: {mod} imports {name}"
            top = name.split(".")[0]
            if top == "torch" and layer in TORCH_FREE:
                bad.append(f"{where} (recscale.{layer} must stay torch-free)")
            if top != "recscale" or "." not in name:
                continue
            target = _known(name, modules)
            if target != mod:
                edges[mod].add(target)
            other = name.split(".")[1]
            if other in FORBIDDEN.get(layer, set()):
                bad.append(f"{where} (recscale.{layer} may not import recscale.{other})")
            if layer == "report" and other == "study" and target not in REPORT_MAY_USE_FROM_STUDY:
                bad.append(f"{where} (the report may use only {sorted(REPORT_MAY_USE_FROM_STUDY)} from the study)")
    return files, edges, bad


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_imports_point_one_way():
    """Check every import in src/recscale against the layers of ARCHITECTURE.md."""
    _, _, bad = _graph()
    assert not bad, "imports against the direction in ARCHITECTURE.md:\n  " + "\n  ".join(bad)


def test_no_modules_import_each_other():
    """Check that the module import graph has no cycle (a pair importing each other, or a longer loop)."""
    _, edges, _ = _graph()
    cycles = _cycles(edges)
    assert not cycles, "modules that import each other (directly or in a loop):\n  " + "\n  ".join(
        " <-> ".join(c) for c in cycles
    )


@pytest.mark.parametrize(
    "source,module,expected",
    [
        ("from recscale.study.ledger import export_frame\n", "recscale.laws.table", "recscale.study.ledger"),
        ("def f():\n    import recscale.train.trainer\n", "recscale.data.loader", "recscale.train.trainer"),
        ("import importlib\nimportlib.import_module('recscale.study.ledger')\n", "recscale.laws.x", "recscale.study.ledger"),
        ("from ..study import ledger\n", "recscale.report.x", "recscale.study.ledger"),
    ],
)
def test_the_parser_sees_every_kind_of_import(source, module, expected):
    """Check that top-level, in-function, relative and import_module imports are all found."""
    path = ROOT.joinpath(*module.split(".")[1:]).with_suffix(".py")
    modules = {module_name(p) for p in ROOT.rglob("*.py")}
    found = [name for _, name in imports_of(path, modules, source=source)]
    assert expected in found, found
