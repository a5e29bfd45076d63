"""Seconds to write a DICOM SEG + SR for a 512x512x300 CT with three segments, against dcmqi.

The CT is the 512x512x300 chest volume ``bench/severity.py`` builds from the two
real LIDC slices of ``ct/lungmask-slices``, written as a DICOM series with the
real slices' headers (300 files).  Masks: right lung, left lung (threshold and
two largest components, split at the midline) and the ground-glass ball.

Timed, in the same run on the same masks and series:

* covidbank: :func:`covidbank.dicom.derived.write_seg` (reads the series
  headers, maps the RAS masks onto the frames, highdicom encodes and writes)
  plus :func:`~covidbank.dicom.derived.write_severity_sr`;
* dcmqi ``itkimage2segimage`` (the reference converter, v1.5.x from PyPI) on
  the same three masks as NIfTI with the same segment metadata (SEG only: it
  does not write SR).

Prints (never asserts) wall and CPU seconds, the ratio, frames and sizes, and
the machine load.  Run:
``PYTHONPATH=src python bench/seg_sr.py [--shared ../shared/data] [--slices 300]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from severity import baseline, make_volume  # noqa: E402


def write_series(ct, template: Path, folder: Path) -> None:
    """The volume as a CT DICOM series with the real slice's header (LPS, one file per slice)."""
    import pydicom
    from pydicom.uid import generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    tpl = pydicom.dcmread(str(template))
    series, frame = generate_uid(), generate_uid()
    # the real slices carry a minimal header: add the patient, study and
    # equipment attributes a PACS image has (highdicom and dcmqi copy them)
    for kw, v in dict(Modality="CT", PatientName="Bench^Chest", PatientID="BENCH01", PatientBirthDate="", PatientSex="O",
                      StudyDate="20200401", StudyTime="120000", StudyID="1", AccessionNumber="", ReferringPhysicianName="",
                      SeriesNumber=1, PositionReferenceIndicator="", Manufacturer="bench").items():
        setattr(tpl, kw, v)
    nx, ny, nz = ct.shape
    sx, sy, sz = ct.spacing
    slope = float(getattr(tpl, "RescaleSlope", 1))
    inter = float(getattr(tpl, "RescaleIntercept", 0))
    for k in range(nz):
        ds = tpl.copy()
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID = series
        ds.FrameOfReferenceUID = frame
        ds.InstanceNumber = k + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-(nx - 1) * sx, -(ny - 1) * sy, k * sz]  # RAS index 0 is LPS x max
        ds.PixelSpacing = [sy, sx]
        ds.SliceThickness = sz
        stored = np.rint((ct.data[::-1, ::-1, k].T.astype(np.float32) - inter) / slope)
        ds.PixelData = stored.astype(np.int16 if ds.PixelRepresentation else np.uint16).tobytes()
        ds.save_as(str(folder / f"{k:04d}.dcm"), enforce_file_format=True)


def masks_of(ct) -> dict[str, np.ndarray]:
    lungs = baseline(ct)
    x = np.arange(ct.shape[0])[:, None, None]
    ball = (ct.data > -560) & (ct.data < -400) & lungs
    return {"right_lung": lungs & (x >= ct.shape[0] // 2), "left_lung": lungs & (x < ct.shape[0] // 2), "lesion": ball}


def dcmqi_meta(path: Path) -> None:
    from covidbank.dicom.derived.codes import SEGMENTS

    def cs(t):
        return {"CodeValue": t[0], "CodingSchemeDesignator": t[1], "CodeMeaning": t[2]}

    attrs = []
    for i, key in enumerate(("right_lung", "left_lung", "lesion")):
        s = SEGMENTS[key]
        attrs.append([{
            "labelID": 1, "SegmentLabel": s.label, "SegmentDescription": s.label, "SegmentAlgorithmType": "AUTOMATIC",
            "SegmentAlgorithmName": "covidbank", "SegmentedPropertyCategoryCodeSequence": cs(s.category),
            "SegmentedPropertyTypeCodeSequence": cs(s.type), "recommendedDisplayRGBValue": list(s.color),
        }])
    meta = {"ContentCreatorName": "covidbank^bench", "ClinicalTrialSeriesID": "1", "ClinicalTrialTimePointID": "1",
            "SeriesDescription": "dcmqi bench", "SeriesNumber": "900", "InstanceNumber": "1",
            "BodyPartExamined": "CHEST", "segmentAttributes": attrs,
            "ContentLabel": "LUNGS", "ContentDescription": "bench", "ClinicalTrialCoordinatingCenterName": "bench"}
    path.write_text(json.dumps(meta))


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.environ.get("COVIDBANK_SHARED_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--keep", help="keep the work folder here")
    a = ap.parse_args()
    shared = Path(a.shared)
    import nibabel as nib

    from covidbank.dicom.derived.seg import write_seg
    from covidbank.dicom.derived.sr import write_severity_sr

    print(f"# covidbank SEG + SR bench  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  "
          f"{platform.machine()} {platform.python_version()}  cpus={os.cpu_count()}  load {os.getloadavg()}")
    work = Path(a.keep or tempfile.mkdtemp(prefix="cb-segbench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        ct = make_volume(shared, nz=a.slices)
        write_series(ct, shared / "ct" / "lungmask-slices" / "0.dcm", work / "ct")
        masks = masks_of(ct)
        print(f"CT {ct.shape}, spacing {tuple(round(s, 3) for s in ct.spacing)}; mask voxels "
              + ", ".join(f"{k} {int(v.sum())}" for k, v in masks.items()))

        t, c = time.perf_counter(), time.process_time()
        seg = write_seg(work / "ct", masks, ct.affine, work / "seg.dcm")
        t_seg, c_seg = time.perf_counter() - t, time.process_time() - c
        meas = {k: {"volume_ml": float(v.sum()) * ct.voxel_volume_ml, "percent": 1.0} for k, v in masks.items()}
        t, c = time.perf_counter(), time.process_time()
        write_severity_sr(seg, meas, category="CT-1", total_percent=1.0, out=work / "sr.dcm")
        t_sr, c_sr = time.perf_counter() - t, time.process_time() - c
        ours, ours_cpu = t_seg + t_sr, c_seg + c_sr
        print(f"covidbank: SEG {t_seg:.2f} s (cpu {c_seg:.2f}), SR {t_sr:.2f} s (cpu {c_sr:.2f}); total wall {ours:.2f} s, "
              f"cpu {ours_cpu:.2f} s; SEG {seg.dataset.NumberOfFrames} frames, {(work / 'seg.dcm').stat().st_size / 1e6:.1f} MB; "
              f"SR {(work / 'sr.dcm').stat().st_size / 1e3:.0f} kB  (target <= 5 s)")

        files = []
        for k, v in masks.items():
            f = work / f"{k}.nii.gz"
            nib.save(nib.Nifti1Image(v.astype(np.uint8), ct.affine), str(f))
            files.append(str(f))
        dcmqi_meta(work / "meta.json")
        exe = shutil.which("itkimage2segimage")
        if exe is None:
            print("dcmqi itkimage2segimage not found: pip install dcmqi")
            return
        t, c0 = time.perf_counter(), children_cpu()
        p = subprocess.run([exe, "--inputImageList", ",".join(files), "--inputDICOMDirectory", str(work / "ct"),
                            "--outputDICOM", str(work / "dcmqi_seg.dcm"), "--inputMetadata", str(work / "meta.json"),
                            "--skip"], capture_output=True, text=True)
        t_q, c_q = time.perf_counter() - t, children_cpu() - c0
        if p.returncode != 0:
            print(f"dcmqi failed ({p.returncode}): {p.stderr.strip()[-400:]}")
            return
        print(f"dcmqi itkimage2segimage (SEG only): wall {t_q:.2f} s, cpu {c_q:.2f} s, "
              f"{(work / 'dcmqi_seg.dcm').stat().st_size / 1e6:.1f} MB")
        print(f"ratio covidbank SEG+SR / dcmqi SEG: wall {ours / t_q:.2f}, cpu {ours_cpu / c_q:.2f}; "
              f"SEG alone: wall {t_seg / t_q:.2f}  (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
