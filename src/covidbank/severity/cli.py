"""``covidbank severity`` and ``covidbank severity-table`` (registered by :func:`register`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

__all__ = ["register", "severity_table"]


def severity_table(mosmed: str | Path, studies: str | Path | None = None, progress: bool = False):
    """Lesion volume (mL) of every MosMedData mask, and grades when the CTs are at hand.

    Parameters
    ----------
    mosmed : path
        MosMedData folder (``dataset_registry.csv``, ``masks/``; ``studies/``
        optional) read with :mod:`covidbank.sources.mosmed`.
    studies : path, optional
        Folder holding the CT volumes (``CT-k/study_NNNN.nii.gz`` or flat);
        default: where the registry says.
    progress : bool
        Show a progress bar (stderr).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame or None)
        One row per mask (``study``, ``image_id``, ``official_category``,
        ``lesion_voxels``, ``voxel_ml``, ``lesion_volume_ml``, ``slices``,
        ``slice_spacing_mm``, and when the CT is present ``lung_volume_ml``,
        ``involvement_percent``, ``category``, ``qc_flags``; ``error`` for
        unreadable files), and the confusion matrix official x computed
        (None when no CT was graded).
    """
    import numpy as np
    import pandas as pd

    from ..sources import load_source
    from .pipeline import assess
    from .io import load_ct

    if studies is not None and not Path(studies).is_dir():
        from ..errors import CTReadError

        raise CTReadError(f"{studies}: no such folder (--studies names the folder of the CT volumes)")
    res = load_source("mosmed", mosmed)
    im = res.tables["images"]
    im = im[im["mask_path"].notna()].sort_values("original_id", key=lambda s: s.astype(int))
    rows = []
    it = list(im.itertuples(index=False))
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True, console=__import__("rich.console").console.Console(stderr=True))
        bar.start()
        task = bar.add_task("MosMed masks", total=len(it))
    for r in it:
        row = {
            "study": Path(str(r.mask_path)).name.replace("_mask", "").split(".")[0],
            "image_id": r.image_id,
            "official_category": r.ct_category,
        }
        try:
            m = load_ct(r.mask_path)
            n = int(np.count_nonzero(m.data))
            row.update(
                lesion_voxels=n,
                voxel_ml=round(m.voxel_volume_ml, 6),
                lesion_volume_ml=round(n * m.voxel_volume_ml, 3),
                slices=int(m.shape[2]),
                slice_spacing_mm=round(m.spacing[2], 3),
            )
            ct_path = Path(str(r.path))
            if studies is not None:
                cands = [Path(studies) / str(r.ct_category) / ct_path.name, Path(studies) / ct_path.name]
                ct_path = next((c for c in cands if c.is_file()), cands[0])
            if ct_path.is_file():
                sr = assess(ct_path, lesion_mask=r.mask_path)
                row.update(
                    lung_volume_ml=sr.lung_volume_ml["total"],
                    involvement_percent=sr.involvement_percent["total"],
                    category=sr.category,
                    qc_flags=";".join(sr.qc_flags),
                )
        except Exception as e:  # one bad file never stops the table
            row["error"] = f"{e.__class__.__name__}: {e}"
        rows.append(row)
        if bar is not None:
            bar.advance(task)
    if bar is not None:
        bar.stop()
    df = pd.DataFrame(rows)
    for c in ("lung_volume_ml", "involvement_percent", "category", "qc_flags", "error"):
        if c not in df.columns:
            df[c] = None
    conf = None
    graded = df[df["category"].notna()]
    if len(graded):
        from .grade import CATEGORIES

        conf = pd.crosstab(
            pd.Categorical(graded["official_category"], categories=CATEGORIES),
            pd.Categorical(graded["category"], categories=CATEGORIES),
            rownames=["official"],
            colnames=["computed"],
            dropna=False,
        )
    return df, conf


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    tmp.replace(path)


def register(app: typer.Typer) -> None:
    """Add ``severity`` and ``severity-table`` to the covidbank CLI."""
    from ..cli import console, fail, out, print_frame
    from ..errors import CovidbankError

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
    ) -> None:
        """Segment the lungs, quantify lesions and grade a chest CT (CT-0..CT-4, MosMed routing)."""
        from .pipeline import assess
        from .io import save_mask
        from .overlay import write_overlay

        try:
            res = assess(input, lesion_mask=lesion_mask, intensity_mode=intensity_mode)
            if overlay is not None:
                write_overlay(res, overlay)
            if masks_out is not None:
                save_mask(res.labels, res.ct, masks_out / "lungs.nii.gz")
                save_mask(res.lesion, res.ct, masks_out / "lesions.nii.gz")
        except CovidbankError as e:
            raise fail(str(e))
        d = res.to_dict()
        if as_json:
            sys.stdout.write(json.dumps(d, indent=2, default=str) + "\n")
            return
        lv, sv, iv = d["lung_volume_ml"], d["lesion_volume_ml"], d["involvement_percent"]
        out.print(f"[bold]{input}[/]  {d['input_kind']} {tuple(d['shape'])} spacing {tuple(round(s, 3) for s in d['spacing_mm'])} mm")
        for k in ("right", "left", "total"):
            out.print(f"  {k:<6} lung {lv[k]:>9.1f} mL   lesion {sv[k]:>8.1f} mL   involvement {iv[k]:>6.2f} %")
        if d["category"]:
            out.print(f"  grade  [bold]{d['category']}[/]  ({d['boundary_convention']})")
            out.print(f"  routing: {d['routing']}")
        else:
            out.print(f"  grade  none: {d['details'].get('grade_refused', '')}")
        if "lesion_area_mm2" in d["details"]:
            out.print(f"  slice areas: lung {d['details']['lung_area_mm2']} mm2, lesion {d['details']['lesion_area_mm2']} mm2")
        out.print(f"  qc: {', '.join(d['qc_flags']) or 'none'}")
        if overlay is not None:
            console.print(f"overlay written to {overlay}")

    @app.command("severity-table")
    def severity_table_cmd(
        mosmed: Path = typer.Argument(..., help="MosMedData folder (dataset_registry.csv, masks/, optionally studies/)."),
        studies: Optional[Path] = typer.Option(None, "--studies", help="Folder with the CT volumes, if not where the registry says."),
        format: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
        out_file: Optional[Path] = typer.Option(None, "--out", help="Also write the table as CSV."),
        bank: Optional[Path] = typer.Option(None, "--bank", help="Also store it as the bank-wide table 'severity'."),
    ) -> None:
        """Lesion volume (mL) of every MosMedData mask; involvement and grade vs the official class when the CTs are present."""
        try:
            df, conf = severity_table(mosmed, studies, progress=format == "table")
        except CovidbankError as e:
            raise fail(str(e))
        if out_file is not None:
            _write_atomic(out_file, df.to_csv(index=False))
        if bank is not None:
            from ..bank import Bank

            try:
                Bank(bank).write_table("severity", df.assign(source="mosmed"))
            except CovidbankError as e:
                raise fail(str(e))
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
