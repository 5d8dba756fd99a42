"""The analysis page: `index.html` and `report.md`, the same sections, figures linked by relative path
(the folder can be moved or zipped as a whole)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ser.render import markdown_table


@dataclass(frozen=True)
class Section:
    """One part of the page: a heading, a caption, and a figure and/or a table (with the file that
    holds all of its rows, when the table shows only the first ones)."""

    title: str
    caption: str
    image: str | None = None  # file name relative to the page
    table: pd.DataFrame | None = None
    table_file: str | None = None


def _markdown(title: str, summary: Sequence[str], sections: Sequence[Section]) -> str:
    lines = [f"# {title}", "", *[f"- {line}" for line in summary], ""]
    for s in sections:
        lines += [f"## {s.title}", "", s.caption, ""]
        if s.image:
            lines += [f"![{s.title}]({s.image})", ""]
        if s.table is not None:
            lines += [markdown_table(s.table, floatfmt=".3g"), ""]
        if s.table_file:
            lines += [f"All rows: [{s.table_file}]({s.table_file})", ""]
    return "\n".join(lines)


def _html(title: str, summary: Sequence[str], sections: Sequence[Section]) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;line-height:1.4}"
        "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse;font-size:0.85em}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f4f4f4}"
        "td:nth-child(2){text-align:left}.caption{color:#333;max-width:60em}</style>",
        "</head><body>",
        f"<h1>{e(title)}</h1>",
        "<ul>" + "".join(f"<li>{e(line)}</li>" for line in summary) + "</ul>",
    ]
    for s in sections:
        parts += [f"<h2>{e(s.title)}</h2>", f'<p class="caption">{e(s.caption)}</p>']
        if s.image:
            parts.append(f'<p><a href="{e(s.image)}"><img src="{e(s.image)}" alt="{e(s.title)}"></a></p>')
        if s.table is not None:
            parts.append(s.table.to_html(index=False, float_format=lambda v: f"{v:.3g}", border=0))
        if s.table_file:
            parts.append(f'<p>All rows: <a href="{e(s.table_file)}">{e(s.table_file)}</a></p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_pages(
    folder: str | Path, title: str, summary: Sequence[str], sections: Sequence[Section]
) -> tuple[Path, Path]:
    """Write `index.html` and `report.md` into `folder`; returns their paths."""
    folder = Path(folder)
    page, report = folder / "index.html", folder / "report.md"
    page.write_text(_html(title, summary, sections))
    report.write_text(_markdown(title, summary, sections))
    return page, report
