"""Who to pull: a cohort CSV (patient ids with optional date windows, or accession numbers), or the BIMCV rule.

A cohort CSV has one entry per row, with columns (case and spaces ignored):

- ``patient_id`` and optionally ``from`` / ``to`` (also ``date_from``,
  ``date_to``, ``start``, ``end``): every study of the patient whose Study
  Date is in the window (the run's ``--from``/``--to`` when the row has none);
- or ``accession`` (``accession_number``): the studies with that accession
  number (an accession may map to several studies; each is pulled and the
  manifest lists them under the one entry).

The BIMCV COVID-19+ rule (de la Iglesia Vayá et al., 2020, section "Data
collection"): the cohort is every patient with at least one positive PCR,
IgG or IgM test in a period, read from the laboratory's tests CSV (columns
``patient_id, date, test_type, result`` as for ``covidbank ingest --tests``);
their studies are then searched in the same period.
"""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceFormatError
from .archive import StudyQuery, parse_date

__all__ = ["CohortEntry", "read_cohort", "cohort_from_tests", "BIMCV_TESTS"]

#: Test types whose positive result puts a patient in the BIMCV COVID-19+ cohort.
BIMCV_TESTS = ("PCR", "IgG", "IgM")

_FROM = ("from", "date_from", "start", "start_date", "from_date")
_TO = ("to", "date_to", "end", "end_date", "to_date")


@dataclass(frozen=True)
class CohortEntry:
    """One cohort line: a patient (with a date window) or an accession number.

    ``line`` is the row number in the input CSV (2 = first data row), which
    the manifest shows instead of any identifier.
    """

    line: int
    patient_id: str | None = None
    accession: str | None = None
    date_from: _dt.date | None = None
    date_to: _dt.date | None = None

    @property
    def kind(self) -> str:
        """``patient`` or ``accession``."""
        return "accession" if self.accession else "patient"

    @property
    def key(self) -> str:
        """What identifies the entry (kept in memory and the private log only)."""
        return f"acc:{self.accession}" if self.accession else f"pid:{self.patient_id}|{self.date_from}|{self.date_to}"

    def query(self) -> StudyQuery:
        """The study-level query of this entry."""
        if self.accession:
            return StudyQuery(accession=self.accession)
        return StudyQuery(patient_id=self.patient_id, date_from=self.date_from, date_to=self.date_to)


def _read(path: Path):
    from ..dicom.ingest.tables import _norm_cols, _read_csv

    if not path.is_file():
        raise SourceFormatError(f"{path}: cohort file not found")
    df = _read_csv(path)
    return df, _norm_cols(df)


def _date(path: Path, line: int, text: str):
    try:
        return parse_date(text)
    except ValueError:
        raise SourceFormatError(f"{path}: row {line}: a date column is not a date (use YYYY-MM-DD or YYYYMMDD)") from None


def _check_window(path: Path, a, b) -> None:
    if a and b and a > b:
        raise SourceFormatError(f"{path}: --from is after --to")


def read_cohort(path: str | os.PathLike, date_from: _dt.date | None = None,
                date_to: _dt.date | None = None) -> list[CohortEntry]:
    """Read a cohort CSV (see module docstring); rows with an empty id are left out.

    Raises
    ------
    SourceFormatError
        The file is missing, has neither a patient id nor an accession column,
        or has a date that is not a date.
    """
    path = Path(path)
    _check_window(path, date_from, date_to)
    df, cols = _read(path)
    acc_col = next((cols[c] for c in ("accession", "accession_number", "accessionnumber") if c in cols), None)
    pid_col = next((cols[c] for c in ("patient_id", "patientid", "patient") if c in cols), None)
    if acc_col is None and pid_col is None:
        raise SourceFormatError(f"{path}: a cohort needs a patient_id column (with optional from/to) or an "
                                "accession column")
    from_col = next((cols[c] for c in _FROM if c in cols), None)
    to_col = next((cols[c] for c in _TO if c in cols), None)
    out, seen = [], set()
    for i, row in enumerate(df.to_dict("records")):
        line = i + 2
        acc = str(row[acc_col]).strip() if acc_col else ""
        pid = str(row[pid_col]).strip() if pid_col else ""
        if acc:
            e = CohortEntry(line, accession=acc)
        elif pid:
            a = _date(path, line, row[from_col]) if from_col else None
            b = _date(path, line, row[to_col]) if to_col else None
            a, b = a or date_from, b or date_to
            if a and b and a > b:
                raise SourceFormatError(f"{path}: row {line}: the window's start is after its end")
            e = CohortEntry(line, patient_id=pid, date_from=a, date_to=b)
        else:
            continue
        if e.key not in seen:  # the same entry twice is pulled once
            seen.add(e.key)
            out.append(e)
    return out


def cohort_from_tests(path: str | os.PathLike, date_from: _dt.date | None = None, date_to: _dt.date | None = None,
                      positive: bool = True, tests: tuple[str, ...] = BIMCV_TESTS) -> list[CohortEntry]:
    """The BIMCV COVID-19+ cohort from a laboratory tests CSV.

    Every patient with at least one test of a type in ``tests`` whose result
    is positive (``positive=True``; any result otherwise) dated within
    ``[date_from, date_to]``; each becomes one entry whose study window is the
    same period.  ``line`` is the row of the patient's first qualifying test.

    Raises
    ------
    SourceFormatError
        The file is missing or lacks one of the columns patient_id, date,
        test_type, result.
    """
    from ..dicom.ingest.tables import _RESULTS, _TEST_TYPES

    path = Path(path)
    _check_window(path, date_from, date_to)
    df, cols = _read(path)
    need = {"patient_id": ("patient_id", "patientid", "patient"), "date": ("date", "test_date"),
            "test_type": ("test_type", "type", "test"), "result": ("result", "outcome")}
    found = {}
    for k, alts in need.items():
        c = next((cols[a] for a in alts if a in cols), None)
        if c is None:
            raise SourceFormatError(f"{path}: missing column {k} (columns needed: patient_id, date, test_type, result)")
        found[k] = c
    first: dict[str, int] = {}
    for i, row in enumerate(df.to_dict("records")):
        pid = str(row[found["patient_id"]]).strip()
        ttype = _TEST_TYPES.get(str(row[found["test_type"]]).strip().lower())
        result = _RESULTS.get(str(row[found["result"]]).strip().lower())
        if not pid or ttype not in tests or (positive and result != "positive"):
            continue
        try:
            d = parse_date(row[found["date"]])
        except ValueError:
            continue  # an undated test cannot place the patient in the period
        if d is None or (date_from and d < date_from) or (date_to and d > date_to):
            continue
        first.setdefault(pid, i + 2)
    return [CohortEntry(line, patient_id=pid, date_from=date_from, date_to=date_to)
            for pid, line in sorted(first.items(), key=lambda kv: kv[1])]
