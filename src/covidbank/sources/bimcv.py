"""BIMCV COVID-19+ (Valencian Region Medical ImageBank).

Two published forms are read:

* the iteration-1 **image table** (``COVID19_POSI_v1.0.xlsx`` sheet, or its
  TSV/CSV export): one row per image with Subject, Session, MIDS file name,
  projection, stringified label lists (``', 'aortic elongation', 'apical
  pleural thickening``), UMLS CUIs, the de-identified Spanish report and about
  240 DICOM header fields;
* the **MIDS release tree** (``sub-*/ses-*/mod-rx/*.png`` or ``.nii.gz`` with
  JSON sidecars, ``participants.tsv``, the labels TSV under ``derivatives/``
  and the diagnostic tests table), read by :mod:`covidbank.sources.mids` plus
  the BIMCV derivatives here.

Labels keep BIMCV's PadChest spelling (``COVID 19``, ``viral pneumonia``) and
CUIs; parents come from the PadChest tree file found beside the table (or
given with ``trees=``), else from a minimal COVID spine.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from itertools import combinations
from math import comb
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from ..errors import SourceFormatError
from ..labels import LabelTree, padchest_tree
from ..pixels import is_nifti
from ..schema import POSITIVE, make_id, normalize_view
from .base import (LUT_SHAPE_TERMS, MODALITY_TERMS, PHOTOMETRIC_TERMS, SourceResult, date_text, known_value,
                   parse_age, read_csv_text, require_columns, trimmed_names, unreadable_row)

__all__ = ["load", "load_table", "parse_label_list", "align_cuis", "NAME", "TREE_FILES"]

NAME = "bimcv"
REQUIRED = ["Subject", "Session", "File", "Labels"]
#: Tree files looked for beside the table, newest first.
TREE_FILES = ("padchest_trees_code_covid.txt", "trees_code_covid.txt", "padchest_trees_code.txt", "trees_code.txt")
_CUI_RE = re.compile(r"C\d{7}")


def parse_label_list(raw: object) -> list[str]:
    """Parse BIMCV's stringified label lists into clean labels.

    ``"', 'aortic elongation', 'apical pleural thickening"`` ->
    ``['aortic elongation', 'apical pleural thickening']``;
    ``"['COVID 19', ' interstitial pattern']"`` -> ``['COVID 19', 'interstitial pattern']``.
    Empty items are dropped; order is kept; duplicates removed.
    """
    if raw is None or (isinstance(raw, float) and pd.isna(raw)):
        return []
    s = str(raw).strip().strip("[]")
    parts = re.split(r"""['"]\s*,\s*['"]""", s)
    out = []
    for p in parts:
        p = re.sub(r"\s+", " ", p.strip().strip("'\"").strip())
        if p and p.lower() not in {"nan", "none"}:
            out.append(p)
    return list(dict.fromkeys(out))


def parse_cui_list(raw: object, keep_empty: bool = False) -> list[str]:
    """CUIs in a cell (``C5203670,C2073538``) in order; with ``keep_empty``, empty items (``C1,,C2``) as ``""``."""
    if not keep_empty:
        return _CUI_RE.findall(str(raw or ""))
    s = str(raw or "").strip().strip("[]")
    if not s:
        return []
    return [m.group(0) if (m := _CUI_RE.search(x)) else "" for x in s.split(",")]


def raw_label_list(raw: object) -> list[str]:
    """A stringified label list as published: stripped items, repeats and empty items kept (for :func:`align_cuis`)."""
    if raw is None or (isinstance(raw, float) and pd.isna(raw)):
        return []
    s = str(raw).strip().strip("[]")
    if not s:
        return []
    return [re.sub(r"\s+", " ", p.strip().strip("'\"").strip()) for p in re.split(r"""['"]\s*,\s*['"]""", s)]


def find_trees(folder: Path) -> list[Path]:
    """PadChest tree files beside a table (the first of :data:`TREE_FILES` found)."""
    for name in TREE_FILES:
        if (folder / name).is_file():
            return [folder / name]
    return []


def align_cuis(labels: list[str], cuis: list[str], known: Mapping[str, str | None] | None = None,
               max_tries: int = 20_000) -> dict[str, str]:
    """CUIs of a row's labels where the row's two lists can be aligned with certainty.

    BIMCV's ``labelCUIS`` lists the CUIs of the row's ``Labels`` in order but
    leaves out the labels without a CUI (``unchanged``, ``pseudonodule``), and
    both lists repeat items (``'pneumonia', ' pneumonia'``).  So position alone
    says little.  Every way of leaving ``len(labels) - len(cuis)`` labels out is
    tried; an alignment is kept when the same label always gets the same CUI,
    no CUI goes to two labels, an empty label meets an empty CUI, and no label
    gets a CUI other than the one ``known`` gives it (a label ``known`` as
    CUI-less gets none).  A label gets a CUI only when every kept alignment
    gives it that CUI.

    Parameters
    ----------
    labels : list of str
        The row's labels as published (stripped, repeats and empty items kept).
    cuis : list of str
        The row's CUIs as published (empty items kept).
    known : mapping, optional
        label -> CUI (or ``None`` for a label known to have none), from a vocabulary.
    max_tries : int
        Give up (align nothing) beyond this many candidate alignments.

    Returns
    -------
    dict
        label -> CUI, only for labels aligned with certainty.
    """
    known = known or {}
    n, m = len(labels), len(cuis)
    if m > n:
        return {}
    if comb(n, n - m) > max_tries:
        return {}
    agreed: dict[str, str | None] | None = None
    for left_out in combinations(range(n), n - m):
        out = set(left_out)
        kept = [lab for i, lab in enumerate(labels) if i not in out]
        mapping: dict[str, str | None] = {labels[i]: None for i in left_out}
        ok = True
        for lab, cui in zip(kept, cuis):
            if (not lab) != (not cui) or mapping.get(lab, cui) != cui or (lab in known and known[lab] != cui):
                ok = False
                break
            mapping[lab] = cui
        if not ok or any(lab in known and known[lab] is not None and mapping[lab] is None for lab in mapping if lab):
            continue
        given = [c for lab, c in mapping.items() if lab and c]
        if len(given) != len(set(given)):
            continue
        if agreed is None:
            agreed = mapping
        else:
            agreed = {lab: c for lab, c in agreed.items() if mapping.get(lab) == c}
    return {lab: c for lab, c in (agreed or {}).items() if lab and c}


def label_rows(image_id: str, labels: list[str], cuis: list[str], tree: LabelTree,
               raw_labels: list[str] | None = None) -> list[dict]:
    """Label rows (source labels and implied parents) for one image.

    A label's CUI comes from the tree, else from the package's own PadChest
    vocabulary (:data:`covidbank.nlp.lexicon.VOCABULARY`), else from the row's
    ``labelCUIS`` where :func:`align_cuis` aligns it with certainty, and only
    if the vocabulary does not give that CUI to another label; never by
    position alone.
    """
    from ..nlp.lexicon import VOCABULARY

    known = {lab: VOCABULARY[lab][0] for lab in set(raw_labels or labels) if lab in VOCABULARY}
    for lab in set(raw_labels or labels):
        c = tree.cui(lab) if lab and lab in tree else None
        if c:
            known[lab] = c
    aligned = align_cuis(raw_labels if raw_labels is not None else labels, cuis, known)
    values = tree.expand({lab: POSITIVE for lab in labels})
    rows = []
    for lab, v in values.items():
        cui = tree.cui(lab) or (VOCABULARY[lab][0] if lab in VOCABULARY else None)
        if cui is None and lab in aligned and tree.resolve(aligned[lab]) in (None, tree.resolve(lab)):
            cui = aligned[lab]
        rows.append({"image_id": image_id, "label": lab, "cui": cui, "value": v, "origin": "source" if lab in labels else "implied"})
    return rows


def _first(r: pd.Series, *names: str) -> str:
    for n in names:
        if n in r.index:
            v = str(r[n]).strip().strip('"').strip()
            if v:
                return v
    return ""


def _read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() in {".xlsx", ".xls"}:
            return pd.read_excel(path, dtype=str, keep_default_na=False)
        sep = "\t" if path.suffix.lower() in {".tsv", ".tab", ".txt"} else ","
        return read_csv_text(path, sep=sep, encoding_errors="replace")
    except ImportError as e:
        raise SourceFormatError(f"{path}: reading Excel needs openpyxl ({e}); export the sheet to TSV or `pip install openpyxl`") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, OSError, ValueError) as e:
        raise SourceFormatError(f"{path}: unreadable table ({e.__class__.__name__}: {e})") from None


def _cut_last_row(path: Path, n_columns: int) -> int | None:
    """Fields of the last line when a tab-separated file ends mid-row (no final newline, too few fields)."""
    if path.suffix.lower() not in {".tsv", ".tab", ".txt"}:
        return None
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 1_000_000))
        tail = f.read()
    if not tail or tail.endswith((b"\n", b"\r")):
        return None
    n = tail.rsplit(b"\n", 1)[-1].count(b"\t") + 1
    return n if n < n_columns else None


def deid_report(text: str | None) -> str | None:
    """De-identify a published report before it enters a bank.

    BIMCV's public reports were de-identified by its authors, yet still hold
    dates, record numbers (``nhc ...``) and staff surnames; they go through
    the combined de-identifier :func:`covidbank.nlp.deidentify` (the trained
    tagger, which also learned the lower-cased, accent-stripped form BIMCV
    publishes, with the rules and gazetteers; category placeholders; ages
    over 89 written 90+). The published rows carry no identifying header
    values (names and ids are already pseudonyms), so there are no patient
    deny terms here.
    """
    if not text:
        return text
    from ..nlp.deid import deidentify

    return deidentify(text).text


def load_table(path: Path, trees: Iterable[str | Path] | None = None, version: str | None = None) -> SourceResult:
    """Load the iteration-1 image table (one row per image)."""
    df = _read_table(path)
    df.columns = trimmed_names(df.columns, path)
    require_columns(df, REQUIRED, path)
    tree_files = list(trees) if trees else find_trees(path.parent)
    tree = padchest_tree(tree_files)
    res = SourceResult(source=NAME)
    subjects: dict[str, dict] = {}
    sessions: dict[str, dict] = {}
    images: list[dict] = []
    labels: list[dict] = []
    seen: Counter = Counter()
    cut_row = _cut_last_row(path, len(df.columns)) if len(df) else None
    for i, r in df.iterrows():
        rec = f"row {i + 2}"
        if i == len(df) - 1 and cut_row is not None:
            res.skip(rec, path, f"row cut short ({cut_row} of {len(df.columns)} fields, no end of line): file truncated?")
            continue
        try:
            sub, ses, fname = str(r["Subject"]).strip(), str(r["Session"]).strip(), str(r["File"]).strip()
            if not sub or not ses or not fname:
                res.skip(rec, path, "empty Subject, Session or File")
                continue
            subject_id, session_id = make_id(NAME, sub), make_id(NAME, ses)
            seen[fname] += 1
            image_id = make_id(NAME, fname if seen[fname] == 1 else f"{fname}#{seen[fname]}")
            typ = _first(r, "Type").lower()
            # a fixed vocabulary: a cell outside it (free text) is not copied into the bank
            modality = (known_value(_first(r, "Modality"), MODALITY_TERMS)
                        or {"cr": "CR", "dx": "DX"}.get(typ, "CT" if typ.startswith("ct") else "X-ray"))
            view_raw = _first(r, "Position_Manual", "View Position").upper()
            view = normalize_view(view_raw)
            if view == "AP" and "SUPINE" in _first(r, "Series Description", "Patient Position").upper():
                view = "AP Supine"
            sex = _first(r, "Patient's Sex", "PatientSex").upper()
            sex = sex if sex in {"M", "F"} else None
            age = parse_age(_first(r, "Patient's Age", "PatientAge"))
            subj = subjects.setdefault(subject_id, {"subject_id": subject_id, "original_id": sub, "sex": sex, "age": age})
            subj["sex"] = subj["sex"] or sex
            if age is not None and (subj["age"] is None or age < subj["age"]):
                subj["age"] = age
            if session_id not in sessions:
                sessions[session_id] = {
                    "session_id": session_id,
                    "subject_id": subject_id,
                    "original_id": ses,
                    "date": date_text(_first(r, "Study Date")),
                    "modality": modality,
                    "report": deid_report(_first(r, "Report") or None),
                }
            excl = _first(r, "Exclude").lower() == "true"
            fmt = "nifti" if is_nifti(fname) else Path(fname).suffix.lower().lstrip(".") or None
            mod_dir = _first(r, "mod") or "mod-rx"
            images.append(
                {
                    "image_id": image_id,
                    "session_id": session_id,
                    "subject_id": subject_id,
                    "source_version": version,
                    "original_id": fname,
                    "modality": modality,
                    "view": view,
                    "sex": sex,
                    "age": age,
                    "path": f"{sub}/{ses}/{mod_dir}/{fname}",
                    "file_present": False,
                    "file_format": fmt,
                    "license": None,
                    "license_raw": "BIMCV COVID-19+ research use agreement",
                    "url": "https://bimcv.cipf.es/bimcv-projects/bimcv-covid19/",
                    "photometric": known_value(_first(r, "Photometric Interpretation"), PHOTOMETRIC_TERMS),
                    "presentation_lut_shape": known_value(_first(r, "Presentation LUT Shape"), LUT_SHAPE_TERMS),
                    "manufacturer": _first(r, "Manufacturer") or None,
                    "model": _first(r, "Manufacturer's Model Name") or None,
                    "body_part": _first(r, "Body Part Examined") or None,
                    "exclude": excl,
                    "exclude_reason": _first(r, "Exclude Reason") or None,
                }
            )
            labels.extend(label_rows(image_id, parse_label_list(r["Labels"]), parse_cui_list(r.get("labelCUIS"), keep_empty=True),
                                     tree, raw_labels=raw_label_list(r["Labels"])))
        except Exception as e:  # one bad row never stops the load
            res.skip(rec, path, unreadable_row(e))
    res.tables = {
        "subjects": pd.DataFrame(list(subjects.values())).assign(source=NAME, source_version=version),
        "sessions": pd.DataFrame(list(sessions.values())).assign(source=NAME, source_version=version),
        "images": pd.DataFrame(images).assign(source=NAME),
        "labels": pd.DataFrame(labels).assign(source=NAME),
    }
    res.__post_init__()
    repeated = sum(v - 1 for v in seen.values() if v > 1)
    res.meta = {
        "path": str(path.resolve()),
        "form": "image table",
        "version": version,
        "trees": [str(t) for t in tree_files],
        "rows": len(df),
        "notes": [
            f"image table: {len(df)} rows, {len(images)} image records, {len(subjects)} subjects, {len(sessions)} sessions",
            f"{repeated} rows repeat a file name already listed (same image, another report); kept with a '#n' id suffix",
            # counted, not named: a bank's notes never name an input file (``trees`` holds them, made relative by Bank.add)
            (f"label tree given: {len(tree_files)} trees_code file(s)" if tree_files
             else "label tree: built-in COVID spine (pass --tree for the full PadChest tree)"),
            "image files are not part of the table: file_present is false; paths are relative MIDS paths",
            "report texts de-identified again before entering the bank (dates, numbers, names -> [CATEGORY])",
        ],
    }
    return res


def load(path: str | Path, trees: Iterable[str | Path] | None = None, version: str | None = None, **_: object) -> SourceResult:
    """Load BIMCV COVID-19+ from its image table or its MIDS release tree.

    Parameters
    ----------
    path : str or Path
        The image table (``.tsv``, ``.csv``, ``.xlsx``) or the MIDS release folder.
    trees : list of path, optional
        PadChest ``trees_code`` files; by default the first of
        :data:`TREE_FILES` found beside the table (or in ``derivatives/``).
    version : str, optional
        Release or commit, recorded as ``source_version``.
    """
    p = Path(path)
    if p.is_file():
        return load_table(p, trees, version)
    from .mids import load_bimcv_tree

    return load_bimcv_tree(p, trees=trees, version=version)
