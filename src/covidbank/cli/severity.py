"""``covidbank severity`` and ``covidbank severity-table`` (registered by :func:`register`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from ._viewer import no_viewer_cache_option, refresh_viewer_cache

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``severity`` and ``severity-table`` to the covidbank CLI."""
    from ..errors import CovidbankError
    from . import console, fail, out, print_frame

    @app.command("severity")
    def severity(
        input: Path = typer.Argument(..., help="CT: NIfTI file, DICOM series folder, single DICOM slice (or PNG/JPEG with --intensity-mode)."),
        lesion_mask: Optional[Path] = typer.Option(None, "--lesion-mask", help="Lesion mask (MosMedData NIfTI format) instead of the HU estimate."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
        overlay: Optional[Path] = typer.Option(None, "--overlay", help="Write a PNG with axial/coronal views and lung/lesion contours."),
        masks_out: Optional[Path] = typer.Option(None, "--masks-out", help="Folder for lungs.nii.gz (1 right, 2 left) and lesions.nii.gz."),
        intensity_mode: bool = typer.Option(
            False, "--intensity-mode", help="For images not in HU (8-bit): pseudo-HU calibration, lesion area only, no grade."
        ),
        seg: Optional[Path] = typer.Option(None, "--seg", help="Write a DICOM SEG (right/left lung, lesion) referencing the input DICOM series."),
        sr: Optional[Path] = typer.Option(None, "--sr", help="Write a DICOM SR (TID 1500: volumes, % involved, grade) referencing the SEG and the series."),
        force: bool = typer.Option(
            False, "--force", help="Grade even what the checks refuse (abdominal CT, single or non-axial slice, slab); the output says so."
        ),
    ) -> None:
        """Segment the lungs, quantify lesions and grade a chest CT (CT-0..CT-4, MosMed routing).

        Research use only, not for clinical decisions.  Inputs that are not a chest
        CT in HU covering the lungs are reported as not gradable, with the reasons.
        """
        from ..severity.io import save_mask
        from ..severity.overlay import write_overlay
        from ..severity.pipeline import assess

        try:
            res = assess(input, lesion_mask=lesion_mask, intensity_mode=intensity_mode, force=force)
            if overlay is not None:
                write_overlay(res, overlay)
            if masks_out is not None:
                save_mask(res.labels, res.ct, masks_out / "lungs.nii.gz")
                save_mask(res.lesion, res.ct, masks_out / "lesions.nii.gz")
            exported = None
            if seg is not None or sr is not None:
                from ..dicom.derived.export import export_severity

                exported = export_severity(res, input, seg_out=seg, sr_out=sr)
        except CovidbankError as e:
            raise fail(str(e))
        d = res.to_dict()
        if exported is not None:
            d["dicom"] = {"seg": str(exported.seg_path) if exported.seg_path else None,
                          "sr": str(exported.sr_path) if exported.sr_path else None,
                          "segments": exported.segments, "frames": exported.frames}
        if as_json:
            sys.stdout.write(json.dumps(d, indent=2, default=str) + "\n")
            return
        lv, sv, iv = d["lung_volume_ml"], d["lesion_volume_ml"], d["involvement_percent"]
        out.print(f"[bold]{input}[/]  {d['input_kind']} {tuple(d['shape'])} spacing {tuple(round(s, 3) for s in d['spacing_mm'])} mm")
        for k in ("right", "left", "total"):
            out.print(f"  {k:<6} lung {lv[k]:>9.1f} mL   lesion {sv[k]:>8.1f} mL   involvement {iv[k]:>6.2f} %")
        if d["category"]:
            forced = " [red](forced: not gradable by the checks)[/]" if d["forced"] else ""
            out.print(f"  grade  [bold]{d['category']}[/]{forced}  ({d['boundary_convention']})")
            out.print(f"  routing: {d['routing']}")
            out.print(f"  [bold yellow]{d['notice']}[/]")
        elif d["not_gradable_reasons"] and not intensity_mode:
            out.print("  grade  [bold]not gradable[/]:")
            for code, text in zip(d["not_gradable_reasons"], d["not_gradable_text"]):
                out.print(f"    - {code}: {text}")
            out.print("  (no grade, no routing; --force grades anyway)")
        else:
            out.print(f"  grade  none: {d['details'].get('grade_refused', '')}")
        if "lesion_area_mm2" in d["details"]:
            out.print(f"  slice areas: lung {d['details']['lung_area_mm2']} mm2, lesion {d['details']['lesion_area_mm2']} mm2")
        out.print(f"  qc: {', '.join(d['qc_flags']) or 'none'}")
        if overlay is not None:
            console.print(f"overlay written to {overlay}")
        if exported is not None:
            for what, p in (("SEG", exported.seg_path), ("SR", exported.sr_path)):
                if p is not None:
                    console.print(f"DICOM {what} written to {p}" + (f" ({', '.join(exported.segments)}; {exported.frames} frames)" if what == "SEG" else ""))

    @app.command("severity-table")
    def severity_table_cmd(
        mosmed: Path = typer.Argument(..., help="MosMedData folder (dataset_registry.csv, masks/, optionally studies/)."),
        studies: Optional[Path] = typer.Option(None, "--studies", help="Folder with the CT volumes, if not where the registry says."),
        format: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
        out_file: Optional[Path] = typer.Option(None, "--out", help="Also write the table as CSV."),
        bank: Optional[Path] = typer.Option(None, "--bank", help="Also store it as the bank-wide table 'severity'."),
        no_viewer_cache: bool = no_viewer_cache_option(),
    ) -> None:
        """Lesion volume (mL) of every MosMedData mask; involvement and grade vs the official class when the CTs are present."""
        try:
            from ..severity.table import severity_table

            df, conf = severity_table(mosmed, studies, progress=format == "table")
        except CovidbankError as e:
            raise fail(str(e))
        if out_file is not None:
            from ..fileio import atomic_write

            atomic_write(out_file, df.to_csv(index=False))
        if bank is not None:
            from ..bank import Bank

            try:
                Bank(bank).write_table("severity", df.assign(source="mosmed"))
            except CovidbankError as e:
                raise fail(str(e))
            refresh_viewer_cache(bank, skip=no_viewer_cache)
        shown = df
        if format == "table":  # the terminal view keeps the essential columns; csv/json have them all
            keep = ["study", "official_category", "lesion_volume_ml", "slices", "slice_spacing_mm", "lung_volume_ml", "involvement_percent", "category", "error"]
            shown = df[[c for c in keep if c in df.columns and (c in ("study", "lesion_volume_ml") or df[c].notna().any())]]
        print_frame(shown, format, title="MosMedData lesion masks")
        if format == "table":
            ok = df[df["error"].isna()]
            out.print(
                f"{len(ok)} masks read, {len(df) - len(ok)} errors; lesion volume mL: median {ok['lesion_volume_ml'].median():.1f}, "
                f"range {ok['lesion_volume_ml'].min():.1f}-{ok['lesion_volume_ml'].max():.1f}; official classes: "
                + ", ".join(f"{k} {v}" for k, v in df["official_category"].value_counts().sort_index().items())
            )
            if conf is not None:
                out.print("confusion matrix (rows official, columns computed):")
                out.print(conf.to_string())
            else:
                out.print("no CT volumes present: involvement and grade need the studies (--studies DIR)")
