"""The private staging folder where raw (identifiable) instances wait for de-identification.

Raw files never enter the bank: a pull receives each study into
``<staging>/<study token>/`` (owner-only permissions, outside the bank), and
removes the folder once the study's series are in the bank, or when its
transfer failed.  The staging root of a bank is a fixed place (by default
``$TMPDIR/covidbank-pull-<uid>/<bank token>``), so a pull killed midway
leaves its raw files where the next pull of the same bank finds and removes
them before it starts.  A lock file keeps two pulls from sharing one staging
folder.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import PacsError

__all__ = ["Staging", "default_staging"]


def default_staging(bank_token: str) -> Path:
    """``$COVIDBANK_STAGING`` or ``$TMPDIR/covidbank-pull-<uid>``, then the bank's token."""
    base = os.environ.get("COVIDBANK_STAGING")
    root = Path(base) if base else Path(tempfile.gettempdir()) / f"covidbank-pull-{os.getuid()}"
    return root / bank_token[:16]


class Staging:
    """A locked private folder for raw instances, one sub-folder per study.

    Parameters
    ----------
    root : Path
        The staging folder (created with mode 0700).
    bank : Path
        The bank; a staging folder inside it is refused.
    """

    LOCK = ".lock"

    def __init__(self, root: str | os.PathLike, bank: str | os.PathLike) -> None:
        self.root = Path(root).expanduser().resolve()
        b = Path(bank).expanduser().resolve()
        if self.root == b or b in self.root.parents or self.root in b.parents:
            raise PacsError(f"{self.root}: the staging folder for raw files must be outside the bank {b}")
        self.root.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root.mkdir(exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        self._lock = None

    def __enter__(self) -> "Staging":
        import fcntl

        f = open(self.root / self.LOCK, "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise PacsError(f"{self.root}: another covidbank pull of this bank is running (its staging folder is "
                            "locked); wait for it to finish") from None
        self._lock = f
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def leftovers(self) -> int:
        """Remove what an interrupted pull left (raw files included); return how many files."""
        n = 0
        for p in self.root.iterdir():
            if p.name == self.LOCK:
                continue
            if p.is_dir():
                n += sum(1 for q in p.rglob("*") if q.is_file())
                shutil.rmtree(p, ignore_errors=True)
            else:
                n += 1
                p.unlink(missing_ok=True)
        return n

    def folder(self, token: str) -> Path:
        """The (empty) staging folder of one study."""
        p = self.root / token
        if p.exists():
            shutil.rmtree(p, ignore_errors=True)
        p.mkdir(mode=0o700)
        return p

    @staticmethod
    def remove(folder: Path) -> None:
        """Delete a study's raw files."""
        shutil.rmtree(folder, ignore_errors=True)

    def files(self) -> list[Path]:
        """Raw files present now (for checks)."""
        return [p for p in self.root.rglob("*") if p.is_file() and p.name != self.LOCK]

    def close(self) -> None:
        """Remove every raw file and the staging folder, and release the lock."""
        self.leftovers()
        if self._lock is not None:
            try:
                (self.root / self.LOCK).unlink(missing_ok=True)
            finally:
                self._lock.close()
                self._lock = None
        try:
            self.root.rmdir()
        except OSError:
            pass
