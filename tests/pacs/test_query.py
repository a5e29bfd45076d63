"""Queries against a real Orthanc: by patient and dates, by accession, series, QIDO-RS paging, unreachable archives."""
from __future__ import annotations

import datetime as dt
import http.server
import threading
import urllib.parse
import urllib.request

import pytest
from orthanc_server import free_port

from covidbank.errors import PacsError
from covidbank.pacs.archive import StudyQuery
from covidbank.pacs.dicomweb import DicomwebArchive
from covidbank.pacs.dimse import DimseArchive, parse_pacs

MARCH = StudyQuery(patient_id="P001", date_from=dt.date(2020, 3, 1), date_to=dt.date(2020, 3, 31))


def _archives(orthanc, **kw):
    return [DimseArchive(orthanc.pacs, **kw), DicomwebArchive(orthanc.dicomweb_url)]


def test_query_by_patient_and_dates(seeded):
    orthanc, seed = seeded
    for a in _archives(orthanc):
        a.echo()
        every = a.find_studies(StudyQuery(patient_id="P001"))
        march = a.find_studies(MARCH)
        assert len(every) == 3, a.name
        assert sorted(h.study_date for h in march) == ["20200315", "20200320"], a.name
        assert {h.patient_id for h in march} == {"P001"}
        two = next(h for h in march if h.study_date == "20200320")
        assert two.instances == 2 and two.modalities == ("CR",)
        assert a.find_studies(StudyQuery(patient_id="P001", date_from=dt.date(2021, 1, 1))) == [
            h for h in every if h.study_date == "20210110"]
        assert a.find_studies(StudyQuery(patient_id="NOBODY")) == []


def test_query_by_accession_with_two_studies(seeded):
    orthanc, seed = seeded
    for a in _archives(orthanc):
        hits = a.find_studies(StudyQuery(accession="ACC-TWO"))
        assert len(hits) == 2 and {h.study_date for h in hits} == {"20200501", "20200502"}, a.name
        assert a.find_studies(StudyQuery(accession="ACC-NONE")) == []


def test_series_query_gives_modalities_and_counts(seeded):
    orthanc, seed = seeded
    for a in _archives(orthanc):
        study = a.find_studies(StudyQuery(patient_id="P004"))[0]
        assert set(study.modalities) == {"CR", "SR"}
        series = a.find_series(study)
        assert [(s.modality, s.instances) for s in series] == [("CR", 1), ("SR", 1)], a.name


class _OffsetIgnoringProxy(http.server.BaseHTTPRequestHandler):
    """A DICOMweb front that drops ``offset`` from QIDO-RS queries (as some servers do) and forwards to Orthanc."""

    target = ""

    def do_GET(self):  # noqa: N802
        parts = urllib.parse.urlsplit(self.path)
        q = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "offset"]
        url = self.target + parts.path + ("?" + urllib.parse.urlencode(q) if q else "")
        req = urllib.request.Request(url, headers={k: v for k, v in self.headers.items() if k.lower() == "accept"})
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                body, code, ctype = r.read(), r.status, r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            body, code, ctype = e.read(), e.code, e.headers.get("Content-Type", "")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_qido_paging_and_a_server_that_ignores_offset(seeded):
    orthanc, seed = seeded
    paged = DicomwebArchive(orthanc.dicomweb_url, page_size=1)
    hits = paged.find_studies(StudyQuery(patient_id="P001"))
    assert len(hits) == 3 and not paged.offset_ignored
    handler = type("H", (_OffsetIgnoringProxy,), {"target": orthanc.url})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/dicom-web"
        naive = DicomwebArchive(url, page_size=2)
        hits2 = naive.find_studies(StudyQuery(patient_id="P001"))
        assert naive.offset_ignored
        assert sorted(h.study_uid for h in hits2) == sorted(h.study_uid for h in hits)
    finally:
        srv.shutdown()


def test_unreachable_archives_and_bad_addresses_say_so():
    port = free_port()
    with pytest.raises(PacsError, match="cannot connect|no association"):
        DimseArchive(f"NOBODY@127.0.0.1:{port}", timeout=3).echo()
    with pytest.raises(PacsError, match="cannot connect"):
        DicomwebArchive(f"http://127.0.0.1:{port}/dicom-web", timeout=3).echo()
    with pytest.raises(PacsError, match="AET@HOST:PORT"):
        parse_pacs("ORTHANC:4242")
    with pytest.raises(PacsError, match="--move-port"):
        DimseArchive(f"A@127.0.0.1:{port}", method="move")
    assert parse_pacs("PACS@10.0.0.5:104") == ("PACS", "10.0.0.5", 104)
