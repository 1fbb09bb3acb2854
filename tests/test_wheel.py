"""Check that the built wheel stands on its own: installed (not editable) into a fresh virtualenv, it
runs the packaged tiny study from an empty folder, with no repository in reach."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _pip(*args: str, python: str = sys.executable) -> None:
    """pip without network: no index, no build isolation (setuptools comes from this interpreter)."""
    subprocess.run([python, "-m", "pip", *args, "--no-deps", "--no-index", "--no-build-isolation", "-q",
                    "--disable-pip-version-check"], check=True, capture_output=True, text=True)  # fmt: skip


def _build_wheel(tmp: Path) -> Path:
    """Build the wheel from a copy of the sources, so the build writes nothing into the repository."""
    src = tmp / "src-copy"
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    _pip("wheel", str(src), "-w", str(tmp / "dist"))
    (wheel,) = (tmp / "dist").glob("recscale-*.whl")
    return wheel


def _fresh_venv(tmp: Path) -> Path:
    """A new virtualenv that reuses this interpreter's installed torch and dependencies.

    ``--system-site-packages`` would reach the base Python's packages, not this virtualenv's, so a
    ``.pth`` file names this interpreter's site-packages instead. Plain path lines do not run the
    ``.pth`` files found there, so the editable install of the repository stays out of reach.
    """
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    reuse = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    Path(site, "reuse_parent_site.pth").write_text("".join(f"{p}\n" for p in reuse))
    return venv


@pytest.mark.slow
def test_wheel_runs_the_packaged_tiny_study_from_an_empty_folder(tmp_path):
    """Check: the wheel holds the example specs as files; installed into a fresh virtualenv, recscale
    imports from there (not from the repository), lists and prints the examples, loads the plugins
    example with its plugins from the wheel, and `study run tiny`
    in an empty folder trains every trial and exports one row per evaluation."""
    wheel = _build_wheel(tmp_path)
    venv = _fresh_venv(tmp_path)
    py = str(venv / "bin" / "python")
    # --ignore-installed: this interpreter's editable recscale is visible through the .pth; install beside it.
    _pip("install", "--ignore-installed", str(wheel), python=py)
    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    exe = str(venv / "bin" / "recscale")

    def run(*args: str) -> str:
        r = subprocess.run([exe, *args], cwd=work, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout

    where = subprocess.run([py, "-c", "import recscale; print(recscale.__file__)"], cwd=work, env=env,
                           check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(venv), where
    assert [line.split("\t")[0] for line in run("example").splitlines()] == ["architectures", "criteo", "movielens", "paper", "plugins", "quick", "tiny"]
    assert run("example", "tiny") == (REPO / "examples" / "tiny.toml").read_text()
    # The plugins example names its plugins by import path: they import from the wheel and pass the probe.
    loaded = subprocess.run([py, "-c", "import recscale.examples.plugins.gdcn as m; from recscale.study.spec import load_spec; "
                             "print(m.__file__); print(*load_spec('plugins').plugins())"], cwd=work, env=env,
                            check=True, capture_output=True, text=True).stdout.split("\n")  # fmt: skip
    assert Path(loaded[0]).is_relative_to(venv) and loaded[1] == "DeepFM GDCN"
    run("study", "run", "tiny", "--db", "x.db", "--quiet", "--device", "cpu", "--workers", "1")  # inline: no pool start-up
    run("study", "export", "x.db", "--out", "x.csv")
    with open(work / "x.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len({r["trial_id"] for r in rows}) == 5  # tiny: four schemes, two sizes each, base shared
    assert len(rows) > 5 and all(0 < float(r["ne"]) < 1.5 for r in rows)
