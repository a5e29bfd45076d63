"""Sample data in the published formats, generated (no download, no real data).

Used by ``covidbank demo`` (the main job on a fresh machine) and as test
fixtures.  Every generator writes real files: PNG/JPEG through Pillow, NIfTI
through nibabel, CSV/TSV as the sources publish them.  Content is synthetic:
chest-like phantoms, made-up identifiers, no person's data.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

__all__ = ["chest_xray_phantom", "make_cohen_sample", "make_cohen_table", "make_mosmed_sample", "make_bimcv_sample", "make_mids_sample"]


def chest_xray_phantom(size: int = 256, seed: int = 0, opacity: float = 0.0) -> np.ndarray:
    """A synthetic frontal chest radiograph (uint8): body, two dark lungs,
    mediastinum, ribs, and an optional patchy opacity in the lower lungs.

    Geometry (body and lung size and position, rib spacing, heart width,
    texture) varies with ``seed`` so that different seeds are different
    images, not near-duplicates of one another."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    g = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    img = 30 + 30 * rng.random((size, size))
    # low-frequency texture, different for every seed
    coarse = rng.random((8, 8))
    img += 40 * np.kron(coarse, np.ones((size // 8 + 1, size // 8 + 1)))[:size, :size]
    bx, by, bw, bh = g(0.44, 0.56), g(0.5, 0.6), g(0.38, 0.48), g(0.42, 0.52)
    body = ((x - bx) / bw) ** 2 + ((y - by) / bh) ** 2 < 1
    img[body] += 110
    sep = g(0.15, 0.22)
    for side in (-1, 1):
        cx, cy = bx + side * sep, g(0.42, 0.55)
        lw, lh = g(0.1, 0.17), g(0.22, 0.33)
        lung = ((x - cx) / lw) ** 2 + ((y - cy) / lh) ** 2 < 1
        img[lung] -= g(70, 100)
        if opacity > 0:
            patch = ((x - cx) / (0.8 * lw)) ** 2 + ((y - cy - 0.5 * lh) / 0.1) ** 2 < 1
            img[patch & lung] += 70 * opacity * (0.6 + 0.4 * rng.random(int((patch & lung).sum())))
    ribs = (np.sin(y * g(30, 50) + g(0, 6) + 0.5 * np.abs(x - bx) * 10) > 0.92) & body
    img[ribs] += 25
    heart = ((x - bx - g(0.0, 0.05)) / g(0.08, 0.14)) ** 2 + ((y - g(0.6, 0.7)) / 0.12) ** 2 < 1
    img[(np.abs(x - bx) < g(0.04, 0.08)) & (y > 0.2) & (y < 0.85)] += 50
    img[heart] += 40
    return np.clip(img, 0, 255).astype(np.uint8)


_COHEN_COLUMNS = [
    "patientid", "offset", "sex", "age", "finding", "survival", "intubated", "intubation_present", "went_icu", "in_icu",
    "needed_supplemental_O2", "extubated", "temperature", "pO2_saturation", "leukocyte_count", "neutrophil_count",
    "lymphocyte_count", "view", "modality", "date", "location", "folder", "filename", "doi", "url", "license",
    "clinical_notes", "other_notes",
]


def make_cohen_sample(root: str | Path, n_patients: int = 12, hierarchical: bool = False, seed: int = 0) -> Path:
    """Write a COVID-19 Image Data Collection folder: ``metadata.csv``,
    ``images/``, ``annotations/covid-severity-scores.csv`` and lungVAE masks.

    Mixes findings (flat or ``A/B/C`` form), views, a ``todo`` row, a CT row
    whose volume is absent, and one listed image that is missing on disk.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "lungVAE-masks").mkdir(parents=True, exist_ok=True)
    flat = ["COVID-19", "COVID-19", "COVID-19, ARDS", "SARS", "Streptococcus", "Pneumocystis", "No Finding", "Mycoplasma Bacterial Pneumonia"]
    tree = {"COVID-19": "Pneumonia/Viral/COVID-19", "COVID-19, ARDS": "Pneumonia/Viral/COVID-19, ARDS", "SARS": "Pneumonia/Viral/SARS",
            "Streptococcus": "Pneumonia/Bacterial/Streptococcus", "Pneumocystis": "Pneumonia/Fungal/Pneumocystis",
            "No Finding": "No Finding", "Mycoplasma Bacterial Pneumonia": "Pneumonia/Bacterial/Mycoplasma"}
    views = ["PA", "AP", "AP Supine", "L"]
    rows, sev = [], []
    for p in range(1, n_patients + 1):
        finding = flat[p % len(flat)]
        sex = "M" if p % 3 else "F"
        age = int(30 + rng.integers(0, 55))
        for k, offset in enumerate((0, int(rng.integers(2, 9)))):
            view = views[(p + k) % len(views)]
            fname = f"sample-{p:03d}-{k}.png" if k == 0 else f"sample-{p:03d}-{k}.jpg"
            img = chest_xray_phantom(192, seed=p * 10 + k, opacity=0.0 if finding == "No Finding" else 0.3 + 0.3 * k)
            if not (p == 2 and k == 1):  # one listed image is missing on purpose
                Image.fromarray(img).save(root / "images" / fname)
            if k == 0 and p % 2 == 0:
                Image.fromarray(((img < 90) * 255).astype(np.uint8)).save(root / "annotations" / "lungVAE-masks" / f"{Path(fname).stem}_mask.png")
                sev.append((fname, round(float(rng.uniform(0, 8)), 1), round(float(rng.uniform(0, 6)), 1)))
            rows.append({
                "patientid": str(p), "offset": str(offset), "sex": sex, "age": str(age),
                "finding": tree[finding] if hierarchical else finding, "survival": "Y" if p % 4 else "N",
                "intubated": "N", "went_icu": "Y" if p % 5 == 0 else "N", "needed_supplemental_O2": "Y" if k else "",
                "temperature": f"{37 + rng.uniform(0, 2):.1f}", "view": view, "modality": "X-ray", "date": "2020",
                "location": "Sample City, Nowhere", "folder": "images", "filename": fname, "doi": "10.0000/sample",
                "url": "https://example.org/sample", "license": ["CC BY-NC-SA 4.0", "CC BY 4.0", "Apache 2.0", ""][p % 4],
                "clinical_notes": "synthetic sample case", "other_notes": "",
            })
    rows.append({**rows[0], "patientid": "999", "finding": "todo", "filename": "sample-todo.png", "view": "PA"})
    rows.append({**rows[1], "patientid": "998", "finding": tree["COVID-19"] if hierarchical else "COVID-19", "modality": "CT",
                 "view": "Axial", "folder": "volumes", "filename": "sample-ct.nii.gz"})
    with open(root / "metadata.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=_COHEN_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in _COHEN_COLUMNS})
    with open(root / "annotations" / "covid-severity-scores.csv", "w", encoding="utf-8") as f:
        f.write("## Sample severity scores (synthetic),,\nfilename,geographic_mean,opacity_mean\n")
        for fn, g, o in sev:
            f.write(f"{fn},{g},{o}\n")
    return root


def make_cohen_table(path: str | Path, rows: int, seed: int = 0, chunk: int = 200_000) -> Path:
    """Write a large ``metadata.csv`` in the COVID-19 Image Data Collection's format (no images).

    For scale tests and ``bench/scale.py``: ``rows`` synthetic rows (2-4 per
    patient, flat and ``A/B/C`` findings, 2 % ``todo`` rows, every view and
    both modalities, a clinical note of about 200 characters, numbers with
    the occasional ``?``), written in chunks so memory does not grow with
    ``rows``.  No listed image exists on disk.

    Parameters
    ----------
    path : str or Path
        Folder to write ``metadata.csv`` into (created).
    rows : int
        Number of rows.
    seed : int
        Random seed (same seed, same file).
    chunk : int
        Rows generated and written at a time.

    Returns
    -------
    Path
        The ``metadata.csv`` written.
    """
    import pandas as pd

    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    out = root / "metadata.csv"
    rng = np.random.default_rng(seed)
    findings = np.array(["COVID-19", "COVID-19", "COVID-19, ARDS", "Pneumonia/Viral/COVID-19", "SARS", "Streptococcus",
                         "Pneumocystis", "No Finding", "Mycoplasma Bacterial Pneumonia", "Pneumonia/Bacterial/Klebsiella",
                         "Pneumonia/Fungal/Aspergillosis", "todo"], dtype=object)
    fprob = np.array([30, 20, 5, 15, 3, 4, 3, 8, 2, 4, 4, 2], dtype=float)
    views = np.array(["PA", "AP", "AP Supine", "L", "Axial", "Coronal"], dtype=object)
    vprob = np.array([42, 16, 18, 8, 14, 2], dtype=float)
    yn = np.array(["Y", "N", ""], dtype=object)
    notes = np.array([
        ("A {a}-year-old patient admitted with fever and cough for {d} days; chest radiograph shows bilateral "
         "peripheral opacities in the lower zones, more marked on the left; oxygen saturation on room air was low"),
        ("{a} year old with dyspnea since {d} days, lymphopenia on admission; ground-glass opacities and "
         "consolidation in both lungs; transferred to the intensive care unit the following day"),
        ("Follow-up film {d} days after admission of a {a}-year-old; improvement of the right basal consolidation, "
         "residual interstitial opacities; discharged home on day {d}"), "",
    ], dtype=object)
    # a fixed pool of filled-in notes (formatting one per row would dominate the run time)
    notes = np.array([t.format(a=a, d=d) if t else "" for t in notes for a in range(18, 95, 7) for d in range(1, 17, 3)], dtype=object)
    licenses = np.array(["CC BY-NC-SA 4.0", "CC BY 4.0", "Apache 2.0", "CC BY-NC-ND 4.0", ""], dtype=object)
    first = True
    pid = 0
    done = 0
    with open(out, "w", newline="", encoding="utf-8") as f:
        while done < rows:
            n = min(chunk, rows - done)
            per = rng.integers(2, 5, size=n)  # images per patient
            pids = np.repeat(np.arange(pid, pid + n), per)[:n]
            pid = int(pids[-1]) + 1
            k = np.arange(n) - np.searchsorted(pids, pids)  # image number within the patient
            age = rng.integers(18, 95, size=n)
            offset = np.where(k == 0, 0, rng.integers(1, 30, size=n) * k)
            view = views[rng.choice(len(views), size=n, p=vprob / vprob.sum())]
            ct = np.isin(view, ["Axial", "Coronal"])
            df = pd.DataFrame({
                "patientid": pids.astype(str),
                "offset": offset.astype(str),
                "sex": np.array(["M", "F", ""], dtype=object)[pids % 3],
                "age": age.astype(str),
                "finding": findings[rng.choice(len(findings), size=n, p=fprob / fprob.sum())],
                "survival": yn[pids % 3],
                "intubated": yn[rng.integers(0, 3, size=n)],
                "intubation_present": yn[rng.integers(0, 3, size=n)],
                "went_icu": yn[rng.integers(0, 3, size=n)],
                "in_icu": yn[rng.integers(0, 3, size=n)],
                "needed_supplemental_O2": yn[rng.integers(0, 3, size=n)],
                "extubated": yn[rng.integers(0, 3, size=n)],
                "temperature": rng.integers(360, 400, size=n) / 10,
                "pO2_saturation": np.where(rng.random(n) < 0.05, "?", rng.integers(70, 100, size=n).astype(str)).astype(object),
                "leukocyte_count": rng.integers(20, 120, size=n) / 10,
                "neutrophil_count": "",
                "lymphocyte_count": rng.integers(0, 300, size=n) / 100,
                "view": view,
                "modality": np.where(ct, "CT", "X-ray").astype(object),
                "date": np.array([f"2020-{m:02d}" for m in range(1, 13)], dtype=object)[pids % 12],
                "location": np.array(["Hospital A, City A, Country A", "Hospital B, City B", ""], dtype=object)[pids % 3],
                "folder": np.where(ct, "volumes", "images").astype(object),
                "filename": "p" + pd.Series(pids).astype(str) + "-" + pd.Series(k).astype(str)
                + pd.Series(np.where(ct, ".nii.gz", ".jpeg")),
                "doi": "10.0000/scale",
                "url": "https://example.org/scale",
                "license": licenses[pids % len(licenses)],
                "clinical_notes": notes[rng.integers(0, len(notes), size=n)],
                "other_notes": "",
            }, columns=_COHEN_COLUMNS)
            df.to_csv(f, index=False, header=first)
            first = False
            done += n
    return out


def _write_nifti(path: Path, data: np.ndarray, spacing=(0.8, 0.8, 5.0)) -> None:
    import nibabel as nib

    aff = np.diag([*spacing, 1.0])
    nib.save(nib.Nifti1Image(data, aff), str(path))


def make_mosmed_sample(root: str | Path, per_class: tuple[int, ...] = (2, 3, 2, 1, 1), with_volumes: int = 2, seed: int = 0) -> Path:
    """Write a MosMedData folder: ``dataset_registry.csv``, a few small CT
    volumes under ``studies/CT-k/`` (HU phantoms) and lesion masks for CT-1."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    rows = []
    sid = 0
    for k, n in enumerate(per_class):
        (root / "studies" / f"CT-{k}").mkdir(parents=True, exist_ok=True)
        for _ in range(n):
            sid += 1
            sfile = f"/studies/CT-{k}/study_{sid:04d}.nii.gz"
            mfile = ""
            if k == 1:
                mfile = f"/masks/study_{sid:04d}_mask.nii.gz"
                m = np.zeros((64, 64, 16), np.uint8)
                m[20:30, 15:25, 6:10] = 1
                _write_nifti(root / mfile.lstrip("/"), m)
            if sid <= with_volumes:
                vol = np.full((64, 64, 16), -1000, np.int16)
                xx, yy = np.mgrid[0:64, 0:64]  # axis 0 = x (patient left-right), axis 1 = y
                body = ((xx - 32) / 28) ** 2 + ((yy - 32) / 22) ** 2 < 1
                vol[body] = 40
                for cx in (20, 44):
                    lung = ((xx - cx) / 9) ** 2 + ((yy - 32) / 14) ** 2 < 1
                    vol[lung] = -850 + rng.integers(-30, 30, size=int(lung.sum()))[:, None]
                _write_nifti(root / sfile.lstrip("/"), vol)
            rows.append({"study_id": str(sid), "category": f"CT-{k}", "study_file": sfile, "mask_file": mfile})
    with open(root / "dataset_registry.csv", "w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=["study_id", "category", "study_file", "mask_file"])
        w.writeheader()
        w.writerows(rows)
    return root


def make_bimcv_sample(path: str | Path, n_subjects: int = 6, seed: int = 0) -> Path:
    """Write a BIMCV COVID-19+ iteration-1 style image table (TSV) with the
    published quirks: stringified label lists with stray quotes and spaces,
    aligned CUIs, DICOM ages like ``083Y``, a repeated file name."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    label_sets = [
        (["COVID 19", "interstitial pattern"], ["C5203670", "C2073538"]),
        (["", "aortic elongation", "apical pleural thickening"], []),
        (["increased density", "normal", "COVID 19"], ["C1443940", "C0205307", "C5203670"]),
        (["COVID 19 uncertain", "consolidation"], ["C5203671", "C0521530"]),
        (["normal"], ["C0205307"]),
    ]
    cols = ["Subject", "Session", "mod", "File", "Type", "Position_Manual", "Exclude", "Exclude Reason", "Labels", "Localizations",
            "labelCUIS", "LocalizationsCUIS", "Report", "LabelsLocalizationsBySentence", "Patient's Age", "Patient's Sex",
            "Modality", "Photometric Interpretation", "Manufacturer", "Manufacturer's Model Name", "Body Part Examined"]
    rows = []
    for s in range(n_subjects):
        sub = f"sub-S{9000 + s:05d}"
        for e in range(1 + s % 2):
            ses = f"ses-E{19000 + 10 * s + e:05d}"
            labs, cuis = label_sets[(s + e) % len(label_sets)]
            typ = ["cr", "dx", "ct.nii.gz"][(s + e) % 3]
            for view in (["PA", "L"] if typ != "ct.nii.gz" else [""]):
                vp = f"_vp-{view.lower()}" if view else ""
                ext = ".png" if typ != "ct.nii.gz" else ".nii.gz"
                suffix = typ.split(".")[0]
                rows.append({
                    "Subject": sub, "Session": ses, "mod": "mod-rx", "File": f"{sub}_{ses}_run-1_bp-chest{vp}_{suffix}{ext}",
                    "Type": typ, "Position_Manual": view, "Exclude": "False", "Exclude Reason": "",
                    "Labels": "', '".join(labs) if labs else "", "Localizations": "loc bilateral', 'loc basal",
                    "labelCUIS": ",".join(cuis), "LocalizationsCUIS": "C0238767,C1282378",
                    "Report": "informe radiologico . patron intersticial bilateral . no se evidencian condensaciones .",
                    "LabelsLocalizationsBySentence": "", "Patient's Age": f"{int(rng.integers(20, 95)):03d}Y",
                    "Patient's Sex": "F" if s % 2 else "M", "Modality": suffix.upper(),
                    "Photometric Interpretation": "MONOCHROME1" if s % 3 == 0 else "MONOCHROME2",
                    "Manufacturer": ["KONICA MINOLTA", "GMM", "SIEMENS"][s % 3], "Manufacturer's Model Name": ["0862", "ACCORD DR", "SIEMENS FD-X"][s % 3],
                    "Body Part Examined": "CHEST",
                })
    rows.append(dict(rows[0], Report="otro informe del mismo estudio ."))  # repeated file, another report
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols, delimiter="\t")
        w.writeheader()
        w.writerows(rows)
    return path


def make_mids_sample(root: str | Path) -> Path:
    """Write a small messy MIDS tree: one clean subject, one with ``vp_ap``
    spelling, no ``ses-`` folder and a sidecar whose image is missing."""
    from PIL import Image

    root = Path(root)
    d = root / "sub-01" / "ses-01" / "mod-rx"
    d.mkdir(parents=True, exist_ok=True)
    Image.fromarray(chest_xray_phantom(128, seed=1).astype(np.uint16) * 256).save(d / "sub-01_ses-01_run-1_bp-chest_vp-pa_cr.png")
    (d / "sub-01_ses-01_run-1_bp-chest_vp-pa_cr.json").write_text(json.dumps({"Modality": "CR", "Manufacturer": "SampleCo", "PhotometricInterpretation": "MONOCHROME2"}))
    d2 = root / "sub-02" / "rx"
    d2.mkdir(parents=True, exist_ok=True)
    (d2 / "sub-02_ses-1_bp-chest_vp_ap_dx.json").write_text(json.dumps({"Modality": "DX"}))
    (root / "participants.tsv").write_text("participant_id\tage\tgender\nsub-01\t61\tF\nsub-02\t47\tM\n")
    (root / "dataset_description.json").write_text(json.dumps({"Name": "sample", "BIDSVersion": "1.1.0", "MIDSVersion": "1.0.0", "License": "CC0"}))
    return root


def make_bimcv_tree_sample(root: str | Path) -> Path:
    """Write a BIMCV COVID-19+ style MIDS release: ``sub-*/ses-*/mod-rx`` PNGs
    with sidecars, ``participants.tsv``, ``derivatives/labels`` (per session,
    stringified label lists) and ``derivatives/EHR`` diagnostic tests."""
    from PIL import Image

    root = Path(root)
    subjects = {"sub-S00001": ("ses-E00001", "ses-E00002"), "sub-S00002": ("ses-E00003",)}
    for s, (sub, sessions) in enumerate(subjects.items()):
        for e, ses in enumerate(sessions):
            d = root / sub / ses / "mod-rx"
            d.mkdir(parents=True, exist_ok=True)
            base = f"{sub}_{ses}_run-1_bp-chest_vp-{'pa' if e == 0 else 'ap'}_cr"
            Image.fromarray(chest_xray_phantom(96, seed=s * 3 + e).astype(np.uint16) * 200).save(d / f"{base}.png")
            (d / f"{base}.json").write_text(json.dumps({"Modality": "CR", "Manufacturer": "SampleCo", "PhotometricInterpretation": "MONOCHROME1"}))
    (root / "participants.tsv").write_text("participant\tmodality_dicom\tage\tgender\nsub-S00001\t['CR']\t[70, 70]\tM\nsub-S00002\t['CR']\t[55]\tF\n")
    lab = root / "derivatives" / "labels"
    lab.mkdir(parents=True, exist_ok=True)
    (lab / "labels_covid19_posi.tsv").write_text(
        "ReportID\tReport\tLabels\tlabelCUIS\n"
        "E00001\tpatron intersticial bilateral .\t['COVID 19', ' interstitial pattern']\tC5203670,C2073538\n"
        "E00002\tsin cambios .\t['unchanged']\t\n"
        "E00003\tsospecha de covid .\t['COVID 19 uncertain']\tC5203671\n"
        "E09999\tsession not in the tree\t['normal']\tC0205307\n"
    )
    ehr = root / "derivatives" / "EHR"
    ehr.mkdir(parents=True, exist_ok=True)
    (ehr / "sil_reg_covid_posi.tsv").write_text(
        "participant\tfecha\ttipo_test\tresultado\n"
        "sub-S00001\t2020-03-10\tPCR\tPOSITIVO\nsub-S00001\t2020-03-20\tIGG\tNEGATIVO\nsub-S00002\t2020-04-01\tIGM\tINDETERMINADO\n"
    )
    return root
