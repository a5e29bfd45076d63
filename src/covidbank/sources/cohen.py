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
import pyarrow as pa
import pyarrow.compute as pc

from collections.abc import Iterator
from functools import lru_cache

from ..errors import SourceFormatError
from ..labels import COHEN_FLAT_FINDINGS, LabelTree, default_tree
from ..schema import POSITIVE, conform, normalize_view
from ..spool import SpoolFolder, TableSpool
from .base import (
    BATCH_ROWS,
    SourceResult,
    TableMap,
    first_nonempty,
    one_chunk,
    map_unique,
    stream_text_table,
    normalize_license,
    parse_age,
    parse_bool,
    read_side_table,
    require_columns,
    to_float,
    trimmed_names,
    unreadable_row,
)

__all__ = ["load", "parse_finding", "NAME"]

NAME = "cohen"
#: Arrow type of the text the adapter builds: the bank's (``DataFrame.to_parquet`` of the schema's ``string``), so
#: nothing is cast when the tables are written (``stream_text_table(arrow=True)`` reads it).
_TEXT = pa.large_string()
REQUIRED = ["patientid", "finding", "view", "modality", "filename"]
SKIP_FINDINGS = {"todo", "unknown", ""}
#: The reason stored for their rows (fixed: never the input's spelling).
SKIP_UNLABELLED = "finding not labelled yet (todo, unknown or empty)"


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
        batch by batch; ``images`` of a table of one batch is held in memory,
        as :meth:`Bank.add` rewrites it anyway), so memory is bounded by the
        batch plus one entry per image, session and subject seen (for the
        identifiers that must be unique across batches).  The result does not
        depend on it.

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
        return stream_text_table(meta_csv, consume, rows=max(1, int(batch_rows)), arrow=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, OSError) as e:
        raise SourceFormatError(f"{meta_csv}: unreadable CSV ({e.__class__.__name__}: {e})") from None


#: The columns the adapter reads (the others, such as ``other_notes``, are not copied).
_USED = {"patientid", "offset", "sex", "age", "finding", "survival", "intubated", "intubation_present", "went_icu",
         "in_icu", "needed_supplemental_O2", "needed_supplemental_o2", "extubated", "temperature", "pO2_saturation",
         "pO2 saturation", "leukocyte_count", "wbc count", "wbc_count", "neutrophil_count", "neutrophil count",
         "lymphocyte_count", "lymphocyte count", "view", "modality", "date", "location", "folder", "filename", "doi",
         "url", "license", "clinical_notes", "clinical notes"}


def _strip(values: pa.Array) -> pa.Array:
    """``str.strip()`` of every value: Arrow's Unicode whitespace is Python's (every code point checked in the tests)."""
    return pc.utf8_trim_whitespace(values)


def _clean_arrow(values: pa.Array) -> pa.DictionaryArray:
    """:func:`_clean` of every value (stripped, missing when empty, ``?`` or ``nan``), done on the distinct
    values: a ``DictionaryArray`` (filtering or taking it moves indices only; a cast decodes it)."""
    enc = values if isinstance(values, pa.DictionaryArray) else pc.dictionary_encode(values)
    s = _strip(enc.dictionary)
    s = pc.if_else(pc.is_in(s, value_set=pa.array(["", "?", "nan"], s.type)), pa.scalar(None, s.type), s)
    return pa.DictionaryArray.from_arrays(enc.indices, s)


def _dense(values: pa.Array) -> pa.Array:
    """A ``DictionaryArray`` decoded (its values taken); any other array as it is."""
    return values.dictionary.take(values.indices) if isinstance(values, pa.DictionaryArray) else values


def _in_order(values: pa.DictionaryArray) -> list[tuple[object, int]]:
    """``(value, rows)`` of each distinct decoded value, in order of first appearance (``value_counts(sort=False)``)."""
    u, first, counts = np.unique(values.indices.to_numpy(zero_copy_only=False), return_index=True, return_counts=True)
    vals = values.dictionary.to_pylist()
    out: dict = {}
    for i in np.argsort(first, kind="stable").tolist():
        v = vals[u[i]]
        out[v] = out.get(v, 0) + int(counts[i])
    return list(out.items())


def _prefixed(prefix: str, values: pa.Array) -> pa.Array:
    """``prefix + value`` for every value."""
    return pc.binary_join_element_wise(pa.scalar(prefix, values.type), values, pa.scalar("", values.type))


def _paths(folders: pa.DictionaryArray, names: pa.Array, root: Path, listings: dict) -> tuple[pa.Array, np.ndarray]:
    """Resolved path and presence of every row's file (``folders`` and ``names`` stripped).

    Each folder is resolved and listed once per load (``listings`` keeps the
    listing across batches; a per-row ``resolve()`` and ``is_file()`` costs
    two system calls per component; a million rows took seconds); a name that
    is empty, a symbolic link or holds a ``/`` falls back to the per-file
    calls so the result is the one ``Path.resolve`` gives.
    """
    enc = folders
    codes = enc.indices.to_numpy()
    prefixes = []
    present = np.zeros(len(names), dtype=bool)
    odd = pc.or_(pc.equal(names, ""), pc.match_substring(names, "/")).to_numpy(zero_copy_only=False)
    if os.sep != "/":
        odd |= pc.match_substring(names, os.sep).to_numpy(zero_copy_only=False)
    folder_names = enc.dictionary.to_pylist()
    for j, folder in enumerate(folder_names):
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
            listings[folder] = (d, pa.array(sorted(files), _TEXT), pa.array(sorted(links) + [".", ".."], _TEXT))
        d, files, odd_names = listings[folder]
        prefixes.append(str(d) + os.sep)
        if len(folder_names) == 1:  # the only folder (the usual table): whole columns
            odd |= pc.is_in(names, value_set=odd_names).to_numpy(zero_copy_only=False)
            present = pc.is_in(names, value_set=files).to_numpy(zero_copy_only=False) & ~odd
        else:
            rows = np.flatnonzero(codes == j)
            sub = names.take(pa.array(rows))
            odd[rows] |= pc.is_in(sub, value_set=odd_names).to_numpy(zero_copy_only=False)
            present[rows] = pc.is_in(sub, value_set=files).to_numpy(zero_copy_only=False) & ~odd[rows]
    # the most common folder joined as a scalar (no column of prefixes), the other folders' rows replaced
    top = int(np.bincount(codes, minlength=len(prefixes)).argmax())
    paths = pc.binary_join_element_wise(pa.scalar(prefixes[top], _TEXT), names, pa.scalar("", _TEXT))
    if len(prefixes) > 1 and (codes != top).any():
        other = np.flatnonzero(codes != top)
        paths = pc.replace_with_mask(paths, pa.array(codes != top), pc.binary_join_element_wise(
            pa.array(prefixes, _TEXT).take(pa.array(codes[other])), names.take(pa.array(other)), pa.scalar("", _TEXT)))
    if odd.any():
        rows = np.flatnonzero(odd)
        resolved = []
        for i, folder, name in zip(rows.tolist(), folders.take(pa.array(rows)).to_pylist(), names.take(pa.array(rows)).to_pylist()):
            fp = (root / folder / name).resolve()
            resolved.append(str(fp))
            present[i] = fp.is_file()
        paths = pc.replace_with_mask(paths, pa.array(odd), pa.array(resolved, _TEXT))
    return paths, present


def _after_last(values: pa.Array, sep: str) -> tuple[pa.Array, pa.Array]:
    """The text after the last ``sep`` of each value (the whole value when it has none), and whether it has one."""
    parts = pc.split_pattern(values, sep, max_splits=1, reverse=True)
    ends = pc.subtract(parts.offsets.slice(1), 1)  # each list's last element in the flattened values
    return parts.flatten().take(ends), pc.equal(pc.list_value_length(parts), 2)


def _file_format(names: pa.Array) -> pa.Array:
    """``nifti`` for ``.nii``/``.nii.gz``, else the suffix (``jpg`` -> ``jpeg``), or None (vectorized).

    The suffix is the one ``Path(name).suffix`` gives: the text after the last
    dot of the last component, leading dots (hidden files) not counting.
    """
    lower = pc.utf8_lower(names)
    last = pc.utf8_ltrim(_after_last(lower, "/")[0], ".")
    ext, dotted = _after_last(last, ".")
    ext = pc.if_else(dotted, ext, pa.scalar("", last.type))
    ext = pc.replace_substring(ext, "jpg", "jpeg")
    ext = pc.if_else(pc.equal(ext, ""), pa.scalar(None, ext.type), ext)
    nifti = pc.or_(pc.ends_with(lower, ".nii"), pc.ends_with(lower, ".nii.gz"))
    return pc.if_else(nifti, pa.scalar("nifti", ext.type), ext)


def _repeat(value: object, n: int) -> pa.Array:
    """``n`` times the same text (``str`` of a value that is not one), or ``n`` missing values."""
    return pa.nulls(n, _TEXT) if value is None else pa.repeat(pa.scalar(str(value), _TEXT), n)


@lru_cache(maxsize=None)
def _spool_schema(name: str) -> pa.Schema:
    """The Arrow schema (pandas metadata included) ``DataFrame.to_parquet`` gives the conformed rows of ``name``."""
    return pa.Table.from_pandas(conform(pd.DataFrame(), name), preserve_index=False).schema


def _arrow_table(name: str, columns: dict[str, pa.Array], n: int) -> pa.Table:
    """A table of the schema ``name`` from ``columns`` (the others missing), cast to the spooled schema."""
    schema = _spool_schema(name)
    arrays = [pa.nulls(n, f.type) if f.name not in columns else columns[f.name] if columns[f.name].type == f.type
              else pc.cast(columns[f.name], f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


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

    _SEX = pa.array([None, "M", "F"], _TEXT)

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

    def update(self, subject_id: pa.Array, sex: pa.Array, age: pa.Array, early: np.ndarray, survival: pa.Array) -> None:
        """Merge one batch's kept rows (Arrow arrays; ``early``: the rows of a study at day <= 0)."""
        if not len(subject_id):
            return
        enc = pc.dictionary_encode(subject_id)  # groups in order of first appearance, as groupby(sort=False)
        codes = enc.indices.to_numpy()
        keys = enc.dictionary.to_pylist()
        g = len(keys)
        sd = sex if isinstance(sex, pa.DictionaryArray) else pc.dictionary_encode(sex)
        sexc = np.array([{"M": 1, "F": 2}.get(v, 0) for v in sd.dictionary.to_pylist()] + [0],
                        dtype=np.int8)[pc.fill_null(sd.indices, len(sd.dictionary)).to_numpy()]
        ages = np.asarray(_dense(age).to_numpy(zero_copy_only=False), dtype="float64")

        def first_of(values: np.ndarray, known: np.ndarray, empty: object) -> np.ndarray:
            """Each group's first known value (``empty`` where none)."""
            out = np.full(g, empty, dtype=values.dtype)
            rows = np.flatnonzero(known)
            grp, first = np.unique(codes[rows], return_index=True)
            out[grp] = values[rows[first]]
            return out

        b_sex = first_of(sexc, sexc != 0, 0)
        b_age = first_of(ages, ~np.isnan(ages), np.nan)
        b_early = np.full(g, np.nan)
        rows = np.flatnonzero(early & ~np.isnan(ages))
        np.fmin.at(b_early, codes[rows], ages[rows])
        b_sn = np.bincount(codes, weights=survival.is_valid().to_numpy(zero_copy_only=False), minlength=g).astype(np.int64)
        b_sa = np.bincount(codes, weights=~pc.fill_null(survival, True).to_numpy(zero_copy_only=False), minlength=g) == 0
        if self.slot.keys().isdisjoint(keys):  # every subject new (the usual batch): the next slots, in order
            slots = np.arange(len(self.ids), len(self.ids) + g)
            self.slot.update(zip(keys, range(len(self.ids), len(self.ids) + g)))
            self.ids.extend(keys)
            new = np.zeros(0, dtype=np.int64)
        else:
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

    def tables(self, version: str | None, rows: int) -> Iterator[pa.Table]:
        """The ``subjects`` table, ``rows`` rows at a time (Arrow tables of the spooled schema)."""
        prefix = len(NAME) + 1
        for a in range(0, len(self.ids), rows):
            b = min(len(self.ids), a + rows)
            ids = pa.array(self.ids[a:b], _TEXT)
            age = np.fmin(self.first_age[a:b], self.early_min[a:b])
            yield _arrow_table("subjects", {
                "subject_id": ids, "original_id": pc.utf8_slice_codeunits(ids, prefix),
                "sex": pa.DictionaryArray.from_arrays(pa.array(self.sex[a:b]), self._SEX),
                "age": pa.array(age, pa.float64(), mask=np.isnan(age)),
                "survival": pa.array(self.surv_all[a:b], pa.bool_(), mask=self.surv_n[a:b] == 0),
                "source": _repeat(NAME, b - a), "source_version": _repeat(version, b - a),
            }, b - a)


class _Loader:
    """One streaming pass over ``metadata.csv``: every batch normalized column by column and spooled.

    A batch is an Arrow table of text and stays Arrow (``pyarrow.compute``; no
    pandas frame): the tables are built in the schema the bank writes
    (:func:`_arrow_table`) and spooled as they are.  Cross-batch state is one
    entry per distinct finding, folder, image name, session and subject; the
    per-value parsers (ages, yes/no, licenses, views, findings) run once per
    distinct value of a batch (:func:`map_unique`).
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
        self.base_seen: set[str] = set()  # image names seen (Python sets: C-level unions and disjointness tests)
        self.base_repeats: dict[str, int] = {}  # the names seen more than once: how many times
        self.sessions_seen: set[str] = set()
        # the first batch's sessions (each once), as Arrow text: made Python objects in sessions_seen only
        # when a second batch comes (a table of one batch never needs them)
        self.first_sessions: pa.Array | None = None
        self.subjects = _Subjects()
        self.raw_views: Counter = Counter()
        self.kept_views: Counter = Counter()
        self.n_rows = self.n_present_all = self.n_present = 0

    def run(self, columns: list[str], batches) -> SourceResult:
        columns = trimmed_names(columns, self.meta_csv)
        require_columns(pd.DataFrame(columns=columns), REQUIRED, self.meta_csv)
        folder = SpoolFolder()
        # images are rewritten by Bank.add (their paths made relative): spooled without dictionaries or
        # statistics and with LZ4 (read back in 0.7 of snappy's time, 5 % larger), and a table of one batch
        # not at all (held in memory); the other tables are copied into the bank as they are, so written as
        # the bank keeps them
        cheap = {"use_dictionary": False, "write_statistics": False, "compression": "lz4", "hold_first": True}
        spools = {name: TableSpool(name, folder.path / f"{name}.parquet", **(cheap if name == "images" else {}))
                  for name in ("images", "labels", "sessions", "subjects")}
        try:
            for raw in batches:
                # handed over in a list _batch empties: it holds the batch's only reference, so the raw
                # columns are freed once the images are built, not kept until the batch ends
                held = [raw.rename_columns(trimmed_names(raw.column_names, self.meta_csv))]
                del raw
                self._batch(held, spools)
            for t in self.subjects.tables(self.version, BATCH_ROWS):
                spools["subjects"].write_arrow(t)
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

    def _batch(self, held: list[pa.Table], spools: dict[str, TableSpool]) -> None:
        """Normalize one batch of rows (an Arrow table of text, the one item of ``held``, which is emptied)
        and append its rows of the four tables.

        Columns of few distinct values are normalized on their distinct values and kept as dictionary
        arrays until written (:func:`map_unique` with ``dictionary=True``), so dropping skipped rows and
        taking each session's first row move indices, not text.  Each of the batch's text columns is let go
        once it is normalized, and the labels are written before the images are built.
        """
        raw = held.pop()
        n = raw.num_rows
        if not n:  # a batch of no rows (pandas' reader gives one for a header without a line end): nothing to add
            return
        # the columns read (_USED), each taken out of `cols` where it is used: its text is freed as soon as
        # it is normalized, not kept until the batch ends (at 100k rows the raw text is 45 MB)
        # (a name repeated in the header: its first column, as pandas reads it)
        cols: dict[str, pa.Array] = {name: one_chunk(raw.column(i)) for i, name in reversed(list(enumerate(raw.column_names)))
                                     if name in _USED}
        del raw
        row0 = self.n_rows
        self.n_rows += n
        folders = (map_unique(cols.pop("folder"), lambda f: (f or "images").strip(), _TEXT, dictionary=True) if "folder" in cols
                   else pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array(["images"], _TEXT)))
        fname = _strip(cols.pop("filename"))
        paths, present = _paths(folders, fname, self.root, self.listings)
        self.n_present_all += int(present.sum())
        views = map_unique(cols.pop("view"), _view, _TEXT, dictionary=True)
        for k, v in _in_order(views):
            self.raw_views[k] += v
        fenc = pc.dictionary_encode(cols.pop("finding"))
        fvals = _strip(fenc.dictionary)
        fcodes = fenc.indices.to_numpy()
        fskip = pc.is_in(pc.utf8_lower(fvals), value_set=pa.array(sorted(SKIP_FINDINGS), _TEXT)).to_numpy(zero_copy_only=False)
        fvals = fvals.to_pylist()
        pid = _strip(cols.pop("patientid"))
        reason = np.full(n, None, dtype=object)
        bad = fskip[fcodes]
        if bad.any():
            reason[bad] = SKIP_UNLABELLED  # a fixed reason: never the input's spelling of the finding
        empty = pc.equal(pid, "").to_numpy(zero_copy_only=False) & ~bad
        reason[empty], bad = "empty patientid", bad | empty
        empty = pc.equal(fname, "").to_numpy(zero_copy_only=False) & ~bad
        reason[empty], bad = "empty filename", bad | empty
        # findings -> (leaves, expanded labels), once per distinct finding of the whole table, in order of
        # first appearance among the rows kept so far; a finding the vocabulary cannot take skips its rows
        tree = self.tree
        ok = np.flatnonzero(~bad)
        codes, first = np.unique(fcodes[ok], return_index=True)
        for c in codes[np.argsort(first, kind="stable")].tolist():
            f = fvals[c]
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
                    self.bad_findings[f] = unreadable_row(e)
            hit = (fcodes == c) & ~bad
            reason[hit], bad = self.bad_findings[f], bad | hit
        if bad.any():
            rows = np.flatnonzero(bad)
            self.res.skip_many((f"row {i}" for i in (rows + row0 + 2).tolist()), self.meta_csv, reason[rows].tolist())
            keep = pa.array(~bad)
            kept = lambda a: a.filter(keep)  # noqa: E731
            present, fcodes = present[~bad], fcodes[~bad]
        else:
            kept = lambda a: a  # noqa: E731
        m = n - int(bad.sum())
        if not m:
            return
        del reason, bad
        self.n_present += int(present.sum())
        col = lambda name: cols.pop(name) if name in cols else pa.repeat(pa.scalar("", _TEXT), n)  # noqa: E731

        def taken_first(*names: str) -> pa.Array:
            """:func:`first_nonempty` of the columns ``names``, which are taken out of ``cols`` ("" when the
            table has none of them: ``cols`` may be empty by then, the columns read before taken out)."""
            if not any(name in cols for name in names):
                return pa.repeat(pa.scalar("", _TEXT), n)
            out = first_nonempty(cols, *names)
            for name in names:
                cols.pop(name, None)
            return out

        pid, fname, folders, paths, views = kept(pid), kept(fname), kept(folders), kept(paths), kept(views)
        subject_id = _prefixed(NAME + ":", pid)
        offset = kept(map_unique(col("offset"), to_float, pa.float64(), dictionary=True))
        values = offset.dictionary.to_pylist()
        texts = [None if v is None else f"d{v:g}" for v in values]
        zeros = [i for i, v in enumerate(values) if v == 0]
        if len({texts[i] for i in zeros}) > 1:  # 0 and -0 are one value: the text of the first row's
            idx = offset.indices.to_numpy()
            rows0 = np.flatnonzero(np.isin(idx, zeros))  # kept rows at day 0 (the dictionary holds skipped rows' too)
            if len(rows0):
                texts0 = texts[idx[rows0[0]]]
                for i in zeros:
                    texts[i] = texts0
        off_txt = pa.array(texts, _TEXT).take(offset.indices)
        offset = _dense(offset)
        date = kept(_clean_arrow(col("date")))
        slash = pa.scalar("/", _TEXT)
        ses_key = pc.binary_join_element_wise(pid, pc.coalesce(off_txt, _dense(date), fname), slash)
        session_id = _prefixed(NAME + ":", ses_key)
        image_id = _prefixed(NAME + ":", self._unique_names(pc.binary_join_element_wise(_dense(folders), fname, slash)))
        sex = kept(map_unique(col("sex"), _sex, _TEXT, dictionary=True))
        age = kept(map_unique(col("age"), parse_age, pa.float64()))
        modality = kept(map_unique(cols.pop("modality"), _modality, _TEXT, dictionary=True))
        for k, v in _in_order(views):
            self.kept_views[k] += v
        self.subjects.update(subject_id, sex, age, pc.fill_null(pc.less_equal(offset, 0), False).to_numpy(zero_copy_only=False),
                             kept(map_unique(col("survival"), parse_bool, pa.bool_())))

        # sessions: the first row of each, across batches
        enc = pc.dictionary_encode(session_id)
        codes = enc.indices.to_numpy()  # numbered in order of first appearance: a row is a session's first
        first = np.empty(m, dtype=bool)  # when its number exceeds every number before it
        first[0] = True
        first[1:] = codes[1:] > np.maximum.accumulate(codes)[:-1]
        seen = self.sessions_seen
        if self.first_sessions is not None:
            seen |= set(self.first_sessions.to_pylist())
            self.first_sessions = None
        if not seen:  # no session seen before (the first batch)
            self.first_sessions = enc.dictionary
        else:
            keys = enc.dictionary.to_pylist()  # Python strings, looked up in C
            fresh = set(keys)
            if not seen.isdisjoint(fresh):  # some session began in an earlier batch
                first &= ~np.fromiter(map(seen.__contains__, keys), dtype=bool, count=len(keys))[codes]
            seen |= fresh
        k = int(first.sum())
        take = pa.array(np.flatnonzero(first)) if k < m else None
        f = (lambda a: a) if take is None else (lambda a: a.take(take))  # noqa: E731
        fm = lambda a, fn, typ: f(kept(map_unique(a, fn, typ)))  # noqa: E731
        spools["sessions"].write_arrow(_arrow_table("sessions", {
            "session_id": f(session_id), "subject_id": f(subject_id), "source": _repeat(NAME, k),
            "source_version": _repeat(self.version, k), "original_id": f(ses_key), "offset_days": f(offset), "date": f(date),
            "modality": f(modality),
            **{c: fm(col(c), parse_bool, pa.bool_()) for c in ("intubated", "intubation_present", "went_icu", "in_icu")},
            "needed_supplemental_o2": fm(taken_first("needed_supplemental_O2", "needed_supplemental_o2"), parse_bool, pa.bool_()),
            "extubated": fm(col("extubated"), parse_bool, pa.bool_()),
            "temperature": fm(col("temperature"), to_float, pa.float64()),
            "po2_saturation": fm(taken_first("pO2_saturation", "pO2 saturation"), to_float, pa.float64()),
            "leukocyte_count": fm(taken_first("leukocyte_count", "wbc count", "wbc_count"), to_float, pa.float64()),
            "neutrophil_count": fm(taken_first("neutrophil_count", "neutrophil count"), to_float, pa.float64()),
            "lymphocyte_count": fm(taken_first("lymphocyte_count", "lymphocyte count"), to_float, pa.float64()),
            "clinical_notes": f(kept(_clean_arrow(taken_first("clinical_notes", "clinical notes")))),
            "location": f(kept(_clean_arrow(col("location")))),
        }, k))

        # labels: each image's finding expanded, in the image's order; written before the images are built, so
        # the labels' table and the images' (held in memory for a table of one batch) are not in memory at once
        per = [self.label_rows.get(u, []) for u in fvals]
        counts = np.array([len(x) for x in per], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        flat = [t for x in per for t in x]
        reps = counts[fcodes]
        img_idx = np.repeat(np.arange(m), reps)
        within = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
        lab_idx = pa.array(np.repeat(starts[fcodes], reps) + within)
        label, cui, value, origin = (list(c) for c in zip(*flat)) if flat else ([], [], [], [])
        spools["labels"].write_arrow(_arrow_table("labels", {
            "image_id": image_id.take(pa.array(img_idx)), "source": _repeat(NAME, len(img_idx)),
            "label": pa.array(label, _TEXT).take(lab_idx), "cui": pa.array(cui, _TEXT).take(lab_idx),
            "value": pa.array(value, pa.int8()).take(lab_idx), "origin": pa.array(origin, _TEXT).take(lab_idx),
        }, len(img_idx)))
        del per, flat, label, cui, value, origin, img_idx, within, lab_idx

        lic_raw = kept(_clean_arrow(col("license")))
        masks, severity = self.masks, self.severity
        mask = map_unique(fname, lambda fn: _mask_path(masks, fn), _TEXT) if masks else pa.nulls(m, _TEXT)
        images = {
            "image_id": image_id, "session_id": session_id, "subject_id": subject_id, "source": _repeat(NAME, m),
            "source_version": _repeat(self.version, m), "original_id": fname, "modality": modality, "view": views, "sex": sex,
            "age": age, "offset_days": offset, "path": paths, "file_present": pa.array(present), "file_format": _file_format(fname),
            "license": map_unique(lic_raw, normalize_license, _TEXT, dictionary=True), "license_raw": lic_raw,
            "doi": kept(_clean_arrow(col("doi"))), "url": kept(_clean_arrow(col("url"))),
            "mask_path": mask, "mask_kind": pc.if_else(pc.is_valid(mask), pa.scalar("lung", _TEXT), pa.scalar(None, _TEXT)),
        }
        if severity:
            at = pc.index_in(fname, value_set=pa.array(list(severity), _TEXT))
            for i, c in enumerate(("severity_geographic_extent", "severity_opacity")):
                images[c] = pa.array([s[i] for s in severity.values()], pa.float64()).take(at)
        spools["images"].write_arrow(_arrow_table("images", images, m))
        del cols, images, lic_raw, mask

    def _unique_names(self, base_id: pa.Array) -> pa.Array:
        """``folder/file``, with ``#2``, ``#3`` ... on its later rows when the same name repeats (across batches)."""
        seen, repeats = self.base_seen, self.base_repeats
        keys = base_id.to_pylist()  # Python strings, looked up in C
        fresh = set(keys)
        if len(fresh) == len(keys) and seen.isdisjoint(fresh):  # each name once, none seen before (the usual batch)
            seen |= fresh
            return base_id
        nth = np.empty(len(keys), dtype=np.int64)
        for i, k in enumerate(keys):
            if k in seen:
                nth[i] = repeats[k] = repeats.get(k, 1) + 1
            else:
                seen.add(k)
                nth[i] = 1
        later = np.flatnonzero(nth > 1)
        for i in later.tolist():
            keys[i] = f"{keys[i]}#{nth[i]}"
        return pa.array(keys, _TEXT) if len(later) else base_id


def _load_severity(path: Path, res: SourceResult) -> dict[str, tuple[float | None, float | None]]:
    """Read the severity scores CSV (comment lines start with ``#``)."""
    df = read_side_table(path, res, "severity scores", comment="#")
    if df is None:
        return {}
    if not {"filename", "geographic_mean", "opacity_mean"} <= set(df.columns):
        res.skip("severity scores", path, "missing columns filename, geographic_mean, opacity_mean")
        return {}
    return {str(r.filename).strip(): (to_float(r.geographic_mean), to_float(r.opacity_mean)) for r in df.itertuples()}
