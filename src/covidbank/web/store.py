"""Read-only access to a bank for the web viewer: search, records, cases, files.

The bank's Parquet index is copied once into an in-memory DuckDB database
(and again whenever a Parquet file of the index changes), so a search page
costs a few small SQL queries rather than a scan of the Parquet files.

Files are only ever looked up by record id: :meth:`BankStore.image_file` and
:meth:`BankStore.mask_file` return the path the index lists for that record,
never a path a client supplied.  A relative path in the index is resolved
against its source's root (:meth:`covidbank.bank.Bank.resolve`) and refused if
it leaves it.
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import duckdb
import numpy as np
import pandas as pd

from ..bank import Bank
from ..errors import BankError, RecordNotFoundError
from ..labels import LabelTree, default_tree
from ..pixels import is_nifti
from ..schema import NEGATIVE, POSITIVE, TABLES, UNCERTAIN

__all__ = ["BankStore", "SearchQuery", "SearchResult", "LABEL_VALUES", "CT_WINDOWS"]

#: Label values by the name the viewer uses in URLs.
LABEL_VALUES: dict[str, int] = {"positive": POSITIVE, "negative": NEGATIVE, "uncertain": UNCERTAIN}
_VALUE_NAMES = {v: k for k, v in LABEL_VALUES.items()}

#: HU window presets of the CT viewer: name -> (center, width).
CT_WINDOWS: dict[str, tuple[float, float]] = {"lung": (-600.0, 1500.0), "mediastinum": (50.0, 350.0)}

_VOLUME_FORMATS = {"nifti", "nii", "nii.gz", "nifti1", "nifti2"}

#: Sorting of search results: images whose file is present first, then by source, subject, day.
_ORDER = "file_present DESC, source, subject_id, offset_days NULLS LAST, image_id"


@dataclass
class SearchQuery:
    """The filters of a search; every field is optional.

    Attributes mirror the query string of the search page and of
    ``GET /api/records`` (``source=cohen&label=Pneumonia&value=positive``).
    """

    source: list[str] = field(default_factory=list)
    modality: list[str] = field(default_factory=list)
    view: list[str] = field(default_factory=list)
    sex: list[str] = field(default_factory=list)
    age_min: float | None = None
    age_max: float | None = None
    label: str | None = None
    value: str = "positive"
    ct_grade: list[str] = field(default_factory=list)
    split: list[str] = field(default_factory=list)
    q: str | None = None
    file_present: bool | None = None
    page: int = 1
    per_page: int = 50

    def __post_init__(self) -> None:
        self.page = max(1, int(self.page or 1))
        self.per_page = min(500, max(1, int(self.per_page or 50)))
        if self.value not in LABEL_VALUES and self.value != "any":
            self.value = "positive"
        self.label = (self.label or "").strip() or None
        self.q = (self.q or "").strip() or None
        for name in ("source", "modality", "view", "sex", "ct_grade", "split"):
            setattr(self, name, [v for v in getattr(self, name) if v not in (None, "")])

    def params(self, **override: Any) -> dict[str, Any]:
        """The query as URL parameters (lists repeated), without empty values."""
        d: dict[str, Any] = {}
        for name in ("source", "modality", "view", "sex", "ct_grade", "split"):
            d[name] = list(getattr(self, name))
        for name in ("age_min", "age_max", "label", "q"):
            v = getattr(self, name)
            d[name] = int(v) if isinstance(v, float) and v.is_integer() else v
        d["value"] = self.value if self.label else None
        d["file_present"] = None if self.file_present is None else ("1" if self.file_present else "0")
        d["page"] = self.page if self.page != 1 else None
        d["per_page"] = self.per_page if self.per_page != 50 else None
        d.update(override)
        return {k: v for k, v in d.items() if v not in (None, "", [])}


@dataclass
class SearchResult:
    """One page of search results with counts."""

    total: int
    page: int
    per_page: int
    rows: list[dict]
    facets: dict[str, list[tuple[str, int]]]
    label_names: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        """Number of pages."""
        return max(1, math.ceil(self.total / self.per_page))


def _clean(v: Any) -> Any:
    """Turn pandas/NumPy missing values and scalars into plain Python."""
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        return v
    if hasattr(v, "item"):
        return v.item()
    return v


class BankStore:
    """A bank opened read-only for the viewer.

    Parameters
    ----------
    bank_path : str or Path
        The bank folder.
    tree : LabelTree, optional
        Label vocabulary for hierarchical label search (default:
        :func:`covidbank.labels.default_tree`).
    reload_interval : float
        Seconds between checks of the index for changes.
    """

    def __init__(self, bank_path: str | os.PathLike, tree: LabelTree | None = None, reload_interval: float = 2.0) -> None:
        self.bank = Bank(bank_path)
        self.root = self.bank.path.resolve()
        self.tree = tree or default_tree()
        self.reload_interval = reload_interval
        self._lock = threading.RLock()
        self._checked = 0.0
        self._sig: tuple = ()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._frames_for: duckdb.DuckDBPyConnection | None = None
        self._fr: dict = {}
        self.tables: set[str] = set()
        #: Why the last reload of a changed index failed (the previous index is still served).
        self.reload_error: str | None = None
        self._load()

    # ---------------------------------------------------------------- loading
    def _signature(self) -> tuple:
        out = []
        idx = self.bank.index_dir
        for p in sorted(idx.glob("sources/*/*.parquet")) + sorted(idx.glob("tables/*.parquet")):
            if any(part.startswith(".") for part in p.relative_to(idx).parts):
                continue
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((str(p), st.st_mtime_ns, st.st_size))
        return tuple(out)

    def _load(self) -> None:
        sig = self._signature()
        con = duckdb.connect()
        names = list(TABLES) + [t for t in self.bank.extra_tables() if t not in TABLES]
        try:
            src = self.bank.connect()
            try:
                for name in names:
                    df = src.execute(f'SELECT * FROM "{name}"').df()
                    con.register("_tmp", df)
                    con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _tmp')
                    con.unregister("_tmp")
            finally:
                src.close()
        except duckdb.Error as e:
            con.close()
            msg = str(e).splitlines()[0]
            raise BankError(f"{self.root}: cannot read the bank index ({msg}); re-add the source or remove the file") from None
        self.tables = set(names)
        self._severity_cols = (
            {r[0] for r in con.execute("DESCRIBE severity").fetchall()} if "severity" in self.tables else set()
        )
        self._build_search_table(con)
        # the previous connection is not closed here: requests still using one of its
        # cursors finish on it, and it is freed when the last one is gone
        self._con, self._sig = con, sig

    def _build_search_table(self, con: duckdb.DuckDBPyConnection) -> None:
        split_join, split_col = "", "NULL::VARCHAR AS split"
        if "splits" in self.tables:
            cols = {r[0] for r in con.execute("DESCRIBE splits").fetchall()}
            if "split" in cols and ("image_id" in cols or "subject_id" in cols):
                key = "image_id" if "image_id" in cols else "subject_id"
                split_join = (
                    f"LEFT JOIN (SELECT {key} AS _k, any_value(CAST(split AS VARCHAR)) AS split "
                    f"FROM splits GROUP BY {key}) sp ON sp._k = i.{key}"
                )
                split_col = "sp.split"
        con.execute(
            f"""
            CREATE TABLE search AS
            SELECT i.image_id, i.session_id, i.subject_id, i.source, i.modality,
                   coalesce(i.view, 'unknown') AS view,
                   coalesce(i.sex, su.sex) AS sex, coalesce(i.age, su.age) AS age,
                   coalesce(i.offset_days, se.offset_days) AS offset_days,
                   coalesce(i.file_present, false) AS file_present, i.file_format, i.path, i.mask_path,
                   coalesce(i.ct_category, se.ct_category) AS ct_grade,
                   {split_col},
                   coalesce(se.report, '') || ' ' || coalesce(se.clinical_notes, '') AS text
            FROM images i
            LEFT JOIN (SELECT session_id, any_value(offset_days) AS offset_days, any_value(ct_category) AS ct_category,
                              any_value(report) AS report, any_value(clinical_notes) AS clinical_notes
                       FROM sessions GROUP BY session_id) se ON se.session_id = i.session_id
            LEFT JOIN (SELECT subject_id, any_value(sex) AS sex, any_value(age) AS age
                       FROM subjects GROUP BY subject_id) su ON su.subject_id = i.subject_id
            {split_join}
            """
        )

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        now = time.monotonic()
        with self._lock:
            if now - self._checked > self.reload_interval:
                self._checked = now
                if self._signature() != self._sig:
                    try:
                        self._load()
                    except BankError as e:  # half-written or broken index: keep serving the last good one
                        self.reload_error = str(e)
                    else:
                        self.reload_error = None
            return self._con.cursor()

    def sql(self, sql: str, params: Iterable[Any] = ()) -> pd.DataFrame:
        """Run parameterized SQL on the in-memory copy of the index (as a DataFrame)."""
        cur = self._cursor()
        try:
            return cur.execute(sql, list(params)).df()
        finally:
            cur.close()

    def rows(self, sql: str, params: Iterable[Any] = (), cur: duckdb.DuckDBPyConnection | None = None) -> list[dict]:
        """Run parameterized SQL and return plain dicts (much faster than a DataFrame for small results)."""
        own = cur is None
        cur = cur or self._cursor()
        try:
            res = cur.execute(sql, list(params))
            cols = [d[0] for d in res.description]
            return [{k: _clean(v) for k, v in zip(cols, r)} for r in res.fetchall()]
        finally:
            if own:
                cur.close()

    # ----------------------------------------------------------------- search
    def label_names(self, label: str) -> tuple[set[str], set[str]]:
        """Lower-cased names and CUIs a label filter matches (with descendants)."""
        if label in self.tree:
            names = {n.lower() for n in self.tree.names(label)}
            cuis = self.tree.cuis(label)
        else:
            names, cuis = {label.strip().lower()}, set()
        return names, cuis

    _FACETS = ("source", "modality", "view", "sex", "ct_grade", "split")

    def _frames(self) -> dict:
        """The search table as NumPy arrays (rebuilt when the index changes).

        Facet columns are factorized into integer codes, labels point at rows,
        so a search is a handful of vectorized operations.
        """
        self._cursor().close()  # reloads the index if it changed
        with self._lock:
            if self._frames_for is not self._con:
                con = self._con.cursor()
                try:
                    res = con.execute(f"SELECT * FROM search ORDER BY {_ORDER}")
                    cols = [d[0] for d in res.description]
                    records = [{k: _clean(v) for k, v in zip(cols, r)} for r in res.fetchall()]
                    labs = con.execute("SELECT image_id, label, cui, value, origin FROM labels").fetchall()
                    res = con.execute("SELECT i.*, s.ct_grade, s.split FROM images i JOIN search s USING (image_id)")
                    icols = [d[0] for d in res.description]
                    images = {}
                    for r in res.fetchall():
                        rec = {k: _clean(v) for k, v in zip(icols, r)}
                        images.setdefault(rec["image_id"], rec)
                finally:
                    con.close()
                row_of = {r["image_id"]: i for i, r in enumerate(records)}
                fr: dict[str, Any] = {"records": records, "n": len(records), "images": images}
                for name in self._FACETS:
                    codes, cats = pd.factorize(pd.Series([r.get(name) for r in records], dtype=object), use_na_sentinel=True)
                    fr[name] = (codes.astype(np.int64), [str(c) for c in cats])
                fr["age"] = np.array([np.nan if r.get("age") is None else float(r["age"]) for r in records], dtype=float)
                fr["present"] = np.array([bool(r.get("file_present")) for r in records], dtype=bool)
                fr["text"] = [(r.get("text") or "").lower() for r in records]
                lab_row = np.array([row_of.get(l[0], -1) for l in labs], dtype=np.int64)
                lab_codes, lab_cats = pd.factorize(pd.Series([l[1] for l in labs], dtype=object))
                fr["lab_row"] = lab_row
                fr["lab_code"] = lab_codes.astype(np.int64)
                fr["lab_cats"] = [str(c) for c in lab_cats]
                fr["lab_lc"] = np.array([str(c).lower() for c in lab_cats], dtype=object)
                fr["lab_cui"] = np.array([l[2] or "" for l in labs], dtype=object)
                fr["lab_value"] = np.array([-99 if l[3] is None else int(l[3]) for l in labs], dtype=np.int64)
                by: dict[str, list[tuple[int, str]]] = {}
                for l in labs:
                    if l[3] == POSITIVE:
                        by.setdefault(l[0], []).append((1 if l[4] == "implied" else 0, l[1]))
                fr["pos_by_image"] = {k: [name for _, name in sorted(v)] for k, v in by.items()}
                self._fr, self._frames_for = fr, self._con
            return self._fr

    def _masks(self, q: SearchQuery, fr: dict) -> dict[str, np.ndarray]:
        """One boolean row mask per active filter."""
        n = fr["n"]
        m: dict[str, np.ndarray] = {}
        for name in self._FACETS:
            vals = getattr(q, name)
            if vals:
                codes, cats = fr[name]
                want = [i for i, c in enumerate(cats) if c in set(vals)]
                m[name] = np.isin(codes, want) if want else np.zeros(n, dtype=bool)
        with np.errstate(invalid="ignore"):
            if q.age_min is not None:
                m["age_min"] = fr["age"] >= float(q.age_min)
            if q.age_max is not None:
                m["age_max"] = fr["age"] <= float(q.age_max)
        if q.file_present is not None:
            m["file_present"] = fr["present"] == bool(q.file_present)
        if q.q:
            needle = q.q.lower()
            m["q"] = np.fromiter((needle in t for t in fr["text"]), dtype=bool, count=n)
        if q.label:
            names, cuis = self.label_names(q.label)
            sel = np.isin(fr["lab_code"], np.flatnonzero(np.isin(fr["lab_lc"], list(names))))
            if cuis:
                sel |= np.isin(fr["lab_cui"], list(cuis))
            if q.value != "any":
                sel &= fr["lab_value"] == LABEL_VALUES[q.value]
            rows = fr["lab_row"][sel]
            mask = np.zeros(n, dtype=bool)
            mask[rows[rows >= 0]] = True
            m["label"] = mask
        return m

    @staticmethod
    def _combine(masks: dict[str, np.ndarray], n: int, skip: str | None = None) -> np.ndarray:
        out = np.ones(n, dtype=bool)
        for k, v in masks.items():
            if k != skip:
                out &= v
        return out

    def search(self, q: SearchQuery, facets: bool = True) -> SearchResult:
        """One page of images matching ``q``, with per-field counts.

        Facet counts for a field are computed with every other filter applied
        (so the counts say what choosing that value would give).  Results are
        ordered by source, subject, day offset and image id.
        """
        fr = self._frames()
        n = fr["n"]
        masks = self._masks(q, fr)
        hits = np.flatnonzero(self._combine(masks, n))
        total = int(hits.size)
        page = min(q.page, max(1, math.ceil(total / q.per_page)))
        by = fr["pos_by_image"]
        rows = []
        for i in hits[(page - 1) * q.per_page : page * q.per_page]:
            r = {k: v for k, v in fr["records"][i].items() if k != "text"}
            r["labels"] = list(by.get(r["image_id"], []))
            r["is_volume"] = self.is_volume(r)
            rows.append(r)
        fc: dict[str, list[tuple[str, int]]] = {}
        if facets:
            for name in self._FACETS:
                if name == "split" and "splits" not in self.tables:
                    continue
                codes, cats = fr[name]
                c = codes[self._combine(masks, n, skip=name)]
                counts = np.bincount(c[c >= 0], minlength=len(cats))
                fc[name] = sorted(((cats[i], int(k)) for i, k in enumerate(counts) if k), key=lambda t: (-t[1], t[0]))
            ok = self._combine(masks, n, skip="label")
            lr = fr["lab_row"]
            sel = (lr >= 0) & (fr["lab_value"] == POSITIVE)
            sel[sel] = ok[lr[sel]]
            # count images, not label rows (a label is listed once per image)
            pairs = np.unique(np.stack([fr["lab_code"][sel], lr[sel]]), axis=1) if sel.any() else np.zeros((2, 0), dtype=np.int64)
            counts = np.bincount(pairs[0], minlength=len(fr["lab_cats"])) if pairs.size else np.zeros(0, dtype=np.int64)
            fc["label"] = sorted(((fr["lab_cats"][i], int(k)) for i, k in enumerate(counts) if k), key=lambda t: (-t[1], t[0]))[:25]
        return SearchResult(total=total, page=page, per_page=q.per_page, rows=rows, facets=fc)

    def all_labels(self) -> list[str]:
        """Label names in the bank plus their ancestors in the vocabulary, sorted."""
        names = {r["label"] for r in self.rows("SELECT DISTINCT label FROM labels WHERE label IS NOT NULL")}
        for n in list(names):
            names.update(self.tree.ancestors(n))
        return sorted(names, key=str.lower)

    # ---------------------------------------------------------------- records
    def image(self, image_id: str) -> dict:
        """The ``images`` row of ``image_id`` (plus search columns).

        Raises
        ------
        RecordNotFoundError
            When the bank has no such image.
        """
        rec = self._frames()["images"].get(image_id)
        if rec is None:
            raise RecordNotFoundError(f"no image {image_id!r} in bank {self.root}")
        rec = dict(rec)
        rec["is_volume"] = self.is_volume(rec)
        return rec

    def record(self, image_id: str) -> dict:
        """An image with its labels, session, subject and severity rows."""
        rec = self.image(image_id)
        labs = self.rows(
            "SELECT label, cui, value, origin FROM labels WHERE image_id = ? ORDER BY CASE WHEN origin = 'implied' THEN 1 ELSE 0 END, label",
            [image_id],
        )
        for lab in labs:
            lab["value_name"] = _VALUE_NAMES.get(lab["value"], str(lab["value"]))
        ses = self.rows("SELECT * FROM sessions WHERE session_id = ? LIMIT 1", [rec["session_id"]])
        sub = self.rows("SELECT * FROM subjects WHERE subject_id = ? LIMIT 1", [rec["subject_id"]])
        return {
            "image": rec,
            "labels": labs,
            "session": ses[0] if ses else None,
            "subject": sub[0] if sub else None,
            "severity": self.severity(rec),
            "split": rec.get("split"),
        }

    def severity(self, rec: dict) -> list[dict]:
        """Rows of a bank-wide ``severity`` table about this image (or its session or subject)."""
        if "severity" not in self.tables:
            return []
        cols = self._severity_cols
        for key in ("image_id", "session_id", "subject_id"):
            if key in cols and rec.get(key):
                found = self.rows(f"SELECT * FROM severity WHERE {key} = ?", [rec[key]])
                if found:
                    return found
        return []

    def case(self, subject_id: str) -> dict:
        """A subject with sessions in time order, each with images and labels, and tests.

        Raises
        ------
        RecordNotFoundError
            When the bank has no such subject.
        """
        sub = self.rows("SELECT * FROM subjects WHERE subject_id = ? LIMIT 1", [subject_id])
        images = self.rows(
            "SELECT i.*, s.ct_grade, s.split FROM images i JOIN search s USING (image_id) WHERE i.subject_id = ? ORDER BY i.image_id",
            [subject_id],
        )
        if not sub and not images:
            raise RecordNotFoundError(f"no subject {subject_id!r} in bank {self.root}")
        sessions = self.rows(
            "SELECT * FROM sessions WHERE subject_id = ? ORDER BY offset_days NULLS LAST, date NULLS LAST, session_id",
            [subject_id],
        )
        ids = [r["image_id"] for r in images]
        labs = self.rows(
            f"""SELECT image_id, label, cui, value, origin FROM labels WHERE image_id IN ({', '.join('?' * len(ids))})
                ORDER BY CASE WHEN origin = 'implied' THEN 1 ELSE 0 END, label""",
            ids,
        ) if ids else []
        by_img: dict[str, list[dict]] = {}
        for lab in labs:
            lab["value_name"] = _VALUE_NAMES.get(lab["value"], str(lab["value"]))
            by_img.setdefault(lab["image_id"], []).append(lab)
        by_ses: dict[str, list[dict]] = {}
        for im in images:
            im["labels"] = by_img.get(im["image_id"], [])
            im["is_volume"] = self.is_volume(im)
            im["severity"] = self.severity(im)
            im["problem"] = self.file_problem(im)
            im["mask_kinds"] = [k for k, _ in self.masks(im)]
            by_ses.setdefault(im["session_id"], []).append(im)
        known = {s["session_id"] for s in sessions}
        for sid in by_ses:
            if sid not in known:  # images whose session row is missing still show
                first = by_ses[sid][0]
                sessions.append({"session_id": sid, "subject_id": subject_id, "offset_days": first.get("offset_days")})
        for s in sessions:
            s["images"] = sorted(by_ses.get(s["session_id"], []), key=lambda r: (r.get("view") or "", r["image_id"]))
        sessions.sort(key=lambda s: (s.get("offset_days") is None, s.get("offset_days") or 0.0, s.get("date") or "", s["session_id"]))
        tests = self.rows("SELECT * FROM tests WHERE subject_id = ? ORDER BY offset_days NULLS LAST, date NULLS LAST", [subject_id])
        subject = sub[0] if sub else {"subject_id": subject_id, "source": images[0]["source"]}
        source = subject.get("source") or (images[0]["source"] if images else None)
        return {
            "subject": subject,
            "sessions": sessions,
            "tests": tests,
            "n_images": len(images),
            "source_meta": self.source_meta(source) if source else {},
        }

    def source_meta(self, source: str) -> dict:
        """Provenance written when the source was added (paths reduced to names)."""
        meta = self.bank.source_meta(source)
        return {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool)) or k == "notes"}

    # ------------------------------------------------------------------ files
    @staticmethod
    def is_volume(rec: dict) -> bool:
        """Whether a record is a 3-D volume (shown in the CT viewer)."""
        fmt = (rec.get("file_format") or "").lower()
        path = (rec.get("path") or "").lower()
        nifti = fmt in _VOLUME_FORMATS or is_nifti(path)
        return bool(nifti and (rec.get("modality") or "").upper() == "CT")

    def _resolve(self, raw: str | None, source: str | None = None) -> Path | None:
        """The file an index path names, if the viewer may serve it: inside the bank or the root registered
        for a source at add (:meth:`covidbank.bank.Bank.resolve` with ``contained``); None otherwise."""
        if not raw:
            return None
        return self.bank.resolve(source, raw, contained=True)

    def image_file(self, image_id: str) -> tuple[dict, Path | None]:
        """The record and the file its index row lists (None when unusable)."""
        rec = self.image(image_id)
        return rec, self._resolve(rec.get("path"), rec.get("source"))

    def masks(self, rec: dict) -> list[tuple[str, Path]]:
        """Mask files of a record that exist, as ``(kind, path)``, lung masks first.

        Taken from the index only: ``mask_path``/``mask_kind`` of the image,
        any ``<kind>_mask_path`` column of the image, and the same columns of
        its ``severity`` rows (a relative path there is resolved in the bank).
        """
        found: list[tuple[str, str | None, str | None]] = []

        def collect(row: dict, source: str | None) -> None:
            if row.get("mask_path"):
                found.append((str(row.get("mask_kind") or "lesion"), row["mask_path"], source))
            for k, v in row.items():
                if k.endswith("_mask_path") and v:
                    found.append((k[: -len("_mask_path")], v, source))

        collect(rec, rec.get("source"))
        for sv in self.severity(rec):
            collect(sv, None)  # severity tables are the bank's own: paths relative to the bank
        out: list[tuple[str, Path]] = []
        seen: set[Path] = set()
        for kind, raw, source in found:
            p = self._resolve(str(raw), source)
            if p is not None and p not in seen and p.is_file():
                seen.add(p)
                out.append((kind.lower(), p))
        return sorted(out, key=lambda kp: (kp[0] != "lung", kp[0]))

    def file_problem(self, rec: dict) -> str | None:
        """Why the image file of ``rec`` cannot be shown, or None when it can."""
        if rec.get("burned_in_annotation") is True:  # flagged by ingest (DICOM Burned In Annotation = YES)
            return "burned-in annotation: the pixel data may show identifiers; not served"
        raw = rec.get("path")
        if not raw:
            return "the index lists no file for this record"
        p = self._resolve(raw, rec.get("source"))
        if p is None:
            return "the index lists a path outside the bank and its source's folder; it is not served"
        if not p.is_file():
            listed = "the source lists it as absent" if rec.get("file_present") is False else "it was present when the bank was built"
            return f"image file {p.name} is missing on disk ({listed})"
        return None

    # ---------------------------------------------------------------- summary
    def summary(self) -> dict:
        """Counts for the summary page."""
        per_source = (
            self.rows(
                """SELECT s.source, count(DISTINCT s.subject_id) AS subjects, count(DISTINCT s.session_id) AS sessions,
                          count(*) AS images, sum(CASE WHEN s.file_present THEN 1 ELSE 0 END) AS files_present,
                          (SELECT count(*) FROM labels l WHERE l.source = s.source) AS labels,
                          (SELECT count(*) FROM skipped k WHERE k.source = s.source) AS skipped
                   FROM search s GROUP BY s.source ORDER BY s.source"""
            )
        )

        def counts(col: str) -> list[tuple[str, int]]:
            return [("unknown" if r["v"] is None else str(r["v"]), int(r["n"])) for r in self.rows(f"SELECT {col} AS v, count(*) n FROM search GROUP BY {col} ORDER BY n DESC, v")]

        out = {
            "per_source": per_source,
            "modality": counts("modality"),
            "view": counts("view"),
            "sex": counts("sex"),
            "ct_grade": [c for c in counts("ct_grade") if c[0] != "unknown"],
            "labels": [
                (r["label"], r["cui"], int(r["n"]))
                for r in self.rows(
                    "SELECT label, any_value(cui) AS cui, count(DISTINCT image_id) n FROM labels WHERE value = 1 GROUP BY label ORDER BY n DESC, label LIMIT 30"
                )
            ],
            "skipped": [
                (r["source"], r["reason"], int(r["n"]))
                for r in self.rows(
                    "SELECT source, split_part(reason, ':', 1) AS reason, count(*) n FROM skipped GROUP BY ALL ORDER BY n DESC LIMIT 20"
                )
            ],
            "tables": sorted(self.tables - set(TABLES)),
        }
        if "splits" in self.tables:
            out["splits"] = counts("split")
        if "severity" in self.tables:
            out["severity_rows"] = int(self.rows("SELECT count(*) n FROM severity")[0]["n"])
        return out

    def report_file(self) -> Path | None:
        """The technical-validation report (``report.html``) inside the bank, if any."""
        for rel in ("report/report.html", "reports/report.html", "validation/report.html", "report.html"):
            p = (self.root / rel).resolve()
            if p.is_file() and self.root in p.parents:
                return p
        for p in sorted(self.root.glob("*/report.html")):
            rp = p.resolve()
            if rp.is_file() and self.root in rp.parents:
                return rp
        return None
