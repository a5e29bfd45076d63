"""What the commands print: messages and errors on stderr, results on stdout.

- :data:`console` (stderr): messages and progress; silenced by ``-q``.
- :data:`out` (stdout): results (tables, JSON), never silenced.
- :func:`fail`: one-line error on stderr, shown even with ``-q``.
- :func:`print_frame`, :func:`print_json`: results as a table (readable at
  80 columns), CSV or JSON.
"""
from __future__ import annotations

import json
import logging
import math
import sys

import typer

__all__ = ["console", "out", "fail", "print_frame", "print_rows", "print_json", "configure"]


class _LazyConsole:
    """A :class:`rich.console.Console` built on its first use.

    A command that prints nothing through rich (``covidbank query ... --format
    csv``) then never imports rich, about 50 ms of every start-up (rich's
    console and table modules).  Setting ``quiet`` before first use is kept
    and given to the console when it is built.
    """

    def __init__(self, **kwargs) -> None:
        object.__setattr__(self, "_kwargs", kwargs)
        object.__setattr__(self, "_console", None)

    def _get(self):
        c = self._console
        if c is None:
            from rich.console import Console

            c = Console(**self._kwargs)
            object.__setattr__(self, "_console", c)
        return c

    def __getattr__(self, name: str):
        return getattr(self._get(), name)

    def __setattr__(self, name: str, value) -> None:
        if self._console is None and name == "quiet":
            self._kwargs["quiet"] = value
        else:
            setattr(self._get(), name, value)


class _LogHandler(logging.Handler):
    """The package's log handler: a :class:`rich.logging.RichHandler` on stderr, built at the first record."""

    def __init__(self, show_path: bool) -> None:
        super().__init__()
        self._covidbank = True
        self._show_path = show_path
        self._rich: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._rich is None:
            from rich.logging import RichHandler

            self._rich = RichHandler(console=_errors._get(), show_time=False, show_path=self._show_path,
                                     markup=False)
        self._rich.emit(record)  # the level is this handler's: `handle` checked it before calling here


#: Messages and progress (stderr); results go to :data:`out` (stdout).
console = _LazyConsole(stderr=True)
out = _LazyConsole()
_errors = _LazyConsole(stderr=True)

#: Widest a table cell gets before it is cut (with an ellipsis) when a table has many columns.
MAX_CELL = 32


def configure(verbose: int = 0, quiet: bool = False) -> None:
    """Apply the global ``-v``/``-q`` options: message console, progress displays and logging level."""
    from ..progress import set_quiet

    console.quiet = quiet
    set_quiet(quiet)
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    root = logging.getLogger("covidbank")
    root.setLevel(level)
    if not any(getattr(h, "_covidbank", False) for h in root.handlers):
        root.addHandler(_LogHandler(show_path=verbose >= 2))
    for h in root.handlers:
        h.setLevel(level)


def fail(msg: str, code: int = 1) -> "typer.Exit":
    """Print a one-line error on stderr (even with ``-q``) and return the Exit to raise.

    The message is printed as text: square brackets (``covidbank[web]``) are not rich markup.
    """
    from rich.markup import escape

    _errors.print(f"[bold red]error:[/] {escape(str(msg))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def print_json(obj) -> None:
    """Print ``obj`` as indented JSON on stdout (dates, paths and numpy values as strings or numbers)."""
    def default(v):
        if hasattr(v, "item"):
            return v.item()
        return str(v)

    sys.stdout.write(json.dumps(obj, indent=2, default=default, ensure_ascii=False) + "\n")


def print_frame(df, fmt: str = "table", title: str | None = None, max_rows: int | None = None) -> None:
    """Print a DataFrame as ``table`` (rich), ``csv`` or ``json``.

    Tables fit the terminal (80 columns in a log): with more than four
    columns, long cells are cut with an ellipsis at :data:`MAX_CELL`
    characters (``--format csv`` gives every value in full).
    """
    if fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
    elif fmt == "json":
        sys.stdout.write(df.to_json(orient="records", indent=2, default_handler=str) + "\n")
    elif fmt == "table":
        rows = df if max_rows is None else df.head(max_rows)
        cells = [["" if _isna(v) else str(v) for v in r] for r in rows.itertuples(index=False, name=None)]
        _print_cells([str(c) for c in df.columns], cells, title, len(df))
    else:
        raise fail(f"unknown format {fmt!r}: use table, csv or json", 2)


def print_rows(columns: list[str], rows: list[tuple], fmt: str = "table", title: str | None = None,
               max_rows: int | None = None) -> None:
    """Print query rows as ``table`` or ``csv`` without building a DataFrame (pandas is not imported).

    ``json`` goes through :func:`print_frame` so its number and date formats stay pandas' ones.
    """
    if fmt == "csv":
        import csv

        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(columns)
        w.writerows(["" if v is None else v for v in r] for r in rows)
    elif fmt == "table":
        shown = rows if max_rows is None else rows[:max_rows]
        cells = [["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in r] for r in shown]
        _print_cells([str(c) for c in columns], cells, title, len(rows))
    elif fmt == "json":
        import pandas as pd

        print_frame(pd.DataFrame.from_records(rows, columns=columns), fmt)
    else:
        raise fail(f"unknown format {fmt!r}: use table, csv or json", 2)


def _print_cells(cols: list[str], cells: list[list[str]], title: str | None, total: int) -> None:
    """A table that fits the terminal, or one block per row when it does not; says how many rows were left out."""
    need = sum(min(max([len(c)] + [len(x[i]) for x in cells]), 14) + 2 for i, c in enumerate(cols))
    if need > out.width and len(cols) > 2:
        _print_records(cols, cells, title)
    else:
        _print_table(cols, cells, title)
    if total > len(cells):
        out.print(f"... {total - len(cells)} more rows (use --format csv for all)", highlight=False)


def _print_table(cols: list[str], cells: list[list[str]], title: str | None) -> None:
    from rich import box
    from rich.table import Table

    t = Table(title=title, show_lines=False, box=box.SIMPLE_HEAD, pad_edge=False)
    for c in cols:
        t.add_column(c, overflow="fold", max_width=MAX_CELL if len(cols) > 4 else None)
    for r in cells:
        t.add_row(*r)
    out.print(t, highlight=False)


def _print_records(cols: list[str], cells: list[list[str]], title: str | None) -> None:
    """One block per row (``column  value`` lines): how a wide table stays readable in 80 columns."""
    from rich.markup import escape

    if title:
        out.print(f"[bold]{escape(title)}[/]", highlight=False)
    key_w = min(max(len(c) for c in cols), 24)
    for i, r in enumerate(cells):
        if i:
            out.print("", highlight=False)
        for c, v in zip(cols, r):
            if v != "":
                out.print(f"{escape(c[:key_w]):<{key_w}}  {escape(v)}", highlight=False, soft_wrap=True)


def _isna(v) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(v)) if not hasattr(v, "__len__") or isinstance(v, str) else False
    except (TypeError, ValueError):
        return False
