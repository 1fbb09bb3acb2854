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

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
        fits_json: ``fits.json`` (every law, regime, plan, check and warning; plain JSON).
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
            created if missing, files in it are replaced.
        options: :class:`ReportOptions` (bootstrap refits, interval level, ...).
        progress: Called with a short message as each step starts (fits per scheme, joint laws,
            each figure, writing); None: silent. ``recscale report`` prints them with the time taken.

    Returns:
        A :class:`ReportResult`.

    Raises:
        RecscaleError: unreadable source, missing columns, no finished trials, or an output folder
            that cannot be written.
    """
    from recscale.report.document import build_document, terminal_summary
    from recscale.report.figures import save_figures
    from recscale.report.html import write_pages

    t0 = time.perf_counter()
    study = load_study(source)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RecscaleError(f"--out {out}: exists and is not a folder; choose a folder for the report")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RecscaleError(f"--out {out}: cannot create the report folder ({e})") from None
    analysis = analyze(study, options, progress)
    figures = save_figures(analysis, out, progress)
    if progress is not None:
        progress("writing report.html, summary.md and fits.json")
    fits = out / "fits.json"
    tmp = fits.with_name(".fits.json.tmp")
    tmp.write_text(json.dumps(analysis.to_dict(), indent=1, allow_nan=False), encoding="utf-8")
    tmp.replace(fits)
    wall = time.perf_counter() - t0
    html, md = write_pages(build_document(analysis, figures, wall), out, study.name)
    return ReportResult(out_dir=out, html=html, markdown=md, fits_json=fits, figures=figures, analysis=analysis,
                        summary=terminal_summary(analysis), wall_s=time.perf_counter() - t0)
