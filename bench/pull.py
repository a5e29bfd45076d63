"""Benchmark `covidbank pull` against what a curator scripts today: DCMTK C-GET/C-MOVE into a folder, then ingest.

Same cohort, same Orthanc (Debian orthanc + DICOMweb plugin on loopback, as in
the tests), same run:

* covidbank pull over DIMSE C-GET, DIMSE C-MOVE (our storage SCP) and
  DICOMweb (QIDO-RS + WADO-RS), each into a new bank (`python -m covidbank
  pull ... --json`);
* the peer: per cohort line DCMTK `findscu` (the patient's studies), per study
  `getscu` (or `movescu` with its own storage SCP) into a folder, then
  `covidbank ingest` of that folder.

End to end is wall time from the cohort CSV to an indexed bank, as
instances per second and as a ratio peer / covidbank.  Then the stages of the
pull, measured one by one on the same studies in this process: transfer
(C-GET into the staging folder, ``--transfers`` at once), de-identification
(read + PS3.15 Basic Profile of every received instance), conversion (16-bit
PNG / NIfTI) and indexing (`build_index`).

Cohort: ``--patients`` patients, each with one generated CR (``--rows``
square, 12-bit, uncompressed), every third also a DX study, and copies (new
UIDs and patient ids) of the real X-rays of ../shared/data (JPEG baseline,
JPEG 2000, DX) and ``--ct`` copies of the 20-slice TotalSegmentator CT series.

    /work/venv/bin/python bench/pull.py [--patients 30] [--rows 1024] [--ct 1] [--workers 2] [--transfers N]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

DCMTK = Path("/usr/bin")  # not the venv's pynetdicom apps of the same names


def build_cohort(out: Path, data: Path, patients: int, rows: int, n_ct: int, j2k: bool = False) -> tuple[Path, list[str]]:
    """Write the cohort's DICOM files under ``out/files`` and the cohort CSV; return (csv, patient ids)."""
    import pydicom
    from dicom_factory import make_cr, make_ct_series
    from pydicom.uid import generate_uid

    files = out / "files"
    ids = []
    # JPEG 2000 (RG1_J2KI, the TotalSegmentator CT) only with --j2k: DCMTK getscu/movescu propose uncompressed
    # transfer syntaxes by default and Orthanc cannot transcode JPEG 2000 for them, so the peer would miss them
    real = [data / "dicom" / n for n in (("RG1_J2KI.dcm",) if j2k else ()) + (
        "highdicom_dx_image.dcm", "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm")]
    real = [p for p in real if p.exists()]
    for i in range(patients):
        pid = f"BENCH{i:04d}"
        ids.append(pid)
        make_cr(files / pid / "cr.dcm", patient_id=pid, rows=rows, cols=rows, seed=i, window=(2000, 3000))
        if i % 3 == 0:
            make_cr(files / pid / "dx.dcm", patient_id=pid, rows=rows, cols=rows, seed=1000 + i, modality="DX",
                    study_date="20200401", view="AP")
        if real and i % 4 == 1:
            src = real[(i // 4) % len(real)]
            ds = pydicom.dcmread(src)
            ds.PatientID, ds.StudyInstanceUID = pid, generate_uid()
            ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.save_as(files / pid / "real.dcm")
    for c in range(n_ct if not j2k else 0):
        pid = f"BENCHCT{c:02d}"
        ids.append(pid)
        paths, _ = make_ct_series(files / pid, n=40, patient_id=pid, rows=512, cols=512, seed=c)
    ct_dir = data / "ct" / "totalsegmentator" / "example_ct_dicom"
    for c in range(n_ct if ct_dir.is_dir() and j2k else 0):
        pid = f"BENCHCT{c:02d}"
        ids.append(pid)
        study, series, frame = generate_uid(), generate_uid(), generate_uid()
        for p in sorted(q for q in ct_dir.rglob("*") if q.is_file()):
            try:
                ds = pydicom.dcmread(p)
            except Exception:
                continue
            ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = pid, study, series
            ds.FrameOfReferenceUID, ds.SOPInstanceUID = frame, generate_uid()
            ds.SOPClassUID = ds.get("SOPClassUID") or ds.file_meta.MediaStorageSOPClassUID  # empty in the source
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            (files / pid).mkdir(parents=True, exist_ok=True)
            ds.save_as(files / pid / p.name)
    cohort = out / "cohort.csv"
    cohort.write_text("patient_id\n" + "\n".join(ids) + "\n")
    return cohort, ids


def cli(*args, env=None) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "covidbank", *map(str, args)], capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t
    if r.returncode not in (0, 1):
        raise RuntimeError(f"covidbank {args[0]} failed ({r.returncode}): {r.stderr[-2000:]}")
    return dt, r.stdout


def peer(o, ids: list[str], out: Path, workers: int, key: Path, env, method: str) -> dict:
    """findscu per patient, getscu/movescu per study into a folder, then covidbank ingest."""
    import pydicom

    raw = out / "raw"
    raw.mkdir(parents=True)
    t0 = time.perf_counter()
    if method == "move":
        from orthanc_server import free_port

        port = free_port()
        o.add_modality("benchpeer", "MOVESCU", port)
    out.mkdir(parents=True, exist_ok=True)
    for pid in ids:
        rsp = out / "rsp"
        shutil.rmtree(rsp, ignore_errors=True)
        rsp.mkdir()
        subprocess.run([str(DCMTK / "findscu"), "-S", "-aet", "FINDSCU", "-aec", o.aet, "-k", "QueryRetrieveLevel=STUDY",
                        "-k", f"PatientID={pid}", "-k", "StudyInstanceUID", "-X", "-od", str(rsp), "127.0.0.1",
                        str(o.dicom_port)], check=True, capture_output=True)
        for f in sorted(rsp.iterdir()):
            uid = str(pydicom.dcmread(f).StudyInstanceUID)
            if method == "get":
                cmd = [str(DCMTK / "getscu"), "-S", "-aet", "GETSCU", "-aec", o.aet, "-k", "QueryRetrieveLevel=STUDY",
                       "-k", f"StudyInstanceUID={uid}", "-od", str(raw), "127.0.0.1", str(o.dicom_port)]
            else:
                cmd = [str(DCMTK / "movescu"), "-S", "-aet", "MOVESCU", "-aem", "MOVESCU", "-aec", o.aet,
                       "--port", str(port), "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={uid}",
                       "-od", str(raw), "127.0.0.1", str(o.dicom_port)]
            subprocess.run(cmd, check=True, capture_output=True)
    t_transfer = time.perf_counter() - t0
    n = sum(1 for p in raw.rglob("*") if p.is_file())
    t_ingest, _ = cli("ingest", raw, "--bank", out / "bank", "--key-file", key, "--workers", workers,
                      "--no-progress", env=env)
    return {"instances": n, "transfer": t_transfer, "ingest": t_ingest, "total": t_transfer + t_ingest}


def _deid_folder(folder: str) -> int:
    """Read and de-identify (PS3.15 Basic Profile) every instance of one staged study; return how many."""
    import pydicom

    from covidbank.dicom.deid import DeidOptions, PatientContext
    from covidbank.dicom.deid import deidentify_dataset as deidentify
    from covidbank.dicom.keys import Keyring

    kr, opts, n = Keyring(b"k" * 32), DeidOptions(), 0
    for p in sorted(Path(folder).glob("*.dcm")):
        ds = pydicom.dcmread(p)
        deidentify(ds, kr, PatientContext("S00001", "E00001", -400, 100), opts, str(ds.get("Modality", "")))
        n += 1
    shutil.rmtree(folder)
    return n


def pipelined(archive, studies, stage: Path, transfers: int, workers: int) -> tuple[int, float]:
    """Transfer and de-identification as a pull overlaps them: ``transfers`` threads retrieve studies into the
    staging folder and hand each to ``workers`` processes that read and de-identify it; (instances, seconds)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    from covidbank.pacs.archive import InstanceSink

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pp:
        pp.submit(int).result()  # workers started before the clock
        t = time.perf_counter()

        def one(s):
            folder = stage / s.study_uid[-12:]
            r = archive.retrieve(s, None, InstanceSink(folder), 600)
            assert r.status == "ok", r
            return pp.submit(_deid_folder, str(folder))

        with ThreadPoolExecutor(transfers) as ex:
            futs = list(ex.map(one, studies))
        n = sum(f.result() for f in futs)
        return n, time.perf_counter() - t


def stages(o, cohort: Path, out: Path, transfers: int | None, workers: int) -> dict:
    """Transfer, de-identification, conversion and indexing, one at a time, in this process; then transfer and
    de-identification pipelined as in a pull, over C-GET and over DICOMweb."""
    from concurrent.futures import ThreadPoolExecutor

    import pydicom

    from covidbank.dicom.convert import ct_to_volume, write_png16, xray_to_uint16
    from covidbank.dicom.deid import DeidOptions, PatientContext
    from covidbank.dicom.deid import deidentify_dataset as deidentify
    from covidbank.dicom.discover import discover
    from covidbank.dicom.ingest.index import build_index
    from covidbank.dicom.keys import Keyring
    from covidbank.pacs.archive import InstanceSink
    from covidbank.pacs.cohort import read_cohort
    from covidbank.pacs.dicomweb import DicomwebArchive
    from covidbank.pacs.dimse import DimseArchive
    from covidbank.pacs.pull import default_transfers

    a = DimseArchive(o.pacs)
    dimse_n = transfers or default_transfers(a)
    studies = [s for e in read_cohort(cohort) for s in a.find_studies(e.query())]
    stage = out / "stage"

    def get(s):
        return a.retrieve(s, None, InstanceSink(stage / s.study_uid[-12:]), 600).received

    t = time.perf_counter()
    with ThreadPoolExecutor(dimse_n) as ex:
        n = sum(ex.map(get, studies))
    t_transfer = time.perf_counter() - t
    series, _ = discover(stage)
    kr = Keyring(b"k" * 32)
    opts = DeidOptions()
    t_read = t_deid = t_conv = 0.0
    for s in series:
        t = time.perf_counter()
        dsets = [pydicom.dcmread(i.path) for i in s.instances]
        t_read += time.perf_counter() - t
        t = time.perf_counter()
        for ds in dsets:
            deidentify(ds, kr, PatientContext("S00001", "E00001", -400, 100), opts, s.modality)
        t_deid += time.perf_counter() - t
        t = time.perf_counter()
        if s.kind == "rx":
            write_png16(xray_to_uint16(dsets[0])[0])
        else:
            ct_to_volume(dsets)
        t_conv += time.perf_counter() - t
    shutil.rmtree(stage)
    t = time.perf_counter()
    build_index(out / "pull-get-r0-bank")
    t_index = time.perf_counter() - t
    # a pull opens one pool of transfer threads on a fresh archive: so does this measure (a second pool of threads
    # on the archive of the transfer stage above, whose associations are still open, ran at a third of the speed)
    a.close()
    a = DimseArchive(o.pacs)
    n_get, t_get = pipelined(a, studies, out / "stage-get", dimse_n, workers)
    a.close()
    w = DicomwebArchive(o.dicomweb_url)
    web_n = transfers or default_transfers(w)
    n_web, t_web = pipelined(w, studies, out / "stage-web", web_n, workers)
    return {"instances": n, "transfer": t_transfer, "read": t_read, "deid": t_deid, "convert": t_conv,
            "index": t_index, "pipe_get": (n_get, t_get, dimse_n), "pipe_web": (n_web, t_web, web_n)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=30)
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--ct", type=int, default=1, help="CT studies (40 slices of 512x512, uncompressed)")
    ap.add_argument("--j2k", action="store_true", help="add the JPEG 2000 files (the peer cannot retrieve them)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--transfers", type=int, default=None,
                    help="studies at once (default: the pull's own, 2 over DIMSE and 8 over DICOMweb)")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each variant (order rotated); medians reported")
    ap.add_argument("--data", type=Path,
                    default=Path(os.environ.get("COVIDBANK_SHARED_DATA", REPO.parent / "shared" / "data")))
    args = ap.parse_args()
    from orthanc_server import free_port, orthanc_server

    out = Path(tempfile.mkdtemp(prefix="covidbank-bench-pull-"))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COVIDBANK_STAGING": str(out / "staging"),
           "COVIDBANK_PRIVATE_DIR": str(out / "private")}
    key = out / "key"
    try:
        cohort, ids = build_cohort(out, args.data, args.patients, args.rows, args.ct, args.j2k)
        cli("key", "new", key, env=env)  # one project key for every bank of the run (never created silently)
        with orthanc_server() as o:
            files = sorted(p for p in (out / "files").rglob("*") if p.is_file())
            for p in files:
                o.upload(p)
            n = len(files)
            print(f"cohort: {len(ids)} patients, {n} instances ({sum(p.stat().st_size for p in files) / 1e6:.0f} MB); "
                  f"{platform.machine()}, {os.cpu_count()} CPUs; load before: {os.getloadavg()[0]:.2f}")
            res: dict[str, list[dict]] = {}
            common = ["--cohort", cohort, "--key-file", key, "--workers", args.workers, "--no-progress", "--json"]
            if args.transfers is not None:
                common += ["--transfers", args.transfers]
            move_port = free_port()
            o.add_modality("covidbank", "COVIDBANK", move_port)
            runs = {"pull-get": ["--pacs", o.pacs], "pull-move": ["--pacs", o.pacs, "--method", "move",
                                                                 "--move-port", move_port, "--move-host", "127.0.0.1"],
                    "pull-dicomweb": ["--dicomweb", o.dicomweb_url], "dcmtk-get+ingest": "get",
                    "dcmtk-move+ingest": "move"}
            order = list(runs)
            for r in range(args.rounds):
                for name in order[r % len(order):] + order[:r % len(order)]:  # rotate: load drifts
                    extra = runs[name]
                    tag = f"{name}-r{r}"
                    if isinstance(extra, str):
                        p = peer(o, ids, out / tag, args.workers, key, env, extra)
                        if p["instances"] != n:
                            print(f"  note: the peer received {p['instances']} of {n} instances")
                        res.setdefault(name, []).append(p)
                        print(f"{name:18s} {p['total']:7.1f} s  {n / p['total']:6.1f} inst/s  (transfer "
                              f"{p['transfer']:.1f} s, ingest {p['ingest']:.1f} s)  load {os.getloadavg()[0]:.1f}")
                        continue
                    dt, stdout = cli("pull", "--bank", out / f"{tag}-bank", *common, *extra, env=env)
                    try:
                        s = json.loads(stdout)
                    except ValueError:
                        raise RuntimeError(f"{name}: no JSON summary: {stdout[-2000:]}") from None
                    assert s["received"] == n and s["not_complete"] == 0, (name, s)
                    res.setdefault(name, []).append({"total": dt, **s})
                    print(f"{name:18s} {dt:7.1f} s  {n / dt:6.1f} inst/s  (summed study transfer "
                          f"{s['transfer_seconds']:.1f} s, headers {s['discover_seconds']:.1f} s, de-identification "
                          f"+ conversion (worker time) {s['convert_seconds']:.1f} s, index {s['index_seconds']:.1f} s)"
                          f"  load {os.getloadavg()[0]:.1f}")
            st = stages(o, cohort, out, args.transfers, args.workers)
        print()
        med = {k: statistics.median(r["total"] for r in v) for k, v in res.items()}
        print(f"median of {args.rounds} round(s):")
        print("| run | seconds | instances/s | ratio (peer / this) |")
        print("|---|---:|---:|---:|")
        for name, peer_name in (("pull-get", "dcmtk-get+ingest"), ("pull-move", "dcmtk-move+ingest"),
                                ("pull-dicomweb", "dcmtk-get+ingest")):
            t = med[name]
            print(f"| covidbank {name} | {t:.1f} | {n / t:.1f} | {med[peer_name] / t:.2f}x vs {peer_name} |")
        for peer_name in ("dcmtk-get+ingest", "dcmtk-move+ingest"):
            t = med[peer_name]
            print(f"| {peer_name} | {t:.1f} | {n / t:.1f} | 1 |")
        print()
        m = st["instances"]
        print(f"stages over {m} instances (this process, {st['pipe_get'][2]} C-GET transfers at once):")
        for k in ("transfer", "read", "deid", "convert", "index"):
            rate = f"{m / st[k]:.1f} inst/s" if k != "index" and st[k] else ""
            print(f"  {k:9s} {st[k]:6.2f} s  {rate}")
        td = st["transfer"] + st["read"] + st["deid"]
        print(f"  transfer + read + de-identification, one after the other: {m / td:.1f} inst/s "
              f"(pipelined, the slower of the two: {m / max(st['transfer'], st['read'] + st['deid']):.1f} inst/s)")
        for k, label in (("pipe_get", "C-GET"), ("pipe_web", "DICOMweb")):
            m2, t2, nt = st[k]
            print(f"  transfer + de-identification pipelined over {label} ({nt} transfers, "
                  f"{args.workers} de-identification processes): {m2} instances in {t2:.2f} s = {m2 / t2:.1f} inst/s")
        print(f"load after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
