"""The project key: deterministic pseudonyms, UID replacements and date shifts.

Everything an ingest derives from an identifier goes through an HMAC-SHA256 of
that identifier under a secret key kept in a key file **outside the bank**.
The same key gives the same pseudonyms, UIDs and shifts on every run (so a
patient ingested again later keeps their ids); a different key gives unrelated
ones; without the key nothing in the bank can be linked back.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from ..errors import KeyFileError
from ..fileio import atomic_write

__all__ = ["Keyring", "load_key", "default_key_file", "PseudonymRegistry"]

#: Shifts move dates back by 1 to 10 years (whole days, one shift per patient).
SHIFT_MIN_DAYS = 365
SHIFT_SPAN_DAYS = 3287


def default_key_file() -> Path:
    """``$COVIDBANK_KEY_FILE`` or ``~/.config/covidbank/ingest.key``."""
    env = os.environ.get("COVIDBANK_KEY_FILE")
    return Path(env) if env else Path.home() / ".config" / "covidbank" / "ingest.key"


def load_key(path: str | os.PathLike, create: bool = True, bank: str | os.PathLike | None = None) -> bytes:
    """Read (or create) a key file holding 64 hex digits.

    Parameters
    ----------
    path : path-like
        Key file.
    create : bool
        Create a new random key when the file does not exist.
    bank : path-like, optional
        Bank folder; a key file inside it is refused.

    Raises
    ------
    KeyFileError
        The file is inside the bank, missing (with ``create=False``) or malformed.
    """
    p = Path(path).expanduser().resolve()
    if bank is not None:
        b = Path(bank).expanduser().resolve()
        if p == b or b in p.parents:
            raise KeyFileError(f"{p}: the key file must be kept outside the bank {b}; move it and pass --key-file")
    if not p.exists():
        if not create:
            raise KeyFileError(f"{p}: key file not found; pass the project's --key-file")
        atomic_write(p, secrets.token_hex(32) + "\n", mode=0o600)
    text = p.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise KeyFileError(f"{p}: not a covidbank key file (expected at least 32 hex digits)")
    return key


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
        return hmac.new(self._key, f"{kind}\x00{value}".encode("utf-8", "surrogateescape"), hashlib.sha256).digest()

    def token(self, kind: str, value: str) -> str:
        """Hex token (32 hex digits) of ``value``: stable, reveals nothing without the key."""
        return self.digest(kind, value).hex()[:32]

    def audit_hash(self, value: object) -> str:
        """Salted (keyed) hash of an attribute's old value for audit records."""
        return self.digest("audit", repr(value)).hex()[:24]

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

    Pseudonyms are drawn from the key (``sub-S`` + 5 digits, ``ses-E`` + 5
    digits); the registry only resolves the rare collision of two tokens on
    one number so that the result stays stable for a bank.

    Parameters
    ----------
    path : path-like
        JSON file (inside the bank: it holds only keyed tokens).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.data: dict[str, dict[str, int]] = {"sub": {}, "ses": {}}
        if self.path.exists():
            self.data.update(json.loads(self.path.read_text()))
        self._used = {k: set(v.values()) for k, v in self.data.items()}

    def get(self, keyring: Keyring, kind: str, token: str) -> str:
        """Pseudonym label (``S01234`` for ``sub``, ``E01234`` for ``ses``) of ``token``."""
        table = self.data.setdefault(kind, {})
        used = self._used.setdefault(kind, set())
        if token not in table:
            attempt = 0
            while True:
                n = keyring.number(kind, token, attempt)
                if n not in used:
                    break
                attempt += 1
            table[token] = n
            used.add(n)
        prefix = "S" if kind == "sub" else "E"
        return f"{prefix}{table[token]:05d}"

    def save(self) -> None:
        """Write the registry atomically."""
        atomic_write(self.path, json.dumps(self.data, indent=1, sort_keys=True))
