"""The project key: deterministic pseudonyms, UID replacements and date shifts.

Everything an ingest derives from an identifier goes through an HMAC-SHA256 of
that identifier under a secret key kept in a key file **outside the bank**.
The same key gives the same pseudonyms, UIDs and shifts on every run (so a
patient ingested again later keeps their ids); a different key gives unrelated
ones; without the key nothing in the bank can be linked back.

Key rules (``docs/privacy.md``):

* one bank, one key: the bank records the key's fingerprint
  (:func:`key_fingerprint`, an HMAC of a constant, never the key) in
  ``BANK/.covidbank/key.json``; an ingest with a missing or another key into a
  bank that has one is refused before anything is written (:func:`bind_key`);
* a key is never created silently: :func:`new_key` (``covidbank key new PATH``
  or ``covidbank ingest --new-key``) creates one and says where;
* a key file readable or writable by others, inside the bank, or with other
  hard links (one could sit inside the bank) is refused (:func:`load_key`).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import BankError, KeyFileError
from ..fileio import atomic_write

__all__ = ["Keyring", "load_key", "new_key", "default_key_file", "PseudonymRegistry", "key_fingerprint",
           "bank_fingerprint", "bind_key", "bank_lock", "key_for_bank", "KEY_RECORD", "REGISTRY"]

#: Where a bank records its key's fingerprint and its pseudonym registry (keyed tokens only).
KEY_RECORD = ".covidbank/key.json"
REGISTRY = ".covidbank/pseudonyms.json"
_LOCK = ".covidbank/ingest.lock"

#: Shifts move dates back by 1 to 10 years (whole days, one shift per patient).
SHIFT_MIN_DAYS = 365
SHIFT_SPAN_DAYS = 3287


def default_key_file() -> Path:
    """``$COVIDBANK_KEY_FILE`` or ``~/.config/covidbank/ingest.key``."""
    env = os.environ.get("COVIDBANK_KEY_FILE")
    return Path(env) if env else Path.home() / ".config" / "covidbank" / "ingest.key"


def _inside(p: Path, bank: Path) -> bool:
    return p == bank or bank in p.parents


def new_key(path: str | os.PathLike, bank: str | os.PathLike | None = None) -> Path:
    """Create a new random project key at ``path`` (mode 0600); refuse to overwrite one.

    Raises
    ------
    KeyFileError
        ``path`` exists already, or lies inside ``bank``.
    """
    p = Path(path).expanduser().resolve()
    if bank is not None and _inside(p, Path(bank).expanduser().resolve()):
        raise KeyFileError(f"{p}: the key file must be kept outside the bank {Path(bank).resolve()}")
    if p.exists():
        raise KeyFileError(f"{p}: a key file exists already; use it, or choose another path for a new key")
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(p, secrets.token_hex(32) + "\n", mode=0o600)
    return p


def load_key(path: str | os.PathLike, create: bool = False, bank: str | os.PathLike | None = None) -> bytes:
    """Read a key file holding 64 hex digits.

    Parameters
    ----------
    path : path-like
        Key file.
    create : bool
        Create a new key when the file does not exist (the explicit
        ``--new-key`` choice; never the default).
    bank : path-like, optional
        Bank folder; a key file inside it is refused.

    Raises
    ------
    KeyFileError
        The file is inside the bank, missing, readable or writable by group or
        others, has other hard links, or is malformed.
    """
    p = Path(path).expanduser().resolve()
    if bank is not None:
        b = Path(bank).expanduser().resolve()
        if _inside(p, b):
            raise KeyFileError(f"{p}: the key file must be kept outside the bank {b}; move it and pass --key-file")
    if not p.exists():
        if not create:
            raise KeyFileError(f"{p}: key file not found; pass the project's --key-file, or create a key with "
                               f"`covidbank key new PATH` (or `covidbank ingest --new-key`)")
        new_key(p, bank)
    st = p.stat()
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"{p}: not a regular file")
    if os.name == "posix" and st.st_mode & 0o077:
        raise KeyFileError(f"{p}: the key file is readable or writable by other users (mode "
                           f"{stat.S_IMODE(st.st_mode):04o}); run `chmod 600 {p}`")
    if st.st_nlink > 1:
        raise KeyFileError(f"{p}: the key file has {st.st_nlink - 1} other hard link(s), one of which could be "
                           "inside a bank that is shared; keep a single copy (remove the other links)")
    text = p.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise KeyFileError(f"{p}: not a covidbank key file (expected at least 32 hex digits)")
    return key


def key_fingerprint(key: bytes) -> str:
    """Public fingerprint of a key: an HMAC of a constant under it (reveals nothing of the key)."""
    return "hmac-sha256:" + hmac.new(bytes(key), b"covidbank key fingerprint v1", hashlib.sha256).hexdigest()[:32]


def bank_fingerprint(bank: str | os.PathLike) -> str | None:
    """The key fingerprint a bank records, or None."""
    p = Path(bank) / KEY_RECORD
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())["fingerprint"]
    except (ValueError, KeyError) as e:
        raise BankError(f"{p}: unreadable key record; restore it from a backup of the bank") from e


def _bank_has_content(bank: Path) -> bool:
    return (bank / REGISTRY).exists() or any(bank.glob("sub-*"))


def bind_key(bank: str | os.PathLike, key: bytes, key_path: str | os.PathLike | None = None) -> str:
    """Check that ``key`` is the key of ``bank`` (record it in a new bank); return the fingerprint.

    Raises
    ------
    KeyFileError
        The bank records another key's fingerprint (nothing is written).
    """
    root = Path(bank)
    fp = key_fingerprint(key)
    have = bank_fingerprint(root)
    where = f" ({Path(key_path).expanduser()})" if key_path else ""
    if have is not None and have != fp:
        raise KeyFileError(f"{root}: this bank was made with another key (fingerprint {have}); the key given{where} "
                           f"has fingerprint {fp}. Pass the bank's --key-file; nothing was changed")
    if have is None:
        atomic_write(root / KEY_RECORD, json.dumps({"fingerprint": fp, "adopted": _bank_has_content(root)},
                                                   indent=1, sort_keys=True) + "\n")
    return fp


def key_for_bank(key_file: str | os.PathLike | None, bank: str | os.PathLike,
                 new_key: bool = False) -> tuple[bytes, Path, bool]:
    """Load the key a writer into ``bank`` uses, checked before anything is written.

    Returns ``(key, key path, created)``.  ``key_file`` defaults to
    :func:`default_key_file`; the key is created only with ``new_key``.

    Raises
    ------
    KeyFileError
        Missing key (without ``new_key``), unsafe key file, or a key that is not the bank's.
    """
    kpath = Path(key_file or default_key_file()).expanduser()
    created = new_key and not kpath.exists()
    root = Path(bank)
    have = bank_fingerprint(root) if root.exists() else None
    if created and have is not None:  # a key made now cannot be this bank's: refuse before creating the file
        raise KeyFileError(f"{root}: this bank was made with another key (fingerprint {have}); a new key "
                           f"({kpath}) cannot open it. Pass the bank's --key-file; nothing was changed or created")
    key = load_key(kpath, create=new_key, bank=bank)
    if have not in (None, key_fingerprint(key)):
        bind_key(root, key, kpath)  # raises, naming both fingerprints
    return key, kpath, created


@contextmanager
def bank_lock(bank: str | os.PathLike, timeout: float = -1) -> Iterator[None]:
    """Hold the bank's ingest lock (``BANK/.covidbank/ingest.lock``) for the block.

    A second ingest into the same bank waits (``timeout`` seconds; -1 forever,
    0 refuse at once) until the first has released it.

    Raises
    ------
    BankError
        The lock was not obtained within ``timeout``.
    """
    from filelock import FileLock, Timeout

    p = Path(bank) / _LOCK
    p.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(p))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise BankError(f"{bank}: another ingest holds the bank's lock ({p}); wait for it to finish") from None
    try:
        yield
    finally:
        lock.release()


class Keyring:
    """Keyed derivations from one project key.

    Parameters
    ----------
    key : bytes
        The secret project key.
    """

    def __init__(self, key: bytes) -> None:
        self._key = bytes(key)

    def digest(self, kind: str, value: str) -> bytes:
        """HMAC-SHA256 of ``kind`` and ``value`` under the key."""
        return hmac.digest(self._key, f"{kind}\x00{value}".encode("utf-8", "surrogateescape"), "sha256")

    def token(self, kind: str, value: str) -> str:
        """Hex token (32 hex digits) of ``value``: stable, reveals nothing without the key."""
        return self.digest(kind, value).hex()[:32]

    def audit_hash(self, value: object, patient: str = "") -> str:
        """Keyed hash of an attribute's old value for audit records, keyed with the patient too.

        ``patient`` (the patient's pseudonym or token) makes the hash of one
        value different for every patient, so two patients who shared a real
        study date or birth date share no digest in the bank.
        """
        return self.digest("audit", f"{patient}\x00{value!r}").hex()[:24]

    def uid(self, uid: str) -> str:
        """Consistent replacement of a UID: ``2.25.<integer from the HMAC>`` (at most 64 characters)."""
        n = int.from_bytes(self.digest("uid", str(uid).strip())[:16], "big")
        return f"2.25.{n}"

    def date_shift_days(self, patient_token: str) -> int:
        """Days added to every date of one patient (negative: 1 to 10 years back)."""
        n = int.from_bytes(self.digest("dateshift", patient_token)[:8], "big")
        return -(SHIFT_MIN_DAYS + n % SHIFT_SPAN_DAYS)

    def time_shift_seconds(self, patient_token: str) -> int:
        """Seconds added (modulo one day) to every time of day of one patient."""
        n = int.from_bytes(self.digest("timeshift", patient_token)[:8], "big")
        return 1 + n % 86399

    def number(self, kind: str, value: str, attempt: int = 0, digits: int = 5) -> int:
        """Number in ``1..10**digits - 1`` for a pseudonym, re-drawn on ``attempt`` after a collision."""
        n = int.from_bytes(self.digest(f"{kind}#{attempt}", value)[:8], "big")
        return 1 + n % (10**digits - 1)


class PseudonymRegistry:
    """Pseudonym numbers already given, keyed by HMAC tokens (no identifier).

    Collision-free by construction: a number is drawn from the key
    (:meth:`Keyring.number`) and re-drawn while it is taken, so two tokens
    never share a label.  The identifier space grows instead of looping: labels
    have 5 digits (``S01234``) while fewer than half of the 5-digit numbers are
    used, then 6, 7, ... digits (labels already given never change).  Numbers
    of every width share one set, so ``S01234`` and ``S001234`` are never both
    given.  An ingest loads, extends and saves the registry while it holds the
    bank's lock (:func:`bank_lock`), so two ingests into one bank cannot give
    one number twice.

    Parameters
    ----------
    path : path-like
        JSON file (inside the bank: it holds only keyed tokens).
    """

    MIN_DIGITS = 5

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.data: dict[str, dict[str, list[int] | int]] = {"sub": {}, "ses": {}}
        if self.path.exists():
            self.data.update(json.loads(self.path.read_text()))
        self._used: dict[str, set[int]] = {}
        for kind, table in self.data.items():
            for tok, v in list(table.items()):
                n, d = (v, self.MIN_DIGITS) if isinstance(v, int) else (int(v[0]), int(v[1]))
                table[tok] = [n, d]
                self._used.setdefault(kind, set()).add(n)

    def _digits(self, kind: str) -> int:
        used = len(self._used.get(kind, ()))
        d = self.MIN_DIGITS
        while used >= (10**d - 1) // 2:
            d += 1
        return d

    def get(self, keyring: Keyring, kind: str, token: str) -> str:
        """Pseudonym label (``S01234`` for ``sub``, ``E01234`` for ``ses``) of ``token``."""
        table = self.data.setdefault(kind, {})
        used = self._used.setdefault(kind, set())
        if token not in table:
            digits = self._digits(kind)
            attempt = 0
            while True:  # at most half the space is used: the expected number of draws is below 2
                n = keyring.number(kind, token, attempt, digits)
                if n not in used:
                    break
                attempt += 1
            table[token] = [n, digits]
            used.add(n)
        n, d = table[token]
        prefix = "S" if kind == "sub" else "E"
        return f"{prefix}{n:0{d}d}"

    def labels(self, kind: str) -> dict[str, str]:
        """Token -> label of every pseudonym of ``kind`` given so far."""
        prefix = "S" if kind == "sub" else "E"
        return {t: f"{prefix}{n:0{d}d}" for t, (n, d) in self.data.get(kind, {}).items()}

    def save(self) -> None:
        """Write the registry atomically."""
        atomic_write(self.path, json.dumps(self.data, separators=(",", ":"), sort_keys=True))
