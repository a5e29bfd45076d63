"""The MosMedData severity table: lesion volume of every expert mask, and grades where the CTs are present."""
from __future__ import annotations

from pathlib import Path

__all__ = ["severity_table"]


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
        ``involvement_percent``, ``category`` (None when not gradable), ``not_gradable``
        (reason codes), ``qc_flags``; ``error`` for
        unreadable files), and the confusion matrix official x computed
        (None when no CT was graded).
    """
    import numpy as np
    import pandas as pd

    from ..sources import load_source
    from .io import load_ct
    from .pipeline import assess

    if studies is not None and not Path(studies).is_dir():
        from ..errors import CTReadError

        raise CTReadError(f"{studies}: no such folder (--studies names the folder of the CT volumes)")
    res = load_source("mosmed", mosmed)
    im = res.tables["images"]
    im = im[im["mask_path"].notna()].sort_values("original_id", key=lambda s: s.astype(int))
    rows = []
    from ..progress import track

    for r in track(list(im.itertuples(index=False)), "MosMed masks", enabled=progress, transient=True):
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
                    not_gradable=";".join(sr.not_gradable) or None,
                    qc_flags=";".join(sr.qc_flags),
                )
        except Exception as e:  # one bad file never stops the table
            row["error"] = f"{e.__class__.__name__}: {e}"
        rows.append(row)
    df = pd.DataFrame(rows)
    for c in ("lung_volume_ml", "involvement_percent", "category", "not_gradable", "qc_flags", "error"):
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
