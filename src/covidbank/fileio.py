"""Writing files so that nothing is ever half-written: temp file beside the target, then rename.

One home for the pattern every writer of the project uses (bank tables,
sidecars, images, TSVs, key files, caches, reports).  ``os.replace`` is atomic
on POSIX and Windows when source and target are on the same file system, which
a temp file in the target's own folder guarantees.  The temp name starts with a
dot and contains ``.tmp-`` (``.name.tmp-<pid>-<hex><suffixes>``), so a run that
was killed leaves only files that :func:`remove_stale` (and ``.bidsignore``)
recognize; it keeps the target's suffixes so writers that pick a format from
the file name (nibabel, matplotlib) write the right one.

:func:`read_csv_text` is the one way the project reads a CSV/TSV of text with
pandas (source tables, ingest tests/reports files, the audit's raw tables,
report tables): never an index taken from the data.

Written by hand because no library in the dependency set offers it
(``atomicwrites`` is unmaintained).
"""
from __future__ import annotations

import os
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

__all__ = ["atomic_path", "atomic_write", "read_csv_text", "remove_stale", "TEMP_MARK"]

#: Marker in the name of every temporary file (for clean-up globs).
TEMP_MARK = ".tmp-"


def _temp_for(path: Path) -> Path:
    suffixes = "".join(path.suffixes[-2:]) if path.name.endswith(".nii.gz") else path.suffix
    return path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}{suffixes}")


@contextmanager
def atomic_path(path: str | os.PathLike, *, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    Parameters
    ----------
    path : path-like
        The file to write. Its folder is created when missing.
    mode : int, optional
        Permission bits of the new file (for example ``0o600`` for a key file),
        set before the rename so the file is never readable by others.

    Notes
    -----
    When the block raises, or writes nothing, the temporary file is removed and
    ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_for(target)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{target}: nothing was written to the temporary file {tmp.name}")
        if mode is not None:
            os.chmod(tmp, mode)
        try:
            os.replace(tmp, target)
        except OSError as e:  # name the target, not the temporary file, in the error
            raise type(e)(e.errno, e.strerror, str(target)) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(path: str | os.PathLike, data: bytes | str, *, encoding: str = "utf-8",
                 mode: int | None = None) -> Path:
    """Write ``data`` (bytes, or text in ``encoding``) to ``path`` atomically; return ``path``.

    With ``mode`` the temporary file is created with those permission bits
    (``os.open`` with ``O_EXCL``), so secret files are never world-readable,
    not even for a moment.
    """
    raw = data.encode(encoding) if isinstance(data, str) else bytes(data)
    target = Path(path)
    with atomic_path(target) as tmp:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(tmp, flags, 0o666 if mode is None else mode)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
    return target


def remove_stale(folder: str | os.PathLike, patterns: tuple[str, ...] = ("**/.*.tmp-*",)) -> int:
    """Remove temporary files a killed writer left under ``folder``; return how many.

    Only names carrying :data:`TEMP_MARK` are touched.
    """
    n = 0
    for pattern in patterns:
        for p in Path(folder).glob(pattern):
            if TEMP_MARK in p.name and p.is_file():
                try:
                    p.unlink()
                    n += 1
                except OSError:
                    pass
    return n


def read_csv_text(path: Path | str, sep: str = ",", longer_rows: str = "error", **kwargs: Any) -> Any:
    """``pandas.read_csv`` with every cell as text (empty cells as ``""``), never an index taken from the data.

    A first data row with more fields than the header makes pandas take the
    first column(s) as the index (its rule for a table written with an
    unnamed index), so every column is read shifted by one; ``index_col=False``
    only warns and drops the extra field. Such a row is refused here with the
    error the C parser gives for a longer row anywhere else
    (``pandas.errors.ParserError``: ``Expected n fields in line l, saw m``),
    or, with ``longer_rows="truncate"``, kept without its extra fields as
    every longer row is.

    Parameters
    ----------
    path : Path or str
        The table.
    sep : str
        The field separator.
    longer_rows : {"error", "truncate"}
        A row (the first data row included) with more fields than the header:
        the parser's error (``"error"``), or kept with its first fields, one
        per column (``"truncate"``: pandas' Python parser, for readers that
        must see every row, such as the audit's deny-list of the raw input).
    **kwargs
        More arguments of ``pandas.read_csv`` (``encoding``, ``comment``,
        ``chunksize``, ``nrows``, ...); not ``index_col`` (nor, with
        ``"truncate"``, ``engine`` or ``on_bad_lines``).

    Returns
    -------
    pandas.DataFrame or pandas.io.parsers.TextFileReader
        What ``pandas.read_csv`` returns for these arguments.

    Raises
    ------
    pandas.errors.ParserError
        A row (the first data row included) has more fields than the header
        (``longer_rows="error"``).
    ValueError
        ``longer_rows`` is neither ``"error"`` nor ``"truncate"``.
    """
    import pandas as pd

    kw: dict[str, Any] = dict(sep=sep, dtype=str, keep_default_na=False, **kwargs)
    if longer_rows == "truncate":
        n = len(pd.read_csv(path, header=None, nrows=1, index_col=False, **_probe_args(kw)).columns)
        kw.update(engine="python", on_bad_lines=lambda fields: fields[:n])
        with warnings.catch_warnings():  # the first row's extra fields dropped: what was asked
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            return pd.read_csv(path, index_col=False, **kw)
    elif longer_rows == "error":
        _first_row_fits(path, kw)
    else:
        raise ValueError(f"longer_rows must be 'error' or 'truncate', not {longer_rows!r}")
    return pd.read_csv(path, index_col=False, **kw)


def _probe_args(kw: dict[str, Any]) -> dict[str, Any]:
    """``kw`` without the arguments that say how much, or which columns, to read (the probe reads every field)."""
    return {k: v for k, v in kw.items() if k not in ("chunksize", "nrows", "header", "iterator", "usecols")}


def _first_row_fits(path: Path | str, kw: dict[str, Any]) -> None:
    """Raise the C parser's ``ParserError`` when the first data row of ``path`` has more fields than the header.

    The header and the first data row are read as two rows of data
    (``header=None``): the second being longer than the first is then the
    error pandas gives for a longer row after the first one.
    """
    import pandas as pd

    pd.read_csv(path, header=None, nrows=2, index_col=False, **_probe_args(kw))
