"""Sharing a bank: ``export`` (files other tools read), ``release`` (a verified package) and ``verify``."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from ..errors import CovidbankError
from ._output import console, fail, out

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``export``, ``release`` and ``verify`` to ``app``."""

    @app.command()
    def export(
        bank: Path = typer.Argument(..., help="Bank folder."),
        format: str = typer.Option(..., "--format", "-f", help="imagefolder (torchvision), hf (Hugging Face imagefolder), monai (datalist JSON) or csv."),
        out_dir: Path = typer.Option(..., "--out", "-o", help="Output folder."),
        split: Optional[str] = typer.Option(None, "--split", help="Only this side of the bank's split (default: every image, by side)."),
        bit_depth: int = typer.Option(8, "--bit-depth", help="8 (window applied, what Pillow/torchvision/HF expect) or 16."),
        label: Optional[str] = typer.Option(None, "--label", help="imagefolder: the label whose value names the class folders (default COVID-19)."),
        source: list[str] = typer.Option([], "--source", help="Only these sources (repeatable)."),
        unknown_as_negative: bool = typer.Option(False, "--unknown-as-negative", help="imagefolder: unknown label -> the negative class (default: left out)."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Export a bank's images and labels as files other ML tools load (hard links where possible)."""
        from ..bank import Bank
        from ..export import export as do_export
        from .ml import _progress

        try:
            s = do_export(Bank(bank), out_dir, format, split=split, bit_depth=bit_depth, label=label,
                          sources=source or None, unknown_as_negative=unknown_as_negative, progress=_progress("exporting"))
        except CovidbankError as e:
            raise fail(str(e))
        if as_json:
            sys.stdout.write(json.dumps(s.to_dict(), indent=2) + "\n")
            return
        console.print(f"[green]{s.images:,} images[/] exported as {format} to {out_dir} "
                      f"({s.linked:,} hard-linked, {s.converted:,} converted); per split: "
                      + ", ".join(f"{k} {v:,}" for k, v in sorted(s.per_split.items())))
        for reason, n in s.left_out.items():
            console.print(f"  left out {n:,}: {reason}")
