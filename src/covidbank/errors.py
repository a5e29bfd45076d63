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


class DicomError(CovidbankError):
    """A DICOM file cannot be read, de-identified or converted.

    The message names the file (by its path inside the input folder) and the reason.
    """


class ConversionError(DicomError):
    """Pixel data cannot be converted (unsupported encoding, inconsistent series geometry, ...)."""


class KeyFileError(CovidbankError):
    """The project key file is missing, malformed or stored inside the bank."""

