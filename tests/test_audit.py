"""``covidbank audit`` and the hostile corpus: nothing identifying leaves the hospital (issue 13)."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from dicom_factory import bank_text as _all_text
from hostile_corpus import make_hostile_corpus
from PIL import Image, PngImagePlugin

from covidbank.audit import audit
from covidbank.bank import Bank
from covidbank.dicom.reasons import REASONS

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "tests")])}
#: The memory budget of an ingest worker the limits keep (docs/privacy.md).
BUDGET_MB = 1024

_RUN = """
import json, resource, sys
from covidbank.dicom.ingest import ingest
s = ingest(sys.argv[1], sys.argv[2], key_file=sys.argv[3], new_key=True, tests=sys.argv[4], reports=sys.argv[5],
           linkage=sys.argv[6], workers=1)
# peak RSS of this process's own memory: VmHWM (getrusage's ru_maxrss also counts the parent's high-water mark
# that Linux carries over at exec, so under a big pytest process it reports the parent, not the ingest)
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")]
peak_kb = hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"converted": s.converted, "errors": s.errors, "skipped": s.skipped, "quarantined": s.quarantined,
                  "subjects": s.subjects, "seconds": s.seconds, "maxrss_mb": peak_kb / 1024}))
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The hostile corpus ingested once (in a fresh process, for its peak memory)."""
    root = tmp_path_factory.mktemp("hostile")
    c = make_hostile_corpus(root)
    bank, key, link = root / "bank", root / "keys" / "project.key", root / "keys" / "linkage.tsv"
    proc = subprocess.run([sys.executable, "-c", _RUN, str(c["raw"]), str(bank), str(key), str(c["tests"]),
                           str(c["reports"]), str(link)], env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {**c, "bank": bank, "key": key, "linkage": link, "summary": json.loads(proc.stdout.strip().splitlines()[-1])}


def test_hostile_inputs_end_in_reasons_within_the_memory_budget(hostile):
    s = hostile["summary"]
    # FIFO, 2 GB sparse file, deflate bomb, the link out of the tree, the truncated copy, the odd classes: reasons
    skipped = Bank(hostile["bank"]).table("skipped")
    assert set(skipped.reason) <= set(REASONS)
    for code in ("not_regular_file", "file_too_large", "decompressed_too_large", "symlink_outside_input",
                 "duplicate_instance", "unknown_sop_class", "secondary_capture_modality", "not_grayscale"):
        assert code in set(skipped.reason), code
    assert s["maxrss_mb"] < BUDGET_MB, s  # peak RSS of the whole ingest process, not a timed assert
    # the rest of the run completed: the intact copy (not the truncated one), the twins, the CT, free-text image
    assert s["converted"] >= 5 and s["subjects"] == 4, s
    assert "truncated" not in set(skipped.reason)


def test_hostile_corpus_leaves_no_marker_and_audit_finds_nothing(hostile):
    text = _all_text(hostile["bank"])
    assert [m for m, where in hostile["markers"].items() if m in text] == []
    assert "sub-S" in text and "PatientIdentityRemoved" in text  # not vacuous
    # the review's check as a command: raw headers, tests and reports values searched in every bank file
    rep = audit(hostile["bank"], raw=hostile["raw"], tests=[hostile["tests"]], reports=[hostile["reports"]],
                key_file=hostile["key"])
    assert rep.findings == [], [f.to_dict() for f in rep.findings]
    assert rep.terms > 30 and rep.files > 10 and rep.subjects == 4
    assert rep.counts["dropped sidecar attributes"] >= 9  # Manufacturer, model, body part, position, age, sex, ...
    res = subprocess.run([sys.executable, "-m", "covidbank", "audit", str(hostile["bank"]), "--raw", str(hostile["raw"]),
                          "--key-file", str(hostile["key"]), "--json"], env=ENV, capture_output=True, text=True)
    assert res.returncode == 0 and json.loads(res.stdout)["findings"] == []


def test_patients_sharing_real_dates_share_no_digest(hostile):
    bank = hostile["bank"]
    hashes = {}
    for f in bank.glob("logs/audit/sub-*/**/*.audit.jsonl.gz"):
        sub = f.relative_to(bank / "logs" / "audit").parts[0]
        for line in gzip.decompress(f.read_bytes()).decode().splitlines():
            hashes.setdefault(sub, set()).update(r["old_hash"] for r in json.loads(line)["records"])
    assert len(hashes) == 4
    subs = sorted(hashes)
    for i, a in enumerate(subs):
        for b in subs[i + 1:]:
            assert not hashes[a] & hashes[b], (a, b)


def test_curators_private_records_outside_the_bank(hostile):
    key_dir = hostile["key"].parent
    log = [json.loads(l) for l in (key_dir / "project.key.private" / "runs.jsonl").read_text().splitlines()]
    paths = {Path(r["path"]).name for r in log if r.get("kind") == "file"}
    assert {"g_fifo", "h_sparse.dcm", "i_bomb.dcm", "link.dcm", "odd_class"} <= paths
    odd = next(r for r in log if r.get("path", "").endswith("odd_class"))
    assert "1.2.3.19650412.99887766" in odd["detail"]  # the curator sees the value, the bank never does
    # the attributes holding the patient's id were kept out, into the quarantine (outside the bank)
    q = list((key_dir / "project.key.private" / "quarantine").rglob("*.json"))
    assert q and any("SoftwareVersions" in p.read_text() for p in q)
    assert all(p.stat().st_mode & 0o077 == 0 for p in q)
    link = pd.read_csv(hostile["linkage"], sep="\t")
    assert {"HOSTPAT01", "HOSTPAT02", "TWIN01", "TWIN02"} <= set(link.original_patient_id)


def test_audit_finds_each_kind_of_leak(hostile, tmp_path):
    """The audit is not vacuous: a copy of the clean bank with one leak of each kind fails it."""
    bank = tmp_path / "bank"
    shutil.copytree(hostile["bank"], bank, symlinks=True)
    side = sorted(bank.glob("sub-*/ses-*/mod-rx/*.json"))
    s0 = json.loads(side[0].read_text())
    s0["SoftwareVersions"] = "ROSSI ANNA"  # a name from a raw header
    side[0].write_text(json.dumps(s0))
    s1 = json.loads(side[1].read_text())
    s1["PatientSex"] = "MRKSEXVALUE"  # a coded attribute's failing value (one word) from a raw header
    side[1].write_text(json.dumps(s1))
    png = sorted(bank.glob("sub-*/ses-*/mod-rx/*.png"))[0]
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "TWIN02")  # a patient id in a PNG text chunk
    Image.open(png).save(png, pnginfo=info)
    with open(bank / "logs" / "ingest.jsonl", "a") as f:
        f.write(json.dumps({"status": "skipped", "reason": "SOP class 1.2.3.19650412.99887766"}) + "\n")
    (bank / "notes-HOSTPAT02.txt").write_text("x")  # an id in a file name
    audits = sorted(bank.glob("logs/audit/sub-*/**/*.audit.jsonl.gz"))
    sub = lambda p: p.relative_to(bank / "logs" / "audit").parts[0]  # noqa: E731
    a, b = audits[0], next(p for p in audits if sub(p) != sub(audits[0]))
    la = json.loads(gzip.decompress(a.read_bytes()).decode().splitlines()[0])
    lb = json.loads(gzip.decompress(b.read_bytes()).decode().splitlines()[0])
    lb["records"][0]["old_hash"] = la["records"][0]["old_hash"]  # a digest shared by two subjects
    b.write_bytes(gzip.compress((json.dumps(lb) + "\n").encode()))
    shutil.copy(hostile["key"], bank / "copied.key")  # the key inside the bank
    rep = audit(bank, raw=hostile["raw"], tests=[hostile["tests"]], reports=[hostile["reports"]], key_file=hostile["key"])
    found = {(f.check, f.file) for f in rep.findings}
    rel = lambda p: str(p.relative_to(bank))  # noqa: E731
    assert ("value", rel(side[0])) in found and ("value", rel(side[1])) in found
    assert ("value", rel(png)) in found
    assert ("value", "logs/ingest.jsonl") in found and ("reason", "logs/ingest.jsonl") in found
    assert ("value", "notes-HOSTPAT02.txt") in found
    assert ("linkage", "logs/audit") in found
    assert ("value", "copied.key") in found
    res = subprocess.run([sys.executable, "-m", "covidbank", "audit", str(bank), "--raw", str(hostile["raw"])],
                         env=ENV, capture_output=True, text=True)
    assert res.returncode == 1 and "finding" in res.stdout + res.stderr


def test_raw_terms_of_a_tests_file_whose_first_row_is_longer_than_its_header(tmp_path):
    """A tests file whose first data row has one field more than the header was read with ``patient_id`` as
    pandas' index (every column shifted by one): no patient id entered the deny-list, so a bank holding one
    passed the audit. Every row's id is collected, a longer row's (later ones too) with its extra fields dropped."""
    from covidbank.audit import collect_raw_terms

    p = tmp_path / "tests.csv"
    p.write_text("patient_id,date,test_type,result\n"
                 "GARCIA0001,2020-03-01,PCR,positive,extra\n"
                 "LOPEZ00002,2020-03-02,PCR,negative\n"
                 "PEREZ00003,2020-03-03,PCR,negative,extra\n")
    dl = collect_raw_terms(None, tests=[p])
    for pid in ("GARCIA0001", "LOPEZ00002", "PEREZ00003"):
        assert dl.find(f"a file that says {pid} here"), pid
    assert not dl.find("a file that says 2020-03-01 here")  # the date column is not read as the patient ids
