"""Pull a cohort from a hospital PACS into a bank: DIMSE (pynetdicom) or DICOMweb (dicomweb-client).

:func:`pull` queries the archive for each cohort line (:mod:`.cohort`),
retrieves each study into a private staging folder (:mod:`.staging`) with
C-GET, C-MOVE to our own storage SCP (:mod:`.dimse`) or WADO-RS
(:mod:`.dicomweb`), feeds it through the ingest pipeline (de-identification,
conversion, MIDS) and reconciles expected against received and converted in
the pull manifest (:mod:`.manifest`).  :mod:`.push` sends derived objects (SEG, SR)
and kept images back with C-STORE or STOW-RS.  Needs the ``pacs`` extra.
"""
from __future__ import annotations

from .._lazy import lazy_exports

_LAZY = {
    "pull": ".pull",
    "PullSummary": ".pull",
    "CohortEntry": ".cohort",
    "read_cohort": ".cohort",
    "cohort_from_tests": ".cohort",
    "DimseArchive": ".dimse",
    "DicomwebArchive": ".dicomweb",
    "Manifest": ".manifest",
    "StudyQuery": ".archive",
    "push_dimse": ".push",
    "push_dicomweb": ".push",
    "parse_pacs": ".dimse",
    "PushError": ".push",
    "PushResult": ".push",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
