"""One shifter for DICOM dates and times (DA, TM, DT), built on :mod:`pydicom.valuerep`.

The Retain Longitudinal Temporal Information with Modified Dates option
(PS3.15 E.3.6) moves every date and time of a patient by one offset, so that
intervals survive and real dates do not.  Shifting the parts separately goes
wrong in ways that matter:

* a time moved on its own wraps at midnight while its date stays, so
  ``StudyDate``/``StudyTime`` and ``AcquisitionDateTime`` stop agreeing and
  two events of one day can change order;
* parsing by hand drops the UTC offset (``&ZZXX``) and the fractional
  seconds of DT and TM values, and turns a year-only DT (``2020``) into a
  false ``20200101000000``.

:class:`DateTimeShift` shifts a value as one instant: a DT with everything it
carries, a date together with its time (``shift_pair``: the time's carry moves
the date), a lone time modulo one day (no date to carry into), keeping the
precision the value was written with (year, month, day, hour, minute, second,
fraction) and its UTC offset.  Parsing and validation are pydicom's
(``DA``, ``TM``, ``DT``); only the precision bookkeeping is written here.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

__all__ = ["DateTimeShift", "partner_keyword", "year_last_order"]

_DT_RE = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?$")
_TM_RE = re.compile(r"^(\d{2})(\d{2})?(\d{2})?(\.\d{1,6})?$")


_YEAR_LAST = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?:\D|$)")


def year_last_order(cells) -> str | None:
    """How a column writes its year-last dates: ``"dmy"``, ``"mdy"``, or None when it cannot be told.

    The column decides, not the cell: a first number above 12 somewhere says
    day first, a second number above 12 says month first.  A column with
    neither (every date could be read both ways) or both is ambiguous and
    None: a date read the wrong way would be shifted to a wrong day without
    anyone noticing.  A column without year-last dates is ``"ymd"``.
    """
    first = second = seen = False
    for c in cells:
        m = _YEAR_LAST.match(str(c))
        if m:
            seen = True
            first |= int(m.group(1)) > 12
            second |= int(m.group(2)) > 12
    if not seen:
        return "ymd"
    if first != second:
        return "dmy" if first else "mdy"
    return None


def partner_keyword(keyword: str) -> str | None:
    """The TM keyword of a DA keyword (``StudyDate`` -> ``StudyTime``) and the reverse; None when there is none."""
    if keyword.endswith("Date"):
        return keyword[:-4] + "Time"
    if keyword.endswith("Time"):
        return keyword[:-4] + "Date"
    return None


@dataclass(frozen=True)
class DateTimeShift:
    """Move dates and times by ``days`` days and ``seconds`` seconds (one offset per patient).

    Values that cannot be parsed shift to ``""`` (removed), never kept.
    """

    days: int
    seconds: int = 0

    @property
    def delta(self) -> _dt.timedelta:
        return _dt.timedelta(days=self.days, seconds=self.seconds)

    # ------------------------------------------------------------------ DA
    def date(self, value: str) -> str:
        """Shift a DA value by whole days (``YYYYMMDD``; the ACR-NEMA form ``YYYY.MM.DD`` is read too)."""
        from pydicom.valuerep import DA

        v = str(value).strip()
        if not v:
            return ""
        try:
            d = DA(v)
        except (ValueError, TypeError, OverflowError):
            return ""
        if d is None:
            return ""
        try:
            return (_dt.date(d.year, d.month, d.day) + _dt.timedelta(days=self.days)).strftime("%Y%m%d")
        except OverflowError:
            return ""

    # ------------------------------------------------------------------ TM
    def time(self, value: str) -> str:
        """Shift a lone TM value by ``seconds`` modulo one day, keeping its precision and fraction."""
        v = str(value).strip().replace(":", "")
        m = _TM_RE.match(v)
        if not m or not self._valid_tm(v):
            return ""
        h, mi, s = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
        tot = (h * 3600 + mi * 60 + s + self.seconds) % 86400
        return self._fmt_time(tot, m)

    @staticmethod
    def _valid_tm(v: str) -> bool:
        from pydicom.valuerep import TM

        try:
            return TM(v) is not None
        except (ValueError, TypeError):
            return False

    @staticmethod
    def _fmt_time(tot: int, m: re.Match) -> str:
        out = f"{tot // 3600:02d}"
        if m.group(2) is not None:
            out += f"{tot % 3600 // 60:02d}"
        if m.group(3) is not None:
            out += f"{tot % 60:02d}"
        if m.group(4):
            out += m.group(4)
        return out

    # ------------------------------------------------------------------ DA + TM
    def pair(self, date: str, time: str) -> tuple[str, str]:
        """Shift a date and its time as one instant: a time crossing midnight moves its date too."""
        d_new = self.date(date)
        v = str(time).strip().replace(":", "")
        m = _TM_RE.match(v)
        if not d_new or not m or not self._valid_tm(v):
            return d_new, self.time(time) if str(time).strip() else ""
        from pydicom.valuerep import DA

        d = DA(str(date).strip())
        base = _dt.datetime(d.year, d.month, d.day, int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))
        try:
            new = base + self.delta
        except OverflowError:
            return "", ""
        tot = new.hour * 3600 + new.minute * 60 + new.second
        return new.strftime("%Y%m%d"), self._fmt_time(tot, m)

    # ------------------------------------------------------------------ DT
    def datetime(self, value: str) -> str:
        """Shift a DT value, keeping its precision, fractional seconds and UTC offset.

        Partial values move at their precision: a year-only value by the
        shift's whole years, ``YYYYMM`` by the shift from mid-month, a date by
        whole days; values with an hour or finer by the full shift.
        """
        from pydicom.valuerep import DT

        v = str(value).strip()
        m = _DT_RE.match(v)
        if not m:
            return ""
        try:
            if DT(v) is None:
                return ""
        except (ValueError, TypeError, OverflowError):
            return ""
        y, mo, d, h, mi, s, frac, tz = m.groups()
        try:
            if mo is None:  # year only
                return f"{int(y) + round(self.days / 365.2425):04d}" + (tz or "")
            if d is None:  # year and month
                new = _dt.date(int(y), int(mo), 15) + _dt.timedelta(days=self.days)
                return new.strftime("%Y%m") + (tz or "")
            if h is None:  # a date
                new = _dt.date(int(y), int(mo), int(d)) + _dt.timedelta(days=self.days)
                return new.strftime("%Y%m%d") + (tz or "")
            base = _dt.datetime(int(y), int(mo), int(d), int(h), int(mi or 0), int(s or 0))
            new = base + self.delta
        except (ValueError, OverflowError):
            return ""
        out = new.strftime("%Y%m%d%H")
        if mi is not None:
            out += f"{new.minute:02d}"
        if s is not None:
            out += f"{new.second:02d}"
        return out + (frac or "") + (tz or "")

    # ------------------------------------------------------------------ by VR
    def value(self, vr: str, value: str) -> str:
        """Shift one value of VR ``DA``, ``TM`` or ``DT`` (a lone value: no partner)."""
        return {"DA": self.date, "TM": self.time, "DT": self.datetime}[vr](value)

    def text_date(self, text: str, order: str = "ymd") -> str | None:
        """Shift a date written in a table cell; returns ``YYYYMMDD`` or None.

        Year first (``2020-03-15``, ``20200315``, ``2020/03/15 10:00``) is read
        whatever ``order`` says.  A date written with the year last
        (``15/03/2020``, ``3-15-2020``, ``15.03.2020 10:00``) is read day first
        with ``order="dmy"``, month first with ``order="mdy"``, and not at all
        with ``"ymd"`` (it cannot be told apart: see :func:`year_last_order`).
        """
        m = _YEAR_LAST.match(str(text))
        if m:
            if order not in ("dmy", "mdy"):
                return None
            a, b, y = m.groups()
            d, mo = (a, b) if order == "dmy" else (b, a)
            return self.date(f"{y}{int(mo):02d}{int(d):02d}") or None
        digits = "".join(ch for ch in str(text) if ch.isdigit())[:8]
        if len(digits) != 8:
            return None
        return self.date(digits) or None
