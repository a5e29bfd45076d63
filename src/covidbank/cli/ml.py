"""CLI commands for ML-ready access: ``split``, ``check-leakage``,
``duplicates`` and ``cache``.

Heavy imports (torch, imagehash) stay inside the command bodies.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from ._viewer import no_viewer_cache_option, refresh_viewer_cache

__all__ = ["register"]


def _progress(label: str):
    """A progress wrapper for iterables (stderr: a bar on a terminal, lines in a log)."""
    from ..progress import track

    # results that arrive one by one (a sized iterator) keep coming instead of being gathered first
    return lambda items: track(items if hasattr(items, "__len__") else list(items), label, transient=True)


def register(app: typer.Typer) -> None:
    """Add the ML commands to ``app``."""

    @app.command()
    def split(
        bank: Path = typer.Argument(..., help="Bank folder."),
        by: str = typer.Option("patient", "--by", help="Unit kept whole: patient (finer units leak patients)."),
        ratios: str = typer.Option("0.7,0.15,0.15", "--ratios", help="Target share of images per side, comma-separated."),
        names: Optional[str] = typer.Option(None, "--names", help="Side names, comma-separated (default train,val,test)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the unit order."),
        stratify: Optional[str] = typer.Option(None, "--stratify", help="Balance positives of this label (hierarchy applied)."),
        group_by: Optional[str] = typer.Option(None, "--group-by", help="Keep patients sharing this column together (site, location, ...)."),
        source: list[str] = typer.Option([], "--source", help="Only split these sources (repeatable)."),
        fresh: bool = typer.Option(False, "--fresh", help="Replace an existing split instead of extending it."),
        no_duplicates: bool = typer.Option(False, "--ignore-duplicates", help="Do not join patients sharing a duplicate group."),
        present_only: bool = typer.Option(False, "--present-only", help="Split only images whose file is present (ratios hold for what loads)."),
        format: str = typer.Option("table", "--format", "-f", help="table, csv or json (the summary)."),
        no_viewer_cache: bool = no_viewer_cache_option(),
    ) -> None:
        """Write a leak-free, deterministic, sticky split table (`splits`) into the bank.

        Patients already in the table keep their side; new patients are assigned.
        Patients sharing a duplicate image group (`covidbank duplicates`) or a
        --group-by value go to the same side.
        """
        from ..bank import Bank
        from ..errors import CovidbankError
        from ..splits import write_split
        from . import console, fail, print_frame

        try:
            res = write_split(
                Bank(bank), by=by, ratios=ratios, names=names.split(",") if names else None, seed=seed,
                stratify=stratify, group_by=group_by, sources=source or None, fresh=fresh,
                use_duplicates=not no_duplicates, present_only=present_only,
            )
        except CovidbankError as e:
            raise fail(str(e))
        refresh_viewer_cache(bank, skip=no_viewer_cache)
        console.print(
            f"split written to {bank}/index/tables/splits.parquet: {res.kept} subjects kept their side, "
            f"{res.new} newly assigned" + (f", {len(res.moved)} moved to join a duplicate/site group" if res.moved else "")
        )
        print_frame(res.summary(), format)

    @app.command("check-leakage")
    def check_leakage_cmd(
        bank: Path = typer.Argument(..., help="Bank folder."),
        json_out: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    ) -> None:
        """Prove that no subject, duplicate group or --group-by group crosses splits (exit 1 if one does)."""
        from ..bank import Bank
        from ..errors import CovidbankError
        from ..splits import check_leakage
        from . import console, fail, out

        try:
            rep = check_leakage(Bank(bank))
        except CovidbankError as e:
            raise fail(str(e))
        if json_out:
            sys.stdout.write(json.dumps(rep.to_dict(), indent=2, default=str) + "\n")
        else:
            out.print(
                f"{rep.images} images, {rep.subjects} subjects, {rep.duplicate_groups} duplicate groups checked: "
                + ("[green]no leakage[/]" if rep.ok else "[bold red]LEAKAGE[/]")
            )
            for name, df in (("subjects", rep.subject_leaks), ("duplicate groups", rep.duplicate_leaks), ("groups", rep.group_leaks)):
                if len(df):
                    out.print(f"  {len(df)} {name} in several splits, e.g. {df.iloc[0].to_dict()}")
            if rep.unassigned:
                console.print(f"  note: {rep.unassigned} images have no split yet: run `covidbank split {bank}` again")
            if rep.orphaned:
                console.print(f"  note: {rep.orphaned} split rows name images no longer in the bank")
        if not rep.ok:
            raise typer.Exit(1)

    @app.command()
    def duplicates(
        bank: Path = typer.Argument(..., help="Bank folder."),
        source: list[str] = typer.Option([], "--source", help="Only these sources (repeatable)."),
        hash_distance: int = typer.Option(8, "--hash-distance", help="Max pHash distance (of 64 bits) of a candidate pair (every copy measured is within 6; larger finds more candidates to verify)."),
        min_correlation: float = typer.Option(0.975, "--min-correlation", help="Min thumbnail correlation of a duplicate."),
        review: float = typer.Option(0.95, "--review", help="List pairs from this correlation up as near-duplicates to check."),
        no_write: bool = typer.Option(False, "--no-write", help="Report only; do not write the duplicates tables."),
        workers: int = typer.Option(1, "--workers", help="Processes that read and fingerprint the images."),
        scheduler: str | None = typer.Option(None, "--scheduler", help="dask.distributed scheduler address (tcp://host:8786); overrides --workers."),
        format: str = typer.Option("table", "--format", "-f", help="table, csv or json (the pairs)."),
        no_viewer_cache: bool = no_viewer_cache_option(),
    ) -> None:
        """Find the same image twice (re-encoded, resized, border-cropped) and write groups as table `duplicates`."""
        from ..bank import Bank
        from ..duplicates import find_duplicates, write_duplicates
        from ..errors import CovidbankError
        from . import console, fail, print_frame

        fn = find_duplicates if no_write else write_duplicates
        try:
            res = fn(Bank(bank), sources=source or None, hash_distance=hash_distance,
                     min_correlation=min_correlation, review_correlation=review, progress=_progress("fingerprinting"),
                     workers=workers, scheduler=scheduler)
        except CovidbankError as e:
            raise fail(str(e))
        refresh_viewer_cache(bank, skip=no_write or no_viewer_cache)
        s = res.summary()
        console.print(
            f"{s['images']} images: {s['duplicate_pairs']} duplicate pairs in {s['groups']} groups "
            f"({s['cross_subject_pairs']} across subjects, {s['cross_source_pairs']} across sources), "
            f"{s['near_duplicate_pairs_for_review']} near-duplicates to review, {s['unreadable']} unreadable"
        )
        for r in res.errors.itertuples():
            console.print(f"  unreadable: {r.reason}")
        cols = ["image_id_a", "image_id_b", "correlation", "hash_distance", "same_subject", "duplicate"]
        print_frame(res.pairs[cols] if len(res.pairs) else res.pairs, format)

    @app.command()
    def cache(
        bank: Path = typer.Argument(..., help="Bank folder."),
        size: int = typer.Option(224, "--size", help="Square side in pixels."),
        crop: str = typer.Option("center", "--crop", help="center (torchxrayvision's), pad or none."),
        resample: str = typer.Option("xrv", "--resample", help="xrv (torchxrayvision's resizer) or a Pillow filter (bilinear, ...)."),
        root: Optional[Path] = typer.Option(None, "--dir", help="Cache parent folder (default BANK/cache)."),
        source: list[str] = typer.Option([], "--source", help="Only these sources (repeatable)."),
        verify: str = typer.Option("stat", "--verify", help="stat (mtime and size) or hash (SHA-1 of every file)."),
        check: bool = typer.Option(False, "--check", help="Only report missing/stale entries (exit 1 if any)."),
        prune: bool = typer.Option(False, "--prune", help="Drop entries of images no longer in the bank."),
        workers: int = typer.Option(1, "--workers", help="Decoding processes."),
        scheduler: Optional[str] = typer.Option(None, "--scheduler", help="dask.distributed scheduler address (tcp://host:8786); overrides --workers."),
        json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Decode and resize the bank's present X-rays once into a memory-mapped cache (stale entries rebuilt)."""
        from ..bank import Bank
        from ..errors import CovidbankError
        from . import console, fail, out

        from ..torch.cache import XRayCache, XRayPrep, xray_records
        try:
            b = Bank(bank)
            c = XRayCache(root or b.path / "cache", XRayPrep(size, crop, resample))
            recs = xray_records(b, source or None)
            if check:
                st = c.stale(recs, verify)
                if json_out:
                    sys.stdout.write(st.to_json(orient="records", indent=2) + "\n")
                else:
                    out.print(f"{c.path}: {len(recs)} images, {len(st)} missing or stale")
                    for reason, n in st["reason"].value_counts().items():
                        out.print(f"  {reason}: {n}")
                if len(st):
                    raise typer.Exit(1)
                return
            summ = c.update(recs, verify=verify, prune=prune, progress=_progress("decoding"), workers=workers,
                            scheduler=scheduler)
        except (CovidbankError, ValueError) as e:
            raise fail(str(e))
        if json_out:
            sys.stdout.write(json.dumps(summ.to_dict(), indent=2, default=str) + "\n")
            return
        console.print(
            f"{summ.path}: {summ.total} images, {summ.decoded} decoded ({summ.stale} stale), "
            f"{summ.reused} reused, {summ.errors} unreadable" + (f", {summ.removed} removed" if summ.removed else "")
            + (f" ({summ.refreshed} moved or touched files with the same content kept)" if summ.refreshed else "")
        )
        for r in summ.error_rows.itertuples():
            console.print(f"  unreadable: {r.error}")
