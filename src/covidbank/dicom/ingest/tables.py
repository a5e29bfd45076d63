"""The tests and reports CSVs of an ingest: read, pseudonymized with the patients' keys, merged into ``phenotype/``."""
from __future__ import annotations

from pathlib import Path


# --------------------------------------------------------------------------- tests / reports
def _read_csv(path: Path):
    """The table as text; a row longer than the header (the first included: pandas read it shifted by one
    column, its first column as the index) is the SourceFormatError of any unreadable table."""
    from ...errors import SourceFormatError
    from ...fileio import read_csv_text

    try:
        return read_csv_text(path)
    except Exception as e:
        raise SourceFormatError(f"{path}: cannot read CSV ({type(e).__name__})") from e


def _norm_cols(df) -> dict[str, str]:
    return {c.strip().lower().replace(" ", "_"): c for c in df.columns}


_TEST_TYPES = {"pcr": "PCR", "rt-pcr": "PCR", "rtpcr": "PCR", "igg": "IgG", "igm": "IgM", "antigen": "antigen",
               "ag": "antigen", "antigen_test": "antigen"}
_RESULTS = {"positive": "positive", "pos": "positive", "+": "positive", "1": "positive", "positivo": "positive",
            "negative": "negative", "neg": "negative", "-": "negative", "0": "negative", "negativo": "negative",
            "indeterminate": "indeterminate", "inconclusive": "indeterminate", "indeterminado": "indeterminate"}


def _row_failed(log, kind: str, record: int, path: Path, e: Exception) -> None:
    """Log a row that failed (code in the bank, the exception for the curator) and go on."""
    log.write(kind=kind, record=record, status="skipped", reason="row_failed", attributes=[],
              detail=f"{type(e).__name__}: {e}", private={"path": str(path)})


def _check_row(row: dict, denylists: dict, pkey: str, quarantine, log, kind: str, record: int, source: Path) -> bool:
    """Search a row about to be written for its patient's identifying values; quarantine it on a hit."""
    from .pipeline import deny_hits

    hits = deny_hits(denylists.get(pkey), row)
    if not hits:
        return True
    token = f"{source.stem[:24]}-{record}"
    quarantine.put(kind, token, "deny_list_hit", hits, row, source=f"{source} row {record}")
    attrs = sorted({h["keyword"] for h in hits})
    log.write(kind=kind, record=record, status="quarantined", reason="deny_list_hit", attributes=attrs,
              detail=f"{len(hits)} deny-list hit(s); see the quarantine", private={"path": str(source)})
    return False


def _process_tests(path: Path, keyring, registry, log, quarantine=None, denylists=None) -> list[dict]:
    """Rows of ``tests.csv`` with pseudonyms and shifted dates; a row that fails is logged and left out."""
    from ...errors import SourceFormatError
    from ..timeshift import DateTimeShift, year_last_order

    df = _read_csv(path)
    cols = _norm_cols(df)
    need = {"patient_id": ("patient_id", "patientid", "patient"), "date": ("date", "test_date"),
            "test_type": ("test_type", "type", "test"), "result": ("result", "outcome")}
    found = {}
    for k, alts in need.items():
        for a in alts:
            if a in cols:
                found[k] = cols[a]
                break
        else:
            raise SourceFormatError(f"{path}: missing column {k} (columns needed: patient_id, date, test_type, result)")
    order = year_last_order(df[found["date"]])  # 15/03/2020 read day first only when the column says so
    rows = []
    for i, r in df.iterrows():
        record = int(i) + 2
        try:
            pid = str(r[found["patient_id"]]).strip()
            ttype = _TEST_TYPES.get(str(r[found["test_type"]]).strip().lower())
            result = _RESULTS.get(str(r[found["result"]]).strip().lower())
            if not pid or ttype is None or result is None:
                log.write(kind="test", record=record, status="skipped", reason="test_row_invalid",
                          attributes=[], private={"path": str(path)})
                continue
            ptok = keyring.token("patient", pid)
            sub = registry.get(keyring, "sub", ptok)
            cell = r[found["date"]]
            date = DateTimeShift(keyring.date_shift_days(ptok)).text_date(cell, order or "ymd")
            if date is None and str(cell).strip():  # kept without its date, and said
                log.write(kind="test", record=record, status="partial",
                          reason="test_date_ambiguous" if order is None else "test_date_unreadable",
                          attributes=[], private={"path": str(path)})
            row = {"participant_id": f"sub-{sub}", "test_type": ttype, "result": result, "acq_date": date}
            if denylists is not None and not _check_row(row, denylists, pid, quarantine, log, "test", record, path):
                continue
            rows.append(row)
        except Exception as e:  # one row that breaks a parser fails alone
            _row_failed(log, "test", record, path, e)
    return rows


def _process_reports(path: Path, keyring, registry, series, log, quarantine=None, denylists=None,
                     deidentify_text: bool = True) -> list[dict]:
    """Reports joined to ingested studies; their text de-identified by
    :func:`covidbank.nlp.deidentify` (the trained tagger, rules and gazetteers,
    and the patient's own header values: a :class:`~covidbank.dicom.denylist.DenyList`
    of the patient's DICOM headers; names, numbers, places, institutions
    replaced by consistent keyed surrogates, dates moved by the patient's date
    shift, ages over 89 written 90+) unless ``deidentify_text`` is false (text
    already de-identified).  The text is then searched for the patient's header
    values (deny-list); a hit sends the row to the quarantine.  A row that fails
    is logged and left out."""
    from ...errors import SourceFormatError

    df = _read_csv(path)
    cols = _norm_cols(df)
    key_col = next((cols[a] for a in ("accession", "accession_number", "study_id", "study_uid", "study_instance_uid")
                    if a in cols), None)
    text_col = next((cols[a] for a in ("text", "report", "report_text") if a in cols), None)
    if key_col is None or text_col is None:
        raise SourceFormatError(f"{path}: needs an accession/study id column and a text column")
    index: dict[str, tuple[str, str]] = {}
    for s in series:
        for inst in s.instances:
            pair = (s.patient_key, s.study_uid)
            index.setdefault(s.study_uid, pair)
            if inst.accession:
                index.setdefault(inst.accession, pair)
    rows = []
    deny: dict = {}
    for i, r in df.iterrows():
        record = int(i) + 2
        try:
            ref = str(r[key_col]).strip()
            if ref not in index:
                log.write(kind="report", record=record, status="skipped", reason="report_no_study", attributes=[],
                          private={"path": str(path)})
                continue
            pkey, study = index[ref]
            ptok = keyring.token("patient", pkey)
            sub = registry.get(keyring, "sub", ptok)
            ses = registry.get(keyring, "ses", keyring.token("study", study))
            text = str(r[text_col])
            if deidentify_text:
                from ...nlp.deid import Surrogates, deidentify

                # surrogates keyed by a secret token (not the public pseudonym), dates
                # shifted like the patient's images so intervals survive; the patient's own header values
                # (collected during discovery, or read here) guide the de-identification
                sur = Surrogates(patient_key=keyring.token("report-surrogates", pkey),
                                 date_shift_days=keyring.date_shift_days(ptok))
                if pkey not in deny:
                    deny[pkey] = (denylists or {}).get(pkey) or _patient_deny_list(series, pkey)
                text = deidentify(text, sur, extra_terms=deny[pkey]).text
            row = {"participant_id": f"sub-{sub}", "session_id": f"ses-{ses}", "report": text}
            if denylists is not None and not _check_row(row, denylists, pkey, quarantine, log, "report", record, path):
                continue
            rows.append(row)
        except Exception as e:  # one row that breaks a parser fails alone
            _row_failed(log, "report", record, path, e)
    return rows


def _patient_deny_list(series, patient_key: str):
    """The patient's own header values (names, ids, dates, addresses...) from one instance of each of their
    series, read before de-identification, as a :class:`~covidbank.dicom.denylist.DenyList`."""
    import pydicom

    from ..denylist import DenyList

    dl = DenyList()
    for s in series:
        if s.patient_key != patient_key or not s.instances:
            continue
        try:
            ds = pydicom.dcmread(s.instances[0].path, stop_before_pixels=True)
        except (OSError, pydicom.errors.InvalidDicomError):
            continue  # the series' own conversion reports the unreadable file
        dl.extend(DenyList.from_dataset(ds))
    return dl


def _merge_tsv(path: Path, rows: list[dict], columns: list[str], key: list[str]) -> None:
    import pandas as pd

    from .. import mids

    old = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False) if path.exists() else pd.DataFrame(columns=columns)
    new = pd.DataFrame(rows, columns=columns).astype("string").fillna("n/a")
    both = pd.concat([old.astype("string"), new], ignore_index=True).drop_duplicates(subset=key, keep="last")
    both = both.sort_values(columns).reset_index(drop=True)
    mids.write_tsv(path, both.to_dict("records"), columns)


