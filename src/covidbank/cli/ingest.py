"""``covidbank ingest`` and ``covidbank validate``: hospital DICOM into a MIDS bank."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from ._viewer import no_viewer_cache_option, refresh_viewer_cache


# --------------------------------------------------------------------------- CLI
def ingest_summary_json(s, name: str, bank: Path) -> dict:
    """The ``ingest --json`` document: counts and problems by reason code (no input value, no input path)."""
    from collections import Counter

    counts = {k: getattr(s, k) for k in ("files", "series", "converted", "resumed", "errors", "skipped",
                                         "quarantined", "subjects", "sessions", "images", "tests", "reports")}
    return {"source": name, "bank": str(bank), "run": s.run, "seconds": round(s.seconds, 2), **counts,
            "problems_by_reason": dict(sorted(Counter(code for _, code, _ in s.problems).items())),
            "burned_in": dict(s.burned_in), "notes": list(s.notes), "private_log": s.private_log,
            "key_created": s.key_created}


def register(app) -> None:
    """Add ``covidbank ingest`` and ``covidbank validate`` to the CLI."""
    @app.command("ingest")
    def ingest_cmd(
        raw_dir: Path = typer.Argument(..., help="Folder of DICOM files (any tree, any file names)."),
        bank: Path = typer.Option(..., "--bank", "-b", help="Bank folder (created if missing); the MIDS root."),
        workers: int = typer.Option(max(1, min(4, os.cpu_count() or 1)), "--workers", "-j", help="Worker processes."),
        scheduler: Optional[str] = typer.Option(None, "--scheduler", help="dask.distributed scheduler address (tcp://...)."),
        key_file: Optional[Path] = typer.Option(None, "--key-file", "-k",
                                                help="Project key file, kept outside the bank, mode 0600 (default "
                                                     "$COVIDBANK_KEY_FILE or ~/.config/covidbank/ingest.key). Never "
                                                     "created silently: see --new-key and `covidbank key new`."),
        new_key: bool = typer.Option(False, "--new-key", help="Create the key file if it does not exist (says where)."),
        private_log: Optional[Path] = typer.Option(None, "--private-log",
                                                   help="Curator's run log, outside the bank: token -> input path and "
                                                        "full reason, appended (default <key file>.private/runs.jsonl)."),
        quarantine: Optional[Path] = typer.Option(None, "--quarantine",
                                                  help="Folder outside the bank for items a deny-list hit kept out "
                                                       "(default <key file>.private/quarantine)."),
        follow_symlinks: bool = typer.Option(False, "--follow-symlinks",
                                             help="Follow symbolic links that lead outside RAW_DIR (not followed by default)."),
        max_file_mb: int = typer.Option(512, "--max-file-mb", help="Skip input files larger than this (MiB)."),
        no_wait: bool = typer.Option(False, "--no-wait", help="Refuse instead of waiting when another ingest holds the bank."),
        options: List[str] = typer.Option([], "--options", "-o",
                                          help="De-identification options as name=yes/no: retain_modified_dates (yes), "
                                               "retain_patient_characteristics (yes), clean_descriptors (no)."),
        safe_private: Optional[Path] = typer.Option(None, "--safe-private",
                                                    help="Retain Safe Private: CSV/TSV of private attributes the curator "
                                                         "established as safe (columns creator, group, element; hex)."),
        name: str = typer.Option("ingest", "--name", help="Source name of the images in the bank index."),
        tests: Optional[Path] = typer.Option(None, "--tests", help="tests.csv: patient_id, date, test_type, result."),
        reports: Optional[Path] = typer.Option(None, "--reports", help="reports.csv: accession (or study id), text."),
        reports_deidentified: bool = typer.Option(False, "--reports-deidentified",
                                                  help="The reports' text is already de-identified: store it as it is (default: de-identify it first)."),
        linkage: Optional[Path] = typer.Option(None, "--linkage",
                                               help="Merge original patient id -> pseudonym into this TSV (outside the "
                                                    "bank; earlier runs' rows are kept)."),
        window: int = typer.Option(0, "--window", help="Which window / VOI LUT to apply (0 = first)."),
        burned_in: str = typer.Option("redact", "--burned-in",
                                      help="Personal data burned into X-ray pixels (Tesseract OCR): redact (fill it, "
                                           "OCR again, exclude if still legible), exclude (leave the image out) or "
                                           "flag (keep it out of the index until reviewed in the viewer)."),
        no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
        keep_dicom: bool = typer.Option(False, "--keep-dicom",
                                        help="Also keep the de-identified DICOM instances in the bank (sourcedata/), "
                                             "so DICOM SEG/SR can reference them (export-dicom, push)."),
        as_json: bool = typer.Option(False, "--json",
                                     help="Print the summary as JSON on stdout (counts, problems by reason code, "
                                          "the private log and the run id); messages stay on stderr."),
        no_viewer_cache: bool = no_viewer_cache_option(),
    ) -> None:
        """De-identify (PS3.15 Basic Profile), convert (X-ray 16-bit PNG, CT NIfTI) and lay out DICOM as MIDS."""
        from ..dicom.deid import DeidOptions
        from ..errors import CovidbankError
        from . import console, fail

        try:
            opts = DeidOptions.parse(options)
            if safe_private is not None:
                import dataclasses

                opts = dataclasses.replace(opts, safe_private=DeidOptions.read_safe_private(safe_private))
        except (ValueError, OSError) as e:
            raise fail(str(e), 2)
        try:
            from ..dicom.ingest import ingest
            from ..dicom.safeio import Limits

            s = ingest(raw_dir, bank, key_file=key_file, workers=workers, scheduler=scheduler, options=opts, name=name,
                       tests=tests, reports=reports, reports_deidentified=reports_deidentified, linkage=linkage,
                       window_index=window, progress=not no_progress, new_key=new_key, private_log=private_log,
                       quarantine=quarantine, follow_symlinks=follow_symlinks,
                       limits=Limits(max_file_bytes=max_file_mb << 20), lock_timeout=0 if no_wait else -1,
                       keep_dicom=keep_dicom, burned_in=burned_in)
        except CovidbankError as e:
            raise fail(str(e))
        refresh_viewer_cache(bank, skip=no_viewer_cache)
        if as_json:
            from ._output import print_json

            print_json(ingest_summary_json(s, name, bank))
        console.print(f"[green]{name}[/]: {s.series} series from {s.files} files in {s.seconds:.1f} s -> {bank}")
        console.print(f"  converted {s.converted}, already done {s.resumed}, errors {s.errors}, skipped files {s.skipped}, "
                      f"quarantined {s.quarantined}")
        console.print(f"  subjects {s.subjects}, sessions {s.sessions}, images {s.images}, tests {s.tests}")
        if s.burned_in:
            console.print("  burned-in text: " + ", ".join(f"{k} {v}" for k, v in sorted(s.burned_in.items())))
        for n in s.notes:
            console.print(f"  note: {n}")
        if s.key_created:
            console.print(f"  created a new project key at {Path(s.key_file).resolve()}: keep it outside the bank, "
                          "mode 0600, and back it up", markup=False, highlight=False)
        for path, code, detail in s.problems[:10]:  # the curator's own terminal may name files and values
            console.print(f"  {code}: {path}" + (f" ({detail})" if detail else ""), markup=False, highlight=False)
        if len(s.problems) > 10:
            console.print(f"  ... {len(s.problems) - 10} more")
        if s.errors or s.skipped or s.quarantined:
            console.print(f"  input files and full reasons (private, outside the bank): {s.private_log} (run {s.run})")
        if s.quarantined:
            console.print(f"  quarantined items: {s.quarantine}/{s.run}")

    @app.command("validate")
    def validate_cmd(
        bank: Path = typer.Argument(..., help="Bank folder (MIDS root)."),
        format: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
    ) -> None:
        """Check a bank's MIDS layout (names, entities, sidecar keys, TSV columns); exit 1 on problems."""
        import pandas as pd

        from ..dicom.mids import validate
        from . import console, print_frame

        probs = validate(bank)
        if not probs:
            console.print(f"[green]{bank}[/]: valid MIDS layout")
            return
        print_frame(pd.DataFrame([{"path": p.path, "problem": p.message} for p in probs]), format)
        console.print(f"[red]{len(probs)} problem(s)[/]")
        raise typer.Exit(1)
