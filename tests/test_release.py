"""covidbank release / verify: gated, complete, verifiable, readable by pybids and the BIDS validator."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from covidbank.bank import Bank
from covidbank.dicom.ingest import ingest
from covidbank.release import MANIFEST, ReleaseRefused, release, release_checks, verify
from covidbank.samples import make_cohen_sample
from covidbank.sources import add_source
from dicom_factory import make_cr, make_ct_series


def _bank(tmp_path: Path, n: int = 3) -> Bank:
    raw = tmp_path / "raw"
    for i in range(n):
        make_cr(raw / f"x{i}.dcm", patient_id=f"P{i}", seed=i, view=["PA", "AP", "LL"][i % 3])
    make_ct_series(raw / "ct", n=4, patient_id="P0")
    bank = tmp_path / "bank"
    ingest(raw, bank, key_file=tmp_path / "key", new_key=True)
    b = Bank(bank)
    add_source(b, "cohen", make_cohen_sample(tmp_path / "cohen"))
    return b


def _bids_errors(folder: Path) -> set[str]:
    exe = shutil.which("bids-validator-deno")
    if exe is None:
        pytest.skip("bids-validator-deno is not installed")
    res = subprocess.run([exe, str(folder), "--format", "json"], capture_output=True, text=True, timeout=600)
    issues = json.loads(res.stdout)["issues"]["issues"]
    return {i["code"] for i in issues if i["severity"] == "error"}


def _check_release(out: Path, b: Bank) -> None:
    assert verify(out) == []
    for name in ("README", "LICENSE", "CHANGES", "dataset_description.json", ".bidsignore", "sessions.json",
                 "participants.tsv", "index/sources/ingest/images.parquet", "report/report.html",
                 "derivatives/covidbank/dataset_description.json", "derivatives/covidbank/labels.tsv"):
        assert (out / name).is_file(), name
    dd = json.loads((out / "dataset_description.json").read_text())
    assert dd["License"] == "CC-BY-4.0" and dd["GeneratedBy"][0]["Name"] == "covidbank"
    assert any(s["Name"] == "cohen" and "Cohen" in s["Citation"] for s in dd["SourceDatasets"])
    readme = (out / "README").read_text()
    assert "cohen" in readme and "privacy audit" in readme  # the audit gate runs (covidbank.audit, issue 13)
    for s in b.sources():
        assert (out / "licenses" / f"{s}.txt").is_file()
    manifest = (out / MANIFEST).read_text().splitlines()
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {MANIFEST}
    assert {ln.split("  ", 1)[1] for ln in manifest} == files
    # never the keys, the pseudonym registry, the logs, or where the data sat
    assert not (out / ".covidbank").exists() and not (out / "logs").exists()
    for p in (out / "index").rglob("*"):
        if p.is_file():
            assert str(b.path.parent).encode() not in p.read_bytes(), p
    # pybids with the MIDS entities added to its bids configuration
    pytest.importorskip("bids")
    import bids

    from covidbank.dicom import mids

    layout = mids.pybids_layout(out)
    cr = layout.get(suffix="cr", extension=".png")
    assert len(cr) == 3 and {f.entities["viewposition"] for f in cr} == {"pa", "ap", "ll"}
    assert all(f.entities["modality"] == "rx" and f.entities["bodypart"] == "chest" for f in cr)
    assert len(layout.get(suffix="ct", extension=".nii.gz")) == 1
    assert isinstance(bids.BIDSLayout(str(out), config=["bids", mids.pybids_config()], validate=False), bids.BIDSLayout)
    # the official BIDS validator: only the MIDS datatypes it does not know
    assert _bids_errors(out) <= {"NOT_INCLUDED"}


def test_release_verify_and_second_iteration(tmp_path, cli):
    b = _bank(tmp_path)
    out = tmp_path / "release"
    res = cli("release", b.path, "--out", out, "--license", "CC-BY-4.0", "--json")
    info = json.loads(res.stdout)
    assert info["version"] == 1
    assert {c["status"] for c in info["checks"]} <= {"passed", "not run"}
    _check_release(out, b)
    assert "every file matches" in " ".join(cli("verify", out).output.split())
    # iteration 2: new patients are added and the CHANGES say so
    make_cr(tmp_path / "raw" / "new.dcm", patient_id="P9", seed=9)
    ingest(tmp_path / "raw", b.path, key_file=tmp_path / "key", new_key=True)
    r2 = release(b, out, license="CC-BY-4.0")
    assert r2.version == 2 and verify(out) == []
    changes = (out / "CHANGES").read_text()
    assert changes.startswith("2.0.0") and "Added 1 images of 1 new subjects" in changes and "1.0.0" in changes
    # a changed or extra file is named
    png = next(out.glob("sub-*/ses-*/mod-rx/*.png"))
    png.write_bytes(png.read_bytes() + b"x")
    (out / "extra.txt").write_text("x")
    probs = verify(out)
    assert any(png.name in p and "changed" in p for p in probs) and any("extra.txt: not in the manifest" in p for p in probs)
    res = cli("verify", out, expect=1)
    assert png.name in res.output


def test_planted_problems_are_refused_and_named(tmp_path, cli):
    b = _bank(tmp_path)
    # 1. an image flagged with burned-in annotation
    im = pd.read_parquet(b.index_dir / "sources" / "ingest" / "images.parquet")
    im.loc[0, "burned_in_annotation"] = True
    im.to_parquet(b.index_dir / "sources" / "ingest" / "images.parquet", index=False)
    # 2. a sidecar removed: `covidbank validate` fails
    side = next(b.path.glob("sub-*/ses-*/mod-rx/*.json"))
    side.unlink()
    # 3. report text with no record of its de-identification
    (b.path / "phenotype").mkdir(exist_ok=True)
    (b.path / "phenotype" / "reports.tsv").write_text("participant_id\tsession_id\treport\nsub-1\tses-1\ttext\n")
    res = cli("release", b.path, "--out", tmp_path / "rel", "--license", "CC-BY-4.0", expect=1)
    assert "refused" in res.output
    assert im.loc[0, "image_id"] in res.output  # the flagged image
    assert "sidecar" in res.output or side.name[:-5] in res.output  # the MIDS problem
    assert "reports.tsv" in res.output
    assert not (tmp_path / "rel").exists()  # nothing half-written
    failed = {c.name for c in release_checks(b) if c.status == "failed"}
    assert len(failed) == 3
    with pytest.raises(ReleaseRefused):
        release(b, tmp_path / "rel", license="CC-BY-4.0")


def test_a_license_is_required(tmp_path):
    b = _bank(tmp_path, n=1)
    with pytest.raises(ReleaseRefused, match="--license"):
        release(b, tmp_path / "rel", report=False)


@pytest.mark.realdata
def test_release_of_a_bank_built_from_the_shared_data(shared_data, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for n in ("RG1_J2KI.dcm", "highdicom_dx_image.dcm", "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm",
              "1.3.6.1.4.1.11129.5.5.110503645592756492463169821050252582267888.dcm"):
        (raw / n).symlink_to(shared_data / "dicom" / n)
    (raw / "lungmask").symlink_to(shared_data / "ct" / "lungmask-slices")
    ingest(raw, tmp_path / "bank", key_file=tmp_path / "key", new_key=True, follow_symlinks=True)  # links into the shared data
    b = Bank(tmp_path / "bank")
    add_source(b, "cohen", shared_data / "cohen")
    add_source(b, "mosmed", shared_data / "mosmed")
    add_source(b, "bimcv", shared_data / "bimcv" / "COVID19_POSI_v1.0_dev.tsv")
    out = tmp_path / "release"
    r = release(b, out, license="CC-BY-4.0", name="Hospital test bank")
    assert r.version == 1 and verify(out) == []
    assert _bids_errors(out) <= {"NOT_INCLUDED"}
    lic = (out / "licenses" / "mosmed.txt").read_text()
    assert "CC-BY-NC-ND-3.0" in lic
    import bids

    from covidbank.dicom import mids

    layout = bids.BIDSLayout(str(out), config=["bids", mids.pybids_config()], validate=False,
                             indexer=bids.BIDSLayoutIndexer(validate=False, ignore=["index", "report", "licenses", "derivatives", "phenotype"]))
    assert len(layout.get(extension=".png")) == 4 and len(layout.get_subjects()) == 5


def _release_text(out: Path) -> str:
    """Every file name and file of a release as text (parquet cells stringified, gz opened)."""
    import gzip

    parts = []
    for p in sorted(out.rglob("*")):
        parts.append(p.relative_to(out).as_posix())
        if not p.is_file():
            continue
        if p.suffix == ".parquet":
            parts.append(pd.read_parquet(p).astype(str).to_csv())
            continue
        data = p.read_bytes()
        parts.append((gzip.decompress(data) if p.name.endswith(".gz") else data).decode("latin-1"))
    return "\n".join(parts)


def test_canary_in_input_names_reaches_no_release_file(tmp_path):
    """A token in the input folders, DICOM file names and headers, and the name of a BIMCV table (with a skipped
    row) is in no file of the release: the release's meta.json named the table (``path``) and its skipped table
    gave the table's name as the path of the skipped row."""
    from covidbank.samples import make_bimcv_sample

    canary = "ZQXCANARY"
    raw = tmp_path / f"raw_{canary}" / f"{canary}_dir"
    make_cr(raw / f"{canary}_1.dcm", patient_id=f"{canary}PID", seed=1, PatientName=f"{canary}^N",
            StudyDescription=f"{canary} study")
    make_cr(raw / f"{canary}_2.dcm", patient_id="P2", seed=2)
    (raw / f"{canary}_notes.txt").write_text(canary)
    ingest(raw.parent, tmp_path / "bank", key_file=tmp_path / "key", new_key=True)
    b = Bank(tmp_path / "bank")
    t = make_bimcv_sample(tmp_path / f"in_{canary}" / f"table_{canary}.tsv")
    df = pd.read_csv(t, sep="\t", dtype=str, keep_default_na=False)
    df.loc[1, "Subject"] = ""  # a skipped row
    df.to_csv(t, sep="\t", index=False)
    add_source(b, "bimcv", t, trees=[])
    add_source(b, "cohen", make_cohen_sample(tmp_path / f"cohen_{canary}"))
    assert len(b.table("skipped").query("source == 'bimcv'")) == 1  # not vacuous
    out = tmp_path / "rel"
    release(b, out, license="CC-BY-4.0", report=False)
    assert verify(out) == []
    text = _release_text(out)
    assert "sub-" in text  # not vacuous
    at = text.find(canary)
    assert at < 0, text[max(0, at - 300): at + 100]
    assert "path" not in json.loads((out / "index/sources/cohen/meta.json").read_text())
    # the bank keeps them for its curator
    assert json.loads((b.index_dir / "sources" / "bimcv" / "meta.json").read_text())["path"] == f"table_{canary}.tsv"
