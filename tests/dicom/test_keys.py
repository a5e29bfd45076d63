"""One bank, one key; pseudonyms that cannot collide or run out; two ingests into one bank (issue 13)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dicom_factory import make_cr

from covidbank.dicom.ingest import ingest
from covidbank.dicom.keys import (
    Keyring,
    PseudonymRegistry,
    bank_fingerprint,
    key_fingerprint,
    load_key,
    new_key,
)
from covidbank.errors import KeyFileError

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO / "tests")])}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _raw(root: Path, ids: list[str]) -> Path:
    for i, pid in enumerate(ids):
        make_cr(root / f"{pid}.dcm", patient_id=pid, seed=i, PatientName=f"NAME^{pid}")
    return root


def test_key_new_refuses_overwrite_and_is_private(tmp_path):
    k = new_key(tmp_path / "keys" / "p.key")
    assert k.stat().st_mode & 0o777 == 0o600 and len(load_key(k)) == 32
    with pytest.raises(KeyFileError, match="exists already"):
        new_key(k)
    with pytest.raises(KeyFileError, match="outside the bank"):
        new_key(tmp_path / "bank" / "k", bank=tmp_path / "bank")
    os.chmod(k, 0o640)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key(k)
    os.chmod(k, 0o600)
    os.link(k, tmp_path / "hardlink.key")
    with pytest.raises(KeyFileError, match="hard link"):
        load_key(k)
    os.unlink(tmp_path / "hardlink.key")
    assert key_fingerprint(load_key(k)).startswith("hmac-sha256:") and load_key(k).hex() not in key_fingerprint(load_key(k))


def test_cli_key_new(tmp_path):
    res = subprocess.run([sys.executable, "-m", "covidbank", "key", "new", str(tmp_path / "k")], env=ENV,
                         capture_output=True, text=True)
    assert res.returncode == 0 and str(tmp_path / "k") in res.stderr and "fingerprint" in res.stderr
    res = subprocess.run([sys.executable, "-m", "covidbank", "key", "new", str(tmp_path / "k")], env=ENV,
                         capture_output=True, text=True)
    assert res.returncode == 1 and "exists already" in res.stderr


def test_missing_or_other_key_changes_nothing(tmp_path):
    raw = _raw(tmp_path / "raw", ["K1", "K2"])
    bank = tmp_path / "bank"
    ingest(raw, bank, key_file=tmp_path / "a.key", new_key=True)
    assert bank_fingerprint(bank) == key_fingerprint(load_key(tmp_path / "a.key"))
    _raw(tmp_path / "raw", ["K3"])
    before = _tree(bank)
    # no key given and none at the default place: refused, nothing created silently
    env = {**ENV, "COVIDBANK_KEY_FILE": str(tmp_path / "nowhere" / "default.key")}
    res = subprocess.run([sys.executable, "-m", "covidbank", "ingest", str(raw), "--bank", str(bank), "--no-progress"],
                         env=env, capture_output=True, text=True)
    assert res.returncode == 1 and "key new" in res.stderr and not (tmp_path / "nowhere").exists()
    # another key, even with --new-key: refused naming both fingerprints
    res = subprocess.run([sys.executable, "-m", "covidbank", "ingest", str(raw), "--bank", str(bank), "--no-progress",
                          "--key-file", str(tmp_path / "b.key"), "--new-key"], env=ENV, capture_output=True, text=True)
    assert res.returncode == 1 and "another key" in res.stderr
    assert not (tmp_path / "b.key").exists()  # refused before the new key was written
    assert _tree(bank) == before
    # the right key adds the new patient only
    s = ingest(raw, bank, key_file=tmp_path / "a.key")
    assert s.subjects == 3 and s.resumed == 2


@pytest.mark.slow
def test_a_million_pseudonyms_are_unique_and_the_space_grows(tmp_path):
    k = Keyring(b"k" * 32)
    reg = PseudonymRegistry(tmp_path / "reg.json")
    labels = [reg.get(k, "sub", f"{i:032x}") for i in range(1_000_000)]
    assert len(set(labels)) == 1_000_000
    assert all(len(x) == 6 for x in labels[:49_000])  # S + 5 digits while the 5-digit space is less than half used
    assert {len(x) for x in labels[-1000:]} == {8}  # then 6, then 7 digits: it grows instead of looping
    assert len({int(x[1:]) for x in labels}) == 1_000_000  # S01234 and S001234 are never both given
    reg.save()
    again = PseudonymRegistry(tmp_path / "reg.json")
    assert [again.get(k, "sub", f"{i:032x}") for i in (0, 500_000, 999_999)] == [labels[0], labels[500_000], labels[-1]]


_ONE = """
import sys
from covidbank.dicom.ingest import ingest
ingest(sys.argv[1], sys.argv[2], key_file=sys.argv[3], workers=1)
"""


def test_two_concurrent_ingests_give_the_participants_of_one_sequential_run(tmp_path):
    a = _raw(tmp_path / "a", [f"A{i}" for i in range(6)])
    b = _raw(tmp_path / "b", [f"B{i}" for i in range(6)])
    key = new_key(tmp_path / "k")
    seq = tmp_path / "seq"
    ingest(a, seq, key_file=key)
    ingest(b, seq, key_file=key)
    conc = tmp_path / "conc"
    ingest(a, conc, key_file=key, lock_timeout=0)  # bind the key first, then race two runs
    procs = [subprocess.Popen([sys.executable, "-c", _ONE, str(d), str(conc), str(key)], env=ENV,
                              stderr=subprocess.PIPE, text=True) for d in (b, a)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    assert (conc / "participants.tsv").read_text() == (seq / "participants.tsv").read_text()
    names = lambda r: sorted(str(p.relative_to(r)) for p in r.glob("sub-*/ses-*/mod-*/*.json"))  # noqa: E731
    assert names(conc) == names(seq) and len(names(conc)) == 12
    reg = json.loads((conc / ".covidbank" / "pseudonyms.json").read_text())
    assert len(reg["sub"]) == 12


def test_linkage_is_merged_across_runs(tmp_path):
    key = new_key(tmp_path / "k")
    link = tmp_path / "private" / "link.tsv"
    ingest(_raw(tmp_path / "r1", ["L1", "L2"]), tmp_path / "bank", key_file=key, linkage=link)
    ingest(_raw(tmp_path / "r2", ["L3"]), tmp_path / "bank", key_file=key, linkage=link)
    rows = [ln.split("\t") for ln in link.read_text().splitlines()[1:]]
    assert [r[0] for r in rows] == ["L1", "L2", "L3"] and link.stat().st_mode & 0o777 == 0o600
    with pytest.raises(KeyFileError, match="outside the bank"):
        ingest(tmp_path / "r2", tmp_path / "bank", key_file=key, linkage=tmp_path / "bank" / "link.tsv")
