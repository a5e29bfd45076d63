"""What a PACS answers, whatever the protocol: studies, series, and the outcome of one retrieval.

The DIMSE (:mod:`covidbank.pacs.dimse`) and DICOMweb
(:mod:`covidbank.pacs.dicomweb`) clients both return these records, so the
pull driver (:mod:`covidbank.pacs.pull`) does not care which one it talks to.
The records hold identifiers (patient id, accession, UIDs): they live in memory
and in the curator's private log only, never in the bank.
"""
from __future__ import annotations

import datetime as _dt
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

__all__ = ["StudyQuery", "StudyHit", "SeriesHit", "Retrieval", "Archive", "RateLimit", "Deadline",
           "InstanceSink", "date_range", "study_timeout", "parse_date", "to_int"]


def to_int(v) -> int | None:
    """``int(v)``, or None for a missing or malformed number in an archive's answer."""
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def parse_date(text: str | None) -> _dt.date | None:
    """``YYYYMMDD``, ``YYYY-MM-DD`` or ``YYYY/MM/DD`` (or empty) as a date.

    Raises
    ------
    ValueError
        The text is not such a date.
    """
    if text is None:
        return None
    s = str(text).strip()
    if not s:
        return None
    s = s.split()[0].split("T")[0]  # a date-time: its date
    digits = "".join(ch for ch in s if ch.isdigit())
    if len(digits) != 8 or (len(s) not in (8, 10)):
        raise ValueError(f"not a date (use YYYY-MM-DD or YYYYMMDD): {s!r}")
    return _dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))


def date_range(start: _dt.date | None, end: _dt.date | None) -> str | None:
    """A DICOM date range matching key (PS3.4 C.2.2.2.5): ``YYYYMMDD-YYYYMMDD``, open on either side."""
    if start is None and end is None:
        return None
    a = start.strftime("%Y%m%d") if start else ""
    b = end.strftime("%Y%m%d") if end else ""
    return f"{a}-{b}"


@dataclass(frozen=True)
class StudyQuery:
    """One study-level query: by patient id (and dates) or by accession number."""

    patient_id: str | None = None
    accession: str | None = None
    date_from: _dt.date | None = None
    date_to: _dt.date | None = None


@dataclass
class SeriesHit:
    """One series found in a study."""

    series_uid: str
    modality: str = ""
    series_number: int | None = None
    instances: int | None = None


@dataclass
class StudyHit:
    """One study found by a query."""

    study_uid: str
    patient_id: str = ""
    accession: str = ""
    study_date: str = ""
    modalities: tuple[str, ...] = ()
    instances: int | None = None
    series: list[SeriesHit] = field(default_factory=list)


@dataclass
class Retrieval:
    """Outcome of retrieving one study (or the chosen series of it).

    ``status`` is one of a fixed vocabulary: ``ok``, ``timed out``,
    ``transfer failed``, ``refused``; ``reason`` is fixed text too (never a
    value from the archive's answers).
    """

    status: str = "ok"
    reason: str | None = None
    received: int = 0
    failed_subops: int = 0
    method: str = ""
    seconds: float = 0.0


class Archive(Protocol):
    """What the pull driver needs from a PACS client."""

    name: str

    def echo(self) -> None: ...

    def find_studies(self, query: StudyQuery) -> list[StudyHit]: ...

    def find_series(self, study: StudyHit) -> list[SeriesHit]: ...

    def retrieve(self, study: StudyHit, series: list[SeriesHit] | None, sink: "InstanceSink",
                 timeout: float) -> Retrieval: ...

    def close(self) -> None: ...


def study_timeout(instances: int | None, base: float = 60.0, per_instance: float = 2.0) -> float:
    """Seconds allowed to retrieve one study: a base plus a share per expected instance.

    Large CT studies (hundreds of slices) get proportionally more time than a
    one-image chest X-ray; a study whose size the archive did not say gets
    the base and 100 instances' worth.
    """
    n = instances if instances is not None and instances >= 0 else 100
    return base + per_instance * n


class RateLimit:
    """At most ``rate`` instances per second over a run (token bucket); ``None`` or 0 for no limit."""

    def __init__(self, rate: float | None) -> None:
        self.rate = float(rate) if rate else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Sleep until the next instance may be received."""
        if not self.rate:
            return
        with self._lock:
            now = time.monotonic()
            at = max(self._next, now)
            self._next = at + 1.0 / self.rate
        if at > now:
            time.sleep(at - now)


class Deadline:
    """A point in time after which a retrieval is abandoned."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    @property
    def left(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.end - time.monotonic())

    @property
    def passed(self) -> bool:
        """Whether the deadline has passed."""
        return time.monotonic() >= self.end


class InstanceSink:
    """Where a retrieval puts the instances it receives: numbered files in one private staging folder.

    Files are named by a counter (``000001.dcm``), never by a UID or an
    identifier, written as a hidden temporary file and renamed (so a file cut
    short by a crash is never read as an instance), readable by the owner only.

    Parameters
    ----------
    folder : Path
        The study's staging folder (created with mode 0700).
    rate : RateLimit, optional
        Throttle applied before each instance is accepted.
    on_instance : callable, optional
        Called with the running count after each stored instance (progress).
    """

    def __init__(self, folder: Path, rate: RateLimit | None = None,
                 on_instance: Callable[[int], None] | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.rate = rate or RateLimit(None)
        self.on_instance = on_instance
        self.count = 0
        self._lock = threading.Lock()

    def add(self, data: bytes) -> Path:
        """Store one encoded DICOM file (PS3.10 bytes: preamble, meta, dataset)."""
        from ..fileio import atomic_write

        self.rate.wait()
        with self._lock:
            self.count += 1
            n = self.count
        path = atomic_write(self.folder / f"{n:06d}.dcm", data, mode=0o600)
        if self.on_instance is not None:
            self.on_instance(n)
        return path
