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
from typing import TYPE_CHECKING, Mapping

import duckdb

from .errors import BankError, QueryError
from .fileio import atomic_path
from .schema import TABLES, conform, empty_select, empty_table

if TYPE_CHECKING:  # pandas is imported by the methods that build frames, so `covidbank query` starts without it
    import pandas as pd

__all__ = ["Bank", "AddSummary"]

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
    def add(self, source: str, tables: Mapping[str, pd.DataFrame], meta: dict | None = None) -> AddSummary:
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

        Returns
        -------
        AddSummary
        """
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
        try:
            for name in TABLES:
                df = tables.get(name)
                df = empty_table(name) if df is None else conform(df, name)
                if "source" in df.columns:
                    df["source"] = df["source"].fillna(source)
                df.to_parquet(tmp / f"{name}.parquet", index=False)
                counts[name] = len(df)
            (tmp / "meta.json").write_text(json.dumps({"source": source, **(meta or {})}, indent=2, default=str))
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


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"
