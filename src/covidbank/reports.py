"""Former name of :mod:`covidbank.nlp` (Spanish report de-identification and labels).

Kept so that ``from covidbank.reports import deidentify`` written against
0.1 keeps working; new code imports from :mod:`covidbank.nlp`.
"""
from __future__ import annotations

import warnings
from typing import Any

from . import nlp as _nlp

__all__ = list(_nlp.__all__)


def __getattr__(name: str) -> Any:
    if name in _nlp.__all__:
        warnings.warn("covidbank.reports is now covidbank.nlp", DeprecationWarning, stacklevel=2)
        return getattr(_nlp, name)
    raise AttributeError(f"module 'covidbank.reports' has no attribute {name!r}; the package is now covidbank.nlp")
