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

    The message names the file and its record (``image_id``); ``reason`` is the
    message without them (for a caller that names the file its own way).
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason if reason is not None else message


class ImageMissingError(ImageLoadError):
    """An image file listed in the bank is not on disk."""


class ArgumentError(CovidbankError, ValueError):
    """An argument names a value the bank does not have (label, split, view, source,
    modality); the message lists the valid values."""


class CacheError(CovidbankError):
    """An image cache is missing, stale or unreadable."""


class StaleCacheError(CacheError):
    """A cache entry no longer matches its source file or preprocessing parameters."""


class SplitError(CovidbankError):
    """A split cannot be made (bad ratios, unknown label or column, no records)."""


class RecordNotFoundError(BankError):
    """A record id (image, subject) is not in the bank's index."""


class RenderError(CovidbankError):
    """An image, volume or mask listed in a bank cannot be read or rendered.

    The message names the file and the reason (missing, unreadable, unsupported).
    """


class DicomError(CovidbankError):
    """A DICOM file cannot be read, de-identified or converted.

    The message names the file (by its path inside the input folder) and the reason.
    ``code`` is the reason code of :data:`covidbank.dicom.reasons.REASONS` (what a bank
    may store); the message, which may quote values, is for the curator only.
    """

    def __init__(self, message: str, *, code: str = "conversion_failed", attributes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.attributes = tuple(attributes)


class ConversionError(DicomError):
    """Pixel data cannot be converted (unsupported encoding, inconsistent series geometry, ...)."""


class KeyFileError(CovidbankError):
    """The project key file is missing, malformed, readable by others, stored inside the bank,
    or not the key of the bank."""


class SeverityError(CovidbankError):
    """CT severity assessment failed (unreadable CT, no lungs found, ...)."""


class CTReadError(ImageLoadError, SeverityError):
    """A CT file or DICOM series cannot be read (:func:`covidbank.pixels.read_ct`); the message names the file.

    The one error of the CT reader, for severity, the viewer and the datasets
    alike: also an :class:`ImageLoadError` (the datasets' ``on_error``) and a
    :class:`SeverityError`.
    """


class NotHUError(SeverityError):
    """The input's intensities are not Hounsfield units (8-bit image, unrescaled data).

    HU-based grading is refused; the message says to use the intensity mode.
    """


class MaskMismatchError(SeverityError):
    """A lesion mask does not match its CT (shape or orientation)."""
class ReportError(CovidbankError):
    """A report table or text file cannot be read, or lacks the text column.

    Messages name the file and never quote report text.
    """


class MissingExtraError(CovidbankError, ImportError):
    """A feature needs an optional package that is not installed.

    The message names the package and the covidbank extra that installs it
    (``pip install 'covidbank[ct]'``).  Also an :class:`ImportError`, so code
    that already guards an import keeps working.
    """

    def __init__(self, package: str, extra: str, purpose: str | None = None) -> None:
        self.package = package
        self.extra = extra
        what = purpose or "this feature"
        super().__init__(f"{what} needs the optional package {package!r}: pip install 'covidbank[{extra}]'")
        self.name = package


class OcrUnavailableError(CovidbankError):
    """Tesseract OCR (the binary or one of its languages) is not installed: burned-in text cannot be checked."""


class PacsError(CovidbankError):
    """A PACS (DIMSE or DICOMweb) cannot be reached, refuses a request, or a pull cannot start.

    Messages name the archive (``AET@host:port`` or URL) and the reason, never
    a patient identifier.
    """
