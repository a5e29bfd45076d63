"""``covidbank export-dicom``, ``covidbank push`` and ``covidbank import-derived``: severity as DICOM SEG/SR, to and from archives."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``export-dicom``, ``push`` and ``import-derived``."""
    from ..errors import CovidbankError
    from . import console, fail

    @app.command("export-dicom")
    def export_dicom(
        bank: Path = typer.Argument(..., help="Bank folder whose CTs were ingested with --keep-dicom."),
        out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default BANK/derivatives/dicom)."),
        seg: bool = typer.Option(True, "--seg/--no-seg", help="Write the DICOM SEG (lungs, lesions)."),
        sr: bool = typer.Option(True, "--sr/--no-sr", help="Write the DICOM SR (TID 1500 volumes, % involved, grade)."),
        force: bool = typer.Option(False, "--force", help="Grade what the checks refuse; the SR says so."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON row per CT."),
    ) -> None:
        """Grade every kept CT series of a bank and write its DICOM SEG and SR (research use only)."""
        from ..dicom.derived.bank import OUTCOMES, export_bank

        try:
            rows = export_bank(bank, out, seg=seg, sr=sr, force=force,
                               progress=None if as_json else lambda r: console.print(f"  {r.image_id}: {r.outcome}"))
        except CovidbankError as e:
            raise fail(str(e))
        if as_json:
            for r in rows:
                sys.stdout.write(json.dumps(r.__dict__) + "\n")
            return
        counts: dict[str, int] = {}
        for r in rows:
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        for k, n in counts.items():
            console.print(f"{n} CT(s): {OUTCOMES[k]}")

    @app.command("push")
    def push(
        bank: Path = typer.Argument(..., help="Bank folder."),
        pacs: Optional[str] = typer.Option(None, "--pacs", help="C-STORE to AET@HOST:PORT."),
        dicomweb: Optional[str] = typer.Option(None, "--dicomweb", help="STOW-RS to this DICOMweb base URL."),
        source: Optional[Path] = typer.Option(None, "--from", help="Folder of the derived objects (default BANK/derivatives/dicom)."),
        images: bool = typer.Option(False, "--images", help="Also send the kept de-identified images (BANK/sourcedata)."),
        calling_aet: str = typer.Option("COVIDBANK", "--aet", help="Our AE title for C-STORE."),
        timeout: float = typer.Option(30.0, "--timeout", help="Network timeout in seconds."),
    ) -> None:
        """Send a bank's DICOM SEG/SR (and kept images with --images) to an archive."""
        from ..dicom.derived.bank import DERIVED_DIR
        from ..pacs.push import dicom_files, push_dicomweb, push_dimse

        if (pacs is None) == (dicomweb is None):
            raise fail("give exactly one of --pacs AET@HOST:PORT or --dicomweb URL", 2)
        folders = [source or bank / DERIVED_DIR] + ([bank / "sourcedata"] if images else [])
        files = dicom_files([f for f in folders if f.exists()])
        if images:  # images first, so an archive has the sources before the objects that reference them
            files.sort(key=lambda p: "sourcedata" not in p.parts)
        if not files:
            raise fail(f"{folders[0]}: no DICOM files to send (run covidbank export-dicom first)")
        try:
            res = push_dimse(files, pacs, calling_aet=calling_aet, timeout=timeout) if pacs else \
                push_dicomweb(files, dicomweb, timeout=timeout)
        except CovidbankError as e:
            raise fail(str(e))
        ok = sum(r.ok for r in res)
        console.print(f"{ok} of {len(res)} file(s) stored at {pacs or dicomweb}")
        for r in res:
            if not r.ok:
                console.print(f"  {r.path}: {r.status} {r.detail}")
        if ok < len(res):
            raise typer.Exit(1)

    @app.command("import-derived")
    def import_derived_cmd(
        folder: Path = typer.Argument(..., help="Folder of DICOM SEG/SR files (e.g. retrieved from the archive)."),
        bank: Path = typer.Option(..., "--bank", "-b", help="Bank whose kept series they reference."),
    ) -> None:
        """Read DICOM SEG and SR back: masks into BANK/derivatives/dicom-derived, SR rows into the table dicom_sr."""
        from ..dicom.derived.bank import import_derived

        try:
            s = import_derived(folder, bank)
        except CovidbankError as e:
            raise fail(str(e))
        console.print(f"{len(s.masks)} mask(s), {s.sr_rows} SR row(s); {s.unmatched} object(s) reference no kept "
                      f"series of the bank, {s.skipped} other file(s) skipped")
