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

    @app.command()
    def release(
        bank: Path = typer.Argument(..., help="Bank folder."),
        out_dir: Path = typer.Option(..., "--out", "-o", help="Release folder (an earlier release there becomes the previous iteration)."),
        license: Optional[str] = typer.Option(None, "--license", help="License of the bank's own data, e.g. CC-BY-4.0 (default: dataset_description.json's)."),
        name: Optional[str] = typer.Option(None, "--name", help="Dataset name."),
        author: list[str] = typer.Option([], "--author", help="Author (repeatable)."),
        no_report: bool = typer.Option(False, "--no-report", help="Leave out the technical-validation report."),
        as_json: bool = typer.Option(False, "--json", help="Print the checks and counts as JSON."),
    ) -> None:
        """Write a verified, self-contained release package (MIDS tree, index, report, README, licenses, manifest).

        Refused, naming each problem, when a release check fails; checks this version cannot run are listed.
        """
        from ..bank import Bank
        from ..release import release as do_release

        try:
            res = do_release(Bank(bank), out_dir, license=license, name=name, authors=author or None, report=not no_report)
        except CovidbankError as e:
            raise fail(str(e))
        if as_json:
            sys.stdout.write(json.dumps({"out": str(res.out), "version": res.version, "files": res.files,
                                         "checks": [c.to_dict() for c in res.checks], "changes": res.changes}, indent=2) + "\n")
            return
        console.print(f"[green]release {res.version}[/] written to {res.out} ({res.files:,} files)")
        for c in res.checks:
            color = {"passed": "green", "not run": "yellow"}.get(c.status, "red")
            console.print(f"  [{color}]{c.status:>7}[/] {c.name}" + (f" ({c.note})" if c.note and c.status != "passed" else ""))
        for line in res.changes:
            console.print(f"  {line}")

    @app.command()
    def verify(
        release_dir: Path = typer.Argument(..., help="Release folder written by `covidbank release`."),
    ) -> None:
        """Re-check a release against its SHA-256 manifest (exit 1 when anything is missing, changed or extra)."""
        from ..release import verify as do_verify

        probs = do_verify(release_dir)
        if probs:
            for p in probs[:50]:  # one plain line per problem (file names are never wrapped)
                sys.stdout.write(p + "\n")
            if len(probs) > 50:
                sys.stdout.write(f"... and {len(probs) - 50} more\n")
            raise typer.Exit(1)
        out.print(f"[green]{release_dir}: every file matches the manifest[/]")
