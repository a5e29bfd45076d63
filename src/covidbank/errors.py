"""Exception classes raised by covidbank.

Every error names the file (or record) it is about and says what to do.
"""
from __future__ import annotations


class CovidbankError(Exception):
    """Base class of every covidbank error."""


class SourceFormatError(CovidbankError):
    """A source file or folder does not have the layout or columns expected.

    The message names the file and what is wrong with it.
    """


class BankError(CovidbankError):
    """A bank folder is missing, unreadable or inconsistent."""


class QueryError(BankError):
    """An SQL query over a bank failed."""


class LabelError(CovidbankError):
    """A label or label tree file cannot be parsed or resolved."""


class ImageLoadError(CovidbankError):
    """An image file cannot be decoded (corrupt, truncated, not an image).

    The message names the file and its record (``image_id``).
    """


class ImageMissingError(ImageLoadError):
    """An image file listed in the bank is not on disk."""


class CacheError(CovidbankError):
    """An image cache is missing, stale or unreadable."""


class StaleCacheError(CacheError):
    """A cache entry no longer matches its source file or preprocessing parameters."""


class SplitError(CovidbankError):
    """A split cannot be made (bad ratios, unknown label or column, no records)."""
