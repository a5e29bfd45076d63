"""Progress of long work: a live bar in a terminal, plain dated lines in a log.

rich's progress bar is invisible when stderr is a file or a pipe (a batch job's
log, CI, ``nohup``): it only redraws a terminal.  :class:`ProgressBar` shows
rich's bar on a terminal and otherwise writes a line such as
``ingest: 120/500 (24%) 35.2 s, about 1 min 51 s left`` at most every
``interval`` seconds and at the end, so a curator reading the log of an
overnight ingest sees how far it got.  The CLI's ``-q`` turns both off
(:func:`set_quiet`).

Written by hand because rich has no log mode and tqdm would be one more
dependency doing the same with a different look.
"""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TextIO, TypeVar

__all__ = ["ProgressBar", "track", "set_quiet", "is_quiet"]

T = TypeVar("T")
_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Hide every progress display of this process (the CLI's ``-q``)."""
    global _QUIET
    _QUIET = bool(quiet)


def is_quiet() -> bool:
    """Whether progress displays are hidden."""
    return _QUIET


def _fmt_seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(int(s), 60)
    if m < 60:
        return f"{m} min {s} s"
    h, m = divmod(m, 60)
    return f"{h} h {m} min"


class ProgressBar:
    """Count work done toward a total, shown on stderr.

    Parameters
    ----------
    label : str
        What is being done (``"ingest"``, ``"fingerprinting"``).
    total : int, optional
        Number of steps; unknown totals show counts only.
    enabled : bool
        False shows nothing (the caller's ``progress=False``).
    stream : file, optional
        Where to write (default ``sys.stderr``).
    interval : float
        Seconds between two log lines when the stream is not a terminal.
    transient : bool
        Remove the terminal bar when done; in a log, write no final line
        (work shorter than ``interval`` leaves no trace).

    Examples
    --------
    >>> import io
    >>> log = io.StringIO()
    >>> with ProgressBar("demo", total=2, stream=log, interval=0) as bar:
    ...     bar.advance(); bar.advance()
    >>> log.getvalue().splitlines()[-1].startswith("demo: 2/2 (100%)")
    True
    """

    def __init__(self, label: str, total: int | None = None, enabled: bool = True, stream: TextIO | None = None,
                 interval: float = 10.0, transient: bool = False) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and not _QUIET
        self.interval = interval
        self.transient = transient
        self._rich = None
        self._task = None
        self._t0 = time.monotonic()
        self._last = 0.0
        self._last_done = -1

    def __enter__(self) -> "ProgressBar":
        if not self.enabled:
            return self
        if getattr(self.stream, "isatty", lambda: False)():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            cols = [TextColumn(self.label), BarColumn(), MofNCompleteColumn()]
            cols.append(TimeRemainingColumn() if self.total else TimeElapsedColumn())
            self._rich = Progress(*cols, console=Console(file=self.stream), transient=self.transient)
            self._rich.start()
            self._task = self._rich.add_task(self.label, total=self.total)
        return self

    def advance(self, n: int = 1) -> None:
        """Record ``n`` more steps done."""
        self.done += n
        if not self.enabled:
            return
        if self._rich is not None:
            self._rich.advance(self._task, n)
            return
        now = time.monotonic()
        finished = self.total is not None and self.done >= self.total
        if now - self._t0 >= self.interval and (now - self._last >= self.interval or (finished and not self.transient)):
            self._line(now)

    def _line(self, now: float) -> None:
        if self.done == self._last_done:
            return
        self._last, self._last_done = now, self.done
        elapsed = now - self._t0
        if self.total:
            pct = 100 * self.done / self.total
            text = f"{self.label}: {self.done}/{self.total} ({pct:.0f}%) {_fmt_seconds(elapsed)}"
            if 0 < self.done < self.total:
                text += f", about {_fmt_seconds(elapsed / self.done * (self.total - self.done))} left"
        else:
            text = f"{self.label}: {self.done} done, {_fmt_seconds(elapsed)}"
        self.stream.write(text + "\n")
        self.stream.flush()

    def __exit__(self, *exc) -> None:
        if self._rich is not None:
            self._rich.stop()
        elif self.enabled and not self.transient:
            self._line(time.monotonic())


def track(items: Iterable[T], label: str, total: int | None = None, enabled: bool = True, **kw) -> Iterator[T]:
    """Iterate over ``items`` with a :class:`ProgressBar` (``total`` defaults to ``len(items)``)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with ProgressBar(label, total, enabled=enabled, **kw) as bar:
        for x in items:
            yield x
            bar.advance()
