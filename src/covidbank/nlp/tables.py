"""Table-level helpers: read/write report tables, label and de-identify whole columns, bank rows."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from ..errors import ReportError
from ..fileio import atomic_path, read_csv_text
from ..labels import imply_parents
from ..schema import conform
from .deid import Surrogates, deidentify
from .labeler import ReportLabeler, ReportLabels
from .lexicon import VOCABULARY, label_cui

__all__ = ["read_table", "write_table", "label_frame", "deid_frame", "labels_to_bank_rows", "BIMCV_COLUMNS"]

BIMCV_COLUMNS = ("Labels", "Localizations", "labelCUIS", "LocalizationsCUIS", "LabelsLocalizationsBySentence")


def read_table(path: str | Path, text_column: str | None = None) -> tuple[pd.DataFrame, str]:
    """Read a TSV, CSV or plain-text file as a table of strings.

    A ``.txt`` file (or any file when ``text_column`` is ``None``) becomes a
    one-row table with column ``text``.  TSV files are read without quote
    processing, as BIMCV publishes them.

    Returns
    -------
    (DataFrame, kind)
        ``kind`` is ``tsv``, ``csv`` or ``text``.

    Raises
    ------
    ReportError
        The file is missing or unreadable, or lacks ``text_column``.
    """
    p = Path(path)
    if not p.is_file():
        raise ReportError(f"{p}: file not found")
    suffix = p.suffix.lower()
    try:
        if suffix in (".tsv", ".tab", ".csv"):
            sep = "\t" if suffix != ".csv" else ","
            quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
            # a row longer than the header is an error, the first one included (pandas read it shifted by one
            # column, its first column as the index: the text column de-identified was not the report's)
            df = read_csv_text(p, sep=sep, quoting=quoting, encoding="utf-8")
            kind = "tsv" if sep == "\t" else "csv"
        else:
            df = pd.DataFrame({"text": [p.read_text(encoding="utf-8")]})
            return df, "text"
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ReportError(f"{p}: cannot read as {suffix.lstrip('.') or 'text'} ({type(e).__name__}); "
                          "check the file is UTF-8 and tab/comma separated") from None
    if text_column and text_column not in df.columns:
        raise ReportError(f"{p}: no column {text_column!r} (has {len(df.columns)} columns); pass --text-column")
    return df, kind


def write_table(df: pd.DataFrame, path: str | Path, kind: str) -> None:
    """Write atomically (temporary file, then rename) as TSV, CSV, or plain text (column ``text``)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        if kind == "text":
            f.write(str(df["text"].iloc[0]) if len(df) else "")
        elif kind == "tsv":
            df.to_csv(f, sep="\t", index=False, quoting=csv.QUOTE_NONE, escapechar="\\")
        else:
            df.to_csv(f, index=False)


def label_frame(df: pd.DataFrame, text_column: str, labeler: ReportLabeler | None = None,
                progress=None) -> tuple[pd.DataFrame, list[ReportLabels]]:
    """Label every report of ``df[text_column]``; return ``df`` with the BIMCV columns (replaced) and the results."""
    lab = labeler or ReportLabeler()
    results = []
    for t in df[text_column].tolist():
        results.append(lab.label(t if isinstance(t, str) else ""))
        if progress:
            progress()
    out = df.copy()
    rows = [r.bimcv_row() for r in results]
    for c in BIMCV_COLUMNS:
        out[c] = [r[c] for r in rows]
    return out, results


def deid_frame(df: pd.DataFrame, text_column: str, surrogate: bool = False, patient_column: str | None = None,
               shift_days: dict[str, int] | None = None, progress=None) -> tuple[pd.DataFrame, list[dict]]:
    """De-identify ``df[text_column]``.

    Returns the table with the column replaced and the span records
    (``row``, ``start``, ``end``, ``category``; never the text).
    """
    texts = df[text_column].tolist()
    patients = df[patient_column].tolist() if patient_column else [""] * len(texts)
    new, spans = [], []
    cache: dict[str, Surrogates] = {}
    for i, (t, pk) in enumerate(zip(texts, patients)):
        sur = None
        if surrogate:
            pk = str(pk)
            sur = cache.get(pk)
            if sur is None:
                sur = cache[pk] = Surrogates(pk, (shift_days or {}).get(pk))
        r = deidentify(t if isinstance(t, str) else "", surrogates=sur)
        new.append(r.text)
        spans.extend({"row": i, **s.as_dict()} for s in r.spans)
        if progress:
            progress()
    out = df.copy()
    out[text_column] = new
    return out, spans


def labels_to_bank_rows(results: Sequence[ReportLabels], image_ids: Sequence[str], source: str,
                        implied: bool = True) -> pd.DataFrame:
    """Rows of the bank's ``labels`` table from labeler results.

    Parameters
    ----------
    results : sequence of ReportLabels
        One per image (repeat a report's result for each of its images).
    image_ids : sequence of str
        The bank image id of each result.
    source : str
        Source name.
    implied : bool
        Also add the values the labels imply for their parents in the PadChest
        tree (:func:`covidbank.labels.imply_parents`, origin ``implied``; a
        parent the report names uncertain or negated but a child makes
        positive is also ``implied``).

    Returns
    -------
    DataFrame
        ``image_id, source, label, cui, value, origin`` (``report``/``implied``),
        value 1 positive, 0 negated, -1 uncertain.
    """
    if len(results) != len(image_ids):
        raise ReportError(f"labels_to_bank_rows: {len(results)} results for {len(image_ids)} image ids")
    rows = []
    for res, iid in zip(results, image_ids):
        vals = res.values()
        full = imply_parents(vals, _ancestors) if implied else vals
        for lab, v in full.items():
            rows.append((iid, source, lab, label_cui(lab), v, "report" if vals.get(lab) == v else "implied"))
    df = pd.DataFrame(rows, columns=["image_id", "source", "label", "cui", "value", "origin"])
    return conform(df, "labels")


def _ancestors(label: str) -> list[str]:
    out, todo = [], list(VOCABULARY.get(label, (None, ()))[1])
    while todo:
        p = todo.pop(0)
        if p in out:
            continue
        out.append(p)
        todo.extend(VOCABULARY.get(p, (None, ()))[1])
    return out


def write_spans(spans: Iterable[dict], path: str | Path) -> None:
    """Write span records as JSON lines (atomically)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for s in spans:
            f.write(json.dumps(s) + "\n")
