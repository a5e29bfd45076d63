"""The fixed vocabulary of skip, error, quarantine and audit reasons.

Everything a bank holds about why a file, series or row was not ingested (the
``skipped`` table, ``logs/ingest.jsonl``, the viewer's summary) is a **reason
code** from :data:`REASONS` plus, at most, DICOM attribute keywords
(``SOPClassUID``, ``VOILUTFunction``): never a value read from an input.  A
value (a SOP Class UID, a window width, a file path) may appear only in the
curator's terminal and in the private run log kept outside the bank
(:class:`~covidbank.dicom.ingest.privatelog.PrivateLog`), as the ``detail`` of
a :class:`Reason`.

Defined once here; every producer (discovery, the worker, the tests/reports
readers, the deny-list check, ``covidbank audit``) uses these codes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["REASONS", "Reason", "ReasonError", "check_code", "describe"]

#: Reason code -> one-line description (the only text about a reason stored in a bank).
REASONS: dict[str, str] = {
    # discovery: what a file is
    "not_regular_file": "not a regular file (FIFO, socket, device or broken link): not read",
    "symlink_outside_input": "symbolic link leading outside the input folder: not followed",
    "file_too_large": "file larger than the per-file size limit",
    "header_too_large": "DICOM header exceeds the header-parse limit (size or number of elements)",
    "decompressed_too_large": "deflated dataset inflates beyond the decompressed size or ratio limit",
    "not_dicom": "not a DICOM file (no DICM preamble and not parseable as DICOM)",
    "unreadable_header": "unreadable DICOM header (truncated or corrupt)",
    "non_image_sop_class": "non-image SOP class (structured report, presentation state, document, ...)",
    "image_class_not_ingested": "image SOP class covidbank does not ingest (MR, PET, US, multi-frame CT, ...)",
    "unknown_sop_class": "SOP class missing or not an ingested image class",
    "secondary_capture_modality": "secondary capture whose modality is not CR, DX or CT",
    "no_image_matrix": "no image (Rows/Columns missing)",
    "localizer": "localizer/scout image",
    "duplicate_instance": "duplicate SOP instance (another copy of the same image was kept)",
    # worker: reading and converting
    "unreadable_dicom": "unreadable DICOM file",
    "truncated": "truncated or corrupt file: its pixel data could not be read",
    "image_too_large": "decoded image exceeds the per-image memory limit",
    "pixel_decode_failed": "pixel data cannot be decoded (compressed transfer syntax without a decoder)",
    "not_grayscale": "X-ray that is not grayscale (photometric interpretation)",
    "invalid_window": "invalid window width for the VOI LUT function",
    "empty_voi_range": "empty VOI output range",
    "ct_geometry_missing": "multi-slice CT without Image Orientation/Position (Patient)",
    "ct_mixed_orientation": "CT slices with different orientations",
    "ct_mixed_matrix": "CT slices with different matrix sizes",
    "ct_shared_position": "two or more CT slices share a position",
    "ct_missing_slices": "missing CT slices (not resampled)",
    "ct_unequal_spacing": "unequal CT slice spacing (not resampled)",
    "conversion_failed": "pixel conversion failed",
    "out_of_memory": "out of memory",
    "worker_failed": "worker process failed; re-run to retry",
    "unexpected_error": "unexpected error while converting",
    # privacy checks
    "deny_list_hit": "an identifying value of the header was found in what would be written: quarantined",
    # tests / reports rows
    "test_row_invalid": "empty patient id, unknown test type (PCR, IgG, IgM, antigen) or unknown result",
    "test_date_unreadable": "the test's date could not be read (kept without its date)",
    "test_date_ambiguous": "the column writes dates year last and never shows whether day or month comes first "
                           "(kept without its date; write them YYYY-MM-DD)",
    "report_no_study": "no ingested study with this accession/study id",
    "row_failed": "the row could not be processed (it failed alone; the run went on)",
}

_KEYWORD = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")


def check_code(code: str) -> str:
    """Return ``code`` if it is in :data:`REASONS`, else raise ``ValueError``."""
    if code not in REASONS:
        raise ValueError(f"unknown reason code {code!r}: add it to covidbank.dicom.reasons.REASONS")
    return code


def describe(code: str) -> str:
    """The description of a reason code."""
    return REASONS[check_code(code)]


@dataclass(frozen=True)
class Reason:
    """A reason: a code, attribute keywords (no values) and a private ``detail``.

    Attributes
    ----------
    code : str
        A key of :data:`REASONS`.
    attributes : tuple of str
        DICOM keywords the reason is about (``("SOPClassUID",)``); only
        keyword-shaped strings are kept.
    detail : str
        Free text for the curator (may quote values and paths): written to the
        terminal and the private run log only, never into the bank.
    """

    code: str
    attributes: tuple[str, ...] = field(default_factory=tuple)
    detail: str = ""

    def __post_init__(self) -> None:
        check_code(self.code)
        attrs = tuple(sorted({a for a in self.attributes if isinstance(a, str) and _KEYWORD.match(a)}))
        object.__setattr__(self, "attributes", attrs)

    @property
    def text(self) -> str:
        """Code and attributes (``code`` or ``code:Kw1,Kw2``): safe to store in a bank."""
        return self.code + (":" + ",".join(self.attributes) if self.attributes else "")

    def public(self) -> dict:
        """What a bank may hold: code and attributes."""
        return {"reason": self.code, "attributes": list(self.attributes)}

    def __str__(self) -> str:
        return describe(self.code) + (f" ({', '.join(self.attributes)})" if self.attributes else "")


class ReasonError(Exception):
    """Raised inside ingest code to end one file or series with a :class:`Reason`."""

    def __init__(self, code: str, detail: str = "", attributes: tuple[str, ...] = ()) -> None:
        self.reason = Reason(code, tuple(attributes), detail)
        super().__init__(detail or describe(code))
