"""Reports: a study's scaling laws as figures, one self-contained HTML page, ``summary.md`` and ``fits.json``.

Torch-free (a user with only a CSV of runs can build a report); matplotlib is imported only when
figures are drawn.

Example:
    >>> from recscale.report import build_report            # doctest: +SKIP
    >>> r = build_report("runs/quick.db", "reports/quick")  # doctest: +SKIP
    >>> print(r.html)                                       # doctest: +SKIP
    reports/quick/report.html
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from recscale.errors import RecscaleError
from recscale.report.analysis import Analysis, ReportOptions, analyze
from recscale.report.study import Study, load_study

__all__ = ["Analysis", "ReportOptions", "ReportResult", "Study", "analyze", "build_report", "load_study"]


@dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` wrote.

    Attributes:
        out_dir: The report folder.
        html: ``report.html`` (self-contained).
        markdown: ``summary.md``.
        fits_json: ``fits.json`` (every law, regime, plan, check and warning, and the grouped warning summary;
            plain JSON).
        figures: The figure files (PNG and SVG).
        analysis: The analysis the files were written from.
        summary: A short plain-text summary for a terminal.
        wall_s: Seconds taken.
    """

    out_dir: Path
    html: Path
    markdown: Path
    fits_json: Path
    figures: list[Any] = field(repr=False)
    analysis: Analysis = field(repr=False)
    summary: str = field(repr=False)
    wall_s: float


def build_report(source: str | Path, out_dir: str | Path, options: ReportOptions | None = None,
                 progress: Callable[[str], None] | None = None) -> ReportResult:
    """Fit, draw and write a study's report.

    Args:
        source: A ledger (``recscale study run``) or an exported ``.csv``/``.parquet`` table.
        out_dir: Folder for ``report.html``, ``summary.md``, ``fits.json`` and ``figures/``;
            created if missing. The report is built in a temporary folder beside it and moved into
            place when complete (see :func:`_move_into_place`), so a failed or killed report leaves
            the previous one as it was.
        options: :class:`ReportOptions` (bootstrap refits, interval level, ...).
        progress: Called with a short message as each step starts (fits per scheme, joint laws,
            each figure, writing); None: silent. ``recscale report`` prints them with the time taken.

    Returns:
        A :class:`ReportResult`.

    Raises:
        RecscaleError: unreadable source, missing columns, no finished trials, or an output folder
            that cannot be written.
    """
    from recscale.report.document import build_document, fits_dict, terminal_summary
    from recscale.report.figures import save_figures
    from recscale.report.html import write_pages

    t0 = time.perf_counter()
    study = load_study(source)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RecscaleError(f"--out {out}: exists and is not a folder; choose a folder for the report")
    try:
        where = out.resolve()  # `--out .` or a symlinked folder: the real folder is what gets replaced
        where.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{where.name}.tmp-", dir=where.parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp's 0700 would follow the report into place
    except OSError as e:
        raise RecscaleError(f"--out {out}: cannot create the report folder ({e})") from None
    try:  # built beside the target, moved into place at the end: a killed report never mixes two studies
        analysis = analyze(study, options, progress)
        figures = save_figures(analysis, tmp, progress, analysis.options.workers)
        if progress is not None:
            progress("writing report.html, summary.md and fits.json")
        (tmp / "fits.json").write_text(json.dumps(fits_dict(analysis), indent=1, allow_nan=False), encoding="utf-8")
        wall = time.perf_counter() - t0
        write_pages(build_document(analysis, figures, wall), tmp, study.name)
        _move_into_place(tmp, where)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno == errno.ENOSPC:
            raise RecscaleError(f"no space left on device writing the report {out}; nothing was replaced; free space and rerun") from None
        raise RecscaleError(f"--out {out}: cannot write the report ({e.strerror or e})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    figures = [replace(f, png=out / Path(f.png).relative_to(tmp), svg=out / Path(f.svg).relative_to(tmp)) for f in figures]
    return ReportResult(out_dir=out, html=out / "report.html", markdown=out / "summary.md", fits_json=out / "fits.json",
                        figures=figures, analysis=analysis, summary=terminal_summary(analysis), wall_s=time.perf_counter() - t0)


REPORT_ENTRIES = ("report.html", "summary.md", "fits.json", "figures")


def _move_into_place(tmp: Path, out: Path) -> None:
    """Replace ``out`` by the finished report ``tmp``.

    A folder holding only a report (or nothing) is swapped whole: renamed aside, the new one
    renamed in, the old one removed. A folder with other files in it keeps them: the old report's
    entries are removed, report.html first, and the new ones moved in, report.html last, so a
    report.html is never beside another study's files.
    """
    if not out.exists():
        os.replace(tmp, out)
        return
    others = [p for p in out.iterdir() if p.name not in REPORT_ENTRIES and not p.name.startswith(".")]
    if not others:
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        try:
            os.replace(out, old / "report")
        except OSError:  # cannot be renamed (a mount point, say): replace its entries instead, below
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
            return
    for name in REPORT_ENTRIES:
        p = out / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
    for name in REPORT_ENTRIES[::-1]:  # report.html last
        if (tmp / name).exists():
            os.replace(tmp / name, out / name)
    shutil.rmtree(tmp, ignore_errors=True)
