"""``covidbank pull``: a cohort from a PACS (DIMSE or DICOMweb) into a bank, de-identified on arrival."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer


def register(app) -> None:
    """Add ``covidbank pull`` to the CLI."""
    @app.command("pull")
    def pull_cmd(
        bank: Path = typer.Option(..., "--bank", "-b", help="Bank folder (created if missing); the MIDS root."),
        cohort: Optional[Path] = typer.Option(None, "--cohort", "-c",
                                              help="Cohort CSV: patient_id (+ optional from, to) or accession per row."),
        tests: Optional[Path] = typer.Option(None, "--tests",
                                             help="Lab tests CSV (patient_id, date, test_type, result): the cohort is "
                                                  "every patient with a PCR/IgG/IgM test in --from..--to (the BIMCV rule "
                                                  "with --positive)."),
        positive: bool = typer.Option(True, "--positive/--any-result",
                                      help="With --tests: only patients with a positive result (default)."),
        pacs: Optional[str] = typer.Option(None, "--pacs", help="DIMSE archive as AET@HOST:PORT."),
        dicomweb: Optional[str] = typer.Option(None, "--dicomweb", help="DICOMweb root URL (QIDO-RS/WADO-RS)."),
        calling_aet: str = typer.Option("COVIDBANK", "--calling-aet", help="Our AE title (and C-MOVE destination)."),
        method: str = typer.Option("get", "--method", help="DIMSE retrieval: get (C-GET) or move (C-MOVE to our SCP)."),
        move_port: Optional[int] = typer.Option(None, "--move-port",
                                                help="Port of covidbank's storage SCP for C-MOVE (the archive must know "
                                                     "it under --calling-aet); with --method get, enables the fall back "
                                                     "to C-MOVE when C-GET is refused."),
        move_host: str = typer.Option("0.0.0.0", "--move-host", help="Address the storage SCP listens on."),
        date_from: Optional[str] = typer.Option(None, "--from", help="Start of the period (YYYY-MM-DD)."),
        date_to: Optional[str] = typer.Option(None, "--to", help="End of the period (YYYY-MM-DD)."),
        modalities: Optional[str] = typer.Option(None, "--modalities", "-m",
                                                 help="Keep only series of these modalities, e.g. CR,DX,CT."),
        level: str = typer.Option("study", "--level",
                                  help="study: one request per study; series: query and retrieve series one by one."),
        max_rate: Optional[float] = typer.Option(None, "--max-rate", help="At most this many instances per second."),
        transfers: Optional[int] = typer.Option(None, "--transfers",
                                                help="Studies transferred at once (DIMSE associations, each kept "
                                                     "open for the run, or HTTP streams); default 2 over DIMSE, 8 "
                                                     "over DICOMweb."),
        timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for any one answer of the archive."),
        workers: int = typer.Option(max(1, min(2, os.cpu_count() or 1)), "--workers", "-j",
                                    help="Conversion processes."),
        scheduler: Optional[str] = typer.Option(None, "--scheduler", help="dask.distributed scheduler address (tcp://...)."),
        key_file: Optional[Path] = typer.Option(None, "--key-file", "-k",
                                                help="Project key file, kept outside the bank, mode 0600 (default "
                                                     "$COVIDBANK_KEY_FILE or ~/.config/covidbank/ingest.key). Never "
                                                     "created silently: see --new-key and `covidbank key new`."),
        new_key: bool = typer.Option(False, "--new-key", help="Create the key file if it does not exist."),
        options: List[str] = typer.Option([], "--options", "-o",
                                          help="De-identification options as name=yes/no (as for covidbank ingest)."),
        staging: Optional[Path] = typer.Option(None, "--staging",
                                               help="Private folder for raw files while they wait (outside the bank; "
                                                    "default $TMPDIR/covidbank-pull-<uid>/<bank token>)."),
        private_dir: Optional[Path] = typer.Option(None, "--private-dir",
                                                   help="Where the private log mapping tokens to patient ids and "
                                                        "accessions goes (outside the bank; default private/ beside "
                                                        "the key file)."),
        name: str = typer.Option("ingest", "--name", help="Source name of the images in the bank index."),
        status: bool = typer.Option(False, "--status", help="Print the reconciliation table of BANK and exit."),
        fmt: str = typer.Option("table", "--format", "-f", help="--status output: table, csv or json."),
        as_json: bool = typer.Option(False, "--json", help="Print the run's summary as JSON."),
        no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
    ) -> None:
        """Pull a cohort's studies from a PACS into BANK, de-identified on arrival; resumable; --status reconciles."""
        from . import console, fail, out, print_frame

        if status:
            from ..pacs.manifest import MANIFEST_NAME, Manifest

            if not (bank / MANIFEST_NAME).exists():
                raise fail(f"{bank}: no pull manifest ({MANIFEST_NAME}); run covidbank pull first")
            m = Manifest(bank)
            print_frame(m.table(), fmt, title=f"pull manifest of {bank}")
            if fmt == "table":
                t = m.totals()
                out.print(f"lines {t['entries']} (no studies {t['entries_without_studies']}, query failed "
                          f"{t['queries_failed']}); studies {t['studies']}: complete {t['complete']}, incomplete "
                          f"{t['incomplete']}, timed out {t['timed_out']}, transfer failed {t['transfer_failed']}, "
                          f"refused {t['refused']}, no matching series {t['no_matching_series']}, pending "
                          f"{t['pending']}; instances expected {t['expected']}, received {t['received']}, converted "
                          f"{t['converted']}, skipped {t['skipped']}, failed {t['failed']}")
            return
        if (cohort is None) == (tests is None):
            raise fail("give the cohort as --cohort COHORT.csv or --tests TESTS.csv (one of them)", 2)
        if (pacs is None) == (dicomweb is None):
            raise fail("give the archive as --pacs AET@HOST:PORT or --dicomweb URL (one of them)", 2)
        from ..dicom.deid import DeidOptions
        from ..errors import CovidbankError
        from ..pacs.archive import parse_date
        from ..pacs.cohort import cohort_from_tests, read_cohort
        from ..pacs.pull import pull

        try:
            opts = DeidOptions.parse(options)
            d0, d1 = parse_date(date_from), parse_date(date_to)
        except ValueError as e:
            raise fail(str(e), 2)
        if level not in ("study", "series"):
            raise fail(f"--level {level!r}: use study or series", 2)
        mods = [m for m in (modalities or "").split(",") if m.strip()] or None
        try:
            entries = read_cohort(cohort, d0, d1) if cohort else cohort_from_tests(tests, d0, d1, positive=positive)
            if pacs:
                from ..pacs.dimse import DimseArchive

                archive = DimseArchive(pacs, calling_aet=calling_aet, method=method, move_port=move_port,
                                       move_host=move_host, timeout=timeout)
            else:
                from ..pacs.dicomweb import DicomwebArchive

                archive = DicomwebArchive(dicomweb, timeout=timeout)
            console.print(f"cohort: {len(entries)} line(s); archive {archive.name}")
            bar = _Progress(enabled=not no_progress and not as_json)
            with bar:
                s = pull(entries, bank, archive, key_file=key_file, modalities=mods, level=level, workers=workers,
                         scheduler=scheduler, transfers=transfers, max_rate=max_rate, options=opts, name=name,
                         staging=staging, private_dir=private_dir, progress=bar.event, new_key=new_key)
        except CovidbankError as e:
            raise fail(str(e))
        if as_json:
            import dataclasses
            import json

            out.print_json(json.dumps(dataclasses.asdict(s)))
        else:
            console.print(f"[green]pull[/]: {s.studies} stud(ies) from {s.entries} line(s) in {s.seconds:.1f} s -> {bank}")
            console.print(f"  complete {s.complete}, done before {s.done_before}, not complete {s.not_complete}; "
                          f"lines without studies {s.entries_without_studies}, queries failed {s.queries_failed}")
            console.print(f"  instances expected {s.expected}, received {s.received}, converted {s.converted}, "
                          f"skipped {s.skipped}, failed {s.failed}")
            for n in s.notes:
                console.print(f"  note: {n}")
            console.print(f"  reconciliation: covidbank pull --status --bank {bank}; private log: {s.private_log}")
        if s.not_complete or s.queries_failed:
            raise typer.Exit(1)


class _Progress:
    """The pull's progress on stderr (:class:`covidbank.progress.ProgressBar`: a bar on a terminal, dated lines in a
    log): studies finished, out of those found so far."""

    def __init__(self, enabled: bool) -> None:
        from ..progress import ProgressBar

        self.bar = ProgressBar("pull: studies", total=None, enabled=enabled)

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def event(self, kind: str, **info) -> None:
        if kind == "study":
            self.bar.advance()
