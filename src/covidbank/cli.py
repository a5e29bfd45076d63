"""The ``covidbank`` command line.

Core commands live here; feature modules add theirs through a ``register(app)``
function listed in :data:`COMMAND_MODULES`, so the CLI grows without one file
holding every feature.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from typer.core import TyperGroup
from rich.table import Table

from .errors import CovidbankError

class _Group(TyperGroup):
    """Commands whose stray ``OSError`` (an --out that is a folder, a full disk) ends in one line, not a traceback."""

    def invoke(self, ctx):  # noqa: D102
        try:
            return super().invoke(ctx)
        except OSError as e:
            where = e.filename if e.filename is not None else ""
            if e.filename2 is not None:
                where = f"{where} -> {e.filename2}"
            raise fail(f"{where}: {e.strerror or e}" if where else f"{e.__class__.__name__}: {e}") from None


app = typer.Typer(
    cls=_Group,
    name="covidbank",
    help="Toolkit and data bank for COVID-19 chest imaging.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

#: Modules whose ``register(app)`` adds commands (one per feature).
COMMAND_MODULES: list[str] = [
    "covidbank.catalog",
    "covidbank.demo",
    "covidbank.ingest",
    "covidbank.nlp.cli",
    "covidbank.ml_cli",
    "covidbank.severity.cli",
    "covidbank.validation.commands",
    "covidbank.web.cli",
]


def fail(msg: str, code: int = 1) -> "typer.Exit":
    """Print a one-line error on stderr and return the Exit to raise."""
    console.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
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


def _isna(v) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(v)) if not hasattr(v, "__len__") or isinstance(v, str) else False
    except (TypeError, ValueError):
        return False


@app.command()
def add(
    source: str = typer.Argument(..., help="Source adapter: cohen, bimcv, mosmed or mids."),
    path: Path = typer.Argument(..., help="The dataset's folder or main file as published."),
    bank: Path = typer.Option(..., "--bank", "-b", help="Bank folder (created if missing)."),
    name: Optional[str] = typer.Option(None, help="Name of the source in the bank (default: the adapter name)."),
    tree: list[Path] = typer.Option([], "--tree", help="PadChest tree file(s) to merge into the vocabulary (bimcv)."),
    source_version: Optional[str] = typer.Option(None, "--source-version", help="Release or commit of the source, recorded on every row."),
) -> None:
    """Add a public source's records to a bank (re-adding replaces, never duplicates)."""
    from .bank import Bank
    from .sources import load_source

    opts: dict = {"version": source_version} if source_version else {}
    if tree:
        opts["trees"] = list(tree)
    try:
        res = load_source(source, path, **opts)
        b = Bank(bank, create=True)
        summary = b.add(name or res.source, res.all_tables(), meta=res.meta)
    except CovidbankError as e:
        raise fail(str(e))
    console.print(f"[green]{summary.source}[/]: {'replaced' if summary.replaced else 'added'} to {bank}")
    for k in ("subjects", "sessions", "images", "labels", "tests"):
        console.print(f"  {k:<9} {summary.counts.get(k, 0):>7,}")
    if res.skipped:
        reasons: dict[str, int] = {}
        for s in res.skipped:
            key = s.reason.split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        console.print(f"  skipped   {len(res.skipped):>7,}  (" + "; ".join(f"{v} {k}" for k, v in reasons.items()) + ")")
    for line in res.meta.get("notes", []):
        console.print(f"  note: {line}")


@app.command()
def query(
    bank: Path = typer.Argument(..., help="Bank folder."),
    sql: str = typer.Argument(..., help="SQL over the tables images, labels, subjects, sessions, tests, skipped, ..."),
    format: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
) -> None:
    """Run SQL over a bank's tables (DuckDB) and print the result."""
    from .bank import Bank

    try:
        df = Bank(bank).query(sql)
    except CovidbankError as e:
        raise fail(str(e))
    print_frame(df, format, max_rows=200 if format == "table" else None)


@app.command()
def info(bank: Path = typer.Argument(..., help="Bank folder.")) -> None:
    """Summarize a bank: counts per source."""
    from .bank import Bank

    try:
        b = Bank(bank)
        df = b.summary()
    except CovidbankError as e:
        raise fail(str(e))
    print_frame(df, "table", title=f"bank {bank}")


@app.command()
def labels(
    tree: list[Path] = typer.Option([], "--tree", help="PadChest tree file(s) to merge."),
    label: Optional[str] = typer.Argument(None, help="Show this label's ancestors and descendants."),
    format: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
) -> None:
    """Show the label vocabulary (names, CUIs, parents) or one label's family."""
    from .labels import default_tree

    try:
        t = default_tree(tree)
    except CovidbankError as e:
        raise fail(str(e))
    if label:
        lab = t.get(label)
        if lab is None:
            raise fail(f"unknown label {label!r}")
        out.print(f"[bold]{lab.name}[/] cui={lab.cui} aliases={sorted(lab.aliases)}")
        out.print(f"ancestors: {t.ancestors(label)}")
        out.print(f"descendants: {sorted(t.descendants(label, include_self=False))}")
        return
    print_frame(t.to_frame(), format)


def _register_commands() -> None:
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(app)


def main() -> None:
    """Entry point of the ``covidbank`` command."""
    get_app()()


_register_commands_done = False


def get_app() -> typer.Typer:
    """The app with every feature's commands registered (for tests)."""
    global _register_commands_done
    if not _register_commands_done:
        _register_commands()
        _register_commands_done = True
    return app
