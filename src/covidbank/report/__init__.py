"""Technical-validation report of a bank: statistics, figures, HTML/Markdown/CSV.

>>> from covidbank.bank import Bank
>>> from covidbank.report import build_report, write_report
>>> rep = build_report(Bank("my-bank"))            # doctest: +SKIP
>>> write_report(rep, "report-out")                 # doctest: +SKIP

The statistics are plain functions in :mod:`covidbank.report.stats` (each
returns a DataFrame) and can be used on their own.
"""
from __future__ import annotations

from . import stats
from .build import Report, ReportFigure, ReportTable, ReportText, Section, build_report
from .render import frame_to_markdown, render_html, render_markdown, write_report
from .treecounts import compare_tree_counts, read_tree_counts, tree_from_counts

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
