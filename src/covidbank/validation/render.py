"""Write a built report: ``report.html`` (self-contained), ``report.md``,
``tables/*.csv``, ``figures/*.png`` and ``numbers.json``.

Every file is written to a temporary name and renamed, so an interrupted run
never leaves a half-written report file.
"""
from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import pandas as pd

from ..fileio import atomic_write
from .build import Report, ReportFigure, ReportTable, ReportText

__all__ = ["write_report", "render_html", "render_markdown", "frame_to_markdown"]

_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
header{background:#1f3b5a;color:#fff;padding:18px 32px}
header h1{margin:0 0 4px 0;font-size:24px}
header p{margin:0;opacity:.85;font-size:13px}
header code{background:#2d5078;color:#fff}
nav{padding:10px 32px;background:#e7ecf2;font-size:14px}
nav a{margin-right:16px;color:#1f3b5a;text-decoration:none}
main{padding:8px 32px 40px 32px;max-width:1200px}
section{background:#fff;border-radius:6px;padding:6px 22px 18px 22px;margin:18px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{border-bottom:2px solid #1f3b5a;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px 0}
table{border-collapse:collapse;font-size:12.5px;margin:4px 0 6px 0}
th,td{border:1px solid #d5dbe3;padding:3px 8px;text-align:left}
th{background:#eef2f6}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.figs{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
figure{margin:10px 0}
figure img{max-width:100%;border:1px solid #e3e7ec}
.note{color:#5a6675;font-size:12px}
code{background:#eef2f6;padding:0 3px;border-radius:3px}
"""


def _fmt_cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, float):
        return f"{int(v):,}" if v.is_integer() and abs(v) < 1e15 else f"{v:,.4g}" if abs(v) < 1 else f"{v:,.2f}"
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return f"{v:,}"
    try:
        import numpy as np

        if isinstance(v, np.integer):
            return f"{int(v):,}"
        if isinstance(v, np.floating):
            return _fmt_cell(float(v))
    except ImportError:  # pragma: no cover
        pass
    return str(v)


def _inline_md(text: str) -> str:
    """Escape text and turn `code` spans into <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _html_table(t: ReportTable) -> str:
    df = t.frame
    shown = df.head(t.max_rows)
    num = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    out = ["<table><thead><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns) + "</tr></thead><tbody>"]
    for row in shown.itertuples(index=False):
        cells = []
        for v, isnum in zip(row, num):
            cls = ' class="num"' if isnum else ""
            cells.append(f"<td{cls}>{html.escape(_fmt_cell(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    extra = []
    if len(df) > t.max_rows:
        extra.append(f"First {t.max_rows} of {len(df):,} rows; all rows in <code>tables/{t.name}.csv</code>.")
    else:
        extra.append(f"<code>tables/{t.name}.csv</code>")
    if t.note:
        extra.insert(0, _inline_md(t.note))
    if df.empty:
        return f"<p class='note'>(no rows) — <code>tables/{t.name}.csv</code></p>"
    return "".join(out) + f"<p class='note'>{' '.join(extra)}</p>"


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (figures embedded as base64 PNG)."""
    h = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{html.escape(report.title)}</h1><p>Bank <code>{html.escape(report.bank)}</code> · "
        f"generated {html.escape(report.created)} by covidbank report</p></header>",
        "<nav>" + "".join(f"<a href='#{s.key}'>{html.escape(s.title)}</a>" for s in report.sections) + "</nav><main>",
    ]
    for s in report.sections:
        h.append(f"<section id='{s.key}'><h2>{html.escape(s.title)}</h2>")
        for p in s.text:
            h.append(f"<p>{_inline_md(p)}</p>")
        in_figs = False
        for item in s.items:
            if isinstance(item, ReportFigure) and not in_figs:
                h.append("<div class='figs'>")
                in_figs = True
            elif not isinstance(item, ReportFigure) and in_figs:
                h.append("</div>")
                in_figs = False
            if isinstance(item, ReportText):
                h.append(f"<p>{_inline_md(item.text)}</p>")
            elif isinstance(item, ReportTable):
                h.append(f"<h3 id='t-{item.name}'>{html.escape(item.title)}</h3>{_html_table(item)}")
            elif isinstance(item, ReportFigure):
                b64 = base64.b64encode(item.png).decode("ascii")
                h.append(
                    f"<figure id='f-{item.name}'><img alt='{html.escape(item.title)}' src='data:image/png;base64,{b64}'>"
                    + (f"<figcaption class='note'>{_inline_md(item.note)}</figcaption>" if item.note else "")
                    + "</figure>"
                )
        if in_figs:
            h.append("</div>")
        h.append("</section>")
    h.append("</main></body></html>")
    return "\n".join(h)


def frame_to_markdown(df: pd.DataFrame, max_rows: int | None = None) -> str:
    """A DataFrame as a GitHub-flavoured Markdown pipe table."""
    if df.empty:
        return "_(no rows)_"
    shown = df if max_rows is None else df.head(max_rows)
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    num = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    lines = ["| " + " | ".join(esc(c) for c in df.columns) + " |",
             "|" + "|".join("---:" if n else "---" for n in num) + "|"]
    for row in shown.itertuples(index=False):
        lines.append("| " + " | ".join(esc(_fmt_cell(v)) for v in row) + " |")
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    """The report as Markdown; figures are linked as ``figures/<name>.png``."""
    md = [f"# {report.title}", "", f"Bank `{report.bank}` · generated {report.created} by covidbank report", ""]
    for s in report.sections:
        md += [f"## {s.title}", ""]
        for p in s.text:
            md += [p, ""]
        for item in s.items:
            if isinstance(item, ReportText):
                md += [item.text, ""]
            elif isinstance(item, ReportTable):
                md += [f"### {item.title}", "", frame_to_markdown(item.frame, item.max_rows), ""]
                tail = f"All rows: `tables/{item.name}.csv`" + (f" ({len(item.frame):,} rows)." if len(item.frame) > item.max_rows else ".")
                md += [(item.note + " " if item.note else "") + tail, ""]
            else:
                md += [f"![{item.title}](figures/{item.name}.png)", ""]
    return "\n".join(md)


def write_report(report: Report, out: str | Path) -> dict[str, Path]:
    """Write the report files into ``out`` (created if missing).

    Returns
    -------
    dict
        ``html``, ``md``, ``numbers`` paths and the ``tables`` / ``figures`` folders.
    """
    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for name, df in report.tables().items():
        atomic_write(out / "tables" / f"{name}.csv", df.to_csv(index=False).encode("utf-8"))
    for name, png in report.figures().items():
        atomic_write(out / "figures" / f"{name}.png", png)
    atomic_write(out / "numbers.json", json.dumps(report.numbers, indent=2, default=_json_default).encode("utf-8"))
    atomic_write(out / "report.md", render_markdown(report).encode("utf-8"))
    atomic_write(out / "report.html", render_html(report).encode("utf-8"))
    return {"html": out / "report.html", "md": out / "report.md", "numbers": out / "numbers.json",
            "tables": out / "tables", "figures": out / "figures"}


def _json_default(v):
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(v, "item"):
        return v.item()
    return str(v)
