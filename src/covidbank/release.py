"""A release package of a bank a hospital can publish, and its verification.

``covidbank release BANK --out DIR`` writes, BIMCV COVID-19+ style:

* the MIDS tree the bank holds (``sub-*`` images and sidecars, ``participants``
  and sessions TSVs, ``phenotype/`` tables), hard-linked from the bank;
* ``derivatives/covidbank/`` (a BIDS derivative dataset): the labels, the
  splits and the severity table when the bank has them;
* ``index/``: the bank's Parquet index (every source, paths relative to each
  source's root; external roots are not named), ``report/``: the
  technical-validation report;
* ``dataset_description.json`` (``GeneratedBy``, ``License``,
  ``HowToAcknowledge``, ``SourceDatasets`` with how to cite each source),
  ``sessions.json`` (the extra session columns), ``README``, ``LICENSE`` (the
  bank's own data) and ``licenses/<source>.txt`` (per source license),
  ``.bidsignore``, ``CHANGES`` and ``MANIFEST.sha256`` (``sha256sum -c``
  format; :func:`verify` re-checks it).

A release into a folder holding an earlier one is the next iteration: its
version is one more, and a new ``CHANGES`` entry says what was added, removed
and changed; the package is built beside the folder and swapped in whole.

The release is gated (:func:`release_checks`): it is refused, naming each
problem, when the MIDS validation fails (``covidbank validate``), when images
carry a burned-in annotation flag, when report text is stored without a record
of its de-identification, or when the privacy audit finds anything.  Checks
whose feature is not in this version (the privacy audit, burned-in text
screening) are reported as *not run*.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .bank import Bank
from .errors import CovidbankError
from .fileio import atomic_write

__all__ = ["Check", "ReleaseResult", "ReleaseRefused", "release_checks", "release", "verify", "MANIFEST"]

MANIFEST = "MANIFEST.sha256"
RELEASE_JSON = "release.json"
#: What the BIDS validator is told to ignore: covidbank's own additions.
BIDSIGNORE = ["index/", "report/", "licenses/", MANIFEST, RELEASE_JSON, "LICENSE"]

_LICENSE_URLS = {
    "CC0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC-BY-NC-4.0": "https://creativecommons.org/licenses/by-nc/4.0/",
    "CC-BY-NC-SA-4.0": "https://creativecommons.org/licenses/by-nc-sa/4.0/",
    "CC-BY-NC-ND-3.0": "https://creativecommons.org/licenses/by-nc-nd/3.0/",
    "CC-BY-NC-ND-4.0": "https://creativecommons.org/licenses/by-nc-nd/4.0/",
    "Apache-2.0": "https://www.apache.org/licenses/LICENSE-2.0",
    "MIT": "https://opensource.org/licenses/MIT",
}

#: How to cite the public sources covidbank has adapters for.
CITATIONS = {
    "cohen": "Cohen JP, Morrison P, Dao L, Roth K, Duong TQ, Ghassemi M. COVID-19 Image Data Collection: "
             "Prospective Predictions Are the Future. MELBA 2020. https://github.com/ieee8023/covid-chestxray-dataset",
    "bimcv": "de la Iglesia Vayá M, et al. BIMCV COVID-19+: a large annotated dataset of RX and CT images from "
             "COVID-19 patients. arXiv:2006.01174. https://bimcv.cipf.es/bimcv-projects/bimcv-covid19/",
    "mosmed": "Morozov SP, et al. MosMedData: Chest CT Scans With COVID-19 Related Findings Dataset. "
              "arXiv:2005.06465. https://mosmed.ai/datasets/covid19_1110",
}


class ReleaseRefused(CovidbankError):
    """A release gate failed; the message names every problem."""


@dataclass
class Check:
    """One release gate: ``passed``, ``failed`` (with the problems) or ``not run`` (with why)."""

    name: str
    status: str
    problems: list[str] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "problems": self.problems, "note": self.note}


@dataclass
class ReleaseResult:
    """What :func:`release` wrote."""

    out: Path
    version: int
    files: int
    checks: list[Check]
    changes: list[str]


# ------------------------------------------------------------------ checks
def _own_sources(bank: Bank) -> list[str]:
    """Sources whose files the bank holds (an ingest: root inside the bank)."""
    own = []
    base = bank.path.resolve()
    for s in bank.sources():
        root = bank.source_root(s).resolve()
        if (root == base or base in root.parents) and bank.source_meta(s).get("kind") == "dicom ingest":
            own.append(s)
    return own


def _gate(name: str, check, bank: Bank) -> Check:
    """A gate another feature provides: ``check(bank)`` returns a result with ``findings`` (and ``ok``)."""
    res = check(bank)
    findings = getattr(res, "findings", res)
    if isinstance(findings, pd.DataFrame):
        findings = [" ".join(str(v) for v in r) for r in findings.astype(str).itertuples(index=False)]
    ok = getattr(res, "ok", None)
    findings = list(findings or [])
    failed = (ok is False) or (ok is None and bool(findings))
    # str() of an audit finding leaves out the matched text: the release notes may be shared
    return Check(name, "failed" if failed else "passed", [str(f) for f in findings][:50])


def release_checks(bank: Bank | str | os.PathLike) -> list[Check]:
    """The release gates of a bank (see module doc)."""
    from .dicom import mids

    b = bank if isinstance(bank, Bank) else Bank(bank)
    checks: list[Check] = []
    own = _own_sources(b)
    # 1. covidbank validate
    if any(b.path.glob("sub-*")):
        probs = mids.validate(b.path)
        checks.append(Check("MIDS validation (covidbank validate)", "failed" if probs else "passed",
                            [f"{p.path}: {p.message}" for p in probs]))
    else:
        checks.append(Check("MIDS validation (covidbank validate)", "passed", note="the bank holds no MIDS tree"))
    # 2. burned-in annotation flags
    im = b.query("SELECT * FROM images")
    flagged = im[im.get("burned_in_annotation", pd.Series(False, index=im.index)).fillna(False).astype(bool)] \
        if "burned_in_annotation" in im.columns else im.iloc[0:0]
    checks.append(Check("no image flagged with burned-in annotation", "failed" if len(flagged) else "passed",
                        [f"{r.image_id}: DICOM Burned In Annotation = YES (pixel data may show identifiers); "
                         "remove it from the bank or clear it after review" for r in flagged.itertuples()]))
    # 3. report text de-identified
    probs = []
    for s in own:
        tsv = b.path / "phenotype" / "reports.tsv"
        if tsv.is_file():
            side = b.path / "phenotype" / "reports.json"
            how = None
            if side.is_file():
                try:
                    how = json.loads(side.read_text()).get("report", {}).get("Deidentification")
                except (ValueError, AttributeError):
                    how = None
            if not how:
                probs.append(f"phenotype/reports.tsv ({s}): report text with no record of its de-identification "
                             "(re-run `covidbank ingest --reports` so it is de-identified)")
    checks.append(Check("report text de-identified", "failed" if probs else "passed", probs,
                        note="public sources' reports are as their publishers de-identified them"))
    # 4. privacy audit and burned-in text screening
    from .audit import audit
    from .ocr.review import release_check

    checks.append(_gate("privacy audit (covidbank audit)", audit, b))
    checks.append(_gate("burned-in text screened and reviewed", release_check, b))
    return checks


# ------------------------------------------------------------------ package
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _read_manifest(folder: Path) -> dict[str, str]:
    f = folder / MANIFEST
    if not f.is_file():
        return {}
    out = {}
    for line in f.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, rel = line.split("  ", 1)
            out[rel] = digest
    return out


def _license_text(lic: str | None, raw: str | None) -> str:
    url = _LICENSE_URLS.get(str(lic)) if lic else None
    parts = [f"License: {lic or 'not stated as a known license'}"]
    if raw and raw != lic:
        parts.append(f"As published: {raw}")
    if url:
        parts.append(f"Full text: {url}")
    return "\n".join(parts) + "\n"


def _counts(b: Bank) -> pd.DataFrame:
    return b.summary()


def _readme(name: str, b: Bank, version: int, own: list[str], checks: list[Check], license_id: str,
            sources: dict[str, dict]) -> str:
    lines = [f"# {name}", "", f"Release {version} of a covidbank bank, made with `covidbank release` on "
             f"{_dt.date.today().isoformat()}.", "", "## Contents", "",
             "- `sub-*/`: the images (16-bit PNG radiographs, display-ready; NIfTI CT volumes in HU) with JSON "
             "sidecars, in MIDS layout; `participants.tsv`, `sub-*/sub-*_sessions.tsv` (`sessions.json` describes "
             "the columns); `phenotype/`: diagnostic tests and reports when present",
             "- `derivatives/covidbank/`: labels (1 positive, 0 negative, -1 uncertain), splits and severity",
             "- `index/`: the Parquet index of every source (query it with DuckDB or `covidbank query`)",
             "- `report/`: the technical-validation report (`report.html`)",
             f"- `LICENSE`: the license of this bank's own data ({license_id}); `licenses/`: each source's license",
             f"- `CHANGES`: what each release changed; `{MANIFEST}`: SHA-256 of every file "
             "(check with `covidbank verify DIR` or `sha256sum -c " + MANIFEST + "`)", "",
             "## Sources", "", "| source | images | files here | license | how to cite |", "|---|---|---|---|---|"]
    counts = _counts(b).set_index("source")
    for s, info in sources.items():
        n = int(counts.loc[s, "images"]) if s in counts.index else 0
        here = "yes" if s in own else "no (index rows only)"
        lines.append(f"| {s} | {n:,} | {here} | {info['license'] or 'see licenses/'} | {info['cite'] or '-'} |")
    lines += ["", "## Release checks", ""]
    for c in checks:
        lines.append(f"- {c.name}: **{c.status}**" + (f" ({c.note})" if c.note else ""))
    lines += ["", "## Conventions", "", "Identifiers are prefixed with their source (`ingest:sub-S01234`). A label "
              "the bank says nothing about is unknown (not negative); parent labels are implied by their children. "
              "Dates are shifted per patient; patient identifiers are keyed pseudonyms.", ""]
    return "\n".join(lines)


def _sessions_json() -> dict:
    return {
        "acq_date": {"Description": "Study date as YYYYMMDD, shifted per patient (de-identified)"},
        "offset_days": {"Description": "Days since the patient's first study", "Units": "day"},
        "modalities": {"Description": "Comma-separated modality folders of the session (rx, ct)"},
    }


def _changes_entry(version: int, old: dict[str, str], new: dict[str, str]) -> list[str]:
    def imgs(m):
        return {k for k in m if k.startswith("sub-") and not k.endswith((".json", ".tsv"))}

    def subs(m):
        return {k.split("/")[0] for k in m if k.startswith("sub-")}

    if not old:
        return [f"Initial release: {len(subs(new))} subjects, {len(imgs(new))} images, {len(new)} files."]
    added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
    changed = sorted(k for k in set(new) & set(old) if new[k] != old[k])
    out = [f"Added {len(imgs(new) - imgs(old))} images of {len(subs(new) - subs(old))} new subjects "
           f"({len(added)} files added in all).",
           f"Removed {len(imgs(old) - imgs(new))} images ({len(removed)} files).",
           f"Changed {len(changed)} files" + (": " + ", ".join(changed[:8]) + (" ..." if len(changed) > 8 else "") if changed else ".")]
    return out


def release(
    bank: Bank | str | os.PathLike,
    out: str | os.PathLike,
    *,
    license: str | None = None,
    name: str | None = None,
    authors: list[str] | None = None,
    report: bool = True,
    progress=None,
) -> ReleaseResult:
    """Write a release package of ``bank`` into ``out`` (see module doc).

    Parameters
    ----------
    license : str, optional
        License of the bank's own data (SPDX-like, ``CC-BY-4.0``); default the
        ``License`` of the bank's ``dataset_description.json``.  Required when neither says.
    name, authors : optional
        ``Name`` and ``Authors`` of ``dataset_description.json``.
    report : bool
        Include the technical-validation report (``report/``).

    Raises
    ------
    ReleaseRefused
        When a gate fails (every problem named) or no license is known.
    """
    b = bank if isinstance(bank, Bank) else Bank(bank)
    out = Path(out)
    checks = release_checks(b)
    _refuse_failed(b, checks)
    desc_path = b.path / "dataset_description.json"
    desc = json.loads(desc_path.read_text()) if desc_path.is_file() else {}
    license_id = license or desc.get("License")
    if not license_id:
        raise ReleaseRefused(f"release of {b.path} refused: no license for the bank's own data; pass --license "
                             "(for example CC-BY-4.0) or set License in dataset_description.json")
    old_meta = json.loads((out / RELEASE_JSON).read_text()) if (out / RELEASE_JSON).is_file() else {}
    version = int(old_meta.get("version", 0)) + 1
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        own = _own_sources(b)
        if own:
            _copy_mids_tree(b, tmp)
        sources = _write_licenses(b, tmp, own, license_id)
        _write_derivatives(b, tmp, name or desc.get("Name"), desc)
        _write_index(b, tmp, own)
        dd = _dataset_description(desc, name, authors, license_id, sources, own, version)
        atomic_write(tmp / "dataset_description.json", json.dumps(dd, indent=2, sort_keys=True, default=str) + "\n")
        atomic_write(tmp / "README", _readme(dd["Name"], b, version, own, checks, license_id, sources))
        atomic_write(tmp / ".bidsignore", "\n".join(BIDSIGNORE) + "\n")
        if report:
            from .validation.build import build_report
            from .validation.render import write_report

            write_report(build_report(b, title=f"Technical validation: {dd['Name']} release {version}"), tmp / "report")
        entry, n_files = _write_changes_and_manifest(tmp, out, version, checks)
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ReleaseResult(out=out, version=version, files=n_files, checks=checks, changes=entry)


def _refuse_failed(b: Bank, checks: list[Check]) -> None:
    """Raise :class:`ReleaseRefused` naming every problem of the failed gates."""
    failed = [c for c in checks if c.status == "failed"]
    if not failed:
        return
    lines = [f"release of {b.path} refused:"]
    for c in failed:
        lines.append(f"  {c.name}: {len(c.problems)} problem(s)")
        lines += [f"    - {p}" for p in c.problems[:20]]
        if len(c.problems) > 20:
            lines.append(f"    ... and {len(c.problems) - 20} more")
    raise ReleaseRefused("\n".join(lines))


def _copy_mids_tree(b: Bank, tmp: Path) -> None:
    """The MIDS tree the bank holds (subjects, participants, phenotype) and ``sessions.json``, as hard links."""
    for p in sorted(b.path.glob("sub-*")):
        for f in sorted(p.rglob("*")):
            if f.is_file():
                _link(f, tmp / f.relative_to(b.path))
    for rel in ("participants.tsv", "participants.json", "phenotype"):
        src = b.path / rel
        if src.is_file():
            _link(src, tmp / rel)
        elif src.is_dir():
            for f in sorted(src.rglob("*")):
                if f.is_file():
                    _link(f, tmp / f.relative_to(b.path))
    atomic_write(tmp / "sessions.json", json.dumps(_sessions_json(), indent=2, sort_keys=True) + "\n")


def _write_licenses(b: Bank, tmp: Path, own: list[str], license_id: str) -> dict[str, dict]:
    """``licenses/<source>.txt`` and ``LICENSE``; returns each source's license and citation."""
    sources: dict[str, dict] = {}
    im = b.query("SELECT source, license, license_raw, any_value(doi) AS doi, count(*) AS n FROM images "
                 "GROUP BY source, license, license_raw ORDER BY source, n DESC")
    for s in b.sources():
        rows = im[im["source"] == s]
        lic = rows["license"].dropna().iloc[0] if rows["license"].notna().any() else None
        raw = rows["license_raw"].dropna().iloc[0] if rows["license_raw"].notna().any() else None
        if s in own:
            lic, raw = license_id, license_id
        adapter = b.source_meta(s).get("adapter_source", s)
        sources[s] = {"license": lic, "license_raw": raw, "cite": CITATIONS.get(adapter) or CITATIONS.get(s)}
        text = _license_text(lic, raw)
        if len(rows) > 1:
            text += "Licenses of its records: " + "; ".join(
                f"{r.license or r.license_raw or 'unknown'} ({r.n})" for r in rows.itertuples()) + "\n"
        atomic_write(tmp / "licenses" / f"{s}.txt", text)
    atomic_write(tmp / "LICENSE", f"The data of this bank ({', '.join(own) or 'index and derivatives'}) is "
                                  f"released under {license_id}.\n" + (f"Full text: {_LICENSE_URLS[license_id]}\n"
                                  if license_id in _LICENSE_URLS else "") +
                 "Each source keeps its own license: see licenses/.\n")
    return sources


def _write_derivatives(b: Bank, tmp: Path, name: str | None, desc: dict) -> None:
    """``derivatives/covidbank``: labels, splits and severity as TSV, with their dataset description."""
    from . import __version__ as cb_version

    der = tmp / "derivatives" / "covidbank"
    atomic_write(der / "dataset_description.json", json.dumps({
        "Name": f"{name or 'covidbank bank'}: labels, splits and severity",
        "BIDSVersion": desc.get("BIDSVersion", "1.8.0"), "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "covidbank", "Version": cb_version}]}, indent=2, sort_keys=True) + "\n")
    atomic_write(der / "labels.tsv", b.table("labels").to_csv(sep="\t", index=False, na_rep="n/a"))
    for t in ("splits", "severity"):
        if t in b.extra_tables():
            atomic_write(der / f"{t}.tsv", b.table(t).to_csv(sep="\t", index=False, na_rep="n/a"))


#: ``meta.json`` entries a release leaves out: the names of the files a source was added from (its table, its
#: label-tree files), which the curator chose and the release does not hold.
_INPUT_NAME_KEYS = ("path", "trees")


def _write_index(b: Bank, tmp: Path, own: list[str]) -> None:
    """The bank's Parquet index and source metadata; ``bank.json`` names only the bank's own roots.

    The names of the files a source was added from stay in the bank: each ``meta.json`` is written without
    :data:`_INPUT_NAME_KEYS`, and a ``skipped`` row whose ``path`` is the source's table (a source added from a
    file, ``add bimcv table.tsv``) gets no path.
    """
    inputs = {}
    for f in sorted(b.index_dir.glob("sources/*/meta.json")):
        meta = json.loads(f.read_text(encoding="utf-8"))
        if isinstance(meta.get("path"), str) and meta["path"] != ".":
            inputs[f.parent.name] = meta["path"]
        kept = {k: v for k, v in meta.items() if k not in _INPUT_NAME_KEYS}
        atomic_write(tmp / "index" / f.relative_to(b.index_dir), json.dumps(kept, indent=2, default=str, sort_keys=True))
    for f in sorted(b.index_dir.rglob("*.parquet")):
        rel = f.relative_to(b.index_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if f.name == "skipped.parquet" and f.parent.name in inputs:
            _write_skipped_without(f, tmp / "index" / rel, inputs[f.parent.name])
        else:
            _link(f, tmp / "index" / rel)
    roots = {s: ("." if s in own else None) for s in b.sources()}
    atomic_write(tmp / "index" / "bank.json", json.dumps({"source_roots": {k: v for k, v in roots.items() if v}},
                                                          indent=2, sort_keys=True) + "\n")


def _write_skipped_without(src: Path, dst: Path, name: str) -> None:
    """``src`` (a ``skipped`` table) copied to ``dst`` with a null ``path`` where it is ``name``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(src)
    if "path" in t.column_names:
        col = t.column("path")
        i = t.column_names.index("path")
        t = t.set_column(i, t.field(i), pc.if_else(pc.equal(col, pa.scalar(name, col.type)),
                                                   pa.scalar(None, col.type), col))
    dst.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(t, dst)


def _dataset_description(desc: dict, name: str | None, authors: list[str] | None, license_id: str,
                         sources: dict[str, dict], own: list[str], version: int) -> dict:
    """The release's ``dataset_description.json`` (BIDS/MIDS), crediting every outside source."""
    from . import __version__ as cb_version

    return {
        "Name": name or desc.get("Name") or "covidbank bank",
        "BIDSVersion": desc.get("BIDSVersion", "1.8.0"),
        "MIDSVersion": desc.get("MIDSVersion", "1.0"),
        "DatasetType": "raw",
        "License": license_id,
        "Authors": authors or desc.get("Authors") or ["covidbank curators"],
        "GeneratedBy": [{"Name": "covidbank", "Version": cb_version,
                         "Description": "PS3.15 de-identification, MIDS ingest, release"}],
        "HowToAcknowledge": "Cite this release and each source listed in SourceDatasets and README.",
        "SourceDatasets": [{"URL": (sources[s]["cite"] or "").rsplit(" ", 1)[-1] or None, "Name": s,
                            "License": sources[s]["license"], "Citation": sources[s]["cite"]}
                           for s in sources if s not in own],
        "DatasetVersion": str(version),
    }


def _write_changes_and_manifest(tmp: Path, out: Path, version: int, checks: list[Check]) -> tuple[list[str], int]:
    """``CHANGES`` (this version's entry over the previous release in ``out``), ``release.json`` and the SHA-256
    manifest; returns the entry and the number of files."""
    from . import __version__ as cb_version

    old_manifest = _read_manifest(out)
    files = sorted(p for p in tmp.rglob("*") if p.is_file())
    new_manifest = {p.relative_to(tmp).as_posix(): _sha256(p) for p in files}
    entry = _changes_entry(version, {k: v for k, v in old_manifest.items() if k != "CHANGES"},
                           {k: v for k, v in new_manifest.items() if k != "CHANGES"})
    old_changes = (out / "CHANGES").read_text(encoding="utf-8") if (out / "CHANGES").is_file() else ""
    changes = f"{version}.0.0 {_dt.date.today().isoformat()}\n" + "".join(f"  - {e}\n" for e in entry)
    atomic_write(tmp / "CHANGES", changes + ("\n" + old_changes if old_changes else ""))
    new_manifest["CHANGES"] = _sha256(tmp / "CHANGES")
    atomic_write(tmp / RELEASE_JSON, json.dumps({"version": version, "date": _dt.date.today().isoformat(),
                                                 "checks": [c.to_dict() for c in checks],
                                                 "covidbank": cb_version}, indent=2, sort_keys=True) + "\n")
    new_manifest[RELEASE_JSON] = _sha256(tmp / RELEASE_JSON)
    atomic_write(tmp / MANIFEST, "".join(f"{d}  {k}\n" for k, d in sorted(new_manifest.items())))
    return entry, len(new_manifest) + 1


def _swap_in(tmp: Path, out: Path) -> None:
    """Replace ``out`` by the finished ``tmp`` folder whole (the old release is removed after the rename)."""
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def verify(folder: str | os.PathLike) -> list[str]:
    """Re-check a release against its ``MANIFEST.sha256``: every problem found (empty when intact).

    Lists files missing, changed (SHA-256 differs) or not in the manifest, and
    a README, LICENSE, dataset_description.json or CHANGES that is missing.
    """
    root = Path(folder)
    if not (root / MANIFEST).is_file():
        return [f"{root / MANIFEST}: no manifest (not a covidbank release folder)"]
    manifest = _read_manifest(root)
    probs = []
    for rel, digest in sorted(manifest.items()):
        p = root / rel
        if not p.is_file():
            probs.append(f"{rel}: missing")
        elif _sha256(p) != digest:
            probs.append(f"{rel}: changed (SHA-256 differs from the manifest)")
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel != MANIFEST and rel not in manifest:
            probs.append(f"{rel}: not in the manifest")
    for need in ("README", "LICENSE", "dataset_description.json", "CHANGES", ".bidsignore"):
        if need not in manifest:
            probs.append(f"{need}: not in the release")
    return probs
