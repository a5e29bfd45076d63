"""DICOM SEG and SR of CT severity: dciodvfy, highdicom and dcmqi round trips, geometry, the CLI."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pydicom
import pytest
from severity.ct_phantoms import make_phantom, write_dicom_series

from covidbank.dicom.derived import export_severity, read_seg, read_sr, segments_of
from covidbank.dicom.derived.series import frames_to_mask, load_series, masks_to_frames
from covidbank.pixels import read_ct
from covidbank.severity import RESEARCH_NOTICE, assess

pytest.importorskip("highdicom")


def dciodvfy_errors(path) -> list[str]:
    """dciodvfy's error lines (warnings are not errors)."""
    exe = shutil.which("dciodvfy")
    assert exe, "dciodvfy (dicom3tools) is installed by .ci/system-deps"
    p = subprocess.run([exe, str(path)], capture_output=True, text=True)
    return [ln for ln in (p.stdout + p.stderr).splitlines() if ln.startswith("Error")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("derived")
    ph = make_phantom()
    write_dicom_series(ph, d / "ct")
    res = assess(d / "ct")
    ex = export_severity(res, d / "ct", seg_out=d / "seg.dcm", sr_out=d / "sr.dcm")
    return d, res, ex


def test_seg_and_sr_have_no_dciodvfy_errors(exported):
    d, _, _ = exported
    assert dciodvfy_errors(d / "seg.dcm") == []
    assert dciodvfy_errors(d / "sr.dcm") == []


def test_seg_segments_codes_and_references(exported):
    d, res, ex = exported
    seg = pydicom.dcmread(d / "seg.dcm")
    src = load_series(d / "ct")
    assert seg.Modality == "SEG" and seg.SegmentationType == "BINARY"
    labels = [s.SegmentLabel for s in seg.SegmentSequence]
    assert labels[:3] == ["Right lung", "Left lung", "Lesion (estimated)"]
    types = [(s.SegmentedPropertyTypeCodeSequence[0].CodeValue, s.SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator)
             for s in seg.SegmentSequence]
    assert types[:3] == [("39607008", "SCT"), ("39607008", "SCT"), ("52988006", "SCT")]
    assert seg.SegmentSequence[0].AnatomicRegionSequence[0].CodeValue == "24028007"  # right
    # ReferencedSeriesSequence (OHIF needs it) and the source's frame of reference
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == src[0].SeriesInstanceUID
    assert {r.ReferencedSOPInstanceUID for r in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence} <= {
        s.SOPInstanceUID for s in src}
    assert seg.FrameOfReferenceUID == src[0].FrameOfReferenceUID and seg.StudyInstanceUID == src[0].StudyInstanceUID
    # per-frame source references, positions equal to the referenced source slice's
    by_uid = {s.SOPInstanceUID: s for s in src}
    for f in seg.PerFrameFunctionalGroupsSequence:
        ref = f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        pos = [float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient]
        assert np.allclose(pos, [float(v) for v in by_uid[ref].ImagePositionPatient])
    # frames of one segment are ordered by position along the normal (highdicom #330)
    z = {}
    for f in seg.PerFrameFunctionalGroupsSequence:
        z.setdefault(int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber), []).append(
            float(f.PlanePositionSequence[0].ImagePositionPatient[2]))
    assert all(v == sorted(v) or v == sorted(v, reverse=True) for v in z.values())
    assert all(len(set(v)) == len(v) for v in z.values())
    # geometry of the SEG is the source's
    shared = seg.SharedFunctionalGroupsSequence[0]
    assert [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing] == [float(v) for v in src[0].PixelSpacing]
    assert [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient] == [
        float(v) for v in src[0].ImageOrientationPatient]
    assert (seg.Rows, seg.Columns) == (src[0].Rows, src[0].Columns)
    assert ex.segments["right_lung"] == 1


def test_highdicom_reader_gives_back_the_masks(exported):
    d, res, _ = exported
    back = read_seg(d / "seg.dcm", d / "ct", res.ct.affine, res.ct.shape)
    want = segments_of(res)
    assert set(back) == set(want)
    for k, m in want.items():
        assert np.array_equal(back[k], m), k


def test_dcmqi_segimage2itkimage_gives_back_the_masks(exported, tmp_path):
    d, res, _ = exported
    exe = shutil.which("segimage2itkimage")
    assert exe, "dcmqi (PyPI) provides segimage2itkimage"
    subprocess.run([exe, "--inputDICOM", str(d / "seg.dcm"), "--outputDirectory", str(tmp_path), "-t", "nifti",
                    "-p", "seg"], check=True, capture_output=True)
    meta = json.loads((tmp_path / "seg-meta.json").read_text())
    want = segments_of(res)
    ct = res.ct
    inv = np.linalg.inv(ct.affine)
    for i, attrs in enumerate(meta["segmentAttributes"]):
        number = attrs[0]["labelID"]
        out = read_ct(tmp_path / f"seg-{i + 1}.nii.gz")
        # place dcmqi's voxels (its own extent) on the CT grid through world coordinates
        idx = np.argwhere(out.data > 0)
        world = out.affine @ np.c_[idx, np.ones(len(idx))].T
        ijk = np.rint(inv @ world)[:3].astype(int)
        got = np.zeros(ct.shape, bool)
        got[tuple(ijk)] = True
        key = list(want)[number - 1]
        assert np.array_equal(got, want[key]), key


def test_sr_measurements_grade_and_references(exported):
    d, res, ex = exported
    rows = read_sr(d / "sr.dcm")
    by = {(r["group"], r["code"]): r for r in rows}
    assert by[("right_lung", "118565006")]["value"] == pytest.approx(res.lung_volume_ml["right"], abs=1e-3)
    assert by[("right_lung", "118565006")]["unit"] == "ml"
    assert by[("left_lung", "LUNGINV")]["value"] == pytest.approx(res.involvement_percent["left"], abs=1e-3)
    assert by[("lesion", "LUNGINV")]["value"] == pytest.approx(res.involvement_percent["total"], abs=1e-3)
    assert by[("study", "CTSEV")]["value"] == res.category == "CT-1"
    seg = pydicom.dcmread(d / "seg.dcm", stop_before_pixels=True)
    assert by[("lesion", "118565006")]["seg_sop_instance_uid"] == seg.SOPInstanceUID
    assert by[("lesion", "118565006")]["segment_number"] == ex.segments["lesion"]
    sr = pydicom.dcmread(d / "sr.dcm")
    assert sr.CompletionFlagDescription == RESEARCH_NOTICE[:64] and sr.VerificationFlag == "UNVERIFIED"
    evidence = {s.SeriesInstanceUID for st in sr.CurrentRequestedProcedureEvidenceSequence for s in st.ReferencedSeriesSequence}
    assert {seg.SeriesInstanceUID, seg.ReferencedSeriesSequence[0].SeriesInstanceUID} <= evidence
    assert "research use only" in sr.SeriesDescription


def test_not_gradable_sr_has_no_grade_and_mosmed_style_mask_is_a_manual_segment(tmp_path):
    ph = make_phantom()
    write_dicom_series(ph, tmp_path / "ct")
    from covidbank.pixels import read_ct as rc

    ct = rc(tmp_path / "ct")
    res = assess(ct, lesion_mask=ph.ggo, force=False)
    assert res.lesion_source == "mask"
    ex = export_severity(res, tmp_path / "ct", seg_out=tmp_path / "seg.dcm", sr_out=tmp_path / "sr.dcm")
    seg = pydicom.dcmread(tmp_path / "seg.dcm", stop_before_pixels=True)
    manual = [s for s in seg.SegmentSequence if s.SegmentAlgorithmType == "MANUAL"]
    assert [s.SegmentLabel for s in manual] == ["Lesion (expert mask)"] and "expert_lesion" in ex.segments
    # a slab: not gradable -> measurements but no grade in the SR
    cut = tmp_path / "slab"
    cut.mkdir()
    for f in sorted((tmp_path / "ct").glob("*.dcm"))[25:35]:
        shutil.copy(f, cut / f.name)
    res = assess(cut)
    assert not res.gradable and res.category is None
    export_severity(res, cut, seg_out=tmp_path / "s2.dcm", sr_out=tmp_path / "r2.dcm")
    rows = read_sr(tmp_path / "r2.dcm")
    assert not [r for r in rows if r["code"] == "CTSEV"] and [r for r in rows if r["code"] == "LUNGINV"]
    assert dciodvfy_errors(tmp_path / "r2.dcm") == []


def test_frames_mapping_is_exact_for_any_stored_orientation(exported):
    d, res, _ = exported
    src = load_series(d / "ct")
    m = np.stack([res.labels == 1, res.lesion], -1)
    frames = masks_to_frames(m, res.ct.affine, src)
    # the same masks stored LPS-like (x and z flipped) with their affine give the same frames
    n = res.ct.shape
    flip = np.array([[-1, 0, 0, n[0] - 1], [0, 1, 0, 0], [0, 0, -1, n[2] - 1], [0, 0, 0, 1]], float)
    assert np.array_equal(masks_to_frames(m[::-1, :, ::-1], res.ct.affine @ flip, src), frames)
    assert np.array_equal(frames_to_mask(frames, src, res.ct.affine, n), m)


def test_cli_severity_seg_sr(cli, exported, tmp_path):
    d, res, _ = exported
    r = cli("severity", d / "ct", "--seg", tmp_path / "s.dcm", "--sr", tmp_path / "r.dcm", "--json")
    out = json.loads(r.stdout)
    assert out["dicom"]["segments"]["right_lung"] == 1 and (tmp_path / "r.dcm").is_file()
    assert dciodvfy_errors(tmp_path / "s.dcm") == []
    nii = tmp_path / "ct.nii.gz"
    import nibabel as nib

    nib.save(nib.Nifti1Image(res.ct.data, res.ct.affine), nii)
    r = cli("severity", nii, "--seg", tmp_path / "x.dcm", expect=1)
    assert "reference the source DICOM images" in r.output and not (tmp_path / "x.dcm").exists()


def test_xray_severity_scores_as_sr(tmp_path):
    from dicom_factory import make_cr

    from covidbank.dicom.derived import write_xray_severity_sr
    from covidbank.errors import DicomError

    img = make_cr(tmp_path / "cr.dcm")
    # the Cohen collection's scores: geographic extent and opacity (0-8)
    _, path = write_xray_severity_sr(img, {"geographic_extent": 5.5, "opacity": 3.0}, tmp_path / "x_sr.dcm")
    assert dciodvfy_errors(path) == []
    rows = {r["code"]: r for r in read_sr(path)}
    assert rows["GEOEXT"]["value"] == 5.5 and rows["OPACITY"]["value"] == 3.0
    sr = pydicom.dcmread(path)
    src = pydicom.dcmread(img, stop_before_pixels=True)
    assert sr.StudyInstanceUID == src.StudyInstanceUID and sr.CompletionFlagDescription == RESEARCH_NOTICE[:64]
    with pytest.raises(DicomError, match="no X-ray severity score"):
        write_xray_severity_sr(img, {"other": 1})


@pytest.mark.realdata
def test_xray_sr_on_a_real_radiograph(shared_data, tmp_path):
    from covidbank.dicom.derived import write_xray_severity_sr

    _, path = write_xray_severity_sr(shared_data / "dicom" / "highdicom_dx_image.dcm", {"opacity": 2.0}, tmp_path / "sr.dcm")
    assert dciodvfy_errors(path) == [] and read_sr(path)[0]["value"] == 2.0


@pytest.mark.realdata
def test_seg_sr_on_real_ct_slices(shared_data, tmp_path):
    from covidbank.errors import DicomError

    # TotalSegmentator's 20-slice series (JPEG 2000) has empty Study and Series Instance UIDs: refused clearly
    src = shared_data / "ct" / "totalsegmentator" / "example_ct_dicom"
    with pytest.raises(DicomError, match="have no StudyInstanceUID"):
        export_severity(assess(src), src, seg_out=tmp_path / "no.dcm")
    assert not (tmp_path / "no.dcm").exists()
    # a real COVID-19 axial slice with TCIA headers: not gradable (one slice), SEG + SR without a grade
    src = next((shared_data / "ct" / "covid19-ny-sbu-slices" / "data-sample" / "A048383" / "axial").glob("*.dcm"))
    res = assess(src)
    assert not res.gradable and (res.labels > 0).any()
    export_severity(res, src, seg_out=tmp_path / "seg.dcm", sr_out=tmp_path / "sr.dcm")
    assert dciodvfy_errors(tmp_path / "seg.dcm") == [] and dciodvfy_errors(tmp_path / "sr.dcm") == []
    back = read_seg(tmp_path / "seg.dcm", src, res.ct.affine, res.ct.shape)
    for k, m in segments_of(res).items():
        if m.any():
            assert np.array_equal(back[k], m), k
    assert not [r for r in read_sr(tmp_path / "sr.dcm") if r["code"] == "CTSEV"]
