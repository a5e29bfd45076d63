"""Ingest hospital DICOM into a bank: discover, de-identify, convert, lay out MIDS, index.

:func:`ingest` is the driver (:mod:`.pipeline`); :func:`build_index` rebuilds the
bank index from the sidecars (:mod:`.index`); the tests and reports CSVs are read
in :mod:`.tables`.
"""
from __future__ import annotations

from .index import build_index
from .pipeline import LOG_NAME, IngestSummary, ingest, process_task

__all__ = ["IngestSummary", "LOG_NAME", "build_index", "ingest", "process_task"]
