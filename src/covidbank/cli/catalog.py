"""``covidbank catalog``."""
from __future__ import annotations

from typing import Optional

import typer

__all__ = ["register"]


def register(app) -> None:
    """Add ``covidbank catalog`` to the CLI."""

    @app.command()
    def catalog(
        modality: Optional[str] = typer.Option(None, "--modality", "-m", help="Only resources with this modality: CT, X-ray, MRI, ultrasound."),
        adapter_only: bool = typer.Option(False, "--adapter", help="Only resources a covidbank source adapter reads."),
        format: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
        full: bool = typer.Option(False, "--full", help="All columns in the table view (citation, notes, ...)."),
    ) -> None:
        """List public COVID-19 imaging resources: modalities, counts, metadata, access, license, adapter."""
        from .. import catalog as _lib
        from . import fail, print_frame

        try:
            df = _lib.catalog_frame(modality, adapter_only)
        except ValueError as e:
            raise fail(str(e), 2)
        if format == "table" and not full:
            df = df[["name", "CT", "X-ray", "MRI", "ultrasound", "images", "patients", "access", "license", "adapter"]]
        print_frame(df, format, title="Public COVID-19 imaging resources (Y/N/U: yes, no, unknown)")
