"""``covidbank demo``: the main job on a fresh machine.

Generates sample data in each supported source format (no network, nothing
from ``../shared``), adds it to a bank, and prints what a person would check
first: counts per source, views, labels with the hierarchy, CT grades.
"""
from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["run_demo"]


def run_demo(bank: str | Path, workdir: str | Path | None = None) -> dict:
    """Build a demo bank from generated samples and return the summary frames.

    Parameters
    ----------
    bank : path
        Bank folder to (re)create.
    workdir : path, optional
        Where the sample sources are written (``BANK/samples`` by default;
        the bank's records point at these files, so they must stay).
    """
    from .bank import Bank
    from .samples import (
        make_bimcv_sample,
        make_cohen_sample,
        make_mids_sample,
        make_mosmed_sample,
    )
    from .sources import add_source

    w = Path(workdir) if workdir is not None else Path(bank) / "samples"
    if w.exists():
        shutil.rmtree(w)
    srcs = {
        "cohen": make_cohen_sample(w / "cohen"),
        "bimcv": make_bimcv_sample(w / "bimcv" / "COVID19_POSI_sample.tsv"),
        "mosmed": make_mosmed_sample(w / "mosmed"),
        "mids": make_mids_sample(w / "mids"),
    }
    b = Bank(bank, create=True)
    added = {}
    for name, path in srcs.items():
        added[name] = add_source(b, name, path)
    return {
        "added": added,
        "summary": b.summary(),
        "views": b.query("SELECT source, view, count(*) AS images FROM images GROUP BY ALL ORDER BY source, images DESC"),
        "labels": b.query(
            # one row per concept: labels that share a CUI ('COVID-19', 'COVID 19') are counted together
            "SELECT min(label) AS label, cui, count(*) FILTER (WHERE origin='source') AS stated, "
            "count(*) FILTER (WHERE origin='implied') AS implied "
            "FROM labels WHERE value = 1 GROUP BY cui, CASE WHEN cui IS NULL THEN lower(label) END "
            "ORDER BY stated + implied DESC, label LIMIT 12"
        ),
        "grades": b.query("SELECT ct_category, count(*) AS studies, count(mask_path) AS with_mask FROM images WHERE source='mosmed' GROUP BY ALL ORDER BY 1"),
    }
