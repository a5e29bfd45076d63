"""Former name of :mod:`covidbank.validation` (the technical-validation report).

Kept so that ``from covidbank.report import build_report`` written against 0.1
keeps working; new code imports from :mod:`covidbank.validation`.
"""
from __future__ import annotations

import warnings
from typing import Any

from . import validation as _validation

__all__ = list(_validation.__all__)


def __getattr__(name: str) -> Any:
    if name in _validation.__all__:
        warnings.warn("covidbank.report is now covidbank.validation", DeprecationWarning, stacklevel=2)
        return getattr(_validation, name)
    raise AttributeError(f"module 'covidbank.report' has no attribute {name!r}; the package is now covidbank.validation")
