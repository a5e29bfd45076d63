"""Technical-validation report of a bank: statistics, figures, HTML/Markdown/CSV.

>>> from covidbank.bank import Bank
>>> from covidbank.validation import build_report, write_report
>>> rep = build_report(Bank("my-bank"))            # doctest: +SKIP
>>> write_report(rep, "report-out")                 # doctest: +SKIP

The statistics are plain functions in :mod:`covidbank.validation.stats` (each
returns a DataFrame) and can be used on their own.
"""
from __future__ import annotations

__all__ = [
    "stats",
    "Report",
    "ReportFigure",
    "ReportTable",
    "ReportText",
    "Section",
    "build_report",
    "write_report",
    "render_html",
    "render_markdown",
    "frame_to_markdown",
    "read_tree_counts",
    "tree_from_counts",
    "compare_tree_counts",
]

from .._lazy import lazy_exports  # noqa: E402

__getattr__, __dir__ = lazy_exports(__name__, {
    "Report": ".build",
    "ReportFigure": ".build",
    "ReportTable": ".build",
    "ReportText": ".build",
    "Section": ".build",
    "build_report": ".build",
    "frame_to_markdown": ".render",
    "render_html": ".render",
    "render_markdown": ".render",
    "write_report": ".render",
    "compare_tree_counts": ".treecounts",
    "read_tree_counts": ".treecounts",
    "tree_from_counts": ".treecounts",
    "stats": ".stats",
}, globals())
