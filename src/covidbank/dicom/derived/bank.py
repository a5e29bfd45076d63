"""SEG and SR for the CTs of a bank (``covidbank export-dicom``), and derived objects back into a bank.

:func:`export_bank` grades every CT of a bank whose de-identified DICOM was
kept at ingest (``--keep-dicom``) and writes its SEG and SR under
``derivatives/dicom/sub-*/ses-*/<image stem>_seg.dcm`` / ``_sr.dcm`` (or another
folder).  Outcomes per image use a fixed vocabulary (:data:`OUTCOMES`).

:func:`import_derived` reads SEG and SR files (ours, or a PACS's / viewer's
after editing) back: each SEG's segments become NIfTI masks on the grid of the
bank CT whose kept series it references
(``derivatives/dicom-derived/<image stem>_seg-<segment>.nii.gz``), each SR's
measurements rows of the bank-wide table ``dicom_sr``.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["kept_series", "export_bank", "import_derived", "OUTCOMES", "DERIVED_DIR", "IMPORTED_DIR"]

DERIVED_DIR = "derivatives/dicom"
IMPORTED_DIR = "derivatives/dicom-derived"

#: outcome of an image in :func:`export_bank` (never a value read from an input)
OUTCOMES = {
    "written": "SEG/SR written",
    "written-not-gradable": "SEG/SR written; not gradable, so the SR holds no grade",
    "no-kept-dicom": "no de-identified DICOM kept for this image (ingest with --keep-dicom)",
    "unreadable": "the kept DICOM series cannot be read",
    "no-lungs": "no lungs found: nothing to segment",
}


@dataclass
class KeptSeries:
    image_id: str
    stem: str
    rel_dir: str
    folder: Path | None
    modality: str


def kept_series(bank) -> list[KeptSeries]:
    """The CT images of ``bank`` (a path or :class:`~covidbank.bank.Bank`) with their kept DICOM folder (None if not kept)."""
    from ...bank import Bank

    b = bank if isinstance(bank, Bank) else Bank(bank)
    root = Path(b.path)
    imgs = b.table("images")
    out = []
    for r in imgs[imgs["modality"] == "CT"].to_dict("records"):
        p = Path(str(r["path"]))
        if not p.is_absolute():
            p = root / p
        name = p.name
        stem = name[:-7] if name.endswith(".nii.gz") else p.stem
        side = p.with_name(stem + ".json")
        folder = None
        if side.is_file():
            kept = json.loads(side.read_text(encoding="utf-8")).get("covidbank", {}).get("kept_dicom")
            if kept and (root / kept["folder"]).is_dir():
                folder = root / kept["folder"]
        try:
            rel_dir = p.parent.relative_to(root).as_posix()
        except ValueError:
            rel_dir = ""
        out.append(KeptSeries(str(r["image_id"]), stem, rel_dir, folder, "CT"))
    return out


@dataclass
class ExportRow:
    image_id: str
    outcome: str
    seg: str | None = None
    sr: str | None = None
    category: str | None = None
    not_gradable: list[str] = field(default_factory=list)


def export_bank(bank, out: str | Path | None = None, *, seg: bool = True, sr: bool = True, force: bool = False,
                progress=None) -> list[ExportRow]:
    """Grade every CT of a bank with kept DICOM and write its SEG and SR.

    Parameters
    ----------
    bank : path or Bank
    out : path, optional
        Folder (default ``<bank>/derivatives/dicom``), laid out as the bank
        (``sub-*/ses-*/``).
    seg, sr : bool
        Which objects to write (an SR needs a SEG to reference; it is built in
        memory when ``seg`` is False).
    force : bool
        Grade what the gradability checks refuse (marked in the SR).
    progress : callable, optional
        Called with each finished row.
    """
    from ...bank import Bank
    from ...errors import CovidbankError
    from ...severity import assess
    from .export import export_severity

    b = bank if isinstance(bank, Bank) else Bank(bank)
    root = Path(b.path)
    dest = Path(out) if out is not None else root / DERIVED_DIR
    rows: list[ExportRow] = []
    for k in kept_series(b):
        row = ExportRow(k.image_id, "no-kept-dicom")
        if k.folder is not None:
            try:
                res = assess(k.folder, force=force)
            except CovidbankError:
                row.outcome = "unreadable"
            else:
                row.category, row.not_gradable = res.category, list(res.not_gradable)
                if not (res.labels > 0).any():
                    row.outcome = "no-lungs"
                else:
                    folder = dest / k.rel_dir
                    ex = export_severity(res, k.folder, seg_out=folder / f"{k.stem}_seg.dcm" if seg else None,
                                         sr_out=folder / f"{k.stem}_sr.dcm" if sr else None)
                    row.seg = str(ex.seg_path) if ex.seg_path else None
                    row.sr = str(ex.sr_path) if ex.sr_path else None
                    row.outcome = "written" if (res.gradable or res.forced) else "written-not-gradable"
        rows.append(row)
        if progress is not None:
            progress(row)
    return rows


@dataclass
class ImportSummary:
    masks: list[str] = field(default_factory=list)
    sr_rows: int = 0
    unmatched: int = 0
    skipped: int = 0


def import_derived(folder: str | Path, bank) -> ImportSummary:
    """Read DICOM SEG and SR files under ``folder`` back into ``bank`` (see the module doc).

    A SEG or SR whose source series is not a kept series of the bank is
    counted in ``unmatched``; other files (not SEG/SR) in ``skipped``.
    """
    import nibabel as nib
    import numpy as np
    import pandas as pd
    import pydicom

    from ...bank import Bank
    from ...fileio import atomic_path
    from ...pixels import read_ct
    from .codes import SEGMENTS
    from .seg import read_seg
    from .sr import read_sr

    b = bank if isinstance(bank, Bank) else Bank(bank)
    root = Path(b.path)
    by_series: dict[str, KeptSeries] = {}
    for k in kept_series(b):
        if k.folder is None:
            continue
        first = next(iter(sorted(k.folder.glob("*.dcm"))), None)
        if first is not None:
            by_series[str(pydicom.dcmread(first, stop_before_pixels=True).SeriesInstanceUID)] = k
    summary = ImportSummary()
    sr_rows: list[dict] = []
    grids: dict[str, object] = {}
    for f in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not DICOM
            summary.skipped += 1
            continue
        modality = str(ds.get("Modality", ""))
        if modality == "SEG":
            refs = [str(s.SeriesInstanceUID) for s in ds.get("ReferencedSeriesSequence", [])]
        elif modality == "SR":
            refs = [str(s.SeriesInstanceUID) for st in ds.get("CurrentRequestedProcedureEvidenceSequence", [])
                    for s in st.get("ReferencedSeriesSequence", [])]
        else:
            summary.skipped += 1
            continue
        k = next((by_series[u] for u in refs if u in by_series), None)
        if k is None:
            summary.unmatched += 1
            continue
        if modality == "SEG":
            ct = grids.get(k.image_id) or read_ct(k.folder)
            grids[k.image_id] = ct
            for j, (key, mask) in enumerate(read_seg(f, k.folder, ct.affine, ct.shape).items(), 1):
                # a file name of fixed wording: covidbank's own segment keys, else the segment's position (a
                # label or tracking id typed in a viewer is free text, and two equal ones overwrote each other)
                safe = key.replace("_", "-") if key in SEGMENTS else f"segment{j}"
                out = root / IMPORTED_DIR / k.rel_dir / f"{k.stem}_seg-{safe}.nii.gz"
                with atomic_path(out) as tmp:
                    nib.save(nib.Nifti1Image(mask.astype(np.uint8), ct.affine), str(tmp))
                summary.masks.append(out.relative_to(root).as_posix())
        else:
            for r in read_sr(f):
                sr_rows.append({"image_id": k.image_id, "sr_sop_instance_uid": str(ds.SOPInstanceUID), **_bank_sr_row(r)})
    if sr_rows:
        df = pd.DataFrame(sr_rows)
        df["value"] = df["value"].astype(str)
        old = b.table("dicom_sr") if "dicom_sr" in b.extra_tables() else None
        if old is not None:
            df = pd.concat([old[~old["sr_sop_instance_uid"].isin(df["sr_sop_instance_uid"])], df], ignore_index=True)
        b.write_table("dicom_sr", df)
        summary.sr_rows = len(sr_rows)
    return summary


@functools.lru_cache(maxsize=1)
def _known_concepts() -> tuple[dict[str, str], frozenset[str], frozenset[str], frozenset[str]]:
    """What covidbank's SR says, as fixed wording (built once): code value -> meaning of its concepts, those
    meanings, its tracking identifiers, its units."""
    from pydicom.sr.codedict import codes

    from .codes import GRADE_MEANINGS, SEGMENTS, grade_concept, percent_code, xray_concepts

    concepts = [grade_concept(), percent_code(), *xray_concepts().values(), codes.SCT.Volume]
    meanings = {str(c.value): str(c.meaning) for c in concepts}
    meanings.update({spec.type[0]: spec.type[2] for spec in SEGMENTS.values()})
    meanings.update({"39607008": "Lung", **GRADE_MEANINGS})
    return (meanings, frozenset(meanings.values()), frozenset(SEGMENTS) | {"study", "xray-severity"},
            frozenset({"ml", "%", "{score}"}))


def _bank_sr_row(r: dict) -> dict:
    """An SR row as the bank keeps it: codes, tracking identifiers and units of covidbank's vocabulary, the
    meanings of its own concepts, numbers; any other text an SR holds (an identifier or a meaning typed in a
    viewer) becomes null."""
    meanings, finding_words, groups, units = _known_concepts()
    code = r.get("code") if r.get("code") in meanings else None
    value = r.get("value")
    if not isinstance(value, (int, float)):
        value = value if value in meanings else None
    finding = r.get("finding")
    return {**r, "group": r.get("group") if r.get("group") in groups else None,
            "finding": finding if finding in finding_words else None,
            "name": meanings.get(code) if code else None, "code": code, "value": value,
            "unit": r.get("unit") if r.get("unit") in units else None,
            "meaning": meanings.get(value) if isinstance(value, str) else None}

