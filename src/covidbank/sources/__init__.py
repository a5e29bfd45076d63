"""Source adapters: one module per public dataset.

Each adapter has a ``load(path, **options) -> SourceResult`` function that
reads the data as published, never crashes on one bad row, and returns what it
skipped with a reason.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

from ..errors import SourceFormatError
from .base import Skip, SourceResult, normalize_license, parse_age, parse_bool

__all__ = ["SOURCES", "load_source", "add_source", "SourceResult", "Skip", "normalize_license", "parse_age", "parse_bool"]

#: Source name -> module that implements ``load``.
SOURCES: dict[str, str] = {
    "cohen": "covidbank.sources.cohen",
    "bimcv": "covidbank.sources.bimcv",
    "mosmed": "covidbank.sources.mosmed",
    "mids": "covidbank.sources.mids",
}


def _loader(name: str) -> Callable[..., SourceResult]:
    if name not in SOURCES:
        raise SourceFormatError(f"unknown source {name!r}: choose one of {', '.join(SOURCES)}")
    return importlib.import_module(SOURCES[name]).load


def load_source(name: str, path: str | Path, **options) -> SourceResult:
    """Load a public source with its adapter.

    Parameters
    ----------
    name : str
        One of :data:`SOURCES` (``cohen``, ``bimcv``, ``mosmed``, ``mids``).
    path : str or Path
        The dataset's folder or main file, as published.
    **options
        Adapter options (see each adapter's ``load``).

    Raises
    ------
    SourceFormatError
        When the path is missing, empty, or lacks required columns.
    """
    p = Path(path)
    if not p.exists():
        raise SourceFormatError(f"{p}: no such file or folder")
    p = p.absolute()  # every path an adapter records is absolute, so the bank keeps it relative to the root
    if p.is_dir() and not any(p.iterdir()):
        raise SourceFormatError(f"{p}: folder is empty")
    return _loader(name)(p, **options)


def add_source(bank, adapter: str, path: str | Path, name: str | None = None, **options):
    """Load a public source and add it to a bank, relocatably.

    The source's root (``path`` when it is a folder, else its folder) is
    recorded in the bank's configuration and the index keeps paths relative to
    it (:meth:`covidbank.bank.Bank.add`); ``name`` renames the source and the
    prefix of its identifiers (:meth:`SourceResult.renamed`).

    Returns
    -------
    (AddSummary, SourceResult)
    """
    from ..bank import Bank

    res = load_source(adapter, path, **options)
    if name and name != res.source:
        res = res.renamed(name)
    b = bank if isinstance(bank, Bank) else Bank(bank, create=True)
    p = Path(path)
    root = p if p.is_dir() else p.parent
    bad = paths_outside(res.all_tables(), root)
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise SourceFormatError(f"{p}: {len(bad)} record(s) name files outside the source folder {root} ({shown}); "
                                "fix their paths (no '..' or link that climbs out); nothing was added")
    summary = b.add(res.source, res.all_tables(), meta=res.meta, root=root)
    return summary, res


def paths_outside(tables, root: str | Path) -> list[str]:
    """Records of ``tables`` whose file paths leave ``root`` (``..`` and symbolic links resolved).

    Returns ``table:record (column)`` names; an absent path is not checked.
    A spooled table (:class:`~covidbank.spool.SpooledTable`) is read batch by
    batch; each folder is resolved once (:class:`~covidbank.pathresolve.FolderResolver`).
    """
    import os

    import pandas as pd

    from ..bank import is_path_column
    from ..pathresolve import FolderResolver
    from ..spool import SpooledTable

    base = Path(root).resolve()
    prefix = str(base) if str(base).endswith(os.sep) else str(base) + os.sep
    resolved = FolderResolver().resolve

    bad = []
    for name, table in tables.items():
        if table is None or not len(table):
            continue
        for df in (table.frames() if isinstance(table, SpooledTable) else [table]):
            ids = df["image_id"] if "image_id" in df.columns else df.index
            for col in [c for c in df.columns if is_path_column(c)]:
                for rid, v in zip(ids, df[col]):
                    if v is None or v is pd.NA or (isinstance(v, float) and v != v) or not str(v):
                        continue
                    q = Path(str(v))
                    q = str(resolved(q if q.is_absolute() else base / q))
                    if q != str(base) and not q.startswith(prefix):
                        bad.append(f"{name}:{rid} ({col})")
    return bad
