"""COVID-19 Image Data Collection (Cohen et al., ieee8023/covid-chestxray-dataset).

Reads ``metadata.csv`` as published: the ``finding`` column may be flat
(``COVID-19``, ``COVID-19, ARDS``, ``Mycoplasma Bacterial Pneumonia``, older
releases) or hierarchical (``Pneumonia/Viral/COVID-19``, newer releases); both
map onto the same label hierarchy (:data:`covidbank.labels.COHEN_HIERARCHY`).
Rows whose finding is ``todo`` or ``Unknown`` are skipped with a reason.
Missing image files are kept with ``file_present = False``.  Severity scores
(``annotations/covid-severity-scores.csv``) and lungVAE masks
(``annotations/lungVAE-masks/<stem>_mask.png``) are joined to their images.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from itertools import repeat
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SourceFormatError
from ..labels import COHEN_FLAT_FINDINGS, LabelTree, default_tree
from collections.abc import Iterator

from ..schema import POSITIVE, conform, normalize_view
from ..spool import SpoolFolder, TableSpool
from .base import (
    BATCH_ROWS,
    SourceResult,
    TableMap,
    stream_text_table,
    first_nonempty,
    map_unique,
    normalize_license,
    parse_age,
    parse_bool,
    read_side_table,
    require_columns,
    to_float,
)

__all__ = ["load", "parse_finding", "NAME"]

NAME = "cohen"
REQUIRED = ["patientid", "finding", "view", "modality", "filename"]
SKIP_FINDINGS = {"todo", "unknown", ""}


def parse_finding(finding: str, tree: LabelTree) -> list[str]:
    """Turn a ``finding`` cell into hierarchy leaf labels (preferred names).

    Flat values (``COVID-19, ARDS``) are mapped through
    :data:`~covidbank.labels.COHEN_FLAT_FINDINGS`; paths
    (``Pneumonia/Viral/COVID-19``) are added as paths.  Unknown flat values
    become top-level labels of their own.
    """
    out: list[str] = []
    for part in re.split(r",", str(finding)):
        part = part.strip()
        if not part:
            continue
        if "/" in part:
            out.append(tree.add_path(part))
            continue
        path = COHEN_FLAT_FINDINGS.get(part.lower())
        out.append(tree.add_path(path) if path else tree.add(part))
    return list(dict.fromkeys(out))


def _view(raw: str) -> str:
    return normalize_view(raw)


def _modality(raw: str) -> str:
    s = str(raw).strip()
    if s.upper() in {"CT", "CR", "DX"}:
        return s.upper()
    return "X-ray" if s.lower().replace("-", "") in {"xray", "x ray", ""} else s


def _clean(v: object) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s if s and s not in {"?", "nan"} else None


def load(path: str | Path, version: str | None = None, tree: LabelTree | None = None,
         batch_rows: int = BATCH_ROWS, **_: object) -> SourceResult:
    """Load the COVID-19 Image Data Collection, streaming ``metadata.csv`` in batches.

    Parameters
    ----------
    path : str or Path
        The dataset folder (holding ``metadata.csv``) or the ``metadata.csv`` file.
    version : str, optional
        Release or commit, recorded as ``source_version``.
    tree : LabelTree, optional
        Vocabulary to extend; :func:`~covidbank.labels.default_tree` by default.
    batch_rows : int
        Rows read and normalized at a time.  The ``images``, ``labels``,
        ``sessions`` and ``subjects`` tables are written to Parquet files in a
        temporary folder batch by batch (:class:`~covidbank.spool.SpooledTable`;
        ``res.tables[name]`` reads one into memory, :meth:`Bank.add` copies it
        batch by batch), so memory is bounded by the batch plus one entry per
        image, session and subject seen (for the identifiers that must be
        unique across batches).  The result does not depend on it.

    Returns
    -------
    SourceResult
    """
    p = Path(path)
    root = p.parent if p.is_file() else p
    meta_csv = p if p.is_file() else p / "metadata.csv"
    if not meta_csv.is_file():
        raise SourceFormatError(f"{meta_csv}: not found (expected the collection's metadata.csv)")
    tree = tree or default_tree()

    def consume(columns: list[str], batches) -> SourceResult:
        return _Loader(root, meta_csv, version, tree).run(columns, batches)

    try:
        return stream_text_table(meta_csv, consume, rows=max(1, int(batch_rows)))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, OSError) as e:
        raise SourceFormatError(f"{meta_csv}: unreadable CSV ({e.__class__.__name__}: {e})") from None


#: The columns the adapter reads (the others, such as ``other_notes``, are not copied).
_USED = {"patientid", "offset", "sex", "age", "finding", "survival", "intubated", "intubation_present", "went_icu",
         "in_icu", "needed_supplemental_O2", "needed_supplemental_o2", "extubated", "temperature", "pO2_saturation",
         "pO2 saturation", "leukocyte_count", "wbc count", "wbc_count", "neutrophil_count", "neutrophil count",
         "lymphocyte_count", "lymphocyte count", "view", "modality", "date", "location", "folder", "filename", "doi",
         "url", "license", "clinical_notes", "clinical notes"}


def _col(raw: pd.DataFrame, name: str) -> pd.Series:
    """A column of the raw table, or empty strings when the release lacks it."""
    return raw[name] if name in raw.columns else pd.Series("", index=raw.index, dtype="str")


def _folders(raw: pd.DataFrame) -> pd.Series:
    if "folder" not in raw.columns:
        return pd.Series("images", index=raw.index, dtype=object)
    f = raw["folder"]
    return f.where(f != "", "images").str.strip()


def _paths(raw: pd.DataFrame, root: Path, listings: dict) -> tuple[pd.Series, pd.Series]:
    """Resolved path and presence of every row's file.

    Each folder is resolved and listed once per load (``listings`` keeps the
    listing across batches; a per-row ``resolve()`` and ``is_file()`` costs
    two system calls per component; a million rows took seconds); a name that
    is a symbolic link or holds a ``/`` falls back to the per-file calls so the
    result is the one ``Path.resolve`` gives.
    """
    folders = _folders(raw)
    names = raw["filename"].str.strip()
    paths = pd.Series(pd.NA, index=raw.index, dtype="string")
    present = pd.Series(False, index=raw.index)
    for folder, idx in folders.groupby(folders, sort=False).groups.items():
        if folder not in listings:
            d = (root / folder).resolve()
            files: set[str] = set()
            links: set[str] = set()
            if d.is_dir():
                with os.scandir(d) as it:
                    for e in it:
                        if e.is_symlink():
                            links.add(e.name)
                        elif e.is_file():
                            files.add(e.name)
            listings[folder] = (d, files, list(links) + [".", ".."])
        d, files, odd_names = listings[folder]
        n = names.loc[idx]
        odd = (n == "") | n.str.contains("/", regex=False) | n.isin(odd_names)
        if os.sep != "/":
            odd |= n.str.contains(os.sep, regex=False)
        if len(n) == len(raw):  # the only folder (the usual table): whole columns, no indexed assignment
            paths = (str(d) + os.sep + n).where(~odd).astype("string")
            present = n.isin(files) & ~odd
        else:
            plain = n[~odd]
            paths.loc[plain.index] = str(d) + os.sep + plain
            present.loc[plain.index] = plain.isin(files).to_numpy()
        for j, name in n[odd].items():
            fp = (root / folder / name).resolve()
            paths.loc[j], present.loc[j] = str(fp), fp.is_file()
    return paths, present


def _file_format(names: pd.Series) -> pd.Series:
    """``nifti`` for ``.nii``/``.nii.gz``, else the suffix (``jpg`` -> ``jpeg``), or None (vectorized).

    The suffix is the one ``Path(name).suffix`` gives: the text after the last
    dot of the last component, leading dots (hidden files) not counting.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    lower = pc.utf8_lower(pa.array(names.astype("string").array))
    last = pc.utf8_ltrim(pc.replace_substring_regex(lower, r"^.*/", ""), ".")
    ext = pc.if_else(pc.match_substring(last, "."), pc.replace_substring_regex(last, r"^.*\.", ""), "")
    ext = pc.replace_substring(ext, "jpg", "jpeg")
    ext = pc.if_else(pc.equal(ext, ""), None, ext)
    nifti = pc.or_(pc.ends_with(lower, ".nii"), pc.ends_with(lower, ".nii.gz"))
    return pd.Series(pd.array(pc.if_else(nifti, "nifti", ext), dtype="string"), index=names.index)


def _text(value: object, n: int) -> pd.Series:
    """``n`` times the same text (or missing) as the schema's ``string`` column, built in Arrow; a value that
    is not a string (a version given as ``2020`` or a date) is its ``str``, as the row-by-row path wrote it."""
    import pyarrow as pa

    for typ in (pa.large_string(), pa.string()):  # pandas >= 2.2 takes large_string; 2.0-2.1 only string
        arr = pa.nulls(n, typ) if value is None else pa.repeat(pa.scalar(str(value), typ), n)
        try:
            return pd.Series(pd.arrays.ArrowStringArray(arr))
        except ValueError:
            continue
    return pd.Series([None if value is None else str(value)] * n, dtype="string")


def _sex(v: object) -> str | None:
    c = _clean(v)
    return c.upper() if c and c.upper() in {"M", "F"} else None


def _mask_path(masks: dict[str, Path], fname: str | None) -> str | None:
    m = masks.get(Path(fname).stem) if fname else None
    return str(m.resolve()) if m else None


class _Subjects:
    """One entry per subject seen so far, in order of first appearance, merged batch by batch.

    A subject's sex is its first non-empty one, its age the first one seen (or
    a smaller one from a study at day <= 0), its survival false if any row says
    so: the same as grouping the whole table at once.
    """

    _SEX = np.array([None, "M", "F"], dtype=object)

    def __init__(self) -> None:
        self.slot: dict[str, int] = {}
        self.ids: list[str] = []
        self.sex = np.zeros(0, dtype=np.int8)  # 0 unknown, 1 M, 2 F
        self.first_age = np.zeros(0)
        self.early_min = np.zeros(0)
        self.surv_n = np.zeros(0, dtype=np.int64)
        self.surv_all = np.zeros(0, dtype=bool)

    def _grow(self, n: int) -> None:
        if n <= len(self.sex):
            return
        size = max(n, 2 * len(self.sex), 1024)
        pad = size - len(self.sex)
        self.sex = np.concatenate([self.sex, np.zeros(pad, dtype=np.int8)])
        self.first_age = np.concatenate([self.first_age, np.full(pad, np.nan)])
        self.early_min = np.concatenate([self.early_min, np.full(pad, np.nan)])
        self.surv_n = np.concatenate([self.surv_n, np.zeros(pad, dtype=np.int64)])
        self.surv_all = np.concatenate([self.surv_all, np.ones(pad, dtype=bool)])

    def update(self, subject_id: pd.Series, sex: pd.Series, age: pd.Series, early: pd.Series, survival: pd.Series) -> None:
        """Merge one batch's kept rows."""
        if not len(subject_id):
            return
        codes, uniq = pd.factorize(subject_id)  # groups in order of first appearance, as groupby(sort=False)
        df = pd.DataFrame({"s": codes,
                           "sex": np.select([(sex == "M").fillna(False).to_numpy(bool), (sex == "F").fillna(False).to_numpy(bool)],
                                            [1, 2], 0).astype(np.int8),
                           "age": age.to_numpy(dtype="float64", na_value=np.nan),
                           "early": age.to_numpy(dtype="float64", na_value=np.nan),
                           "sn": survival.notna().to_numpy(), "sa": survival.fillna(True).astype(bool).to_numpy()})
        df.loc[~early.to_numpy(), "early"] = np.nan
        df["sex"] = df["sex"].replace(0, np.nan)
        g = df.groupby("s", sort=False)
        keys = uniq.tolist()
        b_sex = g["sex"].first().fillna(0).to_numpy(dtype=np.int8)
        b_age = g["age"].first().to_numpy(dtype=float)
        b_early = g["early"].min().to_numpy(dtype=float)
        b_sn = g["sn"].sum().to_numpy(dtype=np.int64)
        b_sa = g["sa"].all().to_numpy(dtype=bool)
        slots = np.fromiter(map(self.slot.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))
        new = np.flatnonzero(slots < 0)  # subjects first seen in this batch: the next slots, in order
        if len(new):
            slots[new] = np.arange(len(self.ids), len(self.ids) + len(new))
            fresh = [keys[i] for i in new.tolist()]
            self.slot.update(zip(fresh, slots[new].tolist()))
            self.ids.extend(fresh)
        self._grow(len(self.ids))
        cur = self.sex[slots]
        self.sex[slots] = np.where(cur == 0, b_sex, cur)
        cur_age = self.first_age[slots]
        self.first_age[slots] = np.where(np.isnan(cur_age), b_age, cur_age)
        self.early_min[slots] = np.fmin(self.early_min[slots], b_early)
        self.surv_n[slots] += b_sn
        self.surv_all[slots] &= b_sa

    def frames(self, version: str | None, rows: int) -> Iterator[pd.DataFrame]:
        """The ``subjects`` table, ``rows`` rows at a time."""
        prefix = len(NAME) + 1
        for a in range(0, len(self.ids), rows):
            b = min(len(self.ids), a + rows)
            ids = self.ids[a:b]
            age = np.fmin(self.first_age[a:b], self.early_min[a:b])
            surv = np.where(self.surv_n[a:b] == 0, None, self.surv_all[a:b])
            yield pd.DataFrame({
                "subject_id": pd.array(ids, dtype="string"), "original_id": pd.array([s[prefix:] for s in ids], dtype="string"),
                "sex": pd.array(self._SEX[self.sex[a:b]], dtype="string"),
                "age": pd.array(np.where(np.isnan(age), None, age), dtype="Float64"),
                "survival": pd.array(surv, dtype="boolean"), "source": _text(NAME, b - a), "source_version": _text(version, b - a),
            })


class _Loader:
    """One streaming pass over ``metadata.csv``: every batch normalized column by column and spooled.

    Cross-batch state is one entry per distinct finding, folder, image name,
    session and subject; the per-value parsers (ages, yes/no, licenses, views,
    findings) run once per distinct value of a batch (:func:`map_unique`).
    """

    def __init__(self, root: Path, meta_csv: Path, version: str | None, tree: LabelTree) -> None:
        self.root, self.meta_csv, self.version, self.tree = root, meta_csv, version, tree
        self.res = SourceResult(source=NAME)
        self.severity = _load_severity(root / "annotations" / "covid-severity-scores.csv", self.res)
        mask_dir = root / "annotations" / "lungVAE-masks"
        self.masks = {m.name[: -len("_mask.png")]: m for m in mask_dir.glob("*_mask.png")} if mask_dir.is_dir() else {}
        self.label_rows: dict[str, list[tuple]] = {}
        self.bad_findings: dict[str, str] = {}
        self.listings: dict = {}
        self.base_seen: dict[str, int] = {}
        self.sessions_seen: set[str] = set()
        self.subjects = _Subjects()
        self.raw_views: Counter = Counter()
        self.kept_views: Counter = Counter()
        self.n_rows = self.n_present_all = self.n_present = 0

    def run(self, columns: list[str], batches) -> SourceResult:
        columns = [c.strip() for c in columns]
        require_columns(pd.DataFrame(columns=columns), REQUIRED, self.meta_csv)
        folder = SpoolFolder()
        # images are rewritten by Bank.add (their paths made relative): spooled without dictionaries, cheaper
        # both ways; the other tables are copied into the bank as they are, so written as the bank keeps them
        spools = {name: TableSpool(name, folder.path / f"{name}.parquet", **({"use_dictionary": False} if name == "images" else {}))
                  for name in ("images", "labels", "sessions", "subjects")}
        try:
            for raw in batches:
                raw.columns = [c.strip() for c in raw.columns]
                self._batch(raw, spools)
            for df in self.subjects.frames(self.version, BATCH_ROWS):
                spools["subjects"].write(df)
            for s in spools.values():
                s.close()
        except BaseException:
            for s in spools.values():
                s.close()
            folder.cleanup()
            raise
        res = self.res
        res.tables = TableMap({name: s.table(owner=folder) if s.rows else conform(pd.DataFrame(), name)
                               for name, s in spools.items()})
        n_rows, records = self.n_rows, spools["images"].rows
        raw_views, kept_views = self.raw_views, self.kept_views
        res.meta = {
            "path": str(self.meta_csv.resolve()),
            "version": self.version,
            "rows": n_rows,
            "records": records,
            "files_present": self.n_present,
            "files_present_all_rows": self.n_present_all,
            "views_all_rows": dict(raw_views),
            "views_records": dict(kept_views),
            "notes": [
                f"metadata.csv: {n_rows} rows, {records} image records kept, {n_rows - records} skipped",
                f"files present: {self.n_present} of {records} records ({self.n_present_all} of all {n_rows} rows, skipped rows included)",
                "views, all rows: " + ", ".join(f"{k} {v}" for k, v in raw_views.most_common()),
                "views, kept records: " + ", ".join(f"{k} {v}" for k, v in kept_views.most_common()),
            ],
        }
        return res

    def _batch(self, raw: pd.DataFrame, spools: dict[str, TableSpool]) -> None:
        """Normalize one batch of rows and append its rows of the four tables."""
        raw = raw.reset_index(drop=True)
        n = len(raw)
        row0 = self.n_rows
        self.n_rows += n
        paths_all, present_all = _paths(raw, self.root, self.listings)
        self.n_present_all += int(present_all.sum())
        for k, v in map_unique(raw["view"], _view).value_counts(sort=False).items():
            self.raw_views[k] += int(v)
        rowno = pd.Series(np.arange(n) + row0 + 2, index=raw.index)
        finding = raw["finding"].str.strip()
        pid = raw["patientid"].str.strip()
        fname = raw["filename"].str.strip()
        reason = pd.Series(None, index=raw.index, dtype=object)
        skipf = finding.str.lower().isin(SKIP_FINDINGS)
        reason[skipf] = finding[skipf].map(lambda f: f"finding is {f!r}: no label yet")
        reason[~skipf & (pid == "")] = "empty patientid"
        reason[reason.isna() & (fname == "")] = "empty filename"
        # findings -> (leaves, expanded labels), once per distinct finding of the whole table; a
        # finding the vocabulary cannot take skips its rows (as one bad row would)
        tree = self.tree
        for f in pd.unique(finding[reason.isna()]):
            if f in self.label_rows:
                continue
            if f not in self.bad_findings:
                try:
                    leaves = parse_finding(f, tree)
                    values = tree.expand({leaf: POSITIVE for leaf in leaves})
                    self.label_rows[f] = [(lab, tree.cui(lab), v, "source" if lab in leaves else "implied")
                                          for lab, v in values.items()]
                    continue
                except Exception as e:  # noqa: BLE001 - one bad value never stops the load
                    self.bad_findings[f] = f"unreadable row: {e.__class__.__name__}: {e}"
            reason[reason.isna() & (finding == f)] = self.bad_findings[f]
        bad = reason.notna()
        if bad.any():
            self.res.skip_many((f"row {i}" for i in rowno[bad]), self.meta_csv, reason[bad].tolist())
        keep = ~bad.to_numpy()
        used = [c for c in raw.columns if c in _USED]
        r = raw.loc[keep, used].reset_index(drop=True)
        del raw
        finding, pid, fname = finding[keep].reset_index(drop=True), pid[keep].reset_index(drop=True), fname[keep].reset_index(drop=True)
        paths, present = paths_all[keep].reset_index(drop=True), present_all[keep].reset_index(drop=True)
        self.n_present += int(present.sum())
        folder = _folders(r)
        subject_id = NAME + ":" + pid
        offset = map_unique(_col(r, "offset"), to_float, "Float64")
        off_txt = map_unique(offset.astype(object).where(offset.notna(), None), lambda v: None if v is None else f"d{v:g}", "string")
        date = map_unique(_col(r, "date"), _clean, "string")
        ses_key = pid + "/" + off_txt.where(off_txt.notna(), date.where(date.notna(), fname))
        session_id = NAME + ":" + ses_key
        image_id = NAME + ":" + self._unique_names(folder + "/" + fname)
        sex = map_unique(_col(r, "sex"), _sex, "string")
        age = map_unique(_col(r, "age"), parse_age, "Float64")
        modality = map_unique(r["modality"], _modality, "string")
        view = map_unique(r["view"], _view, "string")
        for k, v in view.value_counts(sort=False, dropna=False).items():
            self.kept_views[k] += int(v)

        self.subjects.update(subject_id, sex, age, (offset <= 0).fillna(False).astype(bool),
                             map_unique(_col(r, "survival"), parse_bool, "boolean"))

        # sessions: the first row of each, across batches
        first = ~session_id.duplicated().to_numpy()
        seen = self.sessions_seen
        if seen:  # a list of Python strings, looked up in C (iterating the Arrow column boxes each value)
            first &= ~np.fromiter(map(seen.__contains__, session_id.tolist()), dtype=bool, count=len(session_id))
        seen.update(session_id[first].tolist())
        f = lambda s: s[first].reset_index(drop=True)
        spools["sessions"].write(pd.DataFrame({
            "session_id": f(session_id), "subject_id": f(subject_id), "original_id": f(ses_key),
            "offset_days": f(offset), "date": f(date), "modality": f(modality),
            "intubated": f(map_unique(_col(r, "intubated"), parse_bool, "boolean")),
            "intubation_present": f(map_unique(_col(r, "intubation_present"), parse_bool, "boolean")),
            "went_icu": f(map_unique(_col(r, "went_icu"), parse_bool, "boolean")),
            "in_icu": f(map_unique(_col(r, "in_icu"), parse_bool, "boolean")),
            "needed_supplemental_o2": f(map_unique(first_nonempty(r, "needed_supplemental_O2", "needed_supplemental_o2"), parse_bool, "boolean")),
            "extubated": f(map_unique(_col(r, "extubated"), parse_bool, "boolean")),
            "temperature": f(map_unique(_col(r, "temperature"), to_float, "Float64")),
            "po2_saturation": f(map_unique(first_nonempty(r, "pO2_saturation", "pO2 saturation"), to_float, "Float64")),
            "leukocyte_count": f(map_unique(first_nonempty(r, "leukocyte_count", "wbc count", "wbc_count"), to_float, "Float64")),
            "neutrophil_count": f(map_unique(first_nonempty(r, "neutrophil_count", "neutrophil count"), to_float, "Float64")),
            "lymphocyte_count": f(map_unique(first_nonempty(r, "lymphocyte_count", "lymphocyte count"), to_float, "Float64")),
            "clinical_notes": f(map_unique(first_nonempty(r, "clinical_notes", "clinical notes"), _clean, "string")),
            "location": f(map_unique(_col(r, "location"), _clean, "string")),
        }).assign(source=_text(NAME, int(first.sum())), source_version=_text(self.version, int(first.sum()))))

        lic_raw = map_unique(_col(r, "license"), _clean, "string")
        masks, severity = self.masks, self.severity
        mask = map_unique(fname, lambda fn: _mask_path(masks, fn), "string") if masks else _text(None, len(r))
        sev = fname.map(severity) if severity else pd.Series(None, index=r.index, dtype=object)
        has_sev = sev.notna()
        spools["images"].write(pd.DataFrame({
            "image_id": image_id, "session_id": session_id, "subject_id": subject_id, "source_version": _text(self.version, len(r)),
            "original_id": fname, "modality": modality, "view": view, "sex": sex, "age": age, "offset_days": offset,
            "path": paths, "file_present": present, "file_format": _file_format(fname),
            "license": map_unique(lic_raw, normalize_license, "string"), "license_raw": lic_raw,
            "doi": map_unique(_col(r, "doi"), _clean, "string"), "url": map_unique(_col(r, "url"), _clean, "string"),
            "mask_path": mask, "mask_kind": mask.where(mask.isna(), "lung"),
            "severity_geographic_extent": pd.array([s[0] if h else None for s, h in zip(sev, has_sev)], dtype="Float64")
            if has_sev.any() else pd.Series(pd.NA, index=r.index, dtype="Float64"),
            "severity_opacity": pd.array([s[1] if h else None for s, h in zip(sev, has_sev)], dtype="Float64")
            if has_sev.any() else pd.Series(pd.NA, index=r.index, dtype="Float64"),
        }).assign(source=_text(NAME, len(r))))

        # labels: each image's finding expanded, in the image's order
        codes, uniq = pd.factorize(finding)
        per = [self.label_rows[u] for u in uniq]
        counts = np.array([len(x) for x in per], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(counts) else np.zeros(0, dtype=np.int64)
        flat = [t for x in per for t in x]
        reps = counts[codes] if len(codes) else np.zeros(0, dtype=np.int64)
        img_idx = np.repeat(np.arange(len(r)), reps)
        within = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
        lab_idx = np.repeat(starts[codes], reps) + within if len(codes) else np.zeros(0, dtype=np.int64)
        cols = list(zip(*flat)) if flat else [(), (), (), ()]
        take = lambda i, dt: pd.array(list(cols[i]), dtype=dt).take(lab_idx)
        spools["labels"].write(pd.DataFrame({
            "image_id": image_id.array.take(img_idx), "label": take(0, "string"), "cui": take(1, "string"),
            "value": take(2, "Int8"), "origin": take(3, "string"),
        }).assign(source=_text(NAME, len(img_idx))))

    def _unique_names(self, base_id: pd.Series) -> pd.Series:
        """``folder/file``, with ``#2``, ``#3`` ... on its later rows when the same name repeats (across batches)."""
        seen = self.base_seen
        keys = base_id.tolist()  # Python strings, looked up in C (iterating the Arrow column boxes each value)
        if not base_id.duplicated().any():  # each name once in the batch (the usual case): no grouping
            nth = pd.Series(np.fromiter(map(seen.get, keys, repeat(0)), dtype=np.int64, count=len(keys)) + 1
                            if seen else np.ones(len(keys), dtype=np.int64), index=base_id.index)
            seen.update(zip(keys, nth.tolist()))
        else:
            nth = base_id.groupby(base_id, sort=False).cumcount() + 1
            if seen:
                nth += np.fromiter(map(seen.get, keys, repeat(0)), dtype=np.int64, count=len(keys))
            last = nth.groupby(base_id, sort=False).max()
            seen.update(zip(last.index.tolist(), last.to_numpy().tolist()))
        later = (nth > 1).to_numpy()
        if not later.any():
            return base_id
        out = base_id.copy()
        out[later] = base_id[later] + "#" + nth[later].astype(str)
        return out


def _load_severity(path: Path, res: SourceResult) -> dict[str, tuple[float | None, float | None]]:
    """Read the severity scores CSV (comment lines start with ``#``)."""
    df = read_side_table(path, res, "severity scores", comment="#")
    if df is None:
        return {}
    if not {"filename", "geographic_mean", "opacity_mean"} <= set(df.columns):
        res.skip("severity scores", path, "missing columns filename, geographic_mean, opacity_mean")
        return {}
    return {str(r.filename).strip(): (to_float(r.geographic_mean), to_float(r.opacity_mean)) for r in df.itertuples()}
