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


class RecordNotFoundError(BankError):
    """A record id (image, subject) is not in the bank's index."""


class RenderError(CovidbankError):
    """An image, volume or mask listed in a bank cannot be read or rendered.

    The message names the file and the reason (missing, unreadable, unsupported).
    """
