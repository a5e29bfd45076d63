"""Writing files so that nothing is ever half-written: temp file beside the target, then rename.

One home for the pattern every writer of the project uses (bank tables,
sidecars, images, TSVs, key files, caches, reports).  ``os.replace`` is atomic
on POSIX and Windows when source and target are on the same file system, which
a temp file in the target's own folder guarantees.  The temp name starts with a
dot and contains ``.tmp-`` (``.name.tmp-<pid>-<hex><suffixes>``), so a run that
was killed leaves only files that :func:`remove_stale` (and ``.bidsignore``)
recognize; it keeps the target's suffixes so writers that pick a format from
the file name (nibabel, matplotlib) write the right one.

Written by hand because no library in the dependency set offers it
(``atomicwrites`` is unmaintained).
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "atomic_write", "remove_stale", "TEMP_MARK"]

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
