"""The PS3.15 Basic Application Level Confidentiality Profile action table.

DICOM PS3.15 Annex E, Table E.1-1, edition **2024b**, is written in the package
(``covidbank/dicom/data/table_e1_1.tsv``): for each of its 621 rows the tag (or
tag pattern), the Basic Profile action and the action each option substitutes.
Nothing is fetched at run time.  ``tests/dicom/test_profile.py`` compares the
table row by row with the machine-readable copy of the standard.

Actions: ``D`` dummy value of the same VR, ``Z`` zero length, ``X`` remove,
``K`` keep, ``C`` clean, ``U`` consistent UID replacement, and the compound
actions ``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D``, ``X/Z/U*`` resolved by
:func:`resolve_compound` from the attribute's type in the IOD.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

__all__ = [
    "EDITION",
    "OPTION_COLUMNS",
    "OPTION_CODES",
    "ProfileRow",
    "ProfileTable",
    "load_profile",
    "resolve_compound",
]

#: Edition of PS3.15 the packaged table transcribes.
EDITION = "2024b"

#: Option columns of Table E.1-1, in the order of the packaged file.
OPTION_COLUMNS = (
    "safe_private",
    "uids",
    "device_id",
    "institution_id",
    "patient_chars",
    "long_full_dates",
    "long_modif_dates",
    "clean_desc",
    "clean_struct",
    "clean_graph",
)

#: CID 7050 De-identification Method codes (DCM scheme) of the profile and options.
OPTION_CODES: dict[str, tuple[str, str]] = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "clean_pixel": ("113101", "Clean Pixel Data Option"),
    "clean_graph": ("113103", "Clean Graphics Option"),
    "clean_struct": ("113104", "Clean Structured Content Option"),
    "clean_desc": ("113105", "Clean Descriptors Option"),
    "long_full_dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "long_modif_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "patient_chars": ("113108", "Retain Patient Characteristics Option"),
    "device_id": ("113109", "Retain Device Identity Option"),
    "uids": ("113110", "Retain UIDs Option"),
    "safe_private": ("113111", "Retain Safe Private Option"),
    "institution_id": ("113112", "Retain Institution Identity Option"),
}

COMPOUND = ("X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*")


@dataclass(frozen=True)
class ProfileRow:
    """One row of Table E.1-1.

    Attributes
    ----------
    tag : str
        Eight hex digits (``00100010``), a pattern with ``X`` wildcards
        (``50XXXXXX`` curves, ``60XX3000`` overlay data) or ``GGGGEEEE_ODD``
        for private attributes.
    name : str
        Attribute name as the standard writes it.
    basic : str
        Basic Profile action.
    in_std_iod : bool
        Whether the standard marks the attribute as used in a standard composite IOD.
    options : dict
        Option name (:data:`OPTION_COLUMNS`) to the action it substitutes.
    """

    tag: str
    name: str
    basic: str
    in_std_iod: bool
    options: dict = field(default_factory=dict)

    def action(self, options: frozenset[str] | set[str] = frozenset()) -> str:
        """Action for this row given the enabled option names.

        Options that keep or clean more (``K`` before ``C``) win over the basic action.
        """
        chosen = [self.options[o] for o in options if o in self.options]
        if "K" in chosen:
            return "K"
        if "C" in chosen:
            return "C"
        return self.basic


class ProfileTable:
    """Table E.1-1 indexed for lookup by tag.

    Parameters
    ----------
    rows : list of ProfileRow
    """

    def __init__(self, rows: list[ProfileRow]) -> None:
        self.rows = rows
        self.exact: dict[int, ProfileRow] = {}
        self.patterns: list[tuple[int, int, ProfileRow]] = []
        self.private: ProfileRow | None = None
        for r in rows:
            if r.tag == "GGGGEEEE_ODD":
                self.private = r
            elif "X" in r.tag:
                mask = int("".join("0" if c == "X" else "F" for c in r.tag), 16)
                value = int(r.tag.replace("X", "0"), 16)
                self.patterns.append((mask, value, r))
            else:
                self.exact[int(r.tag, 16)] = r

    def __len__(self) -> int:
        return len(self.rows)

    def lookup(self, tag: int) -> ProfileRow | None:
        """Row governing ``tag`` (an int ``0xggggeeee``), or None when the profile keeps it."""
        if (tag >> 16) % 2 == 1:
            return self.private
        r = self.exact.get(tag)
        if r is not None:
            return r
        for mask, value, row in self.patterns:
            if tag & mask == value:
                return row
        return None


@lru_cache(maxsize=1)
def load_profile() -> ProfileTable:
    """Load the packaged Table E.1-1 (edition :data:`EDITION`)."""
    text = resources.files("covidbank.dicom").joinpath("data/table_e1_1.tsv").read_text(encoding="utf-8")
    rows: list[ProfileRow] = []
    header: list[str] | None = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if header is None:
            header = parts
            continue
        rec = dict(zip(header, parts))
        opts = {o: rec[o] for o in OPTION_COLUMNS if rec.get(o)}
        rows.append(ProfileRow(rec["tag"], rec["name"], rec["basic"], rec["in_std_iod"] == "Y", opts))
    return ProfileTable(rows)


def resolve_compound(action: str, iod_type: str | None) -> str:
    """Resolve a compound action from the attribute's type in the IOD.

    Parameters
    ----------
    action : str
        ``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D`` or ``X/Z/U*`` (simple actions pass through).
    iod_type : str or None
        ``"1"``, ``"2"`` or ``"3"``/None (optional or not in the IOD).

    Returns
    -------
    str
        A simple action, as PS3.15 E.1.1 orders it: X for Type 3, Z for Type 2,
        D (or U for UID sequences) for Type 1.
    """
    if action not in COMPOUND:
        return action
    t = (iod_type or "3").rstrip("C")
    if action == "X/Z":
        return "Z" if t in ("1", "2") else "X"
    if action == "X/D":
        return "D" if t == "1" else ("Z" if t == "2" else "X")
    if action == "Z/D":
        return "D" if t == "1" else "Z"
    if action == "X/Z/D":
        return "D" if t == "1" else ("Z" if t == "2" else "X")
    # X/Z/U*: sequences of UID references: keep the sequence with UIDs replaced when Type 1
    return "U" if t == "1" else ("Z" if t == "2" else "X")
