"""PyTorch datasets over a covidbank bank.

:class:`XRayDataset` yields radiographs, :class:`CTDataset` CT volumes (or 2-D
slices).  Both select records with the same filters (source, view, modality,
label with its hierarchy, split, SQL) and give, per item, a dict::

    {"img": FloatTensor, "lab": FloatTensor (1 / 0 / NaN), "idx": int,
     "image_id": str, "meta": {...}}

like torchxrayvision's datasets (``img``, ``lab``, ``idx``), and they honour
torchxrayvision's dataset contract: ``pathologies`` (an assignable list of
label names), ``labels`` (the N x P matrix: 1, 0, NaN; -1 kept only with
``uncertain="keep"``), ``csv`` (the metadata frame, row-aligned), ``totals()``
and ``data_aug``, so ``xrv.datasets.relabel_dataset``, ``SubsetDataset`` and
``MergeDataset`` work on them.  Where covidbank differs: a label the bank says
nothing about is NaN (torchxrayvision's own loaders often write 0), and a
parent label is implied by its children (``Pneumonia`` is 1 for a COVID-19
image).  :meth:`BankImageDataset.as_records` returns plain dicts (``image``,
``label``, ``mask``) that MONAI's ``LoadImaged`` (with
:func:`covidbank.torch.monai.XRayReader` for radiographs) or TorchIO consume.
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from ..bank import Bank
from ..errors import ArgumentError, CovidbankError, ImageLoadError, ImageMissingError
from ..labels import LabelTree, default_tree
from ..pixels import inversion_args, is_nifti, read_ct, read_mask, read_xray
from ..schema import MODALITIES, VIEWS, normalize_view
from ..splits import check_labels, label_matrix
from .cache import XRayCache, XRayPrep, error_rows, preprocess_xray
from .transforms import normalize, resample_to_spacing, resampled_shape, resolve_window, window

__all__ = ["BankImageDataset", "XRayDataset", "CTDataset", "select_records", "collate_skip", "UNCERTAIN_POLICIES"]

log = logging.getLogger(__name__)

#: What an uncertain (-1) label becomes in the label vector.
UNCERTAIN_POLICIES = ("nan", "positive", "negative", "keep")
XRAY_MODALITIES = ("X-ray", "CR", "DX")
META_COLUMNS = ("image_id", "subject_id", "session_id", "source", "view", "modality", "sex", "age", "path")
NUMERIC_META = {"age"}


def _as_list(v) -> list | None:
    if v is None:
        return None
    if isinstance(v, str):
        return [v]
    return list(v)


def select_records(
    bank: Bank | str | os.PathLike,
    *,
    query: str | None = None,
    sources: Sequence[str] | str | None = None,
    views: Sequence[str] | str | None = None,
    modalities: Sequence[str] | str | None = None,
    require: Sequence[str] | str | None = None,
    split: Sequence[str] | str | None = None,
    tree: LabelTree | None = None,
) -> pd.DataFrame:
    """Image rows of a bank matching every filter.

    Parameters
    ----------
    query : str, optional
        SQL whose result has an ``image_id`` column: only those images.
    sources, views, modalities : str or list, optional
        Keep rows whose column is one of these values.
    require : str or list, optional
        Keep images positive for any of these labels, *hierarchy applied*
        (``"Pneumonia"`` keeps COVID-19 images, whose label rows may say only
        ``COVID-19``).
    split : str or list, optional
        Keep images whose side in the bank's ``splits`` table is one of these.
    """
    b = bank if isinstance(bank, Bank) else Bank(bank)
    df = b.resolve_paths(b.table("images").drop_duplicates("image_id"))
    tree = tree or default_tree()
    sources, views, modalities = _as_list(sources), _as_list(views), _as_list(modalities)
    if sources is not None:
        _check_values("source", sources, b.sources())
    if views is not None:
        views = [v if v in VIEWS else normalize_view(v) if normalize_view(v) != "unknown" else v for v in views]
        _check_values("view", views, VIEWS)
    if modalities is not None:
        _check_values("modality", modalities, set(MODALITIES) | set(df["modality"].dropna()))
    if require is not None:
        check_labels(b, _as_list(require), tree)
    if query:
        ids = b.query(query)
        if "image_id" not in ids.columns:
            raise CovidbankError(f"query must return an image_id column, it returned {list(ids.columns)}")
        df = df[df["image_id"].isin(set(ids["image_id"]))]
    for col, vals in (("source", sources), ("view", views), ("modality", modalities)):
        vals = _as_list(vals)
        if vals is not None:
            df = df[df[col].isin(vals)]
    if split is not None:
        if "splits" not in b.extra_tables():
            raise CovidbankError(f"bank {b.path} has no split: run `covidbank split {b.path}` first")
        sp = b.table("splits").drop_duplicates("image_id").set_index("image_id")["split"]
        _check_values("split", _as_list(split), set(sp.dropna().astype(str)))
        df = df[df["image_id"].map(sp).isin(_as_list(split))]
    req = _as_list(require)
    if req:
        lm = label_matrix(b, df["image_id"].tolist(), req, tree)
        keep = (lm == 1.0).any(axis=1)
        df = df[df["image_id"].isin(set(keep[keep].index))]
    return df.reset_index(drop=True)


def _check_values(what: str, given: Sequence[str], valid) -> None:
    """Raise :class:`ArgumentError` listing the valid values when one of ``given`` is not among them."""
    valid = sorted({str(v) for v in valid})
    bad = [v for v in given if str(v) not in valid]
    if bad:
        raise ArgumentError(f"unknown {what} {', '.join(repr(v) for v in bad)}: valid values are {', '.join(valid) or 'none'}")


def collate_skip(batch):
    """``default_collate`` that drops items a dataset skipped (``None``).

    Use with ``on_error="skip"``: ``DataLoader(ds, collate_fn=collate_skip)``.
    """
    from torch.utils.data import default_collate

    batch = [b for b in batch if b is not None]
    return default_collate(batch) if batch else None


class BankImageDataset(Dataset):
    """Common part of :class:`XRayDataset` and :class:`CTDataset`.

    Parameters
    ----------
    bank : Bank or path
    labels : list of str, optional
        Labels of the ``lab`` vector, in order.  Default: every label that the
        selected images have (preferred names, sorted).  Each entry is
        computed with the hierarchy (``Pneumonia`` is 1 for a COVID-19 image).
    uncertain : {"nan", "positive", "negative", "keep"}
        What an uncertain label (-1 in the bank) becomes; ``keep`` leaves -1.
    unknown : {"nan", "negative"}
        What a label the bank says nothing about becomes.
    present_only : bool
        Leave out records whose file is marked absent or is not on disk; they are
        listed in :attr:`excluded` with the reason and counted in a log message.
    on_error : {"raise", "skip"}
        A file that is missing or fails to decode at load time raises
        :class:`~covidbank.errors.ImageLoadError` naming the file and record
        (``raise``), or is skipped: the item is ``None`` (drop it with
        :func:`collate_skip`) and counted in :attr:`skipped`.
    transform : callable, optional
        Applied to the image tensor after normalization (augmentations...).
    data_aug : callable, optional
        Applied after ``transform`` (torchxrayvision's attribute name; assignable).
    tree : LabelTree, optional
        Label vocabulary (default :func:`~covidbank.labels.default_tree`).
    **filters
        ``query``, ``sources``, ``views``, ``modalities``, ``require``, ``split``
        (see :func:`select_records`).
    """

    _default_modalities: tuple[str, ...] = ()

    def __init__(
        self,
        bank: Bank | str | os.PathLike,
        *,
        labels: Sequence[str] | None = None,
        uncertain: str = "nan",
        unknown: str = "nan",
        present_only: bool = True,
        on_error: str = "raise",
        transform: Callable | None = None,
        data_aug: Callable | None = None,
        tree: LabelTree | None = None,
        query: str | None = None,
        sources: Sequence[str] | str | None = None,
        views: Sequence[str] | str | None = None,
        modalities: Sequence[str] | str | None = None,
        require: Sequence[str] | str | None = None,
        split: Sequence[str] | str | None = None,
    ) -> None:
        if uncertain not in UNCERTAIN_POLICIES:
            raise ValueError(f"uncertain={uncertain!r}: use one of {UNCERTAIN_POLICIES}")
        if unknown not in ("nan", "negative"):
            raise ValueError(f"unknown={unknown!r}: use nan or negative")
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error={on_error!r}: use raise or skip")
        self.bank = bank if isinstance(bank, Bank) else Bank(bank)
        self.tree = tree or default_tree()
        self.on_error = on_error
        self.transform = transform
        #: torchxrayvision's augmentation hook, applied after ``transform``.
        self.data_aug = data_aug
        mods = _as_list(modalities) or list(self._default_modalities) or None
        if labels is not None:
            check_labels(self.bank, list(labels), self.tree)
        recs = select_records(
            self.bank, query=query, sources=sources, views=views, modalities=mods,
            require=require, split=split, tree=self.tree,
        )
        recs = recs.sort_values("image_id", kind="mergesort").reset_index(drop=True)
        recs, excluded = self._keep_kind(recs)
        if present_only:
            flag = recs["file_present"].fillna(True).astype(bool) & recs["path"].notna()
            on_disk = recs["path"].map(lambda p: isinstance(p, str) and os.path.isfile(p))
            for iid, p, f, d in zip(recs["image_id"], recs["path"], flag, on_disk):
                if not f:
                    excluded.append((iid, p, "file marked absent in the bank"))
                elif not d:
                    excluded.append((iid, p, "file not on disk"))
            recs = recs[flag & on_disk].reset_index(drop=True)
        #: Records left out by ``present_only`` (image_id, path, reason).
        self.excluded = pd.DataFrame(excluded, columns=["image_id", "path", "reason"])
        if len(self.excluded):
            log.warning("%s: %d records selected, %d left out (%s); see .excluded", type(self).__name__,
                        len(recs) + len(self.excluded), len(self.excluded),
                        "; ".join(f"{n} {r}" for r, n in self.exclusion_summary().items()))
        #: Items skipped at load time under ``on_error="skip"`` (this process).
        self.skipped: list[tuple[str, str, str]] = []
        self.records = recs
        if labels is None:
            lab = self.bank.query("SELECT DISTINCT image_id, label FROM labels")
            lab = lab[lab["image_id"].isin(set(recs["image_id"]))]
            labels = sorted({self.tree.resolve(x) or x for x in lab["label"].dropna()})
        #: Label names, the columns of :attr:`labels` (torchxrayvision's attribute; assignable).
        self.pathologies = list(labels)
        if self.pathologies:
            known = [l for l in self.pathologies if self.tree.resolve(l) is not None]
            lm = label_matrix(self.bank, recs["image_id"].tolist(), known, self.tree) if known else pd.DataFrame(index=recs["image_id"])
            mat = np.full((len(recs), len(self.pathologies)), np.nan, dtype=np.float32)
            for j, l in enumerate(self.pathologies):
                if l in lm.columns:
                    mat[:, j] = lm[l].to_numpy(dtype=np.float32)
                else:  # a label outside the vocabulary: match its exact name
                    raw = self.bank.query("SELECT image_id, label, value FROM labels")
                    v = raw[raw["label"] == l].groupby("image_id")["value"].max()
                    mat[:, j] = recs["image_id"].map(v).to_numpy(dtype=np.float32)
        else:
            mat = np.zeros((len(recs), 0), dtype=np.float32)
        unc = mat == -1
        if uncertain == "nan":
            mat[unc] = np.nan
        elif uncertain == "positive":
            mat[unc] = 1
        elif uncertain == "negative":
            mat[unc] = 0
        if unknown == "negative":
            mat[np.isnan(mat) & ~unc] = 0
        #: The N x P label matrix (torchxrayvision's ``labels``): 1, 0, NaN unknown (-1 with uncertain="keep").
        self.labels = mat
        self._meta = [
            {c: _meta_value(r.get(c), c in NUMERIC_META) for c in META_COLUMNS}
            for r in recs[[c for c in META_COLUMNS if c in recs.columns]].to_dict("records")
        ]

    def _keep_kind(self, recs: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
        """Records this dataset can load, and the others as (image_id, path, reason)."""
        return recs, []

    # ------------------------------------------------------------------ api
    def __len__(self) -> int:
        return len(self.records)

    def exclusion_summary(self) -> dict[str, int]:
        """How many selected records were left out, per reason (see :attr:`excluded`)."""
        return {str(k): int(v) for k, v in self.excluded["reason"].value_counts().sort_index().items()}

    @property
    def label_matrix(self) -> np.ndarray:
        """The N x P label matrix (same as :attr:`labels`)."""
        return self.labels

    @label_matrix.setter
    def label_matrix(self, value: np.ndarray) -> None:
        self.labels = value

    @property
    def csv(self) -> pd.DataFrame:
        """The metadata frame, one row per item (torchxrayvision's ``csv``; the selected records)."""
        return self.records

    @csv.setter
    def csv(self, value: pd.DataFrame) -> None:
        self.records = value

    def totals(self) -> dict[str, dict[float, int]]:
        """Counts of each value per label, unknown left out (torchxrayvision's ``totals()``)."""
        import collections

        mat = np.asarray(self.labels, dtype=np.float64)
        counts = [dict(collections.Counter(col[~np.isnan(col)]).most_common()) for col in mat.T]
        return dict(zip(self.pathologies, counts))

    def string(self) -> str:
        """One-line description (torchxrayvision's ``string()``, used by its Merge/Subset printing)."""
        return f"{type(self).__name__} num_samples={len(self)} bank={self.bank.path.name}"

    def as_records(self) -> list[dict]:
        """Plain dicts for MONAI and TorchIO, one per item.

        Keys: ``image`` (absolute path), ``label`` (``float32`` array of
        :attr:`pathologies`, NaN unknown), ``record_id`` (the bank's
        ``image_id``; not ``image_id``, which MONAI's ``image_*`` meta-key
        convention would claim), and ``mask`` (path) when the record has one.

        MONAI: ``CacheDataset(ds.as_records(), Compose([LoadImaged("image",
        reader=ds.monai_reader()), EnsureChannelFirstd("image"), ...]))``;
        TorchIO: ``tio.Subject(image=tio.ScalarImage(r["image"]), label=r["label"])``.
        """
        out = []
        for i, r in enumerate(self.records.to_dict("records")):
            d = {"image": r["path"], "record_id": r["image_id"], "label": np.asarray(self.labels[i], dtype=np.float32)}
            mp = r.get("mask_path")
            if isinstance(mp, str) and mp:
                d["mask"] = mp
            out.append(d)
        return out

    def monai_reader(self, **kwargs):
        """A MONAI ``ImageReader`` for this dataset's radiographs that applies covidbank's
        pixel rules (first channel, bit depth, white = dense by
        :func:`covidbank.pixels.needs_inversion` with each record's photometric
        fields): :class:`covidbank.torch.monai.XRayReader`."""
        from .monai import XRayReader

        return XRayReader(inversion={str(r["path"]): inversion_args(r) for r in self.records.to_dict("records")}, **kwargs)

    def _labels(self, idx: int) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.labels[idx], dtype=np.float32).copy())

    def _fail(self, idx: int, err: ImageLoadError):
        if self.on_error == "raise":
            raise err
        r = self.records.iloc[idx]
        self.skipped.append((r["image_id"], str(r["path"]), str(err)))
        log.warning("skipped %s (%d skipped so far): %s", r["image_id"], len(self.skipped), err)
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={len(self)}, pathologies={self.pathologies}, excluded={len(self.excluded)})"


def _meta_value(v, numeric: bool):
    """A collatable metadata value: float (NaN when missing) or str ("" when missing)."""
    missing = v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
    if numeric:
        try:
            return float("nan") if missing else float(v)
        except (TypeError, ValueError):
            return float("nan")
    return "" if missing else str(v)


class XRayDataset(BankImageDataset):
    """Chest radiographs of a bank as tensors.

    Parameters
    ----------
    bank : Bank or path
    size : int or None
        Square output side (default 224); None keeps the native size.
    crop : {"center", "pad", "none"}
        ``center`` = torchxrayvision's ``XRayCenterCrop``.
    resample : str
        ``xrv`` (torchxrayvision's ``XRayResizer``, same values) or a Pillow
        filter such as ``bilinear`` (faster).
    normalize : str
        ``xrv`` ([-1024, 1024], default), ``unit``, ``symmetric``,
        ``imagenet``, ``zscore`` (see :mod:`covidbank.torch.transforms`).
    cache : bool, path or XRayCache
        Read decoded images from a memory-mapped cache (``True``: the bank's
        ``cache`` folder; a path: that folder).  Missing or stale entries are
        decoded into the cache first (``on_stale="rebuild"``) or refused
        (``on_stale="error"`` raises :class:`~covidbank.errors.StaleCacheError`).
        Never used silently when stale.
    cache_verify : {"stat", "hash"}
        How staleness is checked when the dataset is created.
    **kwargs
        See :class:`BankImageDataset` (labels, uncertain, filters, on_error...).
        Views default to all; modalities to ``X-ray``, ``CR``, ``DX``.

    Examples
    --------
    >>> ds = XRayDataset("bank", views=["PA", "AP"], labels=["COVID-19", "Pneumonia"], cache=True)
    >>> ds[0]["img"].shape
    torch.Size([1, 224, 224])
    """

    _default_modalities = XRAY_MODALITIES

    def __init__(
        self,
        bank,
        *,
        size: int | None = 224,
        crop: str = "center",
        resample: str = "xrv",
        normalize: str = "xrv",
        cache: bool | str | os.PathLike | XRayCache = False,
        cache_verify: str = "stat",
        on_stale: str = "rebuild",
        **kwargs,
    ) -> None:
        super().__init__(bank, **kwargs)
        self.prep = XRayPrep(size, crop, resample)
        self.norm = normalize
        from .transforms import NORMALIZATIONS

        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize={normalize!r}: use one of {NORMALIZATIONS}")
        self.cache: XRayCache | None = None
        self._rows: np.ndarray | None = None
        if cache is not False and cache is not None:
            self._attach_cache(cache, cache_verify, on_stale)

    def _attach_cache(self, cache, verify: str, on_stale: str) -> None:
        from ..errors import CacheError, StaleCacheError

        if isinstance(cache, XRayCache):
            c = cache
            if c.prep != self.prep:
                raise StaleCacheError(f"{c.path}: cache parameters {c.prep} differ from the dataset's {self.prep}")
        else:
            root = self.bank.path / "cache" if cache is True else Path(cache)
            c = XRayCache(root, self.prep)
        recs = self.records
        stale, touched = c._scan(recs, verify)
        if len(stale):
            if on_stale == "error":
                first = stale.iloc[0]
                raise StaleCacheError(
                    f"{c.path}: {len(stale)} entries missing or stale (first: {first['path']} record "
                    f"{first['image_id']}: {first['reason']}); run `covidbank cache {self.bank.path} --size {self.prep.size}`"
                )
            log.info("cache %s: decoding %d missing or stale entries", c.path, len(stale))
            try:
                c.update(recs, verify=verify)
            except OSError as e:  # a read-only bank, a full disk: say what failed and what to do
                raise CacheError(
                    f"{c.path}: {len(stale)} entries missing or stale and the cache could not be written "
                    f"({type(e).__name__}: {e.strerror or e}); run `covidbank cache {self.bank.path} --size "
                    f"{self.prep.size}` where the bank is writable, or use cache=False"
                ) from e
        elif len(touched):  # moved or touched files with the cached content: store their new time and size
            try:
                c.update(recs, verify=verify)
            except OSError as e:  # a read-only bank: the entries are still used (and hashed again next time)
                log.info("cache %s: could not store %d new file times (%s)", c.path, len(touched), type(e).__name__)
        snap = c.snapshot()  # the rows below go with this index's data file, whatever updates c later
        idx = snap.index().set_index("image_id")
        if (idx["status"] == "ok").any():
            snap.array()  # opened now: a later rebuild removes the file, not this process's memory map
        ent = idx.loc[recs["image_id"]]
        bad = (ent["status"] != "ok").to_numpy()
        if bad.any():
            errs = error_rows(ent.reset_index(), recs)  # the index holds no path: the message is rebuilt from recs
            if self.on_error == "raise":
                iid = errs["image_id"].iloc[0]
                raise ImageLoadError(f"{errs['error'].iloc[0]} [{int(bad.sum())} unreadable files in {c.path}; first record {iid}]")
            for iid, path, err in errs.itertuples(index=False):
                self.skipped.append((iid, path, err))
            log.warning("left out %d unreadable images (on_error='skip')", int(bad.sum()))
            keep = ~bad
            self.records = self.records[keep].reset_index(drop=True)
            self.labels = self.labels[keep]
            self._meta = [m for m, k in zip(self._meta, keep) if k]
            ent = ent[keep]
        self._rows = ent["row"].to_numpy(dtype=np.int64)
        self.cache = snap

    def load_image(self, idx: int) -> np.ndarray:
        """The preprocessed ``[0, 1]`` image of item ``idx`` (before normalization)."""
        if self.cache is not None:
            return self.cache.get(int(self._rows[idx]))  # type: ignore[index]
        r = self.records.iloc[idx]
        a = read_xray(r["path"], record=r["image_id"], file_format=_str(r.get("file_format")), **inversion_args(r))
        return preprocess_xray(a, self.prep)

    def __getitem__(self, idx: int):
        idx = int(idx)
        try:
            a = self.load_image(idx)
        except ImageLoadError as e:
            return self._fail(idx, e)
        img = normalize(a, self.norm)[None]
        if self.transform is not None:
            img = self.transform(img)
        if self.data_aug is not None:
            img = self.data_aug(img)
        return {"img": img, "lab": self._labels(idx), "idx": idx, "image_id": self._meta[idx]["image_id"], "meta": self._meta[idx]}


def _str(v):
    return None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)


def _ras_shape(path: str) -> tuple[int, int, int]:
    """Shape of a NIfTI volume once reoriented to RAS, from its header only."""
    import nibabel as nib

    img = nib.load(path)
    ornt = nib.orientations.io_orientation(img.affine)
    shp = img.shape[:3]
    out = [0, 0, 0]
    for i, (axis, _) in enumerate(ornt):
        out[int(axis)] = shp[i]
    return tuple(out)  # type: ignore[return-value]


class CTDataset(BankImageDataset):
    """CT volumes of a bank (NIfTI), in RAS orientation and Hounsfield units.

    Parameters
    ----------
    bank : Bank or path
    mode : {"volume", "slice"}
        ``volume``: one item per volume, ``img`` shaped ``(1, X, Y, Z)``.
        ``slice``: one item per axial slice, ``img`` shaped ``(1, X, Y)``
        (``slice`` index in the item).  A record that is a single slice
        (axial, coronal or sagittal) is not a CT volume: it is left out in
        both modes with that reason (:meth:`exclusion_summary`), so a single
        coronal slice never becomes hundreds of one-pixel-row "slices".
    window : str or (lower, upper), optional
        Clip HU to the window and scale to [0, 1] (``lung``, ``mediastinum``,
        ``covid`` or numbers); None keeps HU.
    spacing : (float, float, float), optional
        Resample to this voxel size in mm (trilinear; masks nearest).
    size : int, optional
        Slice mode: resize each slice to ``size`` x ``size`` (bilinear, anti-aliased).
    with_mask : bool
        Add ``mask`` (int64, same grid) and ``has_mask``.  When some selected
        record has a ``mask_path``, every item carries a mask (so batches
        collate): records without one get a mask of -1 (unknown) and
        ``has_mask`` false.
    **kwargs
        See :class:`BankImageDataset`.  Modalities default to ``CT``.
    """

    _default_modalities = ("CT",)

    def _keep_kind(self, recs: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, str, str]]]:
        """Only volumetric CT: NIfTI files with three dimensions (Cohen's CT figures are JPEGs)."""
        import nibabel as nib

        keep, out = [], []
        for iid, p, fmt in zip(recs["image_id"], recs["path"], recs["file_format"]):
            name = str(p) if isinstance(p, str) else ""
            if not (is_nifti(name) or str(fmt).lower() in ("nifti", "nii", "nii.gz")):
                kind = str(fmt) if isinstance(fmt, str) and fmt else (Path(name).suffix.lstrip(".") or "unknown")
                out.append((iid, p, f"not a CT volume (a 2-D {kind} image)"))
                keep.append(False)
                continue
            if os.path.isfile(name):
                try:
                    ndim = len([s for s in nib.load(name).shape if s > 1])
                except Exception:  # unreadable headers fail at load time with the reader's message
                    ndim = 3
                if ndim < 3:  # a single axial, coronal or sagittal slice
                    out.append((iid, p, "not a CT volume (a single slice)"))
                    keep.append(False)
                    continue
            keep.append(True)
        return recs[pd.Series(keep, index=recs.index, dtype=bool)].reset_index(drop=True), out

    def __init__(
        self,
        bank,
        *,
        mode: str = "volume",
        window: str | Sequence[float] | None = None,
        spacing: Sequence[float] | None = None,
        size: int | None = None,
        with_mask: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(bank, **kwargs)
        if mode not in ("volume", "slice"):
            raise ValueError(f"mode={mode!r}: use volume or slice")
        self.mode = mode
        self.window = resolve_window(window)
        self.spacing = tuple(float(s) for s in spacing) if spacing else None
        self.size = size
        self.with_mask = with_mask
        mp = self.records["mask_path"] if "mask_path" in self.records.columns else pd.Series([], dtype=object)
        self._any_mask = bool(with_mask and mp.notna().any())
        self._vol_cache: OrderedDict = OrderedDict()
        self._slices: list[tuple[int, int]] = []
        if mode == "slice":
            for i, p in enumerate(self.records["path"]):
                try:
                    nz = self._n_slices(i, p)
                except ImageLoadError as e:
                    if self.on_error == "raise":
                        raise
                    self._fail(i, e)
                    continue
                except Exception as e:  # noqa: BLE001 - an unreadable header
                    err = ImageLoadError(f"{p} (record {self.records['image_id'].iloc[i]}): cannot read NIfTI header "
                                         f"({type(e).__name__}: {e})")
                    if self.on_error == "raise":
                        raise err from None
                    self._fail(i, err)
                    continue
                self._slices.extend((i, z) for z in range(nz))

    def _n_slices(self, i: int, path: str) -> int:
        if not os.path.isfile(path):
            raise ImageMissingError(f"{path} (record {self.records['image_id'].iloc[i]}): CT volume file is missing")
        try:
            shp = _ras_shape(path)
        except Exception as e:
            raise ImageLoadError(f"{path} (record {self.records['image_id'].iloc[i]}): cannot read NIfTI header ({type(e).__name__}: {e})") from None
        if self.spacing:
            import nibabel as nib

            ras = nib.as_closest_canonical(nib.load(path))
            return resampled_shape(ras.shape[:3], ras.affine, self.spacing)[2]
        return int(shp[2])

    def __len__(self) -> int:
        return len(self._slices) if self.mode == "slice" else len(self.records)

    def load_volume(self, i: int) -> tuple[torch.Tensor, torch.Tensor | None, tuple[float, float, float], np.ndarray]:
        """Record ``i``'s volume ``(1, X, Y, Z)`` (windowed/resampled as set), its mask, spacing and affine."""
        if i in self._vol_cache:
            self._vol_cache.move_to_end(i)
            return self._vol_cache[i]
        r = self.records.iloc[i]
        vol = read_ct(r["path"], record=r["image_id"])
        img = torch.from_numpy(np.asarray(vol.data, dtype=np.float32))[None]
        mask = None
        mp = r.get("mask_path")
        if self.with_mask and isinstance(mp, str) and mp:
            m = read_mask(mp, record=r["image_id"], like=vol)
            mask = torch.from_numpy(m.astype(np.int64))[None]
        spacing = vol.spacing
        affine = vol.affine
        if self.spacing:
            img, new_affine = resample_to_spacing(img, affine, self.spacing)
            if mask is not None:
                mask, _ = resample_to_spacing(mask, affine, self.spacing, mode="nearest")
            affine = new_affine
            spacing = self.spacing
        if self.window:
            img = window(img, *self.window)
        out = (img, mask, spacing, affine)
        self._vol_cache[i] = out
        while len(self._vol_cache) > 1:
            self._vol_cache.popitem(last=False)
        return out

    def __getitem__(self, idx: int):
        idx = int(idx)
        if self.mode == "slice":
            i, z = self._slices[idx]
        else:
            i, z = idx, None
        try:
            img, mask, spacing, affine = self.load_volume(i)
        except ImageLoadError as e:
            return self._fail(i, e)
        item = {"idx": idx, "lab": self._labels(i), "image_id": self._meta[i]["image_id"], "meta": self._meta[i],
                "spacing": torch.tensor(spacing, dtype=torch.float32)}
        if z is not None:
            img = img[..., z]
            if mask is not None:
                mask = mask[..., z]
            if self.size:
                import torch.nn.functional as F

                img = F.interpolate(img[None], size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)[0]
                if mask is not None:
                    mask = F.interpolate(mask[None].float(), size=(self.size, self.size), mode="nearest-exact")[0].long()
            item["slice"] = z
        else:
            item["affine"] = torch.from_numpy(np.asarray(affine, dtype=np.float32))
        if self.transform is not None:
            img = self.transform(img)
        if self.data_aug is not None:
            img = self.data_aug(img)
        item["img"] = img
        if self._any_mask:
            item["has_mask"] = mask is not None
            item["mask"] = mask if mask is not None else torch.full(img.shape, -1, dtype=torch.int64)
        return item
