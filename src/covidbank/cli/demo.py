"""``covidbank demo``."""
from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def register(app) -> None:
    """Add ``covidbank demo`` to the CLI."""

    @app.command()
    def demo(
        bank: Path = typer.Option(Path("demo-bank"), "--bank", "-b", help="Bank folder to create."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary tables as JSON."),
    ) -> None:
        """Build a small bank from generated sample data of every source format and summarize it."""
        from .. import demo as _lib
        from . import console, print_frame, print_json

        console.print(f"Generating sample data and building bank [bold]{bank}[/] ...")
        out = _lib.run_demo(bank)
        if as_json:
            print_json({k: out[k].to_dict("records") for k in ("summary", "views", "labels", "grades")})
            return
        for name, (summary, res) in out["added"].items():
            console.print(f"[green]{name}[/]: " + ", ".join(f"{k} {v}" for k, v in summary.counts.items() if v))
        print_frame(out["summary"], "table", title="Bank summary")
        print_frame(out["views"], "table", title="Images by view")
        print_frame(out["labels"], "table", title="Most frequent positive labels (stated by the source / implied by the hierarchy)")
        print_frame(out["grades"], "table", title="MosMed-format CT grades")
        console.print(f"\nTry: covidbank query {bank} \"SELECT * FROM images LIMIT 5\"")
