"""The bank: a folder whose index is Parquet files queried through DuckDB.

Layout::

    BANK/
      bank.json                           configuration: the source roots
      index/
        sources/<source>/<table>.parquet   one folder per source, replaced whole
        tables/<name>.parquet              bank-wide tables (splits, duplicates, ...)
      ... images laid out by ingest (MIDS), never touched by the index

Adding a source replaces that source's folder atomically (write to a temporary
folder, then rename), so adding the same source twice never duplicates rows
and an interrupted add leaves the previous state.

Relocatable: file paths in the index (``path``, ``mask_path`` and any
``*_mask_path`` column) are relative POSIX paths, resolved against the root of
their row's source.  Each source's root is recorded once in ``bank.json`` when
it is added: ``.`` (the bank itself) for the files the bank holds (ingest), a
folder inside the bank relative to it, an external folder as an absolute path.
Copying or moving the bank keeps it working; :meth:`Bank.relink` points a source
at its data's new place (``covidbank relink``).  :meth:`Bank.resolve` is the one
function that turns an index path into a file.
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import duckdb

from .errors import BankError, QueryError
from .fileio import atomic_path, atomic_write
from .schema import TABLES, conform, empty_select, empty_table
from .pathresolve import FolderResolver
from .spool import SpooledTable, write_frames

if TYPE_CHECKING:  # pandas is imported by the methods that build frames, so `covidbank query` starts without it
    import pandas as pd

__all__ = ["Bank", "AddSummary", "PATH_COLUMNS", "is_path_column"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
#: Columns of the ``images`` table holding file paths (plus any ``*_mask_path`` column).
PATH_COLUMNS = ("path", "mask_path")
_CONFIG = "bank.json"


def is_path_column(name: str) -> bool:
    """Whether a column of the index holds a file path (relative to its source's root)."""
    return name in PATH_COLUMNS or name.endswith("_mask_path")


@dataclass
class AddSummary:
    """What :meth:`Bank.add` wrote."""

    source: str
    counts: dict[str, int] = field(default_factory=dict)
    replaced: bool = False

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        parts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        verb = "replaced" if self.replaced else "added"
        return f"{self.source}: {verb} ({parts})"


class Bank:
    """A covidbank bank folder.

    Parameters
    ----------
    path : str or Path
        Folder of the bank.
    create : bool
        Create the folder (and its index) if missing.  When false, a missing
        bank raises :class:`~covidbank.errors.BankError`.
    """

    def __init__(self, path: str | os.PathLike, create: bool = False) -> None:
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise BankError(f"{self.path}: no such bank folder (create one with `covidbank add`)")
        elif not self.path.is_dir():
            raise BankError(f"{self.path}: is a file, not a bank folder")
        if create:
            (self.index_dir / "sources").mkdir(parents=True, exist_ok=True)
            (self.index_dir / "tables").mkdir(parents=True, exist_ok=True)
        self._recover()

    # ------------------------------------------------------------------ paths
    @property
    def index_dir(self) -> Path:
        """Folder of the Parquet index."""
        return self.path / "index"

    def _source_dir(self, source: str) -> Path:
        return self.index_dir / "sources" / source

    # ------------------------------------------------------- configuration
    @property
    def config_file(self) -> Path:
        """``bank.json``: the bank's configuration (source roots)."""
        return self.path / _CONFIG

    def config(self) -> dict:
        """The bank's configuration (``{"source_roots": {name: root}}``)."""
        if not self.config_file.is_file():
            return {"source_roots": {}}
        try:
            cfg = json.loads(self.config_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise BankError(f"{self.config_file}: unreadable bank configuration ({type(e).__name__}); "
                            "restore it or re-add the sources") from None
        cfg.setdefault("source_roots", {})
        return cfg

    def _write_config(self, cfg: dict) -> None:
        atomic_write(self.config_file, json.dumps(cfg, indent=2, sort_keys=True) + "\n")

    def source_roots(self) -> dict[str, Path]:
        """Every source's root folder, resolved (the bank folder when none was recorded)."""
        return {s: self.source_root(s) for s in sorted(set(self.sources()) | set(self.config()["source_roots"]))}

    def source_root(self, source: str) -> Path:
        """The folder ``source``'s relative paths are resolved against.

        ``.`` or a relative root is taken inside the bank; a source added without
        a root (or unknown) resolves against the bank folder.
        """
        raw = self.config()["source_roots"].get(source)
        base = self.path.absolute()
        if not raw:
            return base
        root = Path(raw)
        return root if root.is_absolute() else Path(os.path.normpath(base / root))

    def _root_entry(self, root: str | os.PathLike) -> str:
        """How a root is recorded: relative to the bank when inside it, else absolute."""
        r = Path(os.path.abspath(root))
        try:
            rel = r.resolve().relative_to(self.path.resolve())
        except ValueError:
            return r.as_posix()
        return rel.as_posix() or "."

    def set_source_root(self, source: str, root: str | os.PathLike) -> None:
        """Record ``root`` as ``source``'s root in ``bank.json``."""
        cfg = self.config()
        cfg["source_roots"][source] = self._root_entry(root)
        self._write_config(cfg)

    def resolve(self, source: str | None, raw: object, *, contained: bool = False) -> Path | None:
        """The file an index path names: ``raw`` resolved against ``source``'s root.

        Parameters
        ----------
        source : str
            The row's ``source``.
        raw : str
            The index value (relative POSIX path; an absolute path, as banks
            built before relocatable paths hold, is taken as it is).
        contained : bool
            Return None for a path that leaves its root (``..``) or an absolute
            path outside the bank and every source root: what a server may open.

        Returns
        -------
        Path or None
            None for a missing value (or a refused one under ``contained``).
        """
        import pandas as pd

        if raw is None or raw is pd.NA or (isinstance(raw, float) and raw != raw) or not str(raw):
            return None
        p = Path(str(raw))
        if p.is_absolute():
            return p if not contained or self.inside_roots(p) else None
        root = self.source_root(source) if source else self.path.absolute()
        out = Path(os.path.normpath(root / p))
        if contained and not _within(out.resolve(), root.resolve()):
            return None
        return out

    def inside_roots(self, path: str | os.PathLike) -> bool:
        """Whether ``path`` lies inside the bank or a registered source root (symlinks resolved)."""
        p = Path(path).resolve()
        roots = [self.path] + list(self.source_roots().values())
        return any(_within(p, Path(r).resolve()) for r in roots)

    def resolve_paths(self, df: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``df`` whose path columns (:func:`is_path_column`) hold absolute paths.

        Rows are resolved against their ``source``'s root (:meth:`resolve`);
        missing values stay missing.
        """
        import pandas as pd

        cols = [c for c in df.columns if is_path_column(c)]
        if not cols or df.empty:
            return df.copy()
        out = df.copy()
        # vectorized per row: root + "/" + path (normalized only where it holds "." or ".." parts)
        src = (out["source"].astype("string") if "source" in out.columns
               else pd.Series(pd.NA, index=out.index, dtype="string")).fillna("\0")
        roots = {s: str(self.source_root(s) if s != "\0" else self.path.absolute()) for s in src.unique()}
        root_col = src.map(roots).astype("string")
        for c in cols:
            v = out[c].astype("string")
            present = (v.notna() & (v != "")).fillna(False).astype(bool)
            is_abs = v.str.startswith("/").fillna(False).astype(bool)
            res = (root_col + "/" + v).where(~is_abs, v)
            dots = present & ~is_abs & v.str.contains(r"(?:^|/)\.{1,2}(?:/|$)", regex=True).fillna(False).astype(bool)
            if dots.any():
                res[dots] = [os.path.normpath(x) for x in res[dots]]
            res = res.where(present, pd.NA)
            out[c] = res if str(df[c].dtype) == "string" else res.astype(object).where(present, None)
        return out

    @staticmethod
    def _prepare_arrow(t, source: str, root: Path, paths: bool):
        """What ``Bank.add`` does to a batch of a table before writing it, on an Arrow table:
        a missing ``source`` is ``source``; path columns are made relative to ``root`` (see :meth:`_relativize`)."""
        import pyarrow.compute as pc

        names = t.column_names
        if "source" in names:
            i = names.index("source")
            t = t.set_column(i, t.schema.field(i), pc.fill_null(t.column(i), source))
        if paths:
            root_abs = Path(os.path.abspath(root))
            root_real = root_abs.resolve()
            resolver = FolderResolver()
            for i, c in enumerate(names):
                if is_path_column(c):
                    t = t.set_column(i, t.schema.field(i), _relative_paths(t.column(i), root_abs, root_real, resolver))
        return t

    def _relativize(self, df: pd.DataFrame, root: Path) -> pd.DataFrame:
        """Path columns of ``df`` made relative to ``root`` where they lie inside it.

        An absolute path is made relative to ``root`` as given, else to ``root``
        with its links resolved, else after resolving its own links; a path
        outside stays absolute; every path is written in POSIX form.  Clean
        paths (no ``.``/``..`` part, doubled or trailing ``/``) are handled as
        strings, whole columns at a time, with each folder resolved once
        (:class:`~covidbank.pathresolve.FolderResolver`); the others go through
        ``pathlib`` one by one, with the same result.
        """
        import pandas as pd
        import pyarrow as pa

        cols = [c for c in df.columns if is_path_column(c)]
        if not cols:
            return df
        df = df.copy()
        root_abs = Path(os.path.abspath(root))
        root_real = root_abs.resolve()
        resolver = FolderResolver()
        if os.sep != "/":  # pragma: no cover - the string path assumes POSIX separators
            for c in cols:
                vals = [_relative_one(v, root_abs, root_real) for v in df[c]]
                df[c] = pd.Series(vals, index=df.index, dtype=df[c].dtype if str(df[c].dtype) == "string" else object)
            return df
        for c in cols:
            v = df[c]
            rel = _relative_paths(pa.array(v.astype("string").array), root_abs, root_real, resolver)
            df[c] = pd.Series(pd.array(rel, dtype="string") if str(v.dtype) == "string" else rel.to_numpy(zero_copy_only=False),
                              index=df.index, dtype=v.dtype if str(v.dtype) == "string" else object)
        return df

    def relink(self, source: str, new_root: str | os.PathLike) -> dict[str, int]:
        """Point ``source`` at its data's new place and refresh ``file_present``.

        Parameters
        ----------
        source : str
            A source of the bank.
        new_root : path-like
            The folder that now holds what the source's relative paths name.

        Returns
        -------
        dict
            ``images`` (rows), ``present_before``, ``present`` (files found under the new root).

        Raises
        ------
        BankError
            When the source is not in the bank or ``new_root`` is not a folder.
        """
        import pandas as pd

        if source not in self.sources():
            raise BankError(f"bank {self.path} has no source {source!r}: its sources are {', '.join(self.sources()) or 'none'}")
        new = Path(new_root)
        if not new.is_dir():
            raise BankError(f"{new}: not a folder; give the folder that now holds source {source!r}'s files")
        f = self._source_dir(source) / "images.parquet"
        images = pd.read_parquet(f) if f.exists() else empty_table("images")
        absolute = int(sum(1 for v in images["path"].dropna() if Path(str(v)).is_absolute()))
        if absolute:
            raise BankError(f"source {source!r} lists {absolute} absolute paths (a bank built before relocatable "
                            "paths): re-add it with `covidbank add` instead of relinking")
        before = int(images["file_present"].fillna(False).astype(bool).sum()) if len(images) else 0
        self.set_source_root(source, new)
        if len(images):
            resolved = self.resolve_paths(images)
            present = [isinstance(p, str) and os.path.isfile(p) for p in resolved["path"]]
            images["file_present"] = pd.array(present, dtype="boolean")
            with atomic_path(f) as tmp:
                images.to_parquet(tmp, index=False)
        after = int(images["file_present"].fillna(False).astype(bool).sum()) if len(images) else 0
        return {"images": len(images), "present_before": before, "present": after}

    def _recover(self) -> None:
        """Finish or undo a source replacement interrupted between its renames."""
        sdir = self.index_dir / "sources"
        if not sdir.is_dir():
            return
        for old in sdir.glob(".*.old"):
            name = old.name[1:-4]
            if not (sdir / name).exists():
                old.rename(sdir / name)
            else:
                shutil.rmtree(old, ignore_errors=True)
        for tmp in sdir.glob(".*.tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)

    # ------------------------------------------------------------------ write
    def add(self, source: str, tables: Mapping[str, pd.DataFrame], meta: dict | None = None,
            root: str | os.PathLike | None = None) -> AddSummary:
        """Add (or replace) all rows of ``source``.

        Parameters
        ----------
        source : str
            Source name; its rows replace any earlier rows of the same name.
        tables : mapping of str to DataFrame or SpooledTable
            Rows per schema table (``images``, ``labels``, ...).  Missing tables
            are written empty.  Extra tables not in the schema are rejected.  A
            :class:`~covidbank.spool.SpooledTable` (a streaming adapter's output)
            is copied batch by batch, so memory does not grow with it.
        meta : dict, optional
            Extra provenance written to ``meta.json`` in the source folder.
            A ``path`` entry and each of a ``trees`` list are written relative
            to ``root`` when inside it, else as the file's name only (the bank
            never records where it was built nor an input's folders).
        root : path-like, optional
            The source's root folder: recorded in ``bank.json`` and the folder
            the path columns are written relative to (:meth:`resolve`).
            Without one, paths are taken relative to the bank folder.

        Returns
        -------
        AddSummary
        """
        import pandas as pd

        if not _NAME_RE.match(source):
            raise BankError(f"invalid source name {source!r}: use letters, digits, '_', '-', '.'")
        unknown = set(tables) - set(TABLES)
        if unknown:
            raise BankError(f"unknown tables {sorted(unknown)}: known tables are {sorted(TABLES)}")
        (self.index_dir / "sources").mkdir(parents=True, exist_ok=True)
        (self.index_dir / "tables").mkdir(parents=True, exist_ok=True)
        sdir = self.index_dir / "sources"
        tmp = sdir / f".{source}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        counts = {}
        base = Path(root) if root is not None else self.path
        meta = dict(meta or {})
        if meta.get("path") is not None:
            meta["path"] = self._meta_path(meta["path"], base)
        if isinstance(meta.get("trees"), (list, tuple)):
            # given on the command line: relative to the working folder, not to the root
            meta["trees"] = [self._meta_path(os.path.abspath(t) if isinstance(t, (str, os.PathLike)) else t, base)
                             for t in meta["trees"]]
        try:
            for name in TABLES:
                df = tables.get(name)

                def prepare(df: pd.DataFrame, name: str = name) -> pd.DataFrame:
                    if "source" in df.columns:
                        df["source"] = df["source"].fillna(source)
                    if name in ("images", "skipped"):  # file paths: relative to the source's root
                        df = self._relativize(df, base)
                    return df

                if isinstance(df, SpooledTable) and not df.transforms and os.sep == "/":
                    # streamed by its adapter: copied batch by batch as Arrow (its schema is the one
                    # DataFrame.to_parquet gives the conformed rows), no pandas round trip
                    paths = name in ("images", "skipped")
                    unchanged = not paths and df.null_count("source") == 0  # nothing to fill in: the file as it is
                    counts[name] = df.copy_to(tmp / f"{name}.parquet", None if unchanged else functools.partial(
                        self._prepare_arrow, source=source, root=base, paths=paths))
                    continue
                if isinstance(df, SpooledTable):  # with transforms: copied batch by batch through pandas
                    counts[name] = write_frames(df.frames(), tmp / f"{name}.parquet", name, prepare)
                    continue
                df = prepare(empty_table(name) if df is None else conform(df, name))
                df.to_parquet(tmp / f"{name}.parquet", index=False)
                counts[name] = len(df)
            (tmp / "meta.json").write_text(json.dumps({"source": source, **meta}, indent=2, default=str, sort_keys=True))
            final = sdir / source
            old = sdir / f".{source}.old"
            replaced = final.exists()
            if replaced:
                final.rename(old)
            tmp.rename(final)
            if replaced:
                shutil.rmtree(old, ignore_errors=True)
            if root is not None or source in self.config()["source_roots"]:
                self.set_source_root(source, base)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return AddSummary(source=source, counts=counts, replaced=replaced)

    def _meta_path(self, value: object, base: Path) -> object:
        """A file path recorded in ``meta.json``: relative to ``base`` when inside it, else the file's name only.

        The bank never records where it was built nor the folders an input came from (their names may name a
        patient).  A value that is not a path (not a string or path-like) is returned as it is.
        """
        import pandas as pd

        if not isinstance(value, (str, os.PathLike)):
            return value
        p = Path(value)
        if not p.is_absolute():
            return value if isinstance(value, str) else p.as_posix()
        rel = self._relativize(pd.DataFrame({"path": [str(p)]}), base)["path"].iloc[0]
        return rel if not Path(rel).is_absolute() else p.name

    def remove(self, source: str) -> bool:
        """Remove a source's rows.  Returns whether the source was there."""
        d = self._source_dir(source)
        if not d.exists():
            return False
        shutil.rmtree(d)
        cfg = self.config()
        if cfg["source_roots"].pop(source, None) is not None:
            self._write_config(cfg)
        return True

    def write_table(self, name: str, df: pd.DataFrame) -> Path:
        """Write a bank-wide table (``splits``, ``duplicates``, ...) atomically.

        Schema tables are conformed; other names are written as they are.
        """
        if not _NAME_RE.match(name):
            raise BankError(f"invalid table name {name!r}")
        if name in TABLES:
            df = conform(df, name)
        tdir = self.index_dir / "tables"
        tdir.mkdir(parents=True, exist_ok=True)
        final = tdir / f"{name}.parquet"
        with atomic_path(final) as tmp:
            df.to_parquet(tmp, index=False)
        return final

    # ------------------------------------------------------------------- read
    def sources(self) -> list[str]:
        """Names of the sources in the bank."""
        d = self.index_dir / "sources"
        if not d.is_dir():
            return []
        return sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))

    def source_meta(self, source: str) -> dict:
        """The ``meta.json`` written when ``source`` was added."""
        p = self._source_dir(source) / "meta.json"
        return json.loads(p.read_text()) if p.exists() else {}

    def extra_tables(self) -> list[str]:
        """Names of bank-wide tables written with :meth:`write_table`."""
        d = self.index_dir / "tables"
        if not d.is_dir():
            return []
        return sorted(p.stem for p in d.glob("*.parquet") if not p.name.startswith("."))

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with one view per bank table."""
        con = duckdb.connect()
        try:
            self.attach(con)
        except BankError:
            con.close()
            raise
        return con

    def attach(self, con: duckdb.DuckDBPyConnection, temp: bool = False) -> list[str]:
        """Create one view per bank table in ``con`` (``TEMP`` views when ``temp``).

        Returns the names of the views.  Used by :meth:`connect` and by readers
        that keep their own database (the web viewer's cache).

        Raises
        ------
        BankError
            When a Parquet file of the index cannot be read.
        """
        srcs = self.sources()
        extras = set(self.extra_tables())
        kind = "TEMP VIEW" if temp else "VIEW"
        names = []
        try:
            for name in TABLES:
                files = [str(self._source_dir(s) / f"{name}.parquet") for s in srcs]
                files = [f for f in files if Path(f).exists()]
                if name in extras:
                    files.append(str(self.index_dir / "tables" / f"{name}.parquet"))
                if files:
                    lst = ", ".join(_sql_str(f) for f in files)
                    con.execute(f"CREATE {kind} {name} AS SELECT * FROM read_parquet([{lst}], union_by_name=true)")
                else:
                    con.execute(f"CREATE {kind} {name} AS {empty_select(name)}")
                names.append(name)
            for name in sorted(extras - set(TABLES)):
                f = self.index_dir / "tables" / f"{name}.parquet"
                con.execute(f"CREATE {kind} {name} AS SELECT * FROM read_parquet({_sql_str(str(f))})")
                names.append(name)
        except duckdb.Error as e:  # a truncated or foreign file in the index
            msg = str(e).splitlines()[0]
            raise BankError(f"{self.path}: cannot read the bank index ({msg}); re-add the source or remove the file") from None
        return names

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL over the bank's tables and return a DataFrame.

        Raises
        ------
        QueryError
            With DuckDB's message when the SQL is invalid.
        """
        import pandas  # noqa: F401 - DuckDB's .df() needs it

        return self._run(sql, lambda res: res.df())

    def query_rows(self, sql: str) -> tuple[list[str], list[tuple]]:
        """Run SQL over the bank's tables and return ``(column names, rows as tuples)``, without pandas.

        Raises
        ------
        QueryError
            With DuckDB's message when the SQL is invalid.
        """
        return self._run(sql, lambda res: ([d[0] for d in res.description], res.fetchall()))

    def _run(self, sql: str, take):
        con = self.connect()
        try:
            return take(con.execute(sql))
        except duckdb.Error as e:  # one line: DuckDB's lines joined, its caret line dropped
            msg = " ".join(ln.strip() for ln in str(e).splitlines() if ln.strip() and set(ln.strip()) != {"^"})
            raise QueryError(f"query failed on bank {self.path}: {msg}") from None
        finally:
            con.close()

    def table(self, name: str) -> pd.DataFrame:
        """A whole table as a DataFrame."""
        if name not in TABLES and name not in self.extra_tables():
            raise BankError(f"bank {self.path} has no table {name!r}")
        return self.query(f"SELECT * FROM {name}")

    def summary(self) -> pd.DataFrame:
        """Counts per source: subjects, sessions, images, present files, labels, skipped."""
        return self.query(
            """
            SELECT i.source,
                   count(DISTINCT i.subject_id) AS subjects,
                   count(DISTINCT i.session_id) AS sessions,
                   count(*) AS images,
                   count(*) FILTER (WHERE i.file_present) AS files_present,
                   (SELECT count(*) FROM labels l WHERE l.source = i.source) AS labels,
                   (SELECT count(*) FROM skipped k WHERE k.source = i.source) AS skipped
            FROM images i GROUP BY i.source ORDER BY i.source
            """
        )


def _relative_paths(values, root_abs: Path, root_real: Path, resolver: FolderResolver):
    """A column of paths (an Arrow string array) made relative as :meth:`Bank._relativize` says; POSIX only.

    Whole-column ``pyarrow.compute`` operations.  A clean absolute path (no
    ``.``/``..`` part, doubled or trailing ``/``) that starts with the root as
    given loses it (a slice); another is cut into its folder and
    name, and each distinct folder is looked at once: inside the root as
    given or resolved, it loses the root; outside, it is resolved
    (:class:`~covidbank.pathresolve.FolderResolver`) and tried again, a name
    that is a symbolic link resolved on its own.  The other paths (odd, or
    equal to the root) go through :func:`_relative_one`; relative paths stay
    as they are; empty and missing values become missing.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    v = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if v.null_count == len(v):
        return v
    pre_abs, pre_real = (str(r) if str(r).endswith("/") else str(r) + "/" for r in (root_abs, root_real))
    empty = pc.fill_null(pc.equal(v, ""), False)
    present = pc.and_not(pc.is_valid(v), empty)
    out = pc.if_else(empty, pa.scalar(None, v.type), v) if pc.any(empty).as_py() else v
    roots = pc.is_in(v, value_set=pa.array([str(root_abs), str(root_real)], v.type))
    few = _few_folders(v) if v.null_count == 0 and not pc.any(empty).as_py() else None
    # odd: a "." or ".." part, "//" or a trailing "/" (none in a column of a few clean folders), or the root itself
    odd = roots if few is not None else pc.fill_null(pc.or_(pc.match_substring_regex(v, _ODD_PATH), roots), True)
    clean_abs = pc.and_(pc.and_not(present, odd), pc.fill_null(pc.starts_with(v, "/"), False))
    inside = pc.and_(clean_abs, pc.fill_null(pc.starts_with(v, pre_abs), False))
    n_inside = pc.sum(inside).as_py() or 0
    if n_inside:  # inside the root as given: the path without the root (what the folder loop below gives it)
        if n_inside == len(v):  # every path (the usual column): sliced whole
            out = pc.utf8_slice_codeunits(v, len(pre_abs))
        else:
            out = pc.replace_with_mask(out, inside, pc.utf8_slice_codeunits(pc.filter(v, inside), len(pre_abs)))
        clean_abs = pc.and_not(clean_abs, inside)
    if pc.any(clean_abs).as_py():
        every = pc.all(clean_abs).as_py()  # every path (the usual column): no filter, no replacement
        sub = v if every else pc.filter(v, clean_abs)
        if few is not None and every:  # the folders known: no split
            codes, folders, name = pa.array(few[0]), few[1], None
        else:
            parts = pc.split_pattern(sub, "/", max_splits=1, reverse=True)
            name = pc.list_element(parts, 1)
            enc = pc.dictionary_encode(pc.list_element(parts, 0))
            codes, folders = enc.indices, enc.dictionary.to_pylist()
        prefixes, special = [], []
        for j, p in enumerate(folders):
            d = p + "/"  # the folder, "/"-terminated: what a path inside the root keeps of it
            if d.startswith(pre_abs):
                prefixes.append(d[len(pre_abs):])
            elif d.startswith(pre_real):
                prefixes.append(d[len(pre_real):])
            else:  # outside the root as given: its folder resolved (once), tried again
                rp, links = resolver.folder(p or "/")
                rp = rp.rstrip("/") + "/"
                prefixes.append(rp[len(pre_real):] if rp.startswith(pre_real) else d)
                odd_names = set(links) | ({root_real.name} if rp + root_real.name == str(root_real) else set())
                if odd_names:
                    special.append((j, rp, links, odd_names))
        if (special or any(pre != p + "/" for pre, p in zip(prefixes, folders))) and name is None:
            name = pc.list_element(pc.split_pattern(sub, "/", max_splits=1, reverse=True), 1)
        if all(pre == p + "/" for pre, p in zip(prefixes, folders)):  # every folder kept as it is (outside the root)
            rel = sub
        else:
            rel = pc.binary_join_element_wise(pa.array(prefixes, v.type).take(codes), name, pa.scalar("", v.type))
        if special:  # a symbolic link, or a path that resolves to the root itself: one by one
            fixed = None
            for j, rp, links, odd_names in special:
                rows = pc.indices_nonzero(pc.and_(pc.equal(codes, j),
                                                  pc.is_in(name, value_set=pa.array(sorted(odd_names), v.type)))).to_pylist()
                for k in rows:
                    full, nm = sub[k].as_py(), name[k].as_py()
                    real = str(resolver.resolve(full)) if nm in links else rp + nm
                    fixed = rel.to_pylist() if fixed is None else fixed
                    fixed[k] = real[len(pre_real):] if real.startswith(pre_real) else "." if real == str(root_real) else full
            if fixed is not None:
                rel = pa.array(fixed, v.type)
        out = rel.cast(v.type) if every else pc.replace_with_mask(out, clean_abs, rel.cast(v.type))
    odd = pc.and_(present, odd)
    if pc.any(odd).as_py():
        vals = pc.filter(v, odd).to_pylist()
        out = pc.replace_with_mask(out, odd, pa.array([_relative_one(x, root_abs, root_real) for x in vals], v.type))
    return out


#: A path with a "." or ".." part, a doubled or a trailing "/" (made relative one by one, :func:`_relative_one`).
_ODD_PATH = r"(?:^|/)\.{1,2}(?:/|$)|//|/$"


def _few_folders(values, limit: int = 8):
    """``(folder number of each path, folders)`` when every path of ``values`` (an Arrow string array, no
    missing or empty value) is ``folder/name`` for at most ``limit`` absolute folders without an odd part
    (:data:`_ODD_PATH`) and a name without ``/`` other than ``""``, ``.`` or ``..``; else None.

    Found with prefix tests and a count of ``/`` per path, cheaper than cutting every path in two (a column
    written by an adapter holds one or a few folders).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    slashes = pc.count_substring(values, "/").to_numpy(zero_copy_only=False)
    codes = np.full(len(values), -1, dtype=np.int32)
    folders: list[str] = []
    while True:
        left = np.flatnonzero(codes < 0)
        if not len(left):
            break
        if len(folders) == limit:
            return None
        first = values[int(left[0])].as_py()
        folder = first.rpartition("/")[0]
        if not first.startswith("/") or re.search(_ODD_PATH, folder + "/x"):
            return None
        hit = pc.starts_with(values, folder + "/").to_numpy(zero_copy_only=False) & (slashes == folder.count("/") + 1) & (codes < 0)
        codes[hit] = len(folders)
        folders.append(folder)
    dots = pa.array([f + "/" + n for f in folders for n in ("", ".", "..")], values.type)
    return None if pc.any(pc.is_in(values, value_set=dots)).as_py() else (codes, folders)


def _relative_one(v: object, root_abs: Path, root_real: Path) -> str:
    """One path made relative to the root (as given, then resolved), in POSIX form (see ``Bank._relativize``)."""
    p = Path(str(v))
    if p.is_absolute():
        for base in (root_abs, root_real):
            try:
                return Path(os.path.normpath(p)).relative_to(base).as_posix()
            except ValueError:
                continue
        try:
            p = p.resolve().relative_to(root_real)
        except ValueError:
            pass
    return p.as_posix()


def _within(p: Path, root: Path) -> bool:
    return p == root or root in p.parents


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"
