"""Pull a cohort from a PACS into a bank, de-identified on arrival, resumable and reconciled.

:func:`pull` runs two stages at once:

1. **transfer** (``transfers`` threads): per cohort line, a study-level query
   (C-FIND or QIDO-RS); per study found, the series query when a modality
   filter or ``level="series"`` needs it, then one retrieval (C-GET, C-MOVE
   or WADO-RS; over DIMSE one association per transfer thread, kept open
   across studies; a deadline that grows with the study's size, an optional
   rate limit) into the study's private staging folder outside the bank
   (:class:`~covidbank.pacs.staging.Staging`);
2. **ingest** (this thread, plus ``workers`` processes or a dask cluster):
   each received study goes through the ingest pipeline unchanged
   (:func:`covidbank.dicom.discover.discover`,
   :func:`covidbank.dicom.ingest.pipeline.plan_tasks`,
   :func:`~covidbank.dicom.ingest.pipeline.process_task`: PS3.15
   de-identification, keyed pseudonyms, conversion, MIDS), then its raw
   files are deleted.

At the end the bank index is rebuilt once (:func:`build_index`).  The pull
manifest (:mod:`covidbank.pacs.manifest`) records, per cohort line and study,
the instances expected, received, converted, skipped and failed; a re-run
skips complete studies (no transfer at all) and retries the others, whose
converted series are not converted twice.  A study is the unit of transfer:
its series are named (``run``/``acq``) from the whole study, so a retried
study is received whole and gives the same names as a clean run.
"""
from __future__ import annotations

import os
import queue
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .archive import (
    Archive,
    InstanceSink,
    RateLimit,
    Retrieval,
    SeriesHit,
    StudyHit,
    study_timeout,
)
from .cohort import CohortEntry
from .manifest import Manifest, PrivateLog, default_private_dir
from .staging import Staging, default_staging

__all__ = ["pull", "PullSummary", "PULL_LOG", "default_transfers"]

PULL_LOG = "logs/pull.jsonl"


@dataclass
class PullSummary:
    """What a pull did (this run) and where the bank stands (``totals``, from the manifest)."""

    entries: int = 0
    entries_without_studies: int = 0
    queries_failed: int = 0
    studies: int = 0
    done_before: int = 0
    complete: int = 0
    not_complete: int = 0
    expected: int = 0
    received: int = 0
    converted: int = 0
    skipped: int = 0
    failed: int = 0
    raw_files_removed: int = 0
    seconds: float = 0.0
    transfer_seconds: float = 0.0
    discover_seconds: float = 0.0
    convert_seconds: float = 0.0
    index_seconds: float = 0.0
    totals: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    private_log: str = ""


@dataclass
class _Received:
    token: str
    folder: Path
    received: int
    expected: int | None
    failed_subops: int
    method: str
    seconds: float
    series: int


def _timed_task(task: dict, common: dict) -> dict:
    """:func:`process_task` with its duration (``seconds``), for the split of a pull's time."""
    from ..dicom.ingest.pipeline import process_task

    t = time.perf_counter()
    res = process_task(task, common)
    res["seconds"] = time.perf_counter() - t
    return res


class _Inline:
    """An executor that runs each task at once in this process (``workers=1``)."""

    def submit(self, fn, *a, **kw) -> Future:
        f: Future = Future()
        try:
            f.set_result(fn(*a, **kw))
        except BaseException as e:  # process_task never raises; keep the contract anyway
            f.set_exception(e)
        return f

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def _executor(workers: int, scheduler: str | None):
    if scheduler:
        from ..optional import require

        distributed = require("distributed", purpose="covidbank pull --scheduler")
        client = distributed.Client(scheduler)
        ex = client.get_executor(pure=False)
        ex._covidbank_client = client
        return ex
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ex = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
        # with fork every worker starts at the first submit: do it now, before the transfer threads exist
        ex.submit(int).result()
        return ex
    return _Inline()


def _close_executor(ex) -> None:
    ex.shutdown(wait=True, cancel_futures=True) if not hasattr(ex, "_covidbank_client") else ex.shutdown(wait=True)
    client = getattr(ex, "_covidbank_client", None)
    if client is not None:
        client.close()


def _choose_series(archive: Archive, study: StudyHit, modalities: set[str] | None,
                   level: str) -> tuple[list[SeriesHit] | None, int | None, str]:
    """The series to retrieve (None: the whole study), the instances expected, and the modalities."""
    whole = level == "study" and (not modalities or (study.modalities and set(study.modalities) <= modalities))
    if whole:
        return None, study.instances, ",".join(study.modalities)
    series = archive.find_series(study)
    chosen = [s for s in series if not modalities or s.modality in modalities]
    counts = [s.instances for s in chosen]
    expected = sum(counts) if counts and all(c is not None for c in counts) else None
    return chosen, expected, ",".join(sorted({s.modality for s in chosen if s.modality}))


def default_transfers(archive: Archive) -> int:
    """Studies transferred at once by default: 2 over DIMSE, 8 over DICOMweb.

    Each DIMSE association runs pynetdicom's two polling threads in this
    process, and they share one interpreter lock with the transfer threads: a
    C-GET of a one-image study took 26 ms with one transfer thread, 130 ms
    with 4 and 288 ms with 8, and transfer + de-identification pipelined gave
    46 / 56 / 39 / 27 instances per second with 1 / 2 / 4 / 8 (88 instances
    from Orthanc on loopback, load 0.7).  HTTP streams do not poll:
    DICOMweb gave 102-123 instances per second with 8.
    """
    from .dimse import DimseArchive

    return 2 if isinstance(archive, DimseArchive) else 8


def pull(
    cohort: Iterable[CohortEntry],
    bank: str | os.PathLike,
    archive: Archive,
    key_file: str | os.PathLike | None = None,
    *,
    modalities: Iterable[str] | None = None,
    level: str = "study",
    workers: int = 1,
    scheduler: str | None = None,
    transfers: int | None = None,
    max_rate: float | None = None,
    options=None,
    name: str = "ingest",
    staging: str | os.PathLike | None = None,
    private_dir: str | os.PathLike | None = None,
    window_index: int = 0,
    base_timeout: float = 60.0,
    per_instance_timeout: float = 2.0,
    progress: Callable[..., None] | None = None,
    new_key: bool = False,
    lock_timeout: float = -1,
) -> PullSummary:
    """Pull the studies of ``cohort`` from ``archive`` into ``bank`` (see module docstring).

    Parameters
    ----------
    cohort : iterable of CohortEntry
        From :func:`~covidbank.pacs.cohort.read_cohort` or
        :func:`~covidbank.pacs.cohort.cohort_from_tests`.
    bank : path-like
        Bank folder (created if missing).
    archive : DimseArchive or DicomwebArchive
        The PACS client.
    key_file : path-like, optional
        Project key (outside the bank). Never created silently: a missing key is
        an error unless ``new_key``; a bank records its key's fingerprint and
        another key is refused before anything changes (docs/privacy.md).
    modalities : iterable of str, optional
        Keep only series of these modalities (``CR``, ``DX``, ``CT``).
    level : str
        ``study``: one retrieval request per study (per series only when a
        modality filter excludes part of it); ``series``: always query the
        series and retrieve them one by one (per-series reconciliation).
    workers, scheduler
        Conversion processes, or a dask.distributed scheduler address.
    transfers : int, optional
        Studies transferred at once (associations / HTTP streams); default
        :func:`default_transfers` of the archive (DIMSE 2, DICOMweb 8).
    max_rate : float, optional
        At most this many instances per second over the run.
    options : DeidOptions, optional
    name : str
        Source name of the bank index (``ingest``: the same source as
        ``covidbank ingest``, so both keep one index of the bank's images).
    staging, private_dir : path-like, optional
        Raw-file staging folder and the curator's private log folder (both
        refused inside the bank); defaults from :func:`default_staging` and
        :func:`default_private_dir`.
    window_index : int
        Which window / VOI LUT to apply when several are present.
    base_timeout, per_instance_timeout : float
        A study's deadline: ``base + per_instance * expected instances`` seconds.
    progress : callable, optional
        Called as ``progress(event, **info)`` with ``event`` one of
        ``found`` (``studies=n``), ``instance`` (``study=token``),
        ``study`` (``status=...``).
    """
    from ..dicom.deid import DeidOptions
    from ..dicom.discover import discover
    from ..dicom.ingest.index import build_index
    from ..dicom.ingest.pipeline import _Log, plan_tasks, worker_common
    from ..dicom.keys import REGISTRY, Keyring, PseudonymRegistry, bank_lock, bind_key, key_for_bank
    from ..fileio import remove_stale

    t0 = time.perf_counter()
    transfers = default_transfers(archive) if transfers is None else int(transfers)
    if level not in ("study", "series"):
        raise ValueError(f"level {level!r}: use study or series")
    entries = list(cohort)
    wanted = {m.strip().upper() for m in modalities if m.strip()} if modalities else None
    root = Path(bank)
    key, key_path, _ = key_for_bank(key_file, root, new_key)  # one bank, one key: checked before any write
    root.mkdir(parents=True, exist_ok=True)
    keyring = Keyring(key)
    bank_token = keyring.token("bank", str(root.resolve()))
    run_id = uuid.uuid4().hex[:12]
    summary = PullSummary()
    stage = Staging(staging or default_staging(bank_token), root)
    private = PrivateLog(private_dir or default_private_dir(key_path), root, bank_token, run_id)
    summary.private_log = str(private.path)
    emit = progress or (lambda *a, **k: None)
    with bank_lock(root, lock_timeout), stage:  # one writer of the pseudonym registry and the index at a time
        bind_key(root, key, key_path)
        summary.raw_files_removed = stage.leftovers()
        if summary.raw_files_removed:
            summary.notes.append(f"removed {summary.raw_files_removed} raw file(s) an interrupted pull had left in "
                                 "its staging folder")
        remove_stale(root)
        manifest = Manifest(root)
        registry = PseudonymRegistry(root / REGISTRY)
        log = _Log(root / PULL_LOG, run_id)
        common = worker_common(root, key, options or DeidOptions(), window_index,
                               quarantine=Path(private.path).parent / "quarantine", run=run_id)
        rate = RateLimit(max_rate)
        received_q: queue.Queue = queue.Queue(maxsize=max(2, transfers + 1))
        claimed: set[str] = set()
        claim_lock = threading.Lock()
        stop = threading.Event()
        stats_lock = threading.Lock()

        def count(attr: str, n: int | float = 1) -> None:
            with stats_lock:
                setattr(summary, attr, getattr(summary, attr) + n)

        def fetch(entry: CohortEntry) -> None:
            etok = keyring.token("cohort", entry.key)
            try:
                studies = archive.find_studies(entry.query())
            except Exception as e:  # PacsError, or a protocol library's error on a broken answer
                manifest.entry(etok, entry.line, entry.kind, "query failed")
                log.write(kind="entry", entry=etok[:16], line=entry.line, status="query failed",
                          reason="the archive did not answer the study query in time or refused it")
                private.write(kind="entry", entry=etok, line=entry.line, patient_id=entry.patient_id,
                              accession=entry.accession, status="query failed", error=str(e))
                count("queries_failed")
                return
            stoks = [keyring.token("pull-study", s.study_uid) for s in studies]
            status = "found" if studies else "no studies"
            manifest.entry(etok, entry.line, entry.kind, status, stoks)
            private.write(kind="entry", entry=etok, line=entry.line, patient_id=entry.patient_id,
                          accession=entry.accession, status=status, studies=len(studies),
                          date_from=str(entry.date_from or ""), date_to=str(entry.date_to or ""))
            log.write(kind="entry", entry=etok[:16], line=entry.line, status=status, studies=len(studies))
            if not studies:
                count("entries_without_studies")
            emit("found", studies=len(studies))
            for study, stok in zip(studies, stoks):
                if stop.is_set():
                    return
                private.write(kind="study", entry=etok, study=stok, study_uid=study.study_uid,
                              patient_id=study.patient_id, accession=study.accession, study_date=study.study_date)
                with claim_lock:
                    if stok in claimed:  # another cohort line found the same study in this run
                        manifest.study(stok, entry=etok)
                        continue
                    claimed.add(stok)
                count("studies")
                if manifest.complete(stok):
                    manifest.study(stok, entry=etok)
                    count("done_before")
                    emit("study", status="done before")
                    continue
                fetch_study(study, stok, etok)

        def fetch_study(study: StudyHit, stok: str, etok: str) -> None:
            attempts = (manifest.get(stok) or {}).get("attempts", 0) + 1
            try:
                series, expected, mods = _choose_series(archive, study, wanted, level)
            except Exception:
                manifest.study(stok, entry=etok, status="transfer failed", attempts=attempts,
                               reason="the archive did not answer the series query in time or refused it")
                count("not_complete")
                emit("study", status="transfer failed")
                return
            if series is not None and not series:
                manifest.study(stok, entry=etok, status="no matching series", expected=0, received=0, converted=0,
                               skipped=0, failed=0, reason="no series of the requested modalities",
                               modalities=",".join(study.modalities), attempts=attempts)
                emit("study", status="no matching series")
                return
            manifest.study(stok, entry=etok, status="pending", expected=expected, modalities=mods, attempts=attempts)
            folder = stage.folder(stok)
            sink = InstanceSink(folder, rate, on_instance=lambda n: emit("instance", study=stok))
            try:
                r = archive.retrieve(study, series, sink, study_timeout(expected, base_timeout, per_instance_timeout))
            except Exception as e:  # a protocol library's own failure: this study fails, the run goes on
                r = Retrieval("transfer failed", f"unexpected {type(e).__name__} during the transfer",
                              received=sink.count)
            count("transfer_seconds", r.seconds)
            if r.status == "ok" and expected is not None and r.received < expected:
                # a stream cut short without an error (WADO-RS multipart) or sub-operations the archive could not
                # do: converting part of a series would put a volume with missing slices in the bank for good
                r.status, r.reason = "incomplete", "received fewer instances than the archive listed; nothing converted"
            if r.status != "ok":
                stage.remove(folder)
                count("not_complete")
                manifest.study(stok, status=r.status, reason=r.reason, received=r.received, converted=0,
                               method=r.method, seconds=round(r.seconds, 3))
                log.write(kind="study", study=stok[:16], status=r.status, reason=r.reason, received=r.received,
                          expected=expected)
                emit("study", status=r.status)
                return
            item = _Received(stok, folder, r.received, expected, r.failed_subops, r.method, r.seconds,
                             len(series) if series is not None else 0)
            while not stop.is_set():
                try:
                    received_q.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue
            stage.remove(folder)

        # ---------------------------------------------------------------- ingest stage (this thread)
        executor = _executor(workers, scheduler)
        inflight: dict[Future, tuple[dict, dict]] = {}
        open_studies: dict[str, dict] = {}

        def start_study(item: _Received) -> None:
            tc = time.perf_counter()
            series, skips = discover(item.folder)
            count("discover_seconds", time.perf_counter() - tc)
            tasks = plan_tasks(series, root, keyring, registry)
            registry.save()
            st = {"item": item, "tasks": len(tasks), "results": [], "skips": skips, "converted": 0, "failed": 0,
                  "subject": None, "session": None, "records": [], "t": tc}
            for sk in skips:
                st["records"].append({"record": keyring.token("path", f"{item.token}/{Path(sk.path).name}")[:16],
                                      "what": f"file {Path(sk.path).name}", "reason": sk.reason.code})
            if tasks:
                st["subject"], st["session"] = f"sub-{tasks[0]['sub']}", f"ses-{tasks[0]['ses']}"
            open_studies[item.token] = st
            for t in tasks:
                if t["done"]:
                    st["results"].append({"status": "converted", "done_before": True})
                    st["converted"] += len(t["paths"])
                    continue
                inflight[executor.submit(_timed_task, t, common)] = (t, st)
            if len(st["results"]) == st["tasks"]:
                finish_study(st)

        def finish_study(st: dict) -> None:
            item: _Received = st["item"]
            stage.remove(item.folder)
            skipped = len(st["skips"])
            failed = st["failed"]
            expected = item.expected if item.expected is not None else item.received
            complete = item.received >= expected and failed == 0 and item.failed_subops == 0
            status = "complete" if complete else "incomplete"
            if complete:
                reason = None
            elif item.received < expected or item.failed_subops:
                reason = "the archive sent fewer instances than it listed"
            else:
                reason = "some instances failed to convert (see the skipped table)"
            manifest.study(item.token, status=status, reason=reason, received=item.received,
                           converted=st["converted"], skipped=skipped, failed=failed, subject=st["subject"],
                           session=st["session"], method=item.method, seconds=round(item.seconds, 3),
                           records=st["records"])
            manifest.save()
            log.write(kind="study", study=item.token[:16], status=status, reason=reason, received=item.received,
                      expected=item.expected, converted=st["converted"], skipped=skipped, failed=failed)
            count("received", item.received)
            count("expected", expected)
            count("converted", st["converted"])
            count("skipped", skipped)
            count("failed", failed)
            count("complete" if complete else "not_complete")
            del open_studies[item.token]
            emit("study", status=status)

        def collect(block: bool) -> None:
            if not inflight:
                return
            done, _ = wait(list(inflight), timeout=0.05 if block else 0, return_when=FIRST_COMPLETED)
            for f in done:
                t, st = inflight.pop(f)
                try:
                    res = f.result()
                except Exception as e:  # a worker died (a decoder crash): report, go on
                    res = {"series": t["series_token"], "files": t["file_tokens"], "status": "error",
                           "reason": "worker_failed", "detail": f"{type(e).__name__}: {e}"}
                count("convert_seconds", res.pop("seconds", 0.0))
                log.write(kind="series", **res)
                st["results"].append(res)
                if res["status"] == "converted":
                    st["converted"] += len(t["paths"])
                else:
                    st["failed"] += len(t["paths"])
                    st["records"].append({"record": res["series"], "what": f"series {res['series']}",
                                          "reason": res["reason"]})
                if len(st["results"]) == st["tasks"]:
                    finish_study(st)

        pool = ThreadPoolExecutor(max_workers=max(1, transfers), thread_name_prefix="covidbank-pull")
        finished = False
        try:
            archive.echo()
            summary.entries = len(entries)
            futures = [pool.submit(fetch, e) for e in entries]
            # received studies waiting for their conversion: beyond this the transfer threads wait (their queue is
            # full), so the raw files on disk stay bounded when the archive is faster than the conversion
            max_open = max(2, 2 * max(1, workers), transfers + 1, 16 if scheduler else 0)
            while True:
                collect(block=False)  # finished series first: their studies complete (and their raw files go)
                item = None
                if len(open_studies) < max_open:
                    try:
                        item = received_q.get(timeout=0.05 if not inflight else 0.0)
                    except queue.Empty:
                        pass
                if item is not None:
                    start_study(item)
                    continue
                collect(block=True)
                if all(f.done() for f in futures) and received_q.empty() and not inflight:
                    break
            for f in futures:
                f.result()  # re-raise a programming error of a transfer thread
            ti = time.perf_counter()
            build_index(root, name, manifest.skipped_rows(), summary.notes)
            summary.index_seconds = time.perf_counter() - ti
            if getattr(archive, "offset_ignored", False):
                summary.notes.append("the archive ignored the QIDO-RS offset: each search was asked again without "
                                     "paging (a server that also caps its answers may have returned fewer studies)")
            finished = True
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            _close_executor(executor)
            for st in list(open_studies.values()):  # interrupted: the studies being converted stay pending
                stage.remove(st["item"].folder)
            summary.seconds = time.perf_counter() - t0
            summary.totals = manifest.totals()
            manifest.run(run=run_id, archive=getattr(archive, "method", None) or type(archive).__name__,
                         seconds=round(summary.seconds, 3), studies=summary.studies, complete=summary.complete,
                         done_before=summary.done_before, not_complete=summary.not_complete)
            manifest.save()
            log.write(kind="run", status="finished" if finished else "stopped", studies=summary.studies,
                      complete=summary.complete, done_before=summary.done_before,
                      not_complete=summary.not_complete, seconds=round(summary.seconds, 3))
            log.close()
            private.close()
            archive.close()
    return summary
