"""Exports of a bank's images for other tools (``covidbank export``).

Formats
-------
``imagefolder``
    torchvision ``ImageFolder``: ``OUT/<split>/<class>/<file>.png`` where the
    class is the value of one label (``COVID-19`` / ``not COVID-19``; images
    whose label is unknown or uncertain are left out and counted), plus
    ``OUT/metadata.csv`` with every label.
``hf``
    Hugging Face ``imagefolder``: ``OUT/<split>/<file>.png`` and
    ``OUT/<split>/metadata.csv`` (``file_name`` and one column per label, empty
    when unknown), read by ``datasets.load_dataset("imagefolder", data_dir=OUT)``.
``monai``
    A MONAI datalist ``OUT/datalist.json`` (``training``, ``validation``,
    ``test`` lists of ``{"image", "label", "label_mask", "record_id"...}``;
    ``label`` a float list with NaN for unknown, written as JSON's ``NaN``
    extension that Python's and MONAI's readers accept) read by
    ``monai.data.load_decathlon_datalist``, and the images under ``OUT/images``.
``csv``
    ``OUT/images.csv``: one row per image with its file, split, metadata and
    labels (NaN when unknown), and the images under ``OUT/images``.

Pixels
------
``bit_depth=8`` (the default) writes 8-bit grayscale PNGs with the window
already applied and white = dense (:func:`covidbank.pixels.needs_inversion`):
the 16-bit PNGs of an ingest are display-ready and are scaled down; other
files go through :func:`covidbank.pixels.read_xray`.  Pillow's
``convert("L")``, which torchvision and most Hugging Face pipelines apply,
clips a 16-bit PNG to white, hence the default.  ``bit_depth=16`` keeps the
16-bit PNGs.  Files already in the output form are hard-linked (copied when the
output is on another file system).  CT volumes (``monai``, ``csv``) are linked
as NIfTI.
"""
from __future__ import annotations

import io
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .bank import Bank
from .errors import ArgumentError, CovidbankError
from .fileio import atomic_path, atomic_write
from .pixels import inversion_args, is_nifti, read_xray

__all__ = ["FORMATS", "ExportSummary", "export", "render_xray"]

FORMATS = ("imagefolder", "hf", "monai", "csv")
XRAY_MODALITIES = ("X-ray", "CR", "DX")
#: MONAI datalist keys of covidbank's split names.
MONAI_KEYS = {"train": "training", "val": "validation", "validation": "validation", "test": "test"}


@dataclass
class ExportSummary:
    """What :func:`export` wrote."""

    out: Path
    format: str
    images: int = 0
    linked: int = 0
    converted: int = 0
    per_split: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"out": str(self.out), "format": self.format, "images": self.images, "linked": self.linked,
                "converted": self.converted, "per_split": self.per_split, "left_out": self.left_out,
                "labels": self.labels}


def _safe_name(image_id: str) -> str:
    """A file name for an image id (``ingest:sub-S1_ses-E1_...`` -> ``ingest_sub-S1_ses-E1_...``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", image_id).strip("._") or "image"


def _png_bytes(a: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _is_display_ready_png16(rec: dict, path: Path) -> bool:
    ready = str(rec.get("display_ready")).upper() == "TRUE"
    return ready and path.suffix.lower() == ".png"


def render_xray(rec: dict, bit_depth: int = 8) -> np.ndarray:
    """The pixels of a radiograph record as written by the export (white = dense).

    Parameters
    ----------
    rec : dict
        An ``images`` row with an absolute ``path`` (:meth:`Bank.resolve_paths`).
    bit_depth : {8, 16}

    Returns
    -------
    numpy.ndarray
        2-D ``uint8`` or ``uint16``.  A display-ready 16-bit PNG (ingest, VOI
        window applied at conversion) is rescaled exactly (``round(v / 257)``);
        a DICOM file gets its own VOI window and presentation step
        (:func:`covidbank.dicom.convert.xray_to_uint16`); other files are read
        with :func:`covidbank.pixels.read_xray`.
    """
    path = Path(rec["path"])
    if _is_display_ready_png16(rec, path):
        from PIL import Image

        with Image.open(path) as im:
            a16 = np.asarray(im)
        if a16.dtype != np.uint8:
            a16 = a16.astype(np.uint16)
            return a16 if bit_depth == 16 else np.rint(a16 / 257.0).astype(np.uint8)
        unit = a16.astype(np.float32) / 255.0
    elif str(rec.get("file_format") or "").lower() in ("dicom", "dcm") or path.suffix.lower() == ".dcm":
        import pydicom

        from .dicom.convert import xray_to_uint16

        a16, _ = xray_to_uint16(pydicom.dcmread(path))
        return a16 if bit_depth == 16 else np.rint(a16 / 257.0).astype(np.uint8)
    else:
        unit = read_xray(path, record=rec.get("image_id"), file_format=_text(rec.get("file_format")),
                         **inversion_args(rec))
    scale = 65535.0 if bit_depth == 16 else 255.0
    return np.rint(np.clip(unit, 0.0, 1.0) * scale).astype(np.uint16 if bit_depth == 16 else np.uint8)


def _text(v) -> str | None:
    return None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v)


def _can_link(rec: dict, path: Path, bit_depth: int) -> bool:
    """Whether the file already is what the export writes (so it can be hard-linked)."""
    if path.suffix.lower() != ".png":
        return False
    if bit_depth == 16:
        return _is_display_ready_png16(rec, path)
    if _is_display_ready_png16(rec, path):
        return False
    from .pixels import record_needs_inversion

    if record_needs_inversion(rec):
        return False
    try:
        from PIL import Image

        with Image.open(path) as im:
            return im.mode == "L"
    except Exception:  # unreadable: convert (and fail there with the reader's message)
        return False


def _place(src: Path, dst: Path, data_fn, link: bool) -> bool:
    """Write ``dst`` by hard link (True) or from ``data_fn()`` bytes (False)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            with atomic_path(dst) as tmp:
                os.link(src, tmp)
            return True
        except OSError:  # another file system, or links not allowed
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
            return True
    atomic_write(dst, data_fn())
    return False


def _select(bank: Bank, split: str | None, sources, modalities, present_only: bool = True) -> pd.DataFrame:
    images = bank.resolve_paths(bank.table("images").drop_duplicates("image_id"))
    if sources:
        unknown = sorted(set(sources) - set(bank.sources()))
        if unknown:
            raise ArgumentError(f"unknown source {', '.join(map(repr, unknown))}: valid values are {', '.join(bank.sources())}")
        images = images[images["source"].isin(list(sources))]
    if modalities:
        images = images[images["modality"].fillna("X-ray").isin(list(modalities))]
    if "splits" in bank.extra_tables():
        sp = bank.table("splits").drop_duplicates("image_id").set_index("image_id")["split"]
        images = images.assign(split=images["image_id"].map(sp))
    else:
        images = images.assign(split=pd.NA)
    if split is not None:
        if "splits" not in bank.extra_tables():
            raise CovidbankError(f"bank {bank.path} has no split: run `covidbank split {bank.path}` first")
        names = sorted(set(images["split"].dropna().astype(str)))
        if split not in names:
            raise ArgumentError(f"unknown split {split!r}: valid values are {', '.join(names) or 'none'}")
        images = images[images["split"] == split]
    if present_only:
        ok = images["file_present"].fillna(False).astype(bool) & images["path"].map(
            lambda p: isinstance(p, str) and os.path.isfile(p))
        images = images[ok]
    return images.sort_values("image_id", kind="mergesort").reset_index(drop=True)


def export(
    bank: Bank | str | os.PathLike,
    out: str | os.PathLike,
    format: str = "imagefolder",
    *,
    split: str | None = None,
    bit_depth: int = 8,
    label: str | None = None,
    labels: list[str] | None = None,
    sources: list[str] | None = None,
    unknown_as_negative: bool = False,
    progress=None,
) -> ExportSummary:
    """Export a bank's present images (one split or all) for another tool (see module doc).

    Parameters
    ----------
    bank : Bank or path
    out : path
        Output folder (created; files of an earlier export are replaced).
    format : {"imagefolder", "hf", "monai", "csv"}
    split : str, optional
        Only this side of the bank's ``splits`` table; default every image
        (grouped by side when the bank has a split, else under ``all``).
    bit_depth : {8, 16}
    label : str, optional
        ``imagefolder``: the label whose value names the class folder
        (default ``COVID-19`` when the bank has it, else its most frequent positive label).
    labels : list of str, optional
        Label columns of the metadata (default: every label of the exported images;
        hierarchy applied, NaN when unknown).
    sources : list of str, optional
    unknown_as_negative : bool
        ``imagefolder``: put images whose ``label`` is unknown in the negative
        class (torchxrayvision's convention) instead of leaving them out.

    Raises
    ------
    ArgumentError
        An unknown format, bit depth, split, source or label (listing the valid values).
    """
    from .labels import default_tree
    from .splits import check_labels, label_matrix

    if format not in FORMATS:
        raise ArgumentError(f"unknown export format {format!r}: valid values are {', '.join(FORMATS)}")
    if bit_depth not in (8, 16):
        raise ArgumentError(f"bit depth {bit_depth!r}: valid values are 8, 16")
    b = bank if isinstance(bank, Bank) else Bank(bank)
    out = Path(out)
    mods = XRAY_MODALITIES if format in ("imagefolder", "hf") else None
    recs = _select(b, split, sources, mods)
    if recs.empty:
        raise CovidbankError(f"bank {b.path}: no present images to export" + (f" in split {split!r}" if split else ""))
    tree = default_tree()
    lab = b.query("SELECT DISTINCT image_id, label FROM labels WHERE label IS NOT NULL")
    lab = lab[lab["image_id"].isin(set(recs["image_id"]))]
    all_labels = sorted({tree.resolve(x) or x for x in lab["label"]})
    if labels is None:
        labels = [x for x in all_labels if tree.resolve(x) is not None]
    else:
        check_labels(b, labels, tree)
    if format == "imagefolder":
        if label is None:
            pos = b.query("SELECT label, count(*) n FROM labels WHERE value = 1 GROUP BY label ORDER BY n DESC, label")
            pos_names = [tree.resolve(x) or x for x in pos["label"]]
            label = "COVID-19" if "COVID-19" in pos_names else (pos_names[0] if pos_names else None)
            if label is None:
                raise CovidbankError(f"bank {b.path} has no positive label to name ImageFolder classes; pass --label")
        check_labels(b, [label], tree)
        if label not in labels:
            labels = [label, *labels]
    lm = label_matrix(b, recs["image_id"].tolist(), labels, tree) if labels else pd.DataFrame(index=recs["image_id"])
    summ = ExportSummary(out=out, format=format, labels=list(labels))
    rows = []
    it = list(recs.to_dict("records"))
    for rec in (progress(it) if progress else it):
        side = str(rec["split"]) if isinstance(rec.get("split"), str) else "all"
        src = Path(rec["path"])
        values = {l: float(lm.at[rec["image_id"], l]) if l in lm.columns else float("nan") for l in labels}
        volume = is_nifti(src.name)
        if format == "imagefolder":
            v = values.get(label)
            if unknown_as_negative and v is not None and np.isnan(v):
                v = 0.0
            if v is None or np.isnan(v) or v == -1:
                key = "label unknown or uncertain"
                summ.left_out[key] = summ.left_out.get(key, 0) + 1
                continue
            cls = label if v == 1 else f"not {label}"
            rel = Path(side) / cls / (_safe_name(rec["image_id"]) + ".png")
        elif format == "hf":
            rel = Path(side) / (_safe_name(rec["image_id"]) + ".png")
        else:
            rel = Path("images") / side / (_safe_name(rec["image_id"]) + (".nii.gz" if volume else ".png"))
        dst = out / rel
        if volume:
            linked = _place(src, dst, None, link=True)
        else:
            link = _can_link(rec, src, bit_depth)
            linked = _place(src, dst, lambda: _png_bytes(render_xray(rec, bit_depth)), link)
        summ.linked += int(linked)
        summ.converted += int(not linked)
        summ.images += 1
        summ.per_split[side] = summ.per_split.get(side, 0) + 1
        rows.append({"file": rel.as_posix(), "split": side, "image_id": rec["image_id"],
                     "subject_id": rec.get("subject_id"), "session_id": rec.get("session_id"),
                     "source": rec.get("source"), "modality": rec.get("modality"), "view": rec.get("view"),
                     "sex": rec.get("sex"), "age": rec.get("age"), **values})
    meta = pd.DataFrame(rows)
    _write_metadata(out, format, meta, list(labels))
    atomic_write(out / "export.json", json.dumps({**summ.to_dict(), "out": ".", "bit_depth": bit_depth,
                                                   "class_label": label}, indent=2, sort_keys=True) + "\n")
    return summ


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode("utf-8")


def _write_metadata(out: Path, format: str, meta: pd.DataFrame, labels: list[str]) -> None:
    if meta.empty:
        return
    if format == "imagefolder":
        atomic_write(out / "metadata.csv", _csv(meta))
    elif format == "hf":
        for side, g in meta.groupby("split"):
            m = g.assign(file_name=[Path(f).name for f in g["file"]]).drop(columns=["file", "split"])
            m = m[["file_name"] + [c for c in m.columns if c != "file_name"]]
            atomic_write(out / side / "metadata.csv", _csv(m))
    elif format == "monai":
        lists: dict[str, list] = {}
        for r in meta.to_dict("records"):
            key = MONAI_KEYS.get(r["split"], r["split"])
            # NaN for unknown (Python's and MONAI's JSON reader accept it) so labels collate as float arrays;
            # label_mask says which entries are known
            item = {"image": r["file"], "label": [float(r[l]) for l in labels],
                    "label_mask": [0.0 if np.isnan(r[l]) else 1.0 for l in labels],
                    "record_id": r["image_id"], "subject_id": r["subject_id"], "source": r["source"]}
            lists.setdefault(key, []).append(item)
        doc = {"description": "covidbank export (MONAI datalist)", "labels": labels,
               "label_values": "1 positive, 0 negative, -1 uncertain, NaN unknown (label_mask 0)", **lists}
        atomic_write(out / "datalist.json", json.dumps(doc, indent=2, default=str) + "\n")
    else:
        atomic_write(out / "images.csv", _csv(meta))
