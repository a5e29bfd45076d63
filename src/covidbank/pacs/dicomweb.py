"""A DICOMweb archive client (dicomweb-client): QIDO-RS with paging, WADO-RS retrieval.

QIDO-RS (PS3.18 10.6) is asked page by page (``limit``/``offset``); some
servers ignore ``offset`` and answer the first page again, which a naive
loop takes for the end (losing the rest) or repeats forever.  A page that
brings nothing new is taken as that sign: the search is then asked once
without paging, and :attr:`DicomwebArchive.offset_ignored` is set so the run
can say so.  WADO-RS (PS3.18 10.4) retrieves each series as
``application/dicom`` in the archive's own transfer syntax
(``transfer-syntax=*``), written to the study's staging folder as it streams.
Every request has a timeout; a study has a deadline that grows with its size.
"""
from __future__ import annotations

import io
import time
from typing import Any, Callable, Iterable, Iterator

from ..errors import PacsError
from .archive import (
    Deadline,
    InstanceSink,
    Retrieval,
    SeriesHit,
    StudyHit,
    StudyQuery,
    date_range,
)
from .archive import to_int as _int

__all__ = ["DicomwebArchive"]

_T = {"study": "0020000D", "series": "0020000E", "pid": "00100020", "acc": "00080050", "date": "00080020",
      "mods": "00080061", "n_study": "00201208", "modality": "00080060", "number": "00200011", "n_series": "00201209"}


def _values(item: dict, tag: str) -> list:
    v = item.get(tag) or {}
    vals = v.get("Value") or []
    return [x.get("Alphabetic", "") if isinstance(x, dict) else x for x in vals]


def _encode(ds) -> bytes:
    """A pydicom data set as PS3.10 bytes."""
    import pydicom

    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def _first(item: dict, tag: str) -> Any:
    vals = _values(item, tag)
    return vals[0] if vals else None


class DicomwebArchive:
    """A PACS over DICOMweb.

    Parameters
    ----------
    url : str
        Root of the DICOMweb services (``http://host:8042/dicom-web``).
    timeout : float
        Seconds to wait for any one HTTP answer.
    page_size : int
        QIDO-RS ``limit``.
    headers : dict, optional
        Extra HTTP headers (an ``Authorization`` token).
    """

    def __init__(self, url: str, timeout: float = 30.0, page_size: int = 100, headers: dict | None = None) -> None:
        from ..optional import require

        dw = require("dicomweb_client", purpose="covidbank pull")
        if not url.startswith(("http://", "https://")):
            raise PacsError(f"--dicomweb {url!r}: expected an http:// or https:// URL")
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self.page_size = max(1, int(page_size))
        self.offset_ignored = False
        # no gzip: requests asks for it by default and Orthanc then spends ~0.4 s compressing each 2 MB image that
        # hardly shrinks (pixel data), then we decompress it: 15x slower than the plain bytes on loopback
        self.client = dw.DICOMwebClient(self.url, headers={"Accept-Encoding": "identity", **(headers or {})},
                                        timeout=self.timeout)
        self.client.set_http_retry_params(retry=False)

    @property
    def name(self) -> str:
        """The service URL."""
        return self.url

    def _call(self, what: str, fn: Callable, *a, **kw):
        import requests

        try:
            return fn(*a, **kw)
        except requests.exceptions.Timeout:
            raise PacsError(f"{self.url}: {what} timed out after {self.timeout:g} s") from None
        except requests.exceptions.ConnectionError:
            raise PacsError(f"{self.url}: cannot connect for {what}") from None
        except requests.exceptions.HTTPError as e:
            code = getattr(e.response, "status_code", "?")
            raise PacsError(f"{self.url}: {what} failed with HTTP {code}") from None

    def echo(self) -> None:
        """Check that the QIDO-RS service answers (there is no C-ECHO in DICOMweb)."""
        self._call("QIDO-RS", self.client.search_for_studies, limit=1)

    def _paged(self, what: str, search: Callable, key: str, **kw) -> list[dict]:
        """All results of a QIDO-RS search, page by page, detecting servers that ignore ``offset``."""
        out: dict[str, dict] = {}
        offset = 0
        while True:
            page = self._call(what, search, limit=self.page_size, offset=offset, **kw) or []
            new = [r for r in page if _first(r, key) not in out]
            if offset and page and not new:  # the same page again: the offset was ignored
                self.offset_ignored = True
                for r in self._call(what, search, **kw) or []:
                    out.setdefault(_first(r, key), r)
                break
            for r in new:
                out[_first(r, key)] = r
            if len(page) < self.page_size:
                break
            offset += len(page)
        return [out[k] for k in sorted(k for k in out if k)]

    def find_studies(self, query: StudyQuery) -> list[StudyHit]:
        """QIDO-RS ``/studies`` by PatientID (+ StudyDate range) or AccessionNumber."""
        filters = {}
        if query.patient_id:
            filters["PatientID"] = query.patient_id
        if query.accession:
            filters["AccessionNumber"] = query.accession
        dr = date_range(query.date_from, query.date_to)
        if dr:
            filters["StudyDate"] = dr
        rows = self._paged("QIDO-RS studies", self.client.search_for_studies, _T["study"], search_filters=filters,
                           fields=["ModalitiesInStudy", "NumberOfStudyRelatedInstances", "AccessionNumber",
                                   "StudyDate", "PatientID"])
        hits = []
        for r in rows:
            pid, acc = str(_first(r, _T["pid"]) or ""), str(_first(r, _T["acc"]) or "")
            if query.patient_id and pid not in ("", query.patient_id):
                continue
            if query.accession and acc not in ("", query.accession):
                continue
            mods = tuple(sorted({str(m).upper() for m in _values(r, _T["mods"]) if m}))
            hits.append(StudyHit(str(_first(r, _T["study"])), pid, acc, str(_first(r, _T["date"]) or ""), mods,
                                 _int(_first(r, _T["n_study"]))))
        return hits

    def find_series(self, study: StudyHit) -> list[SeriesHit]:
        """QIDO-RS ``/studies/{uid}/series``."""
        rows = self._paged("QIDO-RS series", self.client.search_for_series, _T["series"],
                           study_instance_uid=study.study_uid,
                           fields=["Modality", "SeriesNumber", "NumberOfSeriesRelatedInstances"])
        out = [SeriesHit(str(_first(r, _T["series"])), str(_first(r, _T["modality"]) or "").upper(),
                         _int(_first(r, _T["number"])), _int(_first(r, _T["n_series"]))) for r in rows]
        return sorted(out, key=lambda s: (s.series_number if s.series_number is not None else 1 << 30, s.series_uid))

    def _parts(self, path: str) -> Iterator[bytes]:
        """The PS3.10 files of one WADO-RS multipart answer, as the archive sent them, one at a time.

        dicomweb-client's public ``iter_study``/``iter_series`` parse every
        part into a pydicom data set, which then has to be written back to
        bytes for the staging folder: a decode and an encode per instance for
        nothing.  Its multipart decoder gives the parts' bytes; a part that is
        not a PS3.10 file (no ``DICM`` at byte 128) is parsed and written
        again as before.
        """
        import pydicom

        get, decode = getattr(self.client, "_http_get", None), getattr(self.client, "_decode_multipart_message", None)
        if get is None or decode is None:  # another dicomweb-client: its public, parsing iterator
            fn, args = ((self.client.iter_series, path.split("/")[2::2]) if "/series/" in path
                        else (self.client.iter_study, path.split("/")[2::2]))
            for ds in fn(*args, media_types=(("application/dicom", "*"),)):
                yield _encode(ds)
            return
        headers = {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}
        response = get(self.url + path, headers=headers, stream=True)
        if response.headers.get("Content-Type", "").startswith("application/dicom"):  # one part, not encapsulated
            parts: Iterable[bytes] = [response.content]
        else:
            parts = decode(response, stream=True)
        for part in parts:
            yield part if part[128:132] == b"DICM" else _encode(pydicom.dcmread(io.BytesIO(part), force=True))

    def retrieve(self, study: StudyHit, series: list[SeriesHit] | None, sink: InstanceSink,
                 timeout: float) -> Retrieval:
        """WADO-RS of the listed series (or the whole study, one request) into ``sink`` within ``timeout`` seconds."""
        import requests

        t0 = time.perf_counter()
        deadline = Deadline(timeout)
        r = Retrieval(method="wado-rs")
        paths = ([f"/studies/{study.study_uid}/series/{s.series_uid}" for s in series] if series
                 else [f"/studies/{study.study_uid}"])
        try:
            for path in paths:
                for data in self._parts(path):
                    sink.add(data)
                    if deadline.passed:
                        r = Retrieval("timed out", "the study took longer than its time limit", method=r.method)
                        break
                if deadline.passed:
                    break
        except requests.exceptions.Timeout:
            r = Retrieval("timed out", "no answer from the archive within the time limit", method=r.method)
        except requests.exceptions.HTTPError as e:
            code = getattr(e.response, "status_code", 0) or 0
            if code in (401, 403):
                r = Retrieval("refused", "the archive refused WADO-RS (not authorized)", method=r.method)
            elif code in (400, 404, 406, 415):
                r = Retrieval("refused", "the archive does not serve this WADO-RS request", method=r.method)
            else:
                r = Retrieval("transfer failed", "the archive answered WADO-RS with a server error", method=r.method)
        except (requests.exceptions.RequestException, OSError, ValueError):
            r = Retrieval("transfer failed", "the connection was lost during WADO-RS (archive stopped or network "
                                             "lost)", method=r.method)
        r.received = sink.count
        r.seconds = time.perf_counter() - t0
        return r

    def close(self) -> None:
        """Nothing to release (HTTP sessions close themselves)."""
