"""The bank's own commands: ``add``, ``relink``, ``query``, ``info`` and ``labels``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import CovidbankError
from ._output import console, fail, out, print_frame, print_json, print_rows
from ._viewer import no_viewer_cache_option, refresh_viewer_cache

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``add``, ``relink``, ``query``, ``info`` and ``labels`` to ``app``."""

    @app.command()
    def add(
        source: str = typer.Argument(..., help="Source adapter: cohen, bimcv, mosmed or mids."),
        path: Path = typer.Argument(..., help="The dataset's folder or main file as published."),
        bank: Path = typer.Option(..., "--bank", "-b", help="Bank folder (created if missing)."),
        name: Optional[str] = typer.Option(None, help="Name of the source in the bank (default: the adapter name)."),
        tree: list[Path] = typer.Option([], "--tree", help="PadChest tree file(s) to merge into the vocabulary (bimcv)."),
        source_version: Optional[str] = typer.Option(None, "--source-version", help="Release or commit of the source, recorded on every row."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (counts, skipped by reason, notes)."),
        no_viewer_cache: bool = no_viewer_cache_option(),
    ) -> None:
        """Add a public source's records to a bank (re-adding replaces, never duplicates), then build the web
        viewer's cache (outside the bank) so that `covidbank serve` starts in seconds."""
        from ..sources import add_source

        opts: dict = {"version": source_version} if source_version else {}
        if tree:
            opts["trees"] = list(tree)
        try:
            summary, res = add_source(bank, source, path, name=name, **opts)
        except CovidbankError as e:
            raise fail(str(e))
        refresh_viewer_cache(bank, skip=no_viewer_cache)
        reasons: dict[str, int] = {}
        for s in res.skipped:
            key = s.reason.split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        if as_json:
            print_json({"source": summary.source, "replaced": summary.replaced,
                        "counts": {k: int(v) for k, v in summary.counts.items()},
                        "skipped": len(res.skipped), "skipped_by_reason": reasons,
                        "notes": list(res.meta.get("notes", []))})
            return
        console.print(f"[green]{summary.source}[/]: {'replaced' if summary.replaced else 'added'} to {bank}")
        for k in ("subjects", "sessions", "images", "labels", "tests"):
            console.print(f"  {k:<9} {summary.counts.get(k, 0):>7,}")
        if res.skipped:
            console.print(f"  skipped   {len(res.skipped):>7,}  (" + "; ".join(f"{v} {k}" for k, v in reasons.items()) + ")",
                          markup=False)
        for line in res.meta.get("notes", []):
            console.print(f"  note: {line}", markup=False)


    @app.command()
    def relink(
        bank: Path = typer.Argument(..., help="Bank folder."),
        source: str = typer.Argument(..., help="Source whose files moved (a name from `covidbank info`)."),
        new_root: Path = typer.Argument(..., help="The folder that now holds the source's files."),
        as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
        no_viewer_cache: bool = no_viewer_cache_option(),
    ) -> None:
        """Point a source at the new place of its files (the index keeps paths relative to it)."""
        import json

        from ..bank import Bank

        try:
            counts = Bank(bank).relink(source, new_root)
        except CovidbankError as e:
            raise fail(str(e))
        refresh_viewer_cache(bank, skip=no_viewer_cache)
        if as_json:
            out.print_json(json.dumps({"source": source, **counts}))
            return
        console.print(f"[green]{source}[/]: root is now {new_root}; {counts['present']:,} of {counts['images']:,} "
                      f"files found (before: {counts['present_before']:,})")


    @app.command()
    def query(
        bank: Path = typer.Argument(..., help="Bank folder."),
        sql: str = typer.Argument(..., help="SQL over the tables images, labels, subjects, sessions, tests, skipped, ..."),
        format: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
    ) -> None:
        """Run SQL over a bank's tables (DuckDB) and print the result."""
        from ..bank import Bank

        if format == "json":
            try:
                df = Bank(bank).query(sql)
            except CovidbankError as e:
                raise fail(str(e))
            print_frame(df, format)
            return
        try:  # rows straight from DuckDB: no pandas import, no DataFrame
            columns, rows = Bank(bank).query_rows(sql)
        except CovidbankError as e:
            raise fail(str(e))
        print_rows(columns, rows, format, max_rows=200 if format == "table" else None)


    @app.command()
    def info(
        bank: Path = typer.Argument(..., help="Bank folder."),
        format: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
        as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    ) -> None:
        """Summarize a bank: counts per source."""
        from ..bank import Bank

        try:
            b = Bank(bank)
            df = b.summary()
        except CovidbankError as e:
            raise fail(str(e))
        print_frame(df, "json" if as_json else format, title=f"bank {bank}")


    @app.command()
    def labels(
        tree: list[Path] = typer.Option([], "--tree", help="PadChest tree file(s) to merge."),
        label: Optional[str] = typer.Argument(None, help="Show this label's ancestors and descendants."),
        format: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
    ) -> None:
        """Show the label vocabulary (names, CUIs, parents) or one label's family."""
        from ..labels import default_tree

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
