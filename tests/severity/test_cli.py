"""``covidbank severity`` and ``covidbank severity-table`` through the CLI."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
from PIL import Image


def test_severity_json_overlay_and_masks(cli, phantom, tmp_path):
    nib.save(nib.Nifti1Image(phantom.hu, phantom.affine), tmp_path / "ct.nii.gz")
    res = cli("severity", tmp_path / "ct.nii.gz", "--json", "--overlay", tmp_path / "ov.png", "--masks-out", tmp_path / "masks")
    d = json.loads(res.stdout)
    for k in ("lung_volume_ml", "lesion_volume_ml", "involvement_percent"):
        assert set(d[k]) == {"left", "right", "total"}
    assert d["category"] == "CT-1" and "telemedicine" in d["routing"]
    assert isinstance(d["qc_flags"], list)
    assert Image.open(tmp_path / "ov.png").format == "PNG"
    lungs = nib.load(tmp_path / "masks" / "lungs.nii.gz")
    les = nib.load(tmp_path / "masks" / "lesions.nii.gz")
    assert lungs.shape == phantom.hu.shape and np.allclose(lungs.affine, phantom.affine)
    lab = np.asarray(lungs.dataobj)
    assert set(np.unique(lab)) == {0, 1, 2}
    vml = np.prod([1.5, 1.5, 2.5]) / 1000
    assert (lab == 1).sum() * vml == __import__("pytest").approx(d["lung_volume_ml"]["right"], abs=0.01)
    assert np.asarray(les.dataobj).sum() * vml >= d["lesion_volume_ml"]["total"] - 0.01


def test_severity_with_lesion_mask_text_output(cli, phantom, tmp_path):
    nib.save(nib.Nifti1Image(phantom.hu, phantom.affine), tmp_path / "ct.nii.gz")
    nib.save(nib.Nifti1Image(phantom.ggo.astype(np.uint8), phantom.affine), tmp_path / "m.nii.gz")
    res = cli("severity", tmp_path / "ct.nii.gz", "--lesion-mask", tmp_path / "m.nii.gz")
    assert "CT-1" in res.stdout and "routing" in res.stdout


def test_png_refused_with_a_clear_message_then_intensity_mode(cli, phantom, tmp_path):
    img = np.clip((phantom.hu[:, :, 30].T[::-1, ::-1].astype(float) + 1350) / 1500 * 255, 0, 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "slice.png")
    res = cli("severity", tmp_path / "slice.png", expect=1)
    assert "slice.png" in res.output and "not Hounsfield units" in res.output and "--intensity-mode" in res.output
    res = cli("severity", tmp_path / "slice.png", "--intensity-mode", "--json")
    d = json.loads(res.stdout)
    assert d["category"] is None and "intensity_mode" in d["qc_flags"] and d["details"]["lesion_area_px"] > 0


def test_missing_input(cli, tmp_path):
    res = cli("severity", tmp_path / "nope.nii.gz", expect=1)
    assert "nope.nii.gz: no such file" in res.output


def test_severity_table_on_a_generated_mosmed_folder(cli, phantom, tmp_path):
    root = tmp_path / "mosmed"
    (root / "masks").mkdir(parents=True)
    (root / "studies" / "CT-1").mkdir(parents=True)
    aff = np.diag([-0.8, 0.8, 8.0, 1.0])  # LAS, 8 mm slices as in MosMedData
    m1 = np.zeros((64, 64, 10), np.int16)
    m1[10:20, 10:20, 2:4] = 1  # 200 voxels
    nib.save(nib.Nifti1Image(m1, aff), root / "masks" / "study_0255_mask.nii.gz")
    (root / "masks" / "study_0256_mask.nii.gz").write_bytes(b"corrupt")
    nib.save(nib.Nifti1Image(phantom.hu, phantom.affine), root / "studies" / "CT-1" / "study_0257.nii.gz")
    nib.save(nib.Nifti1Image(phantom.ggo.astype(np.uint8), phantom.affine), root / "masks" / "study_0257_mask.nii.gz")
    (root / "dataset_registry.csv").write_text(
        "\ufeffstudy_id,category,study_file,mask_file\n"
        "1,CT-0,/studies/CT-0/study_0001.nii.gz,\n"
        "255,CT-1,/studies/CT-1/study_0255.nii.gz,/masks/study_0255_mask.nii.gz\n"
        "256,CT-1,/studies/CT-1/study_0256.nii.gz,/masks/study_0256_mask.nii.gz\n"
        "257,CT-1,/studies/CT-1/study_0257.nii.gz,/masks/study_0257_mask.nii.gz\n",
        encoding="utf-8",
    )
    res = cli("severity-table", root, "--format", "json", "--out", tmp_path / "t.csv")
    rows = {r["study"]: r for r in json.loads(res.stdout)}
    assert set(rows) == {"study_0255", "study_0256", "study_0257"}
    assert rows["study_0255"]["lesion_volume_ml"] == __import__("pytest").approx(200 * 0.8 * 0.8 * 8 / 1000)
    assert rows["study_0255"]["category"] is None  # no CT on disk
    assert "unreadable" in rows["study_0256"]["error"]
    assert rows["study_0257"]["category"] == "CT-1" and rows["study_0257"]["official_category"] == "CT-1"
    assert (tmp_path / "t.csv").read_text().startswith("study,")
    res = cli("severity-table", root)
    assert "confusion matrix" in res.stdout

    from covidbank.bank import Bank

    Bank(tmp_path / "bank", create=True)
    cli("severity-table", root, "--format", "csv", "--bank", tmp_path / "bank")
    got = Bank(tmp_path / "bank").query("select study, lesion_volume_ml, category from severity order by study")
    assert got["study"].tolist() == ["study_0255", "study_0256", "study_0257"]
    assert got["category"].tolist()[2] == "CT-1"


def test_severity_table_missing_studies_folder_is_an_error(cli, tmp_path):
    # a mistyped --studies was ignored silently ("no CT volumes present")
    from covidbank.samples import make_mosmed_sample

    m = make_mosmed_sample(tmp_path / "m")
    res = cli("severity-table", m, "--studies", tmp_path / "nope", expect=1)
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "nope" in lines[0], res.output
