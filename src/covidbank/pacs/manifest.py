"""Reconciliation of a pull: what each cohort line found, what was expected, received, converted.

The manifest lives in the bank (``logs/pull_manifest.json``) and holds no
identifier: cohort lines are named by their row number and a keyed token,
studies by a keyed token (:meth:`~covidbank.dicom.keys.Keyring.token`) and,
once converted, by their pseudonyms (``sub-S01234``/``ses-E01234``); reasons
come from a fixed vocabulary.  The curator's private log (outside the bank,
:class:`PrivateLog`) maps the tokens back to patient ids, accession numbers
and Study Instance UIDs.

Statuses of a study: ``complete`` (every expected instance received and each
either converted or skipped for a stated reason), ``incomplete`` (received
fewer than expected, or some failed to convert), ``timed out``, ``transfer
failed``, ``refused``, ``no matching series``.  A re-run skips complete
studies and retries the others.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import threading
from pathlib import Path

from ..errors import PacsError
from ..fileio import atomic_write

__all__ = ["Manifest", "PrivateLog", "MANIFEST_NAME", "STATUS_COLUMNS", "default_private_dir"]

MANIFEST_NAME = "logs/pull_manifest.json"

#: Columns of the reconciliation table (``covidbank pull --status``).
STATUS_COLUMNS = ["line", "entry", "studies", "study", "subject", "session", "modalities", "expected", "received",
                  "converted", "skipped", "failed", "status", "reason"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Manifest:
    """The pull manifest of one bank (thread-safe; saved atomically)."""

    def __init__(self, bank: str | os.PathLike) -> None:
        self.path = Path(bank) / MANIFEST_NAME
        self.data: dict = {"version": 1, "entries": {}, "studies": {}, "runs": []}
        if self.path.exists():
            try:
                self.data.update(json.loads(self.path.read_text(encoding="utf-8")))
            except (ValueError, OSError):
                raise PacsError(f"{self.path}: unreadable pull manifest; move it away to start the reconciliation "
                                "afresh (studies already in the bank are not converted twice)") from None
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ updates
    def entry(self, token: str, line: int, kind: str, status: str, studies: list[str] | None = None) -> None:
        """Record what one cohort line found."""
        with self._lock:
            e = self.data["entries"].setdefault(token, {})
            e.update(line=line, kind=kind, status=status, updated=_now())
            e["studies"] = list(studies or [])

    def study(self, token: str, entry: str | None = None, **fields) -> dict:
        """Create or update one study's record; return it."""
        with self._lock:
            s = self.data["studies"].setdefault(token, {"entries": [], "attempts": 0, "status": "pending"})
            if entry and entry not in s["entries"]:
                s["entries"].append(entry)
            s.update(fields)
            s["updated"] = _now()
            return s

    def get(self, token: str) -> dict | None:
        """One study's record (a copy) or None."""
        with self._lock:
            s = self.data["studies"].get(token)
            return json.loads(json.dumps(s)) if s is not None else None

    def complete(self, token: str) -> bool:
        """Whether a study was fully pulled by an earlier run."""
        s = self.get(token)
        return bool(s and s.get("status") == "complete")

    def run(self, **info) -> None:
        """Append one run's summary."""
        with self._lock:
            self.data["runs"].append({"time": _now(), **info})

    def save(self) -> None:
        """Write the manifest atomically."""
        with self._lock:
            text = json.dumps(self.data, indent=1, sort_keys=True)
        atomic_write(self.path, text + "\n")

    # ------------------------------------------------------------------ reading
    def skipped_rows(self) -> list[dict]:
        """Instances received but not in the bank, with their fixed-vocabulary reason (for the bank's skipped table)."""
        rows = []
        with self._lock:
            for tok, s in sorted(self.data["studies"].items()):
                for r in s.get("records", []):
                    rows.append({"record": r["record"], "path": f"study {tok} {r['what']}", "reason": r["reason"]})
        return rows

    def table(self):
        """The reconciliation table: one row per (cohort line, study); a line without studies gets one row."""
        import pandas as pd

        rows = []
        with self._lock:
            entries = sorted(self.data["entries"].items(), key=lambda kv: (kv[1].get("line", 0), kv[0]))
            for etok, e in entries:
                studies = e.get("studies", [])
                base = {"line": e.get("line"), "entry": f"{e.get('kind')} {etok[:8]}", "studies": len(studies)}
                if not studies:
                    rows.append({**base, "status": e.get("status")})
                    continue
                for stok in studies:
                    s = self.data["studies"].get(stok, {})
                    rows.append({**base, "study": stok[:12], "subject": s.get("subject"), "session": s.get("session"),
                                 "modalities": s.get("modalities"), "expected": s.get("expected"),
                                 "received": s.get("received"), "converted": s.get("converted"),
                                 "skipped": s.get("skipped"), "failed": s.get("failed"), "status": s.get("status"),
                                 "reason": s.get("reason")})
        df = pd.DataFrame(rows, columns=STATUS_COLUMNS)
        for c in ("expected", "received", "converted", "skipped", "failed"):
            df[c] = df[c].astype("Int64")
        return df

    def totals(self) -> dict:
        """Counts over the whole manifest (each study once)."""
        with self._lock:
            studies = list(self.data["studies"].values())
            entries = list(self.data["entries"].values())
        out = {"entries": len(entries),
               "entries_without_studies": sum(1 for e in entries if e.get("status") == "no studies"),
               "queries_failed": sum(1 for e in entries if e.get("status") == "query failed"),
               "studies": len(studies)}
        for st in ("complete", "incomplete", "timed out", "transfer failed", "refused", "no matching series",
                   "pending"):
            out[st.replace(" ", "_")] = sum(1 for s in studies if s.get("status") == st)
        for c in ("expected", "received", "converted", "skipped", "failed"):
            out[c] = sum(int(s.get(c) or 0) for s in studies)
        return out


def default_private_dir(key_file: str | os.PathLike) -> Path:
    """``$COVIDBANK_PRIVATE_DIR`` or ``private/`` beside the project key file (both outside the bank)."""
    env = os.environ.get("COVIDBANK_PRIVATE_DIR")
    return Path(env) if env else Path(key_file).expanduser().resolve().parent / "private"


class PrivateLog:
    """The curator's private run log: keyed tokens -> patient ids, accessions, Study Instance UIDs.

    A JSON-lines file readable by its owner only, kept outside the bank
    (refused inside it), one file per bank.  Never published.
    """

    def __init__(self, folder: str | os.PathLike, bank: str | os.PathLike, bank_token: str, run: str) -> None:
        d = Path(folder).expanduser().resolve()
        b = Path(bank).expanduser().resolve()
        if d == b or b in d.parents:
            raise PacsError(f"{d}: the private pull log must be kept outside the bank {b}")
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = d / f"pull-{bank_token[:12]}.jsonl"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._f = os.fdopen(fd, "a", encoding="utf-8")
        self.run = run
        self._lock = threading.Lock()

    def write(self, **rec) -> None:
        """Append one record."""
        line = json.dumps({"time": _now(), "run": self.run, **rec}, sort_keys=True)
        with self._lock:
            self._f.write(line + "\n")
            self._f.flush()

    def close(self) -> None:
        """Close the file."""
        self._f.close()
