"""``covidbank key new`` and ``covidbank audit``: the project key and the privacy check of a bank."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``key`` group and the ``audit`` command to the CLI."""
    key_app = typer.Typer(help="The project key that pseudonymizes a bank (kept outside the bank).",
                          no_args_is_help=True)

    @key_app.command("new")
    def key_new(
        path: Path = typer.Argument(..., help="Where to write the new key (mode 0600); must not exist."),
        bank: Optional[Path] = typer.Option(None, "--bank", help="Refuse a path inside this bank."),
    ) -> None:
        """Create a new random project key; print where it is and its fingerprint."""
        from ..dicom.keys import key_fingerprint, load_key, new_key
        from ..errors import CovidbankError
        from . import console, fail

        try:
            p = new_key(path, bank)
            fp = key_fingerprint(load_key(p))
        except CovidbankError as e:
            raise fail(str(e))
        console.print(f"new project key: [bold]{p}[/] (fingerprint {fp})")
        console.print("keep it outside every bank, back it up: without it a bank cannot be extended with the same "
                      "pseudonyms")

    @key_app.command("fingerprint")
    def key_fp(path: Path = typer.Argument(..., help="Key file.")) -> None:
        """Print the public fingerprint of a key (what a bank records)."""
        from ..dicom.keys import key_fingerprint, load_key
        from ..errors import CovidbankError
        from . import fail

        try:
            sys.stdout.write(key_fingerprint(load_key(path)) + "\n")
        except CovidbankError as e:
            raise fail(str(e))

    app.add_typer(key_app, name="key")

    @app.command("audit")
    def audit_cmd(
        bank: Path = typer.Argument(..., help="Bank folder to check before sharing."),
        raw: Optional[Path] = typer.Option(None, "--raw", help="The raw DICOM input: its identifying values are searched for."),
        tests: List[Path] = typer.Option([], "--tests", help="tests.csv given to ingest (patient ids searched for)."),
        reports: List[Path] = typer.Option([], "--reports", help="reports.csv given to ingest (accessions searched for)."),
        key_file: Optional[Path] = typer.Option(None, "--key-file", "-k", help="The bank's key: its fingerprint is checked."),
        as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
    ) -> None:
        """Search every file of a bank for identifying values and linkage; exit 1 on any finding."""
        import json

        import pandas as pd

        from ..audit import audit
        from ..errors import CovidbankError
        from . import console, fail, print_frame

        try:
            rep = audit(bank, raw=raw, tests=tests, reports=reports, key_file=key_file)
        except CovidbankError as e:
            raise fail(str(e))
        if as_json:
            sys.stdout.write(json.dumps(rep.to_dict(), indent=1) + "\n")
        else:
            console.print(f"audit of {bank}: {rep.files} files, {rep.terms} identifying values searched for, "
                          f"{rep.subjects} subjects")
            for k, v in rep.counts.items():
                console.print(f"  {k}: {v}")
            if rep.findings:
                print_frame(pd.DataFrame([f.to_dict() for f in rep.findings]), "table")
                console.print(f"[red]{len(rep.findings)} finding(s)[/]")
            else:
                console.print("[green]no finding[/]")
        if rep.findings:
            raise typer.Exit(1)
