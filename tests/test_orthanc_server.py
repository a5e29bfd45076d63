"""The Orthanc test archive itself: it starts, stores, answers DIMSE and DICOMweb, and listens on loopback only."""
from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest

import pydicom

from dicom_factory import make_cr


def test_orthanc_stores_and_answers_dicomweb(orthanc, tmp_path):
    orthanc.clear()
    f = make_cr(tmp_path / "a.dcm")
    ds = pydicom.dcmread(f)
    orthanc.upload(f)
    assert len(orthanc.instances()) == 1
    with urllib.request.urlopen(f"{orthanc.dicomweb_url}/studies", timeout=10) as r:
        studies = json.loads(r.read())
    assert studies[0]["0020000D"]["Value"] == [str(ds.StudyInstanceUID)]


def test_orthanc_listens_on_loopback_only(orthanc):
    out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True).stdout
    lines = [ln for ln in out.splitlines() if f":{orthanc.http_port} " in ln or f":{orthanc.dicom_port} " in ln]
    if not lines:
        pytest.fail(f"no listener found for Orthanc's ports in: {out}")
    for ln in lines:
        local = ln.split()[3]
        assert local.startswith(("127.0.0.1:", "[::1]:")), ln
