"""The DIMSE client's associations against a real Orthanc: one per thread, reused for queries and retrievals study
after study, sent without Nagle's delay, and opened again when the archive closed an idle one."""
from __future__ import annotations

import socket
import time

from dicom_factory import make_cr
from orthanc_server import orthanc_server

from covidbank.pacs.archive import InstanceSink, StudyQuery
from covidbank.pacs.dimse import DimseArchive


def _studies(o, root, n):
    for i in range(n):
        o.upload(make_cr(root / f"{i}.dcm", patient_id=f"D{i:03d}", rows=64, cols=64, seed=i))
    a = DimseArchive(o.pacs)
    return a, [s for i in range(n) for s in a.find_studies(StudyQuery(patient_id=f"D{i:03d}"))]


def test_one_association_reused_for_queries_and_retrievals(tmp_path):
    with orthanc_server() as o:
        a, studies = _studies(o, tmp_path / "raw", 6)
        for s in studies:
            a.find_series(s)
            r = a.retrieve(s, None, InstanceSink(tmp_path / "st" / s.study_uid), 60)
            assert (r.status, r.received, r.method) == ("ok", 1, "get")
        assert a.associations == 1  # 6 study queries, 6 series queries, 6 C-GETs on one association
        assoc = a._pooled("get")[0]
        assert assoc.dul.socket.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        a.close()
        assert not assoc.is_established


def test_every_association_acknowledges_at_once(tmp_path):
    """Queries, retrievals, our storage SCP and push all set TCP_QUICKACK after each PDU: an archive built on DCMTK
    keeps Nagle's algorithm and waits for our acknowledgement of each PDU header (40 ms of Linux's delayed ACK per
    message; bench/pull.py shows the effect)."""
    from pynetdicom import evt

    from covidbank.pacs import dimse

    with orthanc_server() as o:
        a, studies = _studies(o, tmp_path / "raw", 1)
        assert a.retrieve(studies[0], None, InstanceSink(tmp_path / "st"), 60).status == "ok"
        assoc = a._pooled("get")[0]
        for event in (evt.EVT_PDU_SENT, evt.EVT_PDU_RECV):
            assert dimse._quick_ack in [h[0] for h in assoc.get_handlers(event)]
        a.close()
        mover = DimseArchive(o.pacs, method="move", move_port=0)
        mover.start_scp()
        assert dimse._quick_ack in [h[0] for h in mover._scp.get_handlers(evt.EVT_PDU_RECV)]
        mover.close()


def test_concurrent_queries_lose_no_answer(tmp_path):
    """pynetdicom's association thread could take a C-FIND answer off the queue as the request went out (a study
    missing from a patient's results, or a patient reported without studies); 8 threads query 24 patients 12 times."""
    from concurrent.futures import ThreadPoolExecutor

    with orthanc_server() as o:
        a, studies = _studies(o, tmp_path / "raw", 24)
        want = {s.patient_id: s.study_uid for s in studies}
        a.close()
        wrong = []
        for _ in range(12):
            a = DimseArchive(o.pacs)
            with ThreadPoolExecutor(8) as ex:
                got = dict(zip(want, ex.map(lambda p: [s.study_uid for s in a.find_studies(StudyQuery(patient_id=p))],
                                            want)))
            a.close()
            wrong += [p for p in want if got[p] != [want[p]]]
        assert wrong == []


def test_an_association_the_archive_closed_while_idle_is_opened_again(tmp_path):
    with orthanc_server(config={"DicomScpTimeout": 1}) as o:
        a, studies = _studies(o, tmp_path / "raw", 2)
        assert a.retrieve(studies[0], None, InstanceSink(tmp_path / "a"), 60).status == "ok"
        time.sleep(3)  # Orthanc closes our association after 1 s without a message
        r = a.retrieve(studies[1], None, InstanceSink(tmp_path / "b"), 60)
        assert (r.status, r.received) == ("ok", 1)
        time.sleep(3)
        assert [s.study_uid for s in a.find_studies(StudyQuery(patient_id="D000"))] == [studies[0].study_uid]
        assert a.associations >= 3
        a.close()


def test_associations_of_ended_threads_are_released(tmp_path):
    import threading

    with orthanc_server() as o:
        a, studies = _studies(o, tmp_path / "raw", 2)
        kept = []

        def one(s):
            a.retrieve(s, None, InstanceSink(tmp_path / s.study_uid), 60)
            kept.append(a._pooled("get")[0])

        for s in studies:  # each in a thread of its own that then ends
            t = threading.Thread(target=one, args=(s,))
            t.start()
            t.join()
        assert kept[0] is not kept[1]
        assert not kept[0].is_established and kept[1].is_established  # the second thread's opening released it
        a.close()
        assert not kept[1].is_established


def test_an_association_idle_past_its_limit_is_released_not_reused(tmp_path):
    """The transfers wait while the conversion catches up; an association unused for ``idle`` seconds is released
    and a new one opened, rather than reused just as the archive closes it (Orthanc: after 30 s)."""
    with orthanc_server() as o:
        a, studies = _studies(o, tmp_path / "raw", 2)
        a.idle = 0.5
        assert a.retrieve(studies[0], None, InstanceSink(tmp_path / "a"), 60).status == "ok"
        first = a._pooled("get")[0]
        assert a._pooled("get")[0] is first  # used again at once: the same association
        time.sleep(1.0)
        assert a.retrieve(studies[1], None, InstanceSink(tmp_path / "b"), 60).status == "ok"
        assert a._pooled("get")[0] is not first and not first.is_established and a.associations == 2
        a.close()
