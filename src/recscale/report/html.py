"""Writers: one self-contained HTML file (figures embedded as PNG data URIs) and ``summary.md``.

Both render the same blocks (:mod:`recscale.report.document`). The HTML is also well-formed XML
(void elements closed, only XML entities), so it parses strictly as well as in a browser, and it
needs nothing beside itself: no scripts, fonts or stylesheets from elsewhere.
"""

from __future__ import annotations

import base64
import html
import re
import time
from pathlib import Path

from recscale.errors import printable
from recscale.report.document import Block

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328; margin: 0; background: #fff; }
main { max-width: 1220px; margin: 0 auto; padding: 24px 28px 60px; line-height: 1.5; font-size: 15px; }
h1 { font-size: 26px; margin-bottom: 4px; } h1 + p { color: #59636e; margin-top: 0; }
h2 { font-size: 21px; border-bottom: 1px solid #d1d9e0; padding-bottom: 4px; margin-top: 40px; }
h3 { font-size: 16px; margin-top: 26px; }
nav { font-size: 14px; color: #59636e; } nav a { margin-right: 14px; }
table { border-collapse: collapse; margin: 10px 0 14px; font-size: 13px; display: block; overflow-x: auto; }
th, td { border: 1px solid #d1d9e0; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } tr:nth-child(even) td { background: #fbfcfd; }
figure { margin: 26px 0; } figure img { width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption { font-size: 14px; color: #3d444d; margin-top: 6px; } figcaption b { color: #1f2328; }
pre { background: #f6f8fa; padding: 12px; overflow-x: auto; font-size: 13px; border-radius: 6px; }
code { background: #f6f8fa; padding: 1px 4px; border-radius: 4px; font-size: 90%; }
details { margin: 10px 0; } summary { cursor: pointer; color: #0969da; }
.small { font-size: 13px; color: #59636e; }
"""


CELL_LIMIT = 300  # characters of one table cell (a 20 MB label from a ledger is cut, saying how long it was)
TEXT_LIMIT = 20_000  # characters of one paragraph or list item


def _clean(text: str, limit: int = TEXT_LIMIT) -> str:
    """Text from a ledger or CSV made safe to write: no control or escape characters, bounded length."""
    return printable(text, limit)


def _inline_html(text: str, limit: int = TEXT_LIMIT) -> str:
    out = html.escape(_clean(text, limit), quote=False)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)


def _table_html(header: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{_inline_html(h, CELL_LIMIT)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_inline_html(c, CELL_LIMIT)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _figure_html(b: Block, out_dir: Path) -> str:
    fig = b.figure
    data = base64.b64encode(Path(fig.png).read_bytes()).decode("ascii")
    rel_png = Path(fig.png).relative_to(out_dir).as_posix()
    rel_svg = Path(fig.svg).relative_to(out_dir).as_posix()
    return (f'<figure id="{b.anchor}"><img src="data:image/png;base64,{data}" alt="{html.escape(fig.title)}" />'
            f"<figcaption><b>{_inline_html(fig.title)}.</b> {_inline_html(fig.caption)} "
            f'<span class="small">Files: <a href="{rel_png}">PNG</a>, <a href="{rel_svg}">SVG</a>.</span>'
            f"</figcaption></figure>")


def render_html(blocks: list[Block], title: str, subtitle: str, out_dir: Path) -> str:
    """The whole page as a string."""
    parts = []
    nav = [b for b in blocks if b.kind == "h2" and b.anchor]
    for b in blocks:
        anchor = f' id="{b.anchor}"' if b.anchor and b.kind in ("h2", "h3") else ""
        if b.kind in ("h2", "h3"):
            parts.append(f"<{b.kind}{anchor}>{_inline_html(b.text)}</{b.kind}>")
        elif b.kind == "p":
            parts.append(f"<p>{_inline_html(b.text)}</p>")
        elif b.kind == "list":
            parts.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            parts.append(_table_html(b.header, b.rows))
        elif b.kind == "figure":
            parts.append(_figure_html(b, out_dir))
        elif b.kind == "pre":
            parts.append(f"<pre>{html.escape(_clean_block(b.text), quote=False)}</pre>")
        elif b.kind == "details":
            parts.append(f"<details><summary>{_inline_html(b.text)}</summary>{_table_html(b.header, b.rows)}</details>")
        else:  # pragma: no cover - a builder bug
            raise ValueError(f"unknown block kind {b.kind!r}")
    nav_html = "<nav>" + "".join(f'<a href="#{b.anchor}">{_inline_html(b.text)}</a>' for b in nav) + "</nav>"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8" />'
        '<meta name="viewport" content="width=device-width, initial-scale=1" />'
        f"<title>{html.escape(_clean(title, CELL_LIMIT))}</title><style>{_CSS}</style></head>"
        f"<body><main><h1>{_inline_html(title, CELL_LIMIT)}</h1><p>{_inline_html(subtitle)}</p>{nav_html}"
        + "\n".join(parts)
        + "</main></body></html>\n"
    )


def _md(text: str, limit: int = TEXT_LIMIT) -> str:
    """Text for summary.md: cleaned, and HTML-escaped (Markdown renders raw HTML, so a study named
    ``<script>`` or a label ``<img onerror=...>`` from a ledger would otherwise run in a viewer)."""
    return html.escape(_clean(text, limit), quote=False)


def _clean_block(text: str) -> str:
    """A verbatim block (the spec's TOML): control characters dropped, newlines kept."""
    return "\n".join(printable(line, TEXT_LIMIT) for line in text.splitlines())


def _md_cell(text: str) -> str:
    return _md(text, CELL_LIMIT).replace("|", "\\|").replace("\n", " ")


def _table_md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(blocks: list[Block], title: str, subtitle: str, out_dir: Path) -> str:
    """The report as Markdown, with figures linked (not embedded)."""
    parts = [f"# {_md(title, CELL_LIMIT)}", _md(subtitle)]
    for b in blocks:
        if b.kind == "h2":
            parts.append(f"## {_md(b.text)}")
        elif b.kind == "h3":
            parts.append(f"### {_md(b.text)}")
        elif b.kind == "p":
            parts.append(_md(b.text))
        elif b.kind == "list":
            parts.append("\n".join(f"- {_md(i)}" for i in b.items))
        elif b.kind == "table":
            parts.append(_table_md(b.header, b.rows))
        elif b.kind == "figure":
            fig = b.figure
            rel = Path(fig.png).relative_to(out_dir).as_posix()
            rel_svg = Path(fig.svg).relative_to(out_dir).as_posix()
            parts.append(f"### {_md(fig.title)}\n\n![{_md(fig.title)}]({rel})\n\n{_md(fig.caption)} ([SVG]({rel_svg}))")
        elif b.kind == "pre":
            text = _clean_block(b.text.rstrip())
            fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
            parts.append(f"{fence}toml\n{text}\n{fence}")
        elif b.kind == "details":
            parts.append(f"<details><summary>{_md(b.text)}</summary>\n\n{_table_md(b.header, b.rows)}\n\n</details>")
    return "\n\n".join(parts) + "\n"


def write_pages(blocks: list[Block], out_dir: str | Path, study_name: str) -> tuple[Path, Path]:
    """Write ``report.html`` and ``summary.md`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    title = f"Scaling report: {study_name}"
    subtitle = (f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} by recscale report, following Ardalani et al. (2022), "
                "“Understanding Scaling Laws for Recommendation Models”.")
    page = out / "report.html"
    md = out / "summary.md"
    _atomic_write(page, render_html(blocks, title, subtitle, out))
    _atomic_write(md, render_markdown(blocks, title, subtitle, out))
    return page, md


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
