"""Schema tables written to Parquet batch by batch, and read back batch by batch.

A source adapter that streams its input (:mod:`covidbank.sources.cohen`)
writes each table's rows as they are produced to a Parquet file in a
temporary folder (:class:`TableSpool`); :meth:`covidbank.bank.Bank.add`
copies a :class:`SpooledTable` into the bank one batch at a time, so the
memory of ``covidbank add`` is bounded by the batch, not by the table.

Every batch is conformed to the schema (:func:`covidbank.schema.conform`)
and converted the way ``DataFrame.to_parquet`` converts a whole frame
(``pyarrow.Table.from_pandas``, no index), so a table written in batches has
the same Arrow schema, pandas metadata and values as one written at once;
only the row groups differ.  Uses ``pyarrow.parquet.ParquetWriter`` and
``ParquetFile.iter_batches``; nothing here is written by hand but the glue.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SpoolFolder", "TableSpool", "SpooledTable", "write_frames", "remove_stale_spools"]

#: Rows per batch read back from a spooled table.
READ_ROWS = 100_000


def dictionary_columns(names: list[str]) -> list[str]:
    """The columns a spool writes with Parquet dictionary encoding: all but the identifiers (``*_id``).

    An identifier column holds (nearly) one value per row, or per few rows
    (``subject_id`` of ``sessions``): its dictionary is about as large as the
    column, so building it costs time for a larger file.
    """
    return [n for n in names if not n.endswith("_id")]


#: Spool folders are named ``covidbank-spool-<pid>-<random>`` in the temporary directory.
SPOOL_PREFIX = "covidbank-spool-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_spools(tmpdir: str | os.PathLike | None = None) -> list[Path]:
    """Remove spool folders left by a process that no longer runs (an ``add`` killed with SIGKILL).

    A folder is removed only when its name carries the pid of its creator
    and no process of that pid is alive on this machine; folders of running
    adds, and folders of unknown shape, are left.  Returns what was removed.
    """
    root = Path(tmpdir or tempfile.gettempdir())
    gone = []
    for d in root.glob(SPOOL_PREFIX + "*"):
        pid = d.name[len(SPOOL_PREFIX):].split("-", 1)[0]
        if d.is_dir() and not d.is_symlink() and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)
            gone.append(d)
    return gone


class SpoolFolder:
    """A temporary folder for spooled tables, removed when no table refers to it any more.

    Removed on exit and on exceptions; a process killed outright leaves it,
    and the next spool folder made on the machine removes it
    (:func:`remove_stale_spools`).
    """

    def __init__(self, tmpdir: str | os.PathLike | None = None) -> None:
        remove_stale_spools(tmpdir)
        self.path = Path(tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-", dir=tmpdir))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.path), True)

    def cleanup(self) -> None:
        """Remove the folder now."""
        self._finalizer()


@dataclass
class SpooledTable:
    """A schema table held in a Parquet file instead of memory (or, when its spool kept its only batch
    in memory, that batch: see ``TableSpool(hold_first=True)``).

    Attributes
    ----------
    name : str
        The schema table (``images``, ``labels``, ...).
    path : Path
        The Parquet file (conformed rows).
    rows : int
        Row count.
    transforms : list of callables
        Applied in order to every batch read back (``SourceResult.renamed``).
    owner : SpoolFolder
        Keeps the temporary folder alive as long as the table is.
    held : pyarrow.Table, optional
        The rows, when the spool kept them in memory instead of writing ``path`` (which then does not exist).
    """

    name: str
    path: Path
    rows: int
    transforms: list[Callable[[pd.DataFrame], pd.DataFrame]] = field(default_factory=list)
    owner: Any = None
    held: Any = None

    def __len__(self) -> int:
        return self.rows

    def _batches(self, rows: int) -> tuple[Any, Iterator[Any]]:
        """The Arrow schema and the rows as record batches of at most ``rows`` rows (the file's, or the held table's)."""
        import pyarrow.parquet as pq

        if self.held is not None:
            return self.held.schema, iter(self.held.to_batches(max_chunksize=rows))
        pf = pq.ParquetFile(self.path)
        return pf.schema_arrow, pf.iter_batches(batch_size=rows)

    def frames(self, rows: int = READ_ROWS) -> Iterator[pd.DataFrame]:
        """The table's rows as conformed DataFrames of at most ``rows`` rows, in order."""
        import pyarrow as pa

        from .schema import conform

        schema, batches = self._batches(rows)
        for rb in batches:
            df = conform(pa.Table.from_batches([rb], schema=schema).to_pandas(), self.name)
            for fn in self.transforms:
                df = fn(df)
            yield df

    def copy_to(self, path: Path, prepare: Callable[[Any], Any] | None = None, rows: int = READ_ROWS) -> int:
        """Write the rows to the Parquet file ``path`` as Arrow batches of at most ``rows`` rows; return the rows.

        Each batch (a ``pyarrow.Table`` with the spooled schema, pandas
        metadata included) is passed through ``prepare``; nothing is
        converted to pandas.  With no ``prepare`` the spooled file is copied
        as it is unless its row groups are small (under a quarter of
        ``rows`` on average: an adapter's tiny batches), which are rewritten.  The spooled schema is the one
        ``DataFrame.to_parquet`` gives the conformed rows, so the file is the
        one :func:`write_frames` writes from :meth:`frames` when ``prepare``
        does what its ``prepare`` does.  Only for a table without transforms.
        A held table (no file) is written batch by batch like a rewritten one.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.transforms:
            raise ValueError("copy_to: the table has transforms (pandas functions); use frames()")
        if self.held is None:
            pf = pq.ParquetFile(self.path)
            groups = pf.metadata.num_row_groups
            if prepare is None and (groups <= 1 or pf.metadata.num_rows >= groups * rows // 4):
                # the rows as they are, in row groups of about `rows` rows (not the few rows of a tiny batch): the file itself
                pf.close()
                shutil.copyfile(self.path, path)
                return self.rows
            pf.close()
        schema, batches = self._batches(rows)
        out = TableSpool(self.name, path)
        try:
            for rb in batches:
                t = pa.Table.from_batches([rb], schema=schema)
                out.write_arrow(prepare(t) if prepare is not None else t)
        finally:
            written = out.close()
        if not written:
            pq.write_table(schema.empty_table(), path)
        return out.rows

    def null_count(self, column: str) -> int:
        """Missing values in ``column`` (0 when the table has no such column); reads that column only."""
        import pyarrow.parquet as pq

        if self.transforms:
            raise ValueError("null_count: the table has transforms (pandas functions)")
        if self.held is not None:
            return self.held.column(column).null_count if column in self.held.column_names else 0
        pf = pq.ParquetFile(self.path)
        if column not in pf.schema_arrow.names:
            return 0
        return pf.read(columns=[column]).column(0).null_count

    def frame(self) -> pd.DataFrame:
        """The whole table in memory (for small sources and tests)."""
        import pandas as pd

        from .schema import conform, empty_table

        parts = list(self.frames())
        if not parts:
            return empty_table(self.name)
        return conform(pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0], self.name)

    def with_transform(self, fn: Callable[[pd.DataFrame], pd.DataFrame]) -> "SpooledTable":
        """The same rows with ``fn`` applied to every batch (the file is shared, not copied)."""
        return replace(self, transforms=[*self.transforms, fn])


class TableSpool:
    """Appends conformed batches of one schema table to a Parquet file.

    Parameters
    ----------
    name : str
        The schema table.
    path : Path
        The Parquet file to write (its folder must exist).
    hold_first : bool
        Keep the first batch in memory and write it only when a second one
        comes: a table of one batch is never written (:meth:`table` holds
        it), for a table that :meth:`covidbank.bank.Bank.add` rewrites anyway.
        Memory grows by one batch at most.
    **options
        Passed to ``pyarrow.parquet.ParquetWriter`` (``use_dictionary=False``
        for a table that :meth:`covidbank.bank.Bank.add` rewrites anyway:
        cheaper to write and read back, a little larger).
    """

    def __init__(self, name: str, path: Path, hold_first: bool = False, **options: Any) -> None:
        self.name, self.path = name, Path(path)
        self.rows = 0
        self._writer = None
        self._held = None
        self._hold = hold_first
        self._options = options

    def write(self, df: pd.DataFrame, conformed: bool = False) -> None:
        """Append ``df``'s rows (conformed to the schema unless ``conformed``)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from .schema import conform

        if not len(df):
            return
        if not conformed:
            df = conform(df, self.name)
        schema = self._writer.schema if self._writer is not None else self._held.schema if self._held is not None else None
        self.write_arrow(pa.Table.from_pandas(df, preserve_index=False, schema=schema))

    def write_arrow(self, t: Any) -> None:
        """Append a ``pyarrow.Table`` as it is (the first one's schema, metadata included, is the file's)."""
        import pyarrow.parquet as pq

        if not t.num_rows:
            return
        if self._hold and self._writer is None and self._held is None:
            self._held = t
            self.rows += t.num_rows
            return
        if self._writer is None:
            first = self._held if self._held is not None else t
            options = {"use_dictionary": dictionary_columns(first.schema.names), **self._options}
            self._writer = pq.ParquetWriter(self.path, first.schema, **options)
        if self._held is not None:
            held, self._held = self._held, None
            self._writer.write_table(held)
        self._writer.write_table(t)
        self.rows += t.num_rows

    def close(self) -> bool:
        """Finish the file; returns whether any row was written."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self.rows > 0

    def table(self, owner: Any = None) -> SpooledTable:
        """The finished file (or held batch) as a :class:`SpooledTable` (call :meth:`close` first)."""
        return SpooledTable(self.name, self.path, self.rows, owner=owner, held=self._held)


def write_frames(frames: Iterator[pd.DataFrame], path: Path, name: str,
                 prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> int:
    """Write ``frames`` (one schema table, in batches) to the Parquet file ``path``; return the rows.

    Each frame is conformed, passed through ``prepare`` and appended; with no
    row at all an empty table with the schema's columns is written, as
    ``DataFrame.to_parquet`` would.
    """
    from .schema import conform, empty_table

    spool = TableSpool(name, path)
    for df in frames:
        df = conform(df, name)
        spool.write(prepare(df) if prepare else df, conformed=True)
    if not spool.close():
        df = empty_table(name)
        (prepare(df) if prepare else df).to_parquet(path, index=False)
    return spool.rows
