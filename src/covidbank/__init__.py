"""covidbank: toolkit and data bank for COVID-19 chest imaging.

Public API
----------
Bank
    A bank folder: Parquet index queried through DuckDB.
load_source, SOURCES
    Read a public COVID-19 collection into the harmonized schema.
LabelTree, default_tree
    The label vocabulary with UMLS CUIs and implied parents.
TABLES
    The schema: tables, columns, types.
"""
from __future__ import annotations

from .bank import AddSummary, Bank
from .errors import BankError, CovidbankError, LabelError, QueryError, SourceFormatError
from .labels import LabelTree, default_tree
from .schema import TABLES, conform
from .sources import SOURCES, SourceResult, load_source

__version__ = "0.1.0"

__all__ = [
    "AddSummary",
    "Bank",
    "BankError",
    "CovidbankError",
    "LabelError",
    "LabelTree",
    "QueryError",
    "SOURCES",
    "SourceFormatError",
    "SourceResult",
    "TABLES",
    "conform",
    "default_tree",
    "load_source",
    "__version__",
]
