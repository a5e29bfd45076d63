"""What the commands print: the two consoles, one-line errors, tables."""
from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["console", "out", "fail", "print_frame", "print_rows"]

#: Messages, progress and errors (stderr); results go to :data:`out` (stdout).
console = Console(stderr=True)
out = Console()


def fail(msg: str, code: int = 1) -> "typer.Exit":
    """Print a one-line error on stderr and return the Exit to raise."""
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(str(msg))}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def print_frame(df, fmt: str = "table", title: str | None = None, max_rows: int | None = None) -> None:
    """Print a DataFrame as ``table`` (rich), ``csv`` or ``json``."""
    if fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
    elif fmt == "json":
        sys.stdout.write(df.to_json(orient="records", indent=2, default_handler=str) + "\n")
    elif fmt == "table":
        t = Table(title=title, show_lines=False)
        for c in df.columns:
            t.add_column(str(c), overflow="fold")
        rows = df if max_rows is None else df.head(max_rows)
        for _, r in rows.iterrows():
            t.add_row(*["" if _isna(v) else str(v) for v in r.tolist()])
        out.print(t)
        if max_rows is not None and len(df) > max_rows:
            out.print(f"... {len(df) - max_rows} more rows (use --format csv for all)")
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
        t = Table(title=title, show_lines=False)
        for c in columns:
            t.add_column(str(c), overflow="fold")
        for r in rows if max_rows is None else rows[:max_rows]:
            t.add_row(*["" if v is None or v != v else str(v) for v in r])  # v != v: NaN
        out.print(t)
        if max_rows is not None and len(rows) > max_rows:
            out.print(f"... {len(rows) - max_rows} more rows (use --format csv for all)")
    elif fmt == "json":
        import pandas as pd

        print_frame(pd.DataFrame.from_records(rows, columns=columns), fmt)
    else:
        raise fail(f"unknown format {fmt!r}: use table, csv or json", 2)


def _isna(v) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(v)) if not hasattr(v, "__len__") or isinstance(v, str) else False
    except (TypeError, ValueError):
        return False
