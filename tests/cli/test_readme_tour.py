"""Check that the README's tour runs as written, line by line, from an empty folder.

Each line of the Tour's code block is one `recscale` command (a `> FILE` redirect allowed); it runs
in-process, in an empty temporary working folder, and must exit 0. So the tour never names a path
that exists only inside the repository.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from recscale.cli.main import main

README = Path(__file__).resolve().parents[2] / "README.md"


def tour_lines() -> list[str]:
    """The commands of the README's Tour code block, comments removed."""
    text = README.read_text()
    block = re.search(r"## Tour\n.*?```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no Tour code block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.split("#")[0].strip()]


def test_tour_names_only_paths_it_makes():
    """Check the tour starts from nothing: every spec or ledger it reads is made by an earlier line (or is a packaged name)."""
    lines = tour_lines()
    assert all(line.startswith("recscale ") for line in lines)
    assert not any("examples/" in line for line in lines)
    assert lines.index("recscale example tiny > tiny.toml") < min(i for i, line in enumerate(lines) if "tiny.toml" in line and ">" not in line)


@pytest.mark.slow
def test_readme_tour_runs_from_an_empty_folder(tmp_path, monkeypatch):
    """Check every tour line exits 0 from an empty folder, and the dry run piped keeps whole model ids."""
    monkeypatch.chdir(tmp_path)
    outputs = {}
    for line in tour_lines():
        args = shlex.split(line)[1:]
        target = None
        if ">" in args:
            target = Path(args[args.index(">") + 1])
            args = args[: args.index(">")]
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = main(args)
        assert code == 0, f"{line} exited {code}"
        if target is not None:
            target.write_text(buf.getvalue())
        outputs[line] = buf.getvalue()
    assert (tmp_path / "reports/tiny/report.html").is_file() and (tmp_path / "runs/tiny.csv").is_file()
    from recscale.study.spec import load_spec

    dry = next(out for line, out in outputs.items() if "--dry-run" in line)
    labels = {t.model.label() for t in load_spec(tmp_path / "tiny.toml").trials()}
    assert len(labels) == 5 and all(label in dry for label in labels)
