"""The curator's own records of an ingest, kept **outside** the bank.

The bank names a skipped file or a series only by a keyed token and a reason
code.  The curator needs to know which input file that was, and why in full;
these records say it and stay in the hospital:

* :class:`PrivateLog`: one JSON line per token (file, series, tests or
  reports row) with the input path, the reason code and the detail (which may
  quote header values), appended run after run;
* :class:`Quarantine`: what a deny-list hit kept out of the bank (the sidecar,
  test row or report text that held an identifier), one file per item;
* :func:`merge_linkage`: the original patient id -> pseudonym table, merged
  with the earlier runs' rows instead of overwritten.

All three are created with mode 0600 and refused inside the bank.  By default
they live next to the key file, in ``<key file>.private/``
(:func:`private_dir`).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

from ...errors import KeyFileError
from ...fileio import atomic_write

__all__ = ["PrivateLog", "Quarantine", "merge_linkage", "private_dir", "refuse_inside"]


def private_dir(key_file: str | os.PathLike) -> Path:
    """Default folder of the private records: ``<key file>.private`` beside the key."""
    k = Path(key_file).expanduser().resolve()
    return k.with_name(k.name + ".private")


def refuse_inside(path: str | os.PathLike, bank: str | os.PathLike, what: str) -> Path:
    """``path`` resolved; :class:`KeyFileError` when it lies inside the bank."""
    p = Path(path).expanduser().resolve()
    b = Path(bank).expanduser().resolve()
    if p == b or b in p.parents:
        raise KeyFileError(f"{p}: the {what} must be kept outside the bank {b}")
    return p


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class PrivateLog:
    """Append-only JSON-lines log of one ingest run for the curator (mode 0600).

    Parameters
    ----------
    path : path-like
        The log file (``runs.jsonl``); created when missing, appended to otherwise.
    run_id : str
    bank : path-like
        Recorded in every line (one log may serve several banks).
    """

    def __init__(self, path: str | os.PathLike, run_id: str, bank: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.f = os.fdopen(fd, "a", encoding="utf-8")
        self.run_id = run_id
        self.bank = str(Path(bank).resolve())

    def write(self, **rec) -> None:
        rec = {"time": _now(), "run": self.run_id, "bank": self.bank, **rec}
        self.f.write(json.dumps(rec, sort_keys=True, ensure_ascii=False, default=str) + "\n")
        self.f.flush()

    def close(self) -> None:
        self.f.close()


class Quarantine:
    """Items kept out of the bank by a deny-list hit: ``<folder>/<run>/<kind>-<token>.json`` (mode 0600)."""

    def __init__(self, folder: str | os.PathLike, run_id: str) -> None:
        self.folder = Path(folder)
        self.run_id = run_id

    def put(self, kind: str, token: str, reason: str, hits: list[dict], content: object, source: str = "") -> Path:
        """Write one quarantined item; returns its path."""
        rec = {"time": _now(), "run": self.run_id, "kind": kind, "token": token, "reason": reason, "hits": hits,
               "source": source, "content": content}
        p = self.folder / self.run_id / f"{kind}-{token}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        atomic_write(p, json.dumps(rec, indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n", mode=0o600)
        return p


def merge_linkage(path: str | os.PathLike, rows: dict[str, str]) -> int:
    """Merge ``original id -> participant id`` into the linkage TSV at ``path``; return its row count.

    Rows of earlier runs are kept; a pseudonym given again is the same (one
    key per bank).  Written atomically with mode 0600.
    """
    import csv
    import io

    p = Path(path)
    have: dict[str, str] = {}
    if p.exists():
        with open(p, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f, delimiter="\t"):
                if r.get("original_patient_id") is not None:
                    have[r["original_patient_id"]] = r.get("participant_id", "")
    have.update(rows)
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(["original_patient_id", "participant_id"])
    for k in sorted(have):
        w.writerow([k, have[k]])
    atomic_write(p, buf.getvalue(), mode=0o600)
    return len(have)
