"""Hospital DICOM: discovery, PS3.15 Basic Profile de-identification, pixel conversion.

Submodules are light to import; pydicom is imported where pixels or headers are read.
"""
from __future__ import annotations

from .convert import ct_to_volume, write_png16, xray_to_uint16
from .denylist import DenyHit, DenyList, DenyTerm
from .deid import AuditRecord, DeidOptions, PatientContext, clean_text, deidentify, deidentify_dataset
from .discover import Instance, Series, Skip, discover, read_instance
from .keys import Keyring, PseudonymRegistry, default_key_file, load_key
from .profile import EDITION, ProfileRow, ProfileTable, load_profile, resolve_compound

__all__ = [
    "DenyHit",
    "DenyList",
    "DenyTerm",
    "AuditRecord",
    "DeidOptions",
    "EDITION",
    "Instance",
    "Keyring",
    "PatientContext",
    "ProfileRow",
    "ProfileTable",
    "PseudonymRegistry",
    "Series",
    "Skip",
    "clean_text",
    "ct_to_volume",
    "default_key_file",
    "deidentify",
    "deidentify_dataset",
    "discover",
    "load_key",
    "load_profile",
    "read_instance",
    "resolve_compound",
    "write_png16",
    "xray_to_uint16",
]
