"""Read-only access to a bank for the web viewer: search, records, cases, files.

Search, facets and counts are SQL in DuckDB, never a scan of Python objects.
The bank's Parquet index is laid out once into a DuckDB database file in the
viewer's cache folder (outside the bank; rebuilt when a Parquet file of the
index changes, reused across restarts): a ``search`` table in result order
(row number ``rn``, facet combination ``combo``, positive-label set
``labset``), ``images`` and ``labels`` sorted by image id, and pre-aggregated
tables: ``facet_cube`` (image counts per combination of source, modality, view,
sex, CT grade, split, file presence and whole-year age bounds),
``label_cube`` (the same per positive label), ``key_cube`` (the same per label
filter) and ``label_key`` (the rows of each label filter, sorted), and a word
index of the report text (``texts``, ``words``, ``word_texts``, ``text_cube``,
``text_facets``).  A search whose filters are facets, whole-year ages and one
positive label is answered from these whatever the bank's size; a text filter
is looked up in the word index (same rows as the scan it replaces); a text with
no letter or digit, a fractional age or another label value takes one scan of
``search`` per request.  The server opens the file read-only with a memory
limit, so its memory does not grow with the bank; a large bank's file is built
in a child process.  ``covidbank add`` and the other commands that change the
index build the file right after (:meth:`BankStore.prepare`), so the server
finds it and starts in seconds.

Files are only ever looked up by record id: :meth:`BankStore.image_file` and
:meth:`BankStore.mask_file` return the path the index lists for that record,
never a path a client supplied.  A relative path in the index is resolved
against its source's root (:meth:`covidbank.bank.Bank.resolve`) and refused if
it leaves it.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import duckdb
import pandas as pd

from ..bank import Bank
from ..errors import BankError, RecordNotFoundError
from ..fileio import atomic_path
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
#: Facet columns of the search table; a search filtering on these only is answered from ``facet_cube``.
_CUBE = ("source", "modality", "view", "sex", "ct_grade", "split", "file_present")
#: Layout version of the cache database (bump when the tables below change).
_LAYOUT = "10"
#: What separates the words of the viewer's text index (an RE2 class): a word is a run of letters, digits and marks.
_WORD_SEP = r"[^\p{L}\p{N}\p{M}]+"
#: ``text_facets`` (counts per text) is built when the index has at least this many images per distinct text.
_TEXT_FACETS_SHARE = 4
#: Age bounds kept in the cubes are clamped to +-this (NaN ages to the top, as DuckDB orders NaN last).
_AGE_CAP = 1_000_000_000

_log = logging.getLogger(__name__)
#: Indexes with more images than this build the viewer's cache in a child process (``build_process``).
_CHILD_BUILD_ROWS = 200_000
#: Exit status of the child build for a :class:`BankError` (its message is the last line of stderr).
_BUILD_BANK_ERROR = 3


def _age_bound(fn: str) -> str:
    """SQL of ``floor(age)`` or ``ceil(age)`` as a clamped INTEGER (NULL stays NULL)."""
    a = "CAST(age AS DOUBLE)"
    return (f"(CASE WHEN age IS NULL THEN NULL WHEN isnan({a}) THEN {_AGE_CAP} "
            f"ELSE greatest(-{_AGE_CAP}, least({_AGE_CAP}, {fn}({a}))) END)::INTEGER")


def default_index_cache(bank_root: Path) -> Path:
    """Per-bank folder of the viewer's DuckDB cache, ``$XDG_CACHE_HOME/covidbank/web/<hash>/index``."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "covidbank" / "web" / hashlib.sha1(str(bank_root).encode()).hexdigest()[:12] / "index"


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


def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


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
    cache_dir : str or Path, optional
        Folder of the DuckDB cache database (default
        :func:`default_index_cache`; a temporary folder when it is not writable).
    memory_limit : str
        DuckDB memory limit of the server's queries (``"640MB"``: with Python, FastAPI and the page
        templates the server stays under 1 GB); larger work spills to disk.
    build_memory_limit : str
        DuckDB memory limit of the cache build (``"4GB"``; it spills beyond).
    build_threads : int
        DuckDB threads of the cache build.
    build_process : bool, optional
        Build the cache in a child process, so that the server's own memory
        stays that of its queries (default: when the index holds more than
        200,000 images).
    """

    def __init__(self, bank_path: str | os.PathLike, tree: LabelTree | None = None, reload_interval: float = 2.0,
                 cache_dir: str | os.PathLike | None = None, memory_limit: str = "640MB",
                 build_memory_limit: str = "4GB", build_threads: int = 2, build_process: bool | None = None,
                 load: bool = True) -> None:
        self.bank = Bank(bank_path)
        self.root = self.bank.path.resolve()
        self.tree = tree or default_tree()
        self.reload_interval = reload_interval
        self.cache_dir = Path(cache_dir) if cache_dir else default_index_cache(self.root)
        self.memory_limit = memory_limit
        self.build_memory_limit = build_memory_limit
        self.build_threads = build_threads
        self.build_process = build_process
        self._lock = threading.RLock()
        self._checked = 0.0
        self._sig: tuple = ()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._tmpdir: str | None = None
        self.tables: set[str] = set()
        #: Why the last reload of a changed index failed (the previous index is still served).
        self.reload_error: str | None = None
        #: Whether the last (re)load had to build the cache (False: an up-to-date one was reused).
        self.built = False
        if load:
            self._load()

    @classmethod
    def prepare(cls, bank_path: str | os.PathLike, **kwargs: Any) -> tuple[Path, bool]:
        """Build the viewer's cache database of a bank unless an up-to-date one is there, without opening it.

        What ``covidbank add`` (and the other commands that change the index) run after writing the index,
        so that ``covidbank serve`` finds the cache and starts in seconds.  ``kwargs`` are those of
        :class:`BankStore` (``cache_dir``, ``tree``, ...); the server must use the same ones to find it.

        Returns
        -------
        (path, built)
            The cache database file, and whether it was built now.
        """
        return cls(bank_path, load=False, **kwargs)._ensure_cache()

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
            # relative to the index: the bank named by a relative or an absolute path has one cache
            out.append((p.relative_to(idx).as_posix(), st.st_mtime_ns, st.st_size))
        return tuple(out)

    def _cache_folder(self) -> Path:
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            if os.access(self.cache_dir, os.W_OK):
                return self.cache_dir
        except OSError:
            pass
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="covidbank-web-")
        return Path(self._tmpdir)

    def _ensure_cache(self, sig: tuple | None = None) -> tuple[Path, bool]:
        """The cache database of the index's current state (its name is a hash of the layout version, the
        bank's path, the index files' paths, sizes and times, and the label vocabulary), built when missing;
        returns (path, whether it was built)."""
        sig = self._signature() if sig is None else sig
        folder = self._cache_folder()
        tree = sorted((lab.name, lab.cui, sorted(lab.aliases), sorted(lab.parents)) for lab in self.tree)
        key = hashlib.sha1(repr((_LAYOUT, str(self.root), sig, tree)).encode()).hexdigest()[:16]
        db = folder / f"index-{key}.duckdb"
        if db.is_file():
            return db, False
        with atomic_path(db) as tmp:
            child = self.build_process
            if child is None:
                child = self._image_rows() > _CHILD_BUILD_ROWS
            (self._build_in_child if child else self._build)(Path(tmp))
        for old in folder.glob("index-*.duckdb"):  # earlier states of the index
            if old != db:
                old.unlink(missing_ok=True)
        return db, True

    def _load(self) -> None:
        sig = self._signature()
        db, built = self._ensure_cache(sig)
        self.built = built
        folder = db.parent
        con = duckdb.connect(str(db), read_only=True,
                             config={"memory_limit": self.memory_limit, "temp_directory": str(folder / "spill")})
        names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        self.tables = names - {
            "search", "facet_cube", "label_cube", "label_summary", "concept_summary", "source_summary", "meta", "lids",
            "labsets", "labset_lids", "label_keys", "key_labsets", "key_cube", "label_key", "texts", "words",
            "word_texts", "text_cube", "text_facets"}
        self._has_words, self._has_text_facets = "words" in names, "text_facets" in names
        self._severity_cols = (
            {r[0] for r in con.execute("DESCRIBE severity").fetchall()} if "severity" in self.tables else set()
        )
        self._image_cols = [r[0] for r in con.execute("DESCRIBE images").fetchall() if r[0] != "rn"]
        # the previous connection is not closed here: requests still using one of its
        # cursors finish on it, and it is freed when the last one is gone
        self._con, self._sig, self._text_cache = con, sig, {}

    def _image_rows(self) -> int:
        """Image rows of the index, from the Parquet footers."""
        files = [str(p) for p in sorted(self.bank.index_dir.glob("sources/*/images.parquet"))]
        if not files:
            return 0
        try:
            return int(duckdb.execute("SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata(?)", [files]).fetchone()[0])
        except duckdb.Error:
            return 0

    def _build_in_child(self, path: Path) -> None:
        """:meth:`_build` in a fresh Python process (its memory is returned to the system when it ends)."""
        with tempfile.TemporaryDirectory(prefix="covidbank-web-build-") as td:
            spec = Path(td) / "spec.pickle"
            spec.write_bytes(pickle.dumps({"bank": str(self.root), "tree": self.tree, "out": str(path),
                                           "memory_limit": self.build_memory_limit, "threads": self.build_threads}))
            p = subprocess.run([sys.executable, "-c", "import sys; from covidbank.web.store import _build_main; "
                                "sys.exit(_build_main(sys.argv[1]))", str(spec)], capture_output=True, text=True)
        if p.returncode == _BUILD_BANK_ERROR:
            raise BankError(p.stderr.strip().splitlines()[-1])
        if p.returncode:
            last = (p.stderr.strip().splitlines() or ["no message"])[-1]
            raise BankError(f"{self.root}: building the viewer's cache failed in its process (exit {p.returncode}: {last})")

    def _build(self, path: Path) -> None:
        """Lay the bank's index out in a DuckDB file at ``path`` (see the module docstring).

        A handful of ``CREATE TABLE ... AS SELECT`` statements over the bank's
        Parquet views, on two threads under the memory limit; only the tables
        that are read by ranges (``search``, ``images``, ``labels``,
        ``label_key``) are written in order, every other one with
        ``preserve_insertion_order`` off.
        """
        path.unlink(missing_ok=True)
        spill = path.parent / "spill"
        con = duckdb.connect(str(path), config={"memory_limit": self.build_memory_limit, "temp_directory": str(spill),
                                                "preserve_insertion_order": False, "threads": self.build_threads})

        def run(sql: str, params: list | None = None, ordered: bool = False) -> None:
            t = time.perf_counter()
            if ordered:
                con.execute("SET preserve_insertion_order = true")
            con.execute(sql, params or [])
            if ordered:
                con.execute("SET preserve_insertion_order = false")
            _log.debug("%.2f s  %s", time.perf_counter() - t, " ".join(sql.split())[:100])

        try:
            names = self.bank.attach(con, temp=True)
            db = _q(con.execute("SELECT current_database()").fetchone()[0]) + ".main"  # the file, not the temp catalog
            # positive labels, one row per image and label; ``lids`` numbers each (label, cui); ``labsets``
            # numbers each distinct set of them (0: none): an image's positive labels are one small integer
            # (``implied``: every row of that label on the image says origin "implied"; the page lists them last)
            run(f"""CREATE TEMP TABLE lp AS SELECT image_id, label, lower(label) AS label_lc, any_value(cui) AS cui,
                           bool_and(coalesce(origin = 'implied', false)) AS implied
                    FROM temp.main.labels WHERE value = {POSITIVE} AND label IS NOT NULL GROUP BY image_id, label""")
            run(f"""CREATE TABLE {db}.lids AS SELECT (row_number() OVER (ORDER BY label, cui NULLS FIRST, implied))::INTEGER AS lid,
                    label, label_lc, cui, implied FROM (SELECT DISTINCT label, label_lc, cui, implied FROM lp)""")
            run(f"""CREATE TEMP TABLE il AS SELECT lp.image_id, list(l.lid ORDER BY l.lid) AS labs
                    FROM lp JOIN {db}.lids l ON l.label = lp.label AND l.cui IS NOT DISTINCT FROM lp.cui AND l.implied = lp.implied
                    GROUP BY lp.image_id""")
            run(f"""CREATE TABLE {db}.labsets AS SELECT 0 AS labset, []::INTEGER[] AS labs UNION ALL
                    SELECT (row_number() OVER (ORDER BY labs))::INTEGER, labs FROM (SELECT DISTINCT labs FROM il)""")
            run(f"CREATE TABLE {db}.labset_lids AS SELECT labset, unnest(labs) AS lid FROM {db}.labsets")
            run(f"""CREATE TEMP TABLE img_labset AS SELECT il.image_id, s.labset FROM il JOIN {db}.labsets s ON s.labs = il.labs""")
            con.execute("DROP TABLE il")
            self._build_search_table(con, set(names), db, run)
            con.execute("DROP TABLE img_labset")
            run(f"""CREATE TABLE {db}.images AS
                    SELECT i.*, s.ct_grade, s.split, s.rn FROM temp.main.images i JOIN {db}.search s USING (image_id)
                    ORDER BY i.image_id""", ordered=True)
            run(f"""CREATE TABLE {db}.labels AS SELECT *, lower(label) AS label_lc FROM temp.main.labels
                    ORDER BY image_id""", ordered=True)
            for name in ("sessions", "subjects", "tests", "skipped"):  # point lookups: a column scan, no sort needed
                run(f"CREATE TABLE {db}.{name} AS SELECT * FROM temp.main.{name}")
            for name in names:
                if name not in TABLES:
                    run(f'CREATE TABLE {db}."{name}" AS SELECT * FROM temp.main."{name}"')
            self._build_cubes(con, db, run)
            self._build_words(con, db, run)
            run(f"""CREATE TABLE {db}.label_summary AS
                    SELECT label, any_value(cui) AS cui, count(DISTINCT image_id) FILTER (WHERE value = 1) AS n
                    FROM {db}.labels WHERE label IS NOT NULL GROUP BY label""")
            # one row per concept: labels that share a CUI ("COVID-19", "COVID 19") are counted together
            run(f"""CREATE TABLE {db}.concept_summary AS
                    SELECT min(label) AS label, any_value(cui) AS cui,
                           count(DISTINCT image_id) FILTER (WHERE value = 1) AS n
                    FROM {db}.labels WHERE label IS NOT NULL
                    GROUP BY coalesce(cui, lower(trim(label)))""")
            run(f"""CREATE TABLE {db}.source_summary AS
                    SELECT s.source, count(DISTINCT s.subject_id) AS subjects, count(DISTINCT s.session_id) AS sessions,
                           count(*) AS images, sum(CASE WHEN s.file_present THEN 1 ELSE 0 END) AS files_present,
                           (SELECT count(*) FROM {db}.labels l WHERE l.source = s.source) AS labels,
                           (SELECT count(*) FROM {db}.skipped k WHERE k.source = s.source) AS skipped
                    FROM {db}.search s GROUP BY s.source""")
            run("CHECKPOINT")
        except duckdb.Error as e:
            msg = str(e).splitlines()[0]
            raise BankError(f"{self.root}: cannot read the bank index ({msg}); re-add the source or remove the file") from None
        finally:
            con.close()
            shutil.rmtree(spill, ignore_errors=True)
            Path(str(path) + ".wal").unlink(missing_ok=True)

    def _build_search_table(self, con: duckdb.DuckDBPyConnection, names: set[str], db: str, run) -> None:
        split_join, split_col = "", "NULL::VARCHAR AS split"
        if "splits" in names:
            cols = {r[0] for r in con.execute("DESCRIBE temp.main.splits").fetchall()}
            if "split" in cols and ("image_id" in cols or "subject_id" in cols):
                key = "image_id" if "image_id" in cols else "subject_id"
                split_join = (
                    f"LEFT JOIN (SELECT {key} AS _k, any_value(CAST(split AS VARCHAR)) AS split "
                    f"FROM temp.main.splits GROUP BY {key}) sp ON sp._k = i.{key}"
                )
                split_col = "sp.split"
        dims = ", ".join(_CUBE)
        # one sort: the rows in result order into a temporary table, then numbered by position (an ordered copy)
        run(
            f"""
            CREATE TEMP TABLE s0 AS
            SELECT *, hash({dims}, age_lo, age_hi) AS combo, (hash(text) >> 1)::BIGINT AS tx
            FROM (
            SELECT *, {_age_bound('floor')} AS age_lo, {_age_bound('ceil')} AS age_hi
            FROM (
            SELECT i.image_id, i.session_id, i.subject_id, i.source, i.modality,
                   coalesce(i.view, 'unknown') AS view,
                   coalesce(i.sex, su.sex) AS sex, coalesce(i.age, su.age) AS age,
                   coalesce(i.offset_days, se.offset_days) AS offset_days,
                   coalesce(i.file_present, false) AS file_present, i.file_format, i.path, i.mask_path,
                   coalesce(i.ct_category, se.ct_category) AS ct_grade,
                   {split_col},
                   coalesce(ls.labset, 0) AS labset,
                   lower(coalesce(se.report, '') || ' ' || coalesce(se.clinical_notes, '')) AS text
            FROM temp.main.images i
            LEFT JOIN (SELECT session_id, any_value(offset_days) AS offset_days, any_value(ct_category) AS ct_category,
                              any_value(report) AS report, any_value(clinical_notes) AS clinical_notes
                       FROM temp.main.sessions GROUP BY session_id) se ON se.session_id = i.session_id
            LEFT JOIN (SELECT subject_id, any_value(sex) AS sex, any_value(age) AS age
                       FROM temp.main.subjects GROUP BY subject_id) su ON su.subject_id = i.subject_id
            LEFT JOIN temp.img_labset ls ON ls.image_id = i.image_id
            {split_join}
            ))
            ORDER BY {_ORDER}
            """, ordered=True)
        run(f"CREATE TABLE {db}.search AS SELECT (rowid)::BIGINT AS rn, * FROM temp.s0", ordered=True)
        con.execute("DROP TABLE temp.s0")

    def _build_cubes(self, con: duckdb.DuckDBPyConnection, db: str, run) -> None:
        """The pre-aggregated tables: image counts per facet combination, per label and per label filter.

        ``facet_cube``: one row per combination (``combo``, a hash of the facet
        values and the age bounds) with its image count.  ``label_cube``: image
        counts per positive label and combination.  ``label_keys``: every label
        filter the viewer can be asked for (each label of the vocabulary with
        its descendants, each label name of the bank), as the set of names and
        CUIs it matches, with ``key_cube`` (image counts per filter and
        combination) and ``label_key`` (the matching rows, sorted by filter and
        row: a page is a range of it).
        """
        dims = ", ".join(_CUBE)
        run(f"CREATE TEMP TABLE cl AS SELECT combo, labset, count(*) AS n FROM {db}.search GROUP BY combo, labset")
        run(f"""CREATE TABLE {db}.facet_cube AS SELECT combo, {dims}, age_lo, age_hi, count(*) AS n
                FROM {db}.search GROUP BY combo, {dims}, age_lo, age_hi""")
        if con.execute(f"SELECT count(*) <> count(DISTINCT combo) FROM {db}.facet_cube").fetchone()[0]:
            raise BankError(f"{self.root}: two facet combinations share a hash; remove the viewer's cache and start again")
        # the cubes below repeat the facet values of their combination: a search reads one table, no join
        cdims = ", ".join("c." + d for d in (*_CUBE, "age_lo", "age_hi"))
        run(f"""CREATE TABLE {db}.label_cube AS SELECT l.label, {cdims}, sum(cl.n)::BIGINT AS n
                FROM cl JOIN {db}.labset_lids sl USING (labset) JOIN {db}.lids l USING (lid)
                JOIN {db}.facet_cube c USING (combo) GROUP BY ALL""")
        lids = con.execute(f"SELECT lid, label, label_lc, cui FROM {db}.lids").fetchall()
        sets: dict[int, list[int]] = {}
        for ls, lid in con.execute(f"SELECT labset, lid FROM {db}.labset_lids").fetchall():
            sets.setdefault(lid, []).append(ls)
        candidates = [lab.name for lab in self.tree] + sorted({r[1] for r in lids if r[1] not in self.tree})
        keys: dict[str, list[int]] = {}
        for name in candidates:
            key = self._label_key(*self.label_names(name))
            if key in keys:
                continue
            names, cuis = self.label_names(name)
            hit = {lid for lid, _, lc, cui in lids if lc in names or (cui is not None and cui in cuis)}
            if hit:
                keys[key] = sorted({ls for lid in hit for ls in sets.get(lid, [])})
        rows = [(k, key) for k, key in enumerate(sorted(keys))]
        run(f"CREATE TABLE {db}.label_keys (key_id INTEGER, key VARCHAR)")
        run(f"CREATE TABLE {db}.key_labsets (key_id INTEGER, labset INTEGER)")
        if rows:
            con.executemany(f"INSERT INTO {db}.label_keys VALUES (?, ?)", rows)
            con.executemany(f"INSERT INTO {db}.key_labsets VALUES (?, ?)",
                            [(k, ls) for k, key in rows for ls in keys[key]])
        run(f"""CREATE TABLE {db}.key_cube AS SELECT k.key_id, {cdims}, sum(cl.n)::BIGINT AS n
                FROM cl JOIN {db}.key_labsets k USING (labset) JOIN {db}.facet_cube c USING (combo) GROUP BY ALL
                ORDER BY k.key_id""", ordered=True)
        run(f"CREATE TABLE {db}.label_key (key_id INTEGER, rn BIGINT, combo UBIGINT)")
        for k, key in rows:  # one ordered scan per filter: the table comes out sorted by (key_id, rn) without a sort
            run(f"INSERT INTO {db}.label_key SELECT ?, rn, combo FROM {db}.search WHERE labset IN "
                f"({', '.join(str(int(ls)) for ls in keys[key])})", [k], ordered=True)
        con.execute("DROP TABLE cl")

    def _build_words(self, con: duckdb.DuckDBPyConnection, db: str, run) -> None:
        """The word index of the search text: ``texts`` (each distinct ``text`` of ``search`` once, by its
        hash ``tx``), ``words`` (each word of them, numbered ``tid`` in word order), ``word_texts`` (the
        texts holding each word, sorted by ``tid``) and ``text_cube`` (image counts per text, facet
        combination and label set); when texts repeat (at most a quarter as many texts as images, as with
        templated notes or several images per report), ``text_facets`` (the total and every facet count per
        text: a text search without other filters adds these up).

        A word is a maximal run of letters, digits and combining marks (:data:`_WORD_SEP` splits the
        lower-cased text, in SQL: the query is split by the same expression).  Written by hand because
        DuckDB's ``fts`` extension is not in the wheel (``INSTALL fts`` downloads it) and its BM25 ranking
        answers another question than the viewer's substring filter.  When two texts share a hash the
        index is left out and text searches scan.
        """
        run(f"CREATE TABLE {db}.texts AS SELECT DISTINCT tx, text FROM {db}.search")
        if con.execute(f"SELECT count(*) <> count(DISTINCT tx) FROM {db}.texts").fetchone()[0]:
            _log.warning("%s: two report texts share a hash; text searches will scan", self.root)
            con.execute(f"DROP TABLE {db}.texts")
            return
        run(f"""CREATE TEMP TABLE tt AS SELECT DISTINCT tx, token FROM
                (SELECT tx, unnest(regexp_split_to_array(text, '{_WORD_SEP}')) AS token FROM {db}.texts) WHERE token <> ''""")
        run(f"""CREATE TABLE {db}.words AS SELECT (row_number() OVER (ORDER BY token))::INTEGER AS tid, token
                FROM (SELECT DISTINCT token FROM tt) ORDER BY tid""", ordered=True)
        run(f"""CREATE TABLE {db}.word_texts AS SELECT w.tid, tt.tx FROM tt JOIN {db}.words w USING (token)
                ORDER BY w.tid, tt.tx""", ordered=True)
        con.execute("DROP TABLE tt")
        run(f"""CREATE TABLE {db}.text_cube AS SELECT tx, combo, labset, count(*) AS n FROM {db}.search
                GROUP BY ALL ORDER BY tx""", ordered=True)
        texts, rows = con.execute(f"SELECT (SELECT count(*) FROM {db}.texts), (SELECT count(*) FROM {db}.search)").fetchone()
        if texts * _TEXT_FACETS_SHARE <= rows:  # texts repeat (templated notes, several images per report): counts per text
            parts = [f"SELECT tx, '' AS f, NULL::VARCHAR AS v, sum(n) AS n FROM {db}.text_cube GROUP BY tx"]
            parts += [f"""SELECT t.tx, '{name}', CAST(c.{name} AS VARCHAR), sum(t.n) FROM {db}.text_cube t
                          JOIN {db}.facet_cube c USING (combo) WHERE c.{name} IS NOT NULL GROUP BY ALL""" for name in self._FACETS]
            parts.append(f"""SELECT t.tx, 'label', l.label, sum(t.n) FROM {db}.text_cube t JOIN {db}.labset_lids sl USING (labset)
                             JOIN {db}.lids l USING (lid) GROUP BY ALL""")
            run(f"CREATE TABLE {db}.text_facets AS SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY tx", ordered=True)

    def _text_hits(self, cur: duckdb.DuckDBPyConnection, q: str, cache: dict[str, list[int]]) -> list[int] | None:
        """The ``tx`` of every text of ``search`` that contains ``q`` (lower-cased), from the word index;
        None when the index cannot answer (no index, or ``q`` holds no letter or digit).

        ``q`` is split like the texts; each run of word characters in it must be, in a matching text, the
        whole of a word (when ``q`` has a separator on both sides of the run), the start of one (separator
        before it), the end of one (separator after it) or any part of one (the run is all of ``q``).  The
        texts holding such words for every run are the candidates; unless ``q`` is a single run (then the
        candidates are exactly the texts containing it) each candidate is checked with the scan's own
        condition, ``strpos(text, q) > 0``, so the index returns the same rows as the scan.
        """
        if not self._has_words:
            return None
        hits = cache.get(q)
        if hits is not None:
            return hits
        if q.isascii():  # the same split without a query: in ASCII the class is [A-Za-z0-9] (no ASCII mark)
            parts = re.split(r"[^A-Za-z0-9]+", q)
        else:
            parts = cur.execute(f"SELECT regexp_split_to_array(?, '{_WORD_SEP}')", [q]).fetchone()[0]
        subs, params = [], []
        for i, run in enumerate(parts):
            if not run:
                continue
            left, right = i > 0, i < len(parts) - 1
            cond = ("token = ?" if left and right else "starts_with(token, ?)" if left
                    else "suffix(token, ?)" if right else "contains(token, ?)")
            subs.append(f"SELECT DISTINCT tx FROM word_texts WHERE tid IN (SELECT tid FROM words WHERE {cond})")
            params.append(run)
        if not subs:
            return None
        sql = " INTERSECT ".join(subs)
        if parts != [q]:
            sql = f"SELECT tx FROM texts WHERE tx IN ({sql}) AND strpos(text, ?) > 0"
            params.append(q)
        hits = sorted(r[0] for r in cur.execute(sql, params).fetchall())
        with self._lock:
            if len(cache) >= 256:
                cache.clear()
            cache[q] = hits
        return hits

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        return self._cursor_cache()[0]

    def _cursor_cache(self) -> tuple[duckdb.DuckDBPyConnection, dict[str, list[int]]]:
        """A cursor on the current cache database and the text-search hits remembered for that database."""
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
            return self._con.cursor(), self._text_cache

    def sql(self, sql: str, params: Iterable[Any] = ()) -> pd.DataFrame:
        """Run parameterized SQL on the viewer's copy of the index (as a DataFrame)."""
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

    @staticmethod
    def _label_key(names: set[str], cuis: set[str]) -> str:
        """The text naming a label filter in ``label_keys`` (its names and CUIs, sorted)."""
        return "\x1f".join(sorted(names)) + "\x1e" + "\x1f".join(sorted(cuis))

    _FACETS = ("source", "modality", "view", "sex", "ct_grade", "split")

    def _filters(self, q: SearchQuery) -> dict[str, tuple[str, list]]:
        """One SQL condition (with its parameters) over the ``search`` table per active filter."""
        f: dict[str, tuple[str, list]] = {}
        for name in self._FACETS:
            vals = getattr(q, name)
            if vals:
                f[name] = (f"{name} IN ({', '.join('?' * len(vals))})", [str(v) for v in vals])
        if q.age_min is not None:
            f["age_min"] = ("age >= ?", [float(q.age_min)])
        if q.age_max is not None:
            f["age_max"] = ("age <= ?", [float(q.age_max)])
        if q.file_present is not None:
            f["file_present"] = ("file_present = ?", [bool(q.file_present)])
        if q.q:
            f["q"] = ("strpos(text, ?) > 0", [q.q.lower()])
        if q.label:
            names, cuis = self.label_names(q.label)
            cond = f"label_lc IN ({', '.join('?' * len(names))})"
            params: list = sorted(names)
            if cuis:
                cond = f"({cond} OR cui IN ({', '.join('?' * len(cuis))}))"
                params += sorted(cuis)
            if q.value == "positive":  # the sets of positive labels holding one of them
                f["label"] = (f"labset IN (SELECT labset FROM labset_lids WHERE lid IN (SELECT lid FROM lids WHERE {cond}))",
                              params)
            else:
                if q.value != "any":
                    cond += " AND value = ?"
                    params.append(LABEL_VALUES[q.value])
                f["label"] = (f"image_id IN (SELECT image_id FROM labels WHERE {cond})", params)
        return f

    @staticmethod
    def _cube_filter(name: str, q: SearchQuery, f: dict[str, tuple[str, list]]) -> tuple[str, list] | None:
        """The condition of filter ``name`` over ``facet_cube`` columns, or None when the cube cannot answer it.

        Facet filters are the same condition; an age bound is one when it is a
        whole number of years: ``age >= a`` is ``floor(age) >= a`` and
        ``age <= b`` is ``ceil(age) <= b`` for a whole ``a``, ``b`` (the cube
        keeps both, ``age_lo`` and ``age_hi``).
        """
        if name in _CUBE:
            return f[name]
        if name in ("age_min", "age_max"):
            v = float(getattr(q, name))
            if v.is_integer() and abs(v) < _AGE_CAP:
                return ("age_lo >= ?", [int(v)]) if name == "age_min" else ("age_hi <= ?", [int(v)])
        return None

    @staticmethod
    def _where(f: dict[str, tuple[str, list]], skip: str | None = None, prefix: str = "") -> tuple[str, list]:
        conds, params = [], []
        for k, (c, p) in f.items():
            if k != skip:
                conds.append(prefix + c if prefix else c)
                params += p
        return (" WHERE " + " AND ".join(conds)) if conds else "", params

    def _key_id(self, cur: duckdb.DuckDBPyConnection, label: str) -> int | None:
        """The ``label_keys`` row of a label filter (None when the bank has no image it matches)."""
        row = cur.execute("SELECT key_id FROM label_keys WHERE key = ?", [self._label_key(*self.label_names(label))]).fetchone()
        return None if row is None else int(row[0])

    def search(self, q: SearchQuery, facets: bool = True, cubes: bool = True) -> SearchResult:
        """One page of images matching ``q``, with per-field counts.

        Facet counts for a field are computed with every other filter applied
        (so the counts say what choosing that value would give).  Results are
        ordered by source, subject, day offset and image id.

        Filters on facets, whole-year ages and one positive label are answered
        from the pre-aggregated tables (the total and every facet count from
        ``facet_cube``/``key_cube`` and ``label_cube``, the page from a range of
        ``search`` or ``label_key``), whatever the bank's size.  A text filter
        is looked up in the word index (:meth:`_text_hits`): its texts' counts
        are added up from ``text_facets`` (text alone) or ``text_cube``, its page
        read by row number.  A text of no letter or digit, a fractional age or a
        label value other than positive takes one scan of ``search`` grouped by
        facet combination and label set, from which the counts are read the same
        way.  ``cubes=False`` forces that scan, text included (the reference the
        cubes and the word index are tested against).
        """
        f = self._filters(q)
        cube_f: dict[str, tuple[str, list]] = {}  # filters over facet_cube columns
        rest: dict[str, tuple[str, list]] = {}  # filters only the rows can answer (the label one apart)
        for name, cond in f.items():
            if name != "label":
                c = self._cube_filter(name, q, f) if cubes else (cond if name in _CUBE else None)
                (rest if c is None else cube_f)[name] = cond if c is None else c
        cur, cache = self._cursor_cache()
        try:
            table = "search"  # where the rows passing ``rest`` are counted
            hits = self._text_hits(cur, q.q.lower(), cache) if q.q and cubes else None
            if hits is not None:  # the texts holding q, from the word index: the rows are those of these texts
                f["q"] = rest["q"] = ("tx IN (SELECT unnest(?::BIGINT[]))", [hits])
                if list(rest) == ["q"] and (not q.label or q.value == "positive"):
                    table = "text_cube"
            key = None
            if q.label and q.value == "positive" and cubes:
                key = self._key_id(cur, q.label)
            label_rows = "label" in f and key is None  # the label filter read from the rows
            want = [n for n in self._FACETS if facets and not (n == "split" and "splits" not in self.tables)]
            if hits is not None and list(f) == ["q"] and self._has_text_facets:  # the counts of the texts, added up
                names = ["", *want, *(["label"] if facets else [])]
                total, fc = self._facet_counts(cur.execute(
                    f"""SELECT f, v, sum(n) FROM text_facets WHERE tx IN (SELECT unnest(?::BIGINT[]))
                        AND f IN ({', '.join('?' * len(names))}) GROUP BY f, v""", [hits, *names]).fetchall(), want, facets)
            elif rest or label_rows or not cubes:
                total, fc = self._counts_scan(cur, f, cube_f, rest, want, facets, table)
            else:
                total, fc = self._counts_cube(cur, key, cube_f, want, facets)
            page = min(q.page, max(1, math.ceil(total / q.per_page)))
            off = (page - 1) * q.per_page
            cols = "* EXCLUDE (text, tx, combo, age_lo, age_hi)"
            if key is not None and not rest:  # a range of the filter's rows
                w, p = self._where(cube_f)
                sub = f" AND combo IN (SELECT combo FROM facet_cube{w})" if cube_f else ""
                rns = [r[0] for r in cur.execute(f"SELECT rn FROM label_key WHERE key_id = ?{sub} ORDER BY rn "
                                                 f"LIMIT {q.per_page} OFFSET {off}", [key, *p]).fetchall()]
            elif f:  # the page's row numbers first (the sort reads one column), then their rows
                w, p = self._where(f)
                rns = [r[0] for r in cur.execute(f"SELECT rn FROM search{w} ORDER BY rn LIMIT {q.per_page} OFFSET {off}",
                                                 p).fetchall()]
            if f:
                rows = self.rows(f"""SELECT {cols} FROM search WHERE rn BETWEEN ? AND ? AND rn IN ({', '.join('?' * len(rns))})
                                     ORDER BY rn""", [min(rns), max(rns), *rns], cur=cur) if rns else []
            else:  # the whole bank: a range of the ordered table
                rows = self.rows(f"SELECT {cols} FROM search WHERE rn >= ? AND rn < ? ORDER BY rn",
                                 [off, off + q.per_page], cur=cur)
            by: dict[int, list[tuple[bool, str]]] = {}  # positive labels of each label set, implied ones last
            sets = sorted({r["labset"] for r in rows} - {0})
            if sets:
                for ls, label, implied in cur.execute(
                    f"""SELECT sl.labset, l.label, l.implied FROM labset_lids sl JOIN lids l USING (lid)
                        WHERE sl.labset IN ({', '.join('?' * len(sets))})""", sets).fetchall():
                    by.setdefault(ls, []).append((bool(implied), label))
            for r in rows:
                r.pop("rn")
                r["labels"] = [name for _, name in sorted(by.get(r.pop("labset"), []))]
                r["is_volume"] = self.is_volume(r)
        finally:
            cur.close()
        return SearchResult(total=total, page=page, per_page=q.per_page, rows=rows, facets=fc)

    @staticmethod
    def _facet_counts(rows: Iterable[tuple], want: list[str], facets: bool) -> tuple[int, dict[str, list[tuple[str, int]]]]:
        total = 0
        fc: dict[str, list[tuple[str, int]]] = {n: [] for n in want}
        if facets:
            fc["label"] = []
        for fname, v, k in rows:
            if fname == "":
                total = int(k or 0)
            elif k and v is not None:
                fc[fname].append((str(v), int(k)))
        for counts in fc.values():
            counts.sort(key=lambda t: (-t[1], t[0]))
        if facets:
            fc["label"] = fc["label"][:25]
        return total, fc

    def _counts_cube(self, cur, key: int | None, cube_f: dict, want: list[str], facets: bool):
        """Total and facet counts from the cubes: ``facet_cube`` (or ``key_cube`` for a label filter) and ``label_cube``."""
        base_f = dict(cube_f) if key is None else {"key": ("key_id = ?", [key]), **cube_f}
        base = "facet_cube" if key is None else "key_cube"
        parts: list[tuple[str, list]] = []
        w, p = self._where(base_f)
        parts.append((f"SELECT '' AS f, NULL AS v, sum(n) AS n FROM {base}{w}", p))
        for name in want:
            w, p = self._where(base_f, skip=name)
            w = (w + " AND " if w else " WHERE ") + f"{name} IS NOT NULL"
            parts.append((f"SELECT '{name}', CAST({name} AS VARCHAR), sum(n) FROM {base}{w} GROUP BY 2", p))
        if facets:  # the label facet ignores the label filter
            w, p = self._where(cube_f)
            parts.append((f"SELECT 'label', label, sum(n) FROM label_cube{w} GROUP BY 2", p))
        sql = " UNION ALL ".join(s for s, _ in parts)
        return self._facet_counts(cur.execute(sql, [x for _, p in parts for x in p]).fetchall(), want, facets)

    def _counts_scan(self, cur, f: dict, cube_f: dict, rest: dict, want: list[str], facets: bool,
                     table: str = "search"):
        """Total and facet counts from one scan of the rows passing the filters the cubes cannot answer,
        grouped by facet combination and label set (``g``), then read like the cubes.  ``table`` is
        ``search`` (one row per image) or ``text_cube`` (image counts per text, combination and label set:
        when the only such filter is the text's ``tx``)."""
        hit = f.get("label", ("true", []))
        w, p = self._where(rest)
        n = "count(*)" if table == "search" else "sum(n)"
        ctes = [(f"g AS MATERIALIZED (SELECT combo, labset, {hit[0]} AS hit, {n} AS n FROM {table}{w} GROUP BY ALL)",
                 hit[1] + p),
                ("gc AS (SELECT c.* EXCLUDE (n), g.labset, g.hit, g.n FROM g JOIN facet_cube c USING (combo))", [])]
        parts: list[tuple[str, list]] = []
        w, p = self._where({**cube_f, "hit": ("hit", [])})
        parts.append((f"SELECT '' AS f, NULL AS v, sum(n) AS n FROM gc{w}", p))
        for name in want:
            w, p = self._where({**cube_f, "hit": ("hit", [])}, skip=name)
            parts.append((f"SELECT '{name}', CAST({name} AS VARCHAR), sum(n) FROM gc{w} AND {name} IS NOT NULL GROUP BY 2", p))
        if facets:  # the label facet ignores the label filter
            w, p = self._where(cube_f, prefix="gc.")
            parts.append((f"""SELECT 'label', l.label, sum(gc.n) FROM gc JOIN labset_lids sl USING (labset)
                              JOIN lids l USING (lid){w} GROUP BY 2""", p))
        sql = "WITH " + ", ".join(c for c, _ in ctes) + " " + " UNION ALL ".join(s for s, _ in parts)
        params = [x for _, p in ctes + parts for x in p]
        return self._facet_counts(cur.execute(sql, params).fetchall(), want, facets)

    def all_labels(self) -> list[str]:
        """Label names in the bank plus their ancestors in the vocabulary, sorted."""
        names = {r["label"] for r in self.rows("SELECT label FROM label_summary")}
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
        found = self.rows(f"SELECT {', '.join(_q(c) for c in self._image_cols)} FROM images WHERE image_id = ? LIMIT 1",
                          [image_id])
        rec = found[0] if found else None
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
            f"SELECT {', '.join(_q(c) for c in self._image_cols)} FROM images WHERE subject_id = ? ORDER BY image_id",
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
        per_source = self.rows("SELECT * FROM source_summary ORDER BY source")

        def counts(col: str) -> list[tuple[str, int]]:
            return [("unknown" if r["v"] is None else str(r["v"]), int(r["n"]))
                    for r in self.rows(f"SELECT {col} AS v, sum(n)::BIGINT n FROM facet_cube GROUP BY {col} ORDER BY n DESC, v")]

        out = {
            "per_source": per_source,
            "modality": counts("modality"),
            "view": counts("view"),
            "sex": counts("sex"),
            "ct_grade": [c for c in counts("ct_grade") if c[0] != "unknown"],
            "labels": [
                (r["label"], r["cui"], int(r["n"]))
                for r in self.rows("SELECT label, cui, n FROM concept_summary WHERE n > 0 ORDER BY n DESC, label LIMIT 30")
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


def _build_main(spec_path: str) -> int:
    """Entry point of the child process of :meth:`BankStore._build_in_child`: build the cache file a pickled
    spec describes (written by the parent, in a private temporary folder)."""
    spec = pickle.loads(Path(spec_path).read_bytes())
    st = BankStore.__new__(BankStore)
    st.bank = Bank(spec["bank"])
    st.root = st.bank.path.resolve()
    st.tree = spec["tree"]
    st.build_memory_limit = spec["memory_limit"]
    st.build_threads = spec["threads"]
    try:
        st._build(Path(spec["out"]))
    except BankError as e:
        print(str(e).replace("\n", " "), file=sys.stderr)
        return _BUILD_BANK_ERROR
    return 0
