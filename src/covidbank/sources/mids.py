"""MIDS trees (the BIDS extension for any body part and modality).

Reads ``sub-*/[ses-*/][mod-]rx|ct/*`` files with their JSON sidecars,
``participants.tsv`` and per-session ``*_scans.tsv``.  Real MIDS trees are
messy: entities written with ``_`` instead of ``-`` (``vp_ap``), a view given as
a body part (``bp-ap``), sessions without a ``ses-`` folder, sidecars whose
image is absent, files listed in ``scans.tsv`` but missing.  The loader keeps
going and reports each problem in the ``skipped`` table (with the record kept
where it can be).

The BIMCV COVID-19+ release is a MIDS tree plus ``derivatives/`` (labels per
session, diagnostic tests); :func:`load_bimcv_tree` reads those too.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..errors import SourceFormatError
from ..schema import make_id, normalize_view
from .base import (LUT_SHAPE_TERMS, MODALITY_TERMS, PHOTOMETRIC_TERMS, SourceResult, date_text, known_value, parse_age,
                   read_side_table)

__all__ = ["load", "load_bimcv_tree", "parse_mids_name", "read_sidecar", "IMAGE_EXTENSIONS"]

NAME = "mids"
IMAGE_EXTENSIONS = (".nii.gz", ".nii", ".png", ".jpg", ".jpeg", ".dcm", ".mha", ".nrrd")
_ENTITY_KEYS = {"sub", "ses", "acq", "run", "bp", "vp", "mod", "ce", "rec", "echo", "chunk"}
_SUFFIX_MODALITY = {"cr": "CR", "dx": "DX", "ct": "CT", "rx": "X-ray"}


def _split_ext(name: str) -> tuple[str, str]:
    low = name.lower()
    for ext in (".nii.json", ".nii.gz", ".json", ".nii", ".png", ".jpg", ".jpeg", ".dcm", ".mha", ".nrrd"):
        if low.endswith(ext):
            return name[: -len(ext)], ext
    stem, dot, ext = name.rpartition(".")
    return (stem, "." + ext) if dot else (name, "")


def parse_mids_name(name: str) -> tuple[dict[str, str], str | None, list[str]]:
    """Parse a MIDS file name into entities, suffix and problems.

    The problems are fixed wording (never a token of ``name``): they are
    stored in a bank's ``skipped`` table.

    >>> parse_mids_name("sub-1_ses-1_bp-thorax_vp_ap_dx.nii.json")[0]
    {'sub': '1', 'ses': '1', 'bp': 'thorax', 'vp': 'ap'}
    """
    base, _ = _split_ext(name)
    tokens = [t for t in base.split("_") if t]
    entities: dict[str, str] = {}
    problems: list[str] = []
    suffix = None
    i = 0
    while i < len(tokens):
        t = tokens[i]
        last = i == len(tokens) - 1
        if "-" in t:
            k, v = t.split("-", 1)
            if k in entities:
                if k == "bp" and normalize_view(v) != "unknown" and "vp" not in entities:
                    problems.append("a second bp entity repeats bp with a view value: read as vp")
                    entities["vp"] = v
                else:
                    problems.append("an entity given twice: first kept")
            else:
                entities[k] = v
        elif last:
            suffix = t.lower()
        elif t in _ENTITY_KEYS and i + 1 < len(tokens) - 0 and "-" not in tokens[i + 1]:
            v = tokens[i + 1]
            problems.append("an entity uses '_' instead of '-'")
            entities.setdefault(t, v)
            i += 1
        else:
            problems.append("a token is not an entity")
        i += 1
    if suffix is None:
        problems.append("no modality suffix")
    return entities, suffix, problems


def read_sidecar(path: Path) -> dict[str, str]:
    """Read a JSON sidecar into ``{attribute name: value}``.

    Plain BIDS-style sidecars (``{"Modality": "CR", ...}``) and the MIDS/BIMCV
    ``{"ResultSet": {"Result": [{"tag1", "vr", "value", "desc"}, ...]}}`` form
    are both understood (sequence items are ignored).
    """
    data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    out: dict[str, str] = {}
    if isinstance(data, dict) and isinstance(data.get("ResultSet"), dict):
        for item in data["ResultSet"].get("Result", []):
            if not isinstance(item, dict) or item.get("tag2"):
                continue
            desc = str(item.get("desc", "")).replace("&rsquo;", "'")
            out[desc] = str(item.get("value", ""))
            out[str(item.get("tag1", ""))] = str(item.get("value", ""))
    elif isinstance(data, dict):
        conv = data.get("covidbank", {}).get("conversion", {}) if isinstance(data.get("covidbank"), dict) else {}
        if isinstance(conv, dict) and conv.get("display_ready") is not None:  # written by covidbank ingest
            out["DisplayReady"] = str(bool(conv["display_ready"]))
        for k, v in data.items():
            if isinstance(v, dict) and "Value" in v:  # DICOM JSON model
                vals = v.get("Value") or [""]
                out[k] = str(vals[0])
            elif not isinstance(v, (dict, list)):
                out[k] = str(v)
    return out


def _side(sc: dict[str, str], *keys: str) -> str | None:
    for k in keys:
        v = sc.get(k)
        if v not in (None, "", "None"):
            return str(v).strip()
    return None


def _participants(root: Path, res: SourceResult) -> dict[str, dict]:
    p = root / "participants.tsv"
    if not p.is_file():
        res.skip("participants.tsv", p, "missing: sex and age unknown")
        return {}
    df = read_side_table(p, res, "participants.tsv", sep="\t")
    if df is None:
        return {}
    idcol = next((c for c in ("participant_id", "participant", "subject", "Subject") if c in df.columns), None)
    if idcol is None:
        res.skip("participants.tsv", p, "no participant_id column")
        return {}
    out = {}
    for _, r in df.iterrows():
        sid = str(r[idcol]).strip()
        if not sid:
            continue
        sid = sid if sid.startswith("sub-") else f"sub-{sid}"
        sex_raw = str(r.get("sex", r.get("gender", ""))).strip().upper()
        sex = {"F": "F", "FEMALE": "F", "M": "M", "MALE": "M"}.get(sex_raw)
        age_raw = str(r.get("age", "")).strip()
        age = None
        if age_raw:
            # BIMCV writes a list of ages ("[65, 66]"); take the first
            m = re.search(r"\d+(?:\.\d+)?[YMWD]?", age_raw)
            age = parse_age(m.group(0)) if m else None
        out[sid] = {"sex": sex, "age": age}
    return out


#: The BIDS ``dataset_description.json`` fields whose presence (not value) the source's meta records.
_DESCRIPTION_FIELDS = frozenset({
    "Name", "BIDSVersion", "MIDSVersion", "HEDVersion", "DatasetLinks", "DatasetType", "License", "Authors",
    "Acknowledgements", "HowToAcknowledge", "Funding", "EthicsApprovals", "ReferencesAndLinks", "DatasetDOI",
    "GeneratedBy", "SourceDatasets", "DatasetVersion",
})


def load(path: str | Path, source: str = NAME, version: str | None = None, **_: object) -> SourceResult:
    """Load a MIDS tree.

    Parameters
    ----------
    path : str or Path
        Root of the tree (holding ``sub-*`` folders).
    source : str
        Source name used as the identifier prefix (``mids`` by default).
    version : str, optional
        Release or commit, recorded as ``source_version``.
    """
    root = Path(path)
    if not root.is_dir():
        raise SourceFormatError(f"{root}: not a folder (a MIDS tree is a folder of sub-* folders)")
    subs = sorted(d for d in root.iterdir() if d.is_dir() and d.name.startswith("sub-"))
    if not subs:
        raise SourceFormatError(f"{root}: no sub-* folders (not a MIDS tree)")
    res = SourceResult(source=source)
    parts = _participants(root, res)
    desc = {}
    if (root / "dataset_description.json").is_file():
        try:
            # utf-8-sig: a file saved by Windows tools starts with a byte-order mark, which json refuses
            desc = json.loads((root / "dataset_description.json").read_text(encoding="utf-8-sig"))
        except (ValueError, UnicodeDecodeError, RecursionError):  # JSONDecodeError is a ValueError; [[[[... nests
            res.skip("dataset_description.json", root / "dataset_description.json", "invalid JSON")
        if not isinstance(desc, dict):  # valid JSON, but a list, a string or a number: no BIDS description
            res.skip("dataset_description.json", root / "dataset_description.json", "not a JSON object")
            desc = {}
    lic_raw = desc.get("License") if isinstance(desc.get("License"), str) else None
    from .base import normalize_license

    records = _collect_records(root, subs, res)
    images, sessions, subjects = [], {}, {}
    for key, rec in sorted(records.items()):
        row = _image_row(root, key, rec, res, source, version, parts, normalize_license(lic_raw), lic_raw)
        if row is None:
            continue
        subjects.setdefault(row["subject_id"], {"subject_id": row["subject_id"], "original_id": row.pop("_sub"),
                                                "sex": row["sex"], "age": row["age"]})
        sessions.setdefault(row["session_id"], {"session_id": row["session_id"], "subject_id": row["subject_id"],
                                                "original_id": row.pop("_ses"), "modality": row["modality"]})
        row.pop("_sub", None)
        row.pop("_ses", None)
        images.append(row)
    res.tables = {
        "subjects": pd.DataFrame(list(subjects.values())).assign(source=source, source_version=version),
        "sessions": pd.DataFrame(list(sessions.values())).assign(source=source, source_version=version),
        "images": pd.DataFrame(images).assign(source=source),
    }
    res.__post_init__()
    im = res.tables["images"]
    res.meta = {
        "path": str(root.resolve()),
        "form": "MIDS tree",
        "version": version,
        # which fields the tree's dataset_description.json has, never their values: free text from the input
        # (a tree a hospital wrote may name a patient, a path, a person) has no place in the bank's meta.json
        "dataset_description_fields": sorted(k for k in desc if k in _DESCRIPTION_FIELDS),
        "notes": [
            f"{len(subjects)} subjects, {len(sessions)} sessions, {len(im)} images ({int(im['file_present'].sum()) if len(im) else 0} files present)",
            f"{len(res.skipped)} problems reported (see the skipped table)",
        ],
    }
    return res


def _collect_records(root: Path, subs: list[Path], res: SourceResult) -> dict[str, dict]:
    """Image files and sidecars of the tree by ``folder/base name`` (and the files a ``_scans.tsv`` lists but
    that are missing), each with the layout problems seen."""
    records: dict[str, dict] = {}
    for sub_dir in subs:
        for f in sorted(sub_dir.rglob("*")):
            if not f.is_file() or f.name.endswith("_scans.tsv") or f.name.startswith("."):
                continue
            base, ext = _split_ext(f.name)
            if ext.lower() not in IMAGE_EXTENSIONS and not ext.lower().endswith("json"):
                continue
            rel = f.relative_to(root)
            rec = records.setdefault(str(rel.parent / base), {"dir": f.parent, "base": base, "image": None, "sidecar": None, "problems": []})
            if ext.lower().endswith("json"):
                rec["sidecar"] = f
                if ext.lower() == ".nii.json":
                    rec["problems"].append("sidecar ends in .nii.json (should be .json)")
            else:
                rec["image"] = f
        for scans in sorted(sub_dir.rglob("*_scans.tsv")):
            st = read_side_table(scans, res, str(scans.relative_to(root)), sep="\t")
            if st is None:
                continue
            if "filename" not in st.columns:
                res.skip(str(scans.relative_to(root)), scans, "scans.tsv without a filename column")
                continue
            for fn in st["filename"]:
                listed = scans.parent / fn
                base, _ = _split_ext(listed.name)
                key = str(listed.parent.relative_to(root) / base)
                if key not in records:
                    records[key] = {"dir": listed.parent, "base": base, "image": None, "sidecar": None, "problems": ["listed in a scans.tsv but missing"]}
    return records


def _image_row(root: Path, key: str, rec: dict, res: SourceResult, source: str, version: str | None,
               parts: dict[str, dict], license: str | None, lic_raw: str | None) -> dict | None:
    """The images row of one record (with its subject and session folder names as ``_sub``/``_ses``); its
    layout problems are reported in ``res`` (the record is kept). None when it is not under a subject."""
    ent, suffix, problems = parse_mids_name(rec["base"] + ".x")
    problems = rec["problems"] + problems
    rel_parts = Path(key).parts
    sub = next((p for p in rel_parts if p.startswith("sub-")), None)
    ses = next((p for p in rel_parts if p.startswith("ses-")), None)
    if sub is None:
        res.skip(key, root / key, "not under a sub-* folder")
        return None
    if ent.get("sub") and f"sub-{ent['sub']}" != sub:
        problems.append("the file name's sub entity differs from its sub-* folder")
    if ses is None:
        ses = f"ses-{ent['ses']}" if "ses" in ent else "ses-1"
        problems.append("no ses-* folder; session taken from the file name (else ses-1)")
    sc: dict[str, str] = {}
    if rec["sidecar"] is not None:
        try:
            sc = read_sidecar(rec["sidecar"])
        except (json.JSONDecodeError, OSError) as e:
            problems.append(f"sidecar unreadable ({e.__class__.__name__})")
    if rec["image"] is None:
        problems.append("image file missing")
    # sidecar values with defined terms: another value (free text) is not copied into the bank
    modality = _SUFFIX_MODALITY.get(suffix or "", None) or known_value(_side(sc, "Modality"), MODALITY_TERMS) or "X-ray"
    view = normalize_view(ent.get("vp"))
    if view == "unknown":
        view = normalize_view(_side(sc, "View Position", "ViewPosition"))
    pinfo = parts.get(sub, {})
    age = pinfo.get("age") if pinfo.get("age") is not None else parse_age(_side(sc, "Patient's Age", "PatientAge"))
    sex = pinfo.get("sex") or {"F": "F", "M": "M"}.get((_side(sc, "Patient's Sex", "PatientSex") or "").upper())
    img = rec["image"]
    path_str = str(img.resolve()) if img else str((rec["dir"] / (rec["base"] + ".nii.gz")).resolve())
    for prob in problems:
        res.skip(key, root / key, f"name or layout problem: {prob} (record kept)")
    return {
        "image_id": make_id(source, key),
        "session_id": make_id(source, sub, ses),
        "subject_id": make_id(source, sub),
        "source_version": version,
        "original_id": key,
        "modality": modality,
        "view": view,
        "sex": sex,
        "age": age,
        "path": path_str,
        "file_present": img is not None,
        "file_format": None if img is None else ("nifti" if ".nii" in img.name else img.suffix.lstrip(".").lower()),
        "license": license,
        "license_raw": lic_raw,
        "photometric": known_value(_side(sc, "Photometric Interpretation", "PhotometricInterpretation"), PHOTOMETRIC_TERMS),
        "presentation_lut_shape": known_value(_side(sc, "Presentation LUT Shape", "PresentationLUTShape"), LUT_SHAPE_TERMS),
        "display_ready": {"True": True, "False": False}.get(_side(sc, "DisplayReady") or ""),
        "manufacturer": _side(sc, "Manufacturer"),
        "model": _side(sc, "Manufacturer's Model Name", "ManufacturersModelName"),
        "body_part": _side(sc, "Body Part Examined", "BodyPartExamined") or ent.get("bp"),
        "_sub": sub, "_ses": ses,
    }


_TEST_TYPES = [("PCR", "PCR"), ("IGG", "IgG"), ("IGM", "IgM"), ("ANTIG", "antigen"), ("ACT", "antigen"), ("AG", "antigen")]


def _test_type(raw: str) -> str:
    """The test type of a derivatives cell: one of a fixed vocabulary (``other`` for a spelling not known,
    ``unknown`` when empty), never the cell's text."""
    s = raw.upper()
    for k, v in _TEST_TYPES:
        if k in s:
            return v
    return "other" if raw.strip() else "unknown"


def _test_result(raw: str) -> str:
    s = raw.strip().upper()
    if s.startswith(("POS", "DETECT")) and "NO" not in s:
        return "positive"
    if s.startswith(("NEG", "NO ")) or s in {"NO DETECTADO", "NOT DETECTED"}:
        return "negative"
    return "indeterminate"


def load_bimcv_tree(path: str | Path, trees: Iterable[str | Path] | None = None, version: str | None = None) -> SourceResult:
    """Load the BIMCV COVID-19+ MIDS release tree with its derivatives.

    Labels are read from a ``derivatives/**/*labels*.tsv`` table keyed by
    session (``ReportID`` or ``Session``) and applied to that session's images;
    diagnostic tests from a ``derivatives/**`` table with ``participant`` and
    ``tipo_test``/``test`` and ``resultado``/``result`` columns.
    """
    from ..labels import padchest_tree
    from .bimcv import NAME as BIMCV
    from .bimcv import (
        deid_report,
        find_trees,
        label_rows,
        parse_cui_list,
        parse_label_list,
        raw_label_list,
    )

    root = Path(path)
    res = load(root, source=BIMCV, version=version)
    deriv = root / "derivatives"
    tree_files = list(trees) if trees else (find_trees(root) or (find_trees(deriv) if deriv.is_dir() else []))
    tree = padchest_tree(tree_files)
    images = res.tables["images"]
    by_session: dict[str, list[str]] = {}
    for iid, sid in zip(images["image_id"], images["session_id"]):
        by_session.setdefault(str(sid).rsplit("/", 1)[-1], []).append(iid)
    label_rows_all: list[dict] = []
    tests: list[dict] = []
    reports: dict[str, str] = {}
    for f in sorted(deriv.rglob("*")) if deriv.is_dir() else []:
        if f.suffix.lower() not in {".tsv", ".csv"}:
            continue
        # records in fixed wording: the file (whose name the input chose) is the row's relative path only
        df = read_side_table(f, res, "derivatives table", sep="\t" if f.suffix.lower() == ".tsv" else ",")
        if df is None:
            continue
        cols = set(df.columns)
        if "Labels" in cols and cols & {"ReportID", "Session", "session_id"}:
            key = next(c for c in ("Session", "session_id", "ReportID") if c in cols)
            for i, r in df.iterrows():
                ses = str(r[key]).strip()
                ses = ses if ses.startswith("ses-") else f"ses-{ses}"
                targets = by_session.get(ses)
                if not targets:
                    res.skip(f"row {i + 2}", f, "labels for session not in the tree")
                    continue
                labs = parse_label_list(r["Labels"])
                cuis = parse_cui_list(r.get("labelCUIS", ""), keep_empty=True)
                raw = raw_label_list(r["Labels"])
                for iid in targets:
                    label_rows_all.extend(label_rows(iid, labs, cuis, tree, raw_labels=raw))
                if r.get("Report"):
                    reports[ses] = deid_report(str(r["Report"]))
        elif cols & {"participant", "participant_id", "Subject"} and cols & {"tipo_test", "test", "test_type"}:
            pcol = next(c for c in ("participant", "participant_id", "Subject") if c in cols)
            tcol = next(c for c in ("tipo_test", "test_type", "test") if c in cols)
            rcol = next((c for c in ("resultado", "result") if c in cols), None)
            dcol = next((c for c in ("fecha", "date") if c in cols), None)
            for i, r in df.iterrows():
                sub = str(r[pcol]).strip()
                sub = sub if sub.startswith("sub-") else f"sub-{sub}"
                tests.append(
                    {
                        "subject_id": make_id(BIMCV, sub),
                        "test_type": _test_type(str(r[tcol])),
                        "result": _test_result(str(r[rcol])) if rcol else "indeterminate",
                        "date": date_text(r[dcol]) if dcol else None,
                    }
                )
    if reports:
        ses_df = res.tables["sessions"]
        ses_df["report"] = [reports.get(str(s).rsplit("/", 1)[-1]) for s in ses_df["session_id"]]
        res.tables["sessions"] = ses_df
    res.tables["labels"] = pd.DataFrame(label_rows_all).assign(source=BIMCV) if label_rows_all else pd.DataFrame()
    res.tables["tests"] = pd.DataFrame(tests).assign(source=BIMCV) if tests else pd.DataFrame()
    res.__post_init__()
    res.meta["form"] = "BIMCV MIDS release tree"
    res.meta["trees"] = [str(t) for t in tree_files]
    res.meta["notes"].append(f"{len(label_rows_all)} label rows from derivatives, {len(tests)} diagnostic tests")
    return res
