"""``covidbank report``: the technical-validation report of a bank or a source."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app``."""

    @app.command()
    def report(
        path: Path = typer.Argument(..., help="Bank folder, or with --source the dataset's folder or file."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (report.html, report.md, tables/, figures/)."),
        source: Optional[str] = typer.Option(
            None, "--source", "-s", help="Report straight from a source (bimcv, cohen, mosmed, mids) loaded into a temporary bank."
        ),
        tree: list[Path] = typer.Option([], "--tree", help="PadChest trees_code file(s) for the label tree (BIMCV labels)."),
        tree_counts: Optional[Path] = typer.Option(
            None, "--tree-counts", help="BIMCV tree_term_CUI_counts file to compare the label tree counts with."
        ),
        title: Optional[str] = typer.Option(None, help="Report title."),
    ) -> None:
        """Write the technical-validation report: counts, demographics, acquisition, findings,
        tests, per-source specifics and data quality, as HTML (self-contained), Markdown and CSV."""
        from ..bank import Bank
        from ..errors import CovidbankError
        from ..validation.build import build_report
        from ..validation.render import write_report
        from . import console, fail

        def progress(name: str) -> None:
            console.print(f"  {name}", highlight=False)

        try:
            if source:
                from ..sources import add_source

                opts = {"trees": list(tree)} if tree and source == "bimcv" else {}
                with tempfile.TemporaryDirectory(prefix="covidbank-report-") as tmp:
                    console.print(f"loading {source} from {path}")
                    bank = Bank(Path(tmp) / "bank", create=True)
                    add_source(bank, source, path, **opts)
                    rep = build_report(bank, tree, tree_counts, title or f"Technical validation: {source} ({path.name})", progress)
                    rep.bank = f"{source} source at {path} (temporary bank)"
            else:
                bank = Bank(path)
                if not bank.sources():
                    raise fail(f"{path}: the bank has no sources yet (add one with `covidbank add`)")
                rep = build_report(bank, tree, tree_counts, title, progress)
            files = write_report(rep, out)
        except CovidbankError as e:
            raise fail(str(e))
        console.print(f"[green]report written[/]: {files['html']}  ({len(rep.tables())} tables, {len(rep.figures())} figures)")
