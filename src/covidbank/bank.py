"""The bank: a folder whose index is Parquet files queried through DuckDB.

Layout::

    BANK/
      index/
        sources/<source>/<table>.parquet   one folder per source, replaced whole
        tables/<name>.parquet              bank-wide tables (splits, duplicates, ...)
      ... images laid out by ingest (MIDS), never touched by the index

Adding a source replaces that source's folder atomically (write to a temporary
folder, then rename), so adding the same source twice never duplicates rows
and an interrupted add leaves the previous state.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import duckdb
import pandas as pd

from .errors import BankError, QueryError
from .fileio import atomic_path
from .schema import TABLES, conform, empty_table

__all__ = ["Bank", "AddSummary", "paths_outside", "PATH_COLUMNS"]

#: Index columns that name files the viewer may serve.
PATH_COLUMNS = ("path", "mask_path")


def _inside(p: Path, roots: list[Path]) -> bool:
    return any(p == r or r in p.parents for r in roots)


def paths_outside(tables: Mapping[str, pd.DataFrame], roots: list[str | os.PathLike], bank: str | os.PathLike) -> list[str]:
    """Records whose file paths leave every folder of ``roots`` and the bank (``source:record`` names).

    Relative paths are taken from the bank folder; every path is resolved
    (``..`` and symbolic links) before the check.
    """
    base = Path(bank).resolve()
    allowed = [Path(r).resolve() for r in roots] + [base]
    bad = []
    for name, df in tables.items():
        if df is None or not len(df):
            continue
        cols = [c for c in df.columns if c in PATH_COLUMNS or c.endswith("_mask_path")]
        if not cols:
            continue
        ids = df["image_id"] if "image_id" in df.columns else df.index
        for col in cols:
            for rid, v in zip(ids, df[col]):
                if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)) or str(v) == "":
                    continue
                p = Path(str(v))
                p = (p if p.is_absolute() else base / p).resolve()
                if not _inside(p, allowed):
                    bad.append(f"{name}:{rid} ({col})")
    return bad


def _derived_roots(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """The deepest common folder of the absolute file paths of ``tables`` (for a source added without roots)."""
    folders = set()
    for df in tables.values():
        if df is None or not len(df):
            continue
        for col in [c for c in df.columns if c in PATH_COLUMNS or c.endswith("_mask_path")]:
            for v in df[col].dropna():
                if str(v) and Path(str(v)).is_absolute():
                    folders.add(str(Path(str(v)).resolve().parent))
    if not folders:
        return []
    return [os.path.commonpath(sorted(folders))]

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


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
            roots: list[str | os.PathLike] | None = None) -> AddSummary:
        """Add (or replace) all rows of ``source``.

        Parameters
        ----------
        source : str
            Source name; its rows replace any earlier rows of the same name.
        tables : mapping of str to DataFrame
            Rows per schema table (``images``, ``labels``, ...).  Missing tables
            are written empty.  Extra tables not in the schema are rejected.
        meta : dict, optional
            Extra provenance written to ``meta.json`` in the source folder.
        roots : list of path-like, optional
            The source's folders (``covidbank add`` passes the dataset folder):
            every file path of the tables must stay inside one of them or the
            bank, or the add is refused naming the records.  They are recorded
            (``meta.json`` ``roots``) and the viewer serves files only from
            them and the bank.  Without ``roots`` the deepest common folder of
            the absolute paths is recorded.

        Returns
        -------
        AddSummary

        Raises
        ------
        BankError
            A path leaves the source's roots (the message names the records).
        """
        if not _NAME_RE.match(source):
            raise BankError(f"invalid source name {source!r}: use letters, digits, '_', '-', '.'")
        unknown = set(tables) - set(TABLES)
        if unknown:
            raise BankError(f"unknown tables {sorted(unknown)}: known tables are {sorted(TABLES)}")
        if roots is not None:
            bad = paths_outside(tables, roots, self.path)
            if bad:
                shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                raise BankError(f"source {source!r}: {len(bad)} record(s) name files outside the source folder "
                                f"and the bank ({shown}); fix the source's paths (no '..' that climbs out)")
            root_list = [str(Path(r).resolve()) for r in roots]
        else:
            root_list = _derived_roots(tables)
        (self.index_dir / "sources").mkdir(parents=True, exist_ok=True)
        (self.index_dir / "tables").mkdir(parents=True, exist_ok=True)
        sdir = self.index_dir / "sources"
        tmp = sdir / f".{source}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        counts = {}
        try:
            for name in TABLES:
                df = tables.get(name)
                df = empty_table(name) if df is None else conform(df, name)
                if "source" in df.columns:
                    df["source"] = df["source"].fillna(source)
                df.to_parquet(tmp / f"{name}.parquet", index=False)
                counts[name] = len(df)
            (tmp / "meta.json").write_text(json.dumps({"source": source, **(meta or {}), "roots": root_list},
                                                      indent=2, default=str))
            final = sdir / source
            old = sdir / f".{source}.old"
            replaced = final.exists()
            if replaced:
                final.rename(old)
            tmp.rename(final)
            if replaced:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return AddSummary(source=source, counts=counts, replaced=replaced)

    def remove(self, source: str) -> bool:
        """Remove a source's rows.  Returns whether the source was there."""
        d = self._source_dir(source)
        if not d.exists():
            return False
        shutil.rmtree(d)
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

    def source_roots(self) -> dict[str, list[Path]]:
        """Folders each source's files may be served from (recorded at :meth:`add`)."""
        return {s: [Path(r) for r in self.source_meta(s).get("roots") or []] for s in self.sources()}

    def extra_tables(self) -> list[str]:
        """Names of bank-wide tables written with :meth:`write_table`."""
        d = self.index_dir / "tables"
        if not d.is_dir():
            return []
        return sorted(p.stem for p in d.glob("*.parquet") if not p.name.startswith("."))

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with one view per bank table."""
        con = duckdb.connect()
        srcs = self.sources()
        extras = set(self.extra_tables())
        try:
            for name in TABLES:
                files = [str(self._source_dir(s) / f"{name}.parquet") for s in srcs]
                files = [f for f in files if Path(f).exists()]
                if name in extras:
                    files.append(str(self.index_dir / "tables" / f"{name}.parquet"))
                if files:
                    lst = ", ".join(_sql_str(f) for f in files)
                    con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{lst}], union_by_name=true)")
                else:
                    con.register(f"_empty_{name}", empty_table(name))
                    con.execute(f"CREATE VIEW {name} AS SELECT * FROM _empty_{name}")
            for name in extras - set(TABLES):
                f = self.index_dir / "tables" / f"{name}.parquet"
                con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({_sql_str(str(f))})")
        except duckdb.Error as e:  # a truncated or foreign file in the index
            con.close()
            msg = str(e).splitlines()[0]
            raise BankError(f"{self.path}: cannot read the bank index ({msg}); re-add the source or remove the file") from None
        return con

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL over the bank's tables and return a DataFrame.

        Raises
        ------
        QueryError
            With DuckDB's message when the SQL is invalid.
        """
        con = self.connect()
        try:
            return con.execute(sql).df()
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


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"
