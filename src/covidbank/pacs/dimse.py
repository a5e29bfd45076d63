"""A DIMSE archive client (pynetdicom): C-ECHO, C-FIND, C-GET, and C-MOVE to covidbank's own storage SCP.

Study Root Query/Retrieve (PS3.4 Annex C): studies are found by Patient ID
and a Study Date range, or by Accession Number; then their series (Modality,
Series Number, Number of Series Related Instances).  Retrieval is C-GET (the
archive sends the instances back on the same association, PS3.4 C.4.3) or
C-MOVE to the storage SCP this module opens on a port of the curator's choice
(the archive must know that port under our AE title).  When C-GET is refused
and a move port is given, the study is moved instead.

Each thread that talks to the archive keeps **one association open** and
sends its queries and retrievals over it, study after study (PS3.7 allows any
number of DIMSE operations on one association): setting up an association (a
TCP connection and the negotiation of about a hundred presentation contexts)
costs as much as retrieving a chest X-ray, so per-study associations halved
the throughput.  An association is dropped after any retrieval that did not
end well (timed out, aborted, refused), so a study never inherits a broken
one, and released when it has been idle for :attr:`DimseArchive.idle`
seconds (the transfers wait while the conversion catches up; archives close
idle associations); an operation whose reused association turns out to be
closed by the archive before any answer is sent again on a new one.

Received instances are written as they arrive, unparsed
(``event.encoded_dataset()``), into the study's private staging folder
(:class:`~covidbank.pacs.archive.InstanceSink`).  Every request has a timeout:
a per-message DIMSE timeout and a per-study deadline that grows with the
study's size; an association past its deadline is aborted.
"""
from __future__ import annotations

import threading
import time

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

__all__ = ["DimseArchive", "parse_pacs", "STORAGE_CLASSES", "OTHER_CLASSES", "TRANSFER_SYNTAXES"]

#: Storage SOP classes covidbank asks for (the image classes it ingests; PS3.4 B.5).
STORAGE_CLASSES = [
    "1.2.840.10008.5.1.4.1.1.1",  # Computed Radiography Image Storage
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # Digital X-Ray Image Storage - For Processing
    "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image Storage
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word Secondary Capture
]

#: Non-image classes often found in chest studies: received so that the manifest can say why they were skipped.
OTHER_CLASSES = [
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.67",  # X-Ray Radiation Dose SR
    "1.2.840.10008.5.1.4.1.1.88.59",  # Key Object Selection Document
    "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
]

#: Transfer syntaxes accepted as they are (one presentation context each, so the archive never has to transcode).
TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired, still seen)
]

_FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Query/Retrieve Information Model - FIND
_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
_GET = "1.2.840.10008.5.1.4.1.2.2.3"
_VERIFY = "1.2.840.10008.1.1"
_ABORTED_AT_ONCE = "the archive aborted the association before answering"


def parse_pacs(spec: str) -> tuple[str, str, int]:
    """``AET@HOST:PORT`` as ``(aet, host, port)``.

    Raises
    ------
    PacsError
        The text is not of that form.
    """
    try:
        aet, rest = spec.split("@", 1)
        host, port = rest.rsplit(":", 1)
        host = host.strip("[]")
        p = int(port)
        if not aet or not host or not 0 < p < 65536 or len(aet) > 16:
            raise ValueError
    except ValueError:
        raise PacsError(f"--pacs {spec!r}: expected AET@HOST:PORT (AE title of at most 16 characters)") from None
    return aet, host, p


def _no_delay(event) -> None:
    """Send each PDU at once (TCP_NODELAY).

    pynetdicom writes a DIMSE message as several small PDUs (command, then
    data set); with Nagle's algorithm the second waits for the peer's
    delayed acknowledgement of the first (40 ms on Linux), on every message:
    that was a C-FIND's whole cost on loopback and a third of a C-GET's.
    """
    import socket

    try:
        event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError):  # not a TCP socket (or already closed): nothing to tune
        pass


def _quick_ack(event) -> None:
    """Acknowledge what the archive sends at once (TCP_QUICKACK, Linux; elsewhere nothing to do).

    The archive's side usually keeps Nagle's algorithm: DCMTK, which Orthanc
    and many archives are built on, disables it only when its environment
    sets ``TCP_NODELAY=1`` (dcmnet ``dul.cc``), and writes each PDU as a
    12-byte header and then its body.  After our C-STORE or C-FIND answer the
    archive's next message waits until we acknowledge that header, and Linux
    delays the acknowledgement of a connection that answers requests (its
    "ping-pong" mode) by up to 40 ms: measured on loopback against Orthanc,
    47 ms of a 64 ms C-GET of a 2 MB image and 50 of a 55 ms C-FIND.  The
    kernel falls back into delayed acknowledgements after each exchange, so
    the option is set again after every PDU sent and received (one system
    call each): C-GET 79 -> 27 ms, C-FIND 56 -> 5 ms, the same as an Orthanc
    started with ``TCP_NODELAY=1``.
    """
    import socket

    opt = getattr(socket, "TCP_QUICKACK", None)
    if opt is None:
        return
    try:
        event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, opt, 1)
    except (AttributeError, OSError):  # not a TCP socket (or already closed): nothing to tune
        pass


def low_latency_handlers(evt) -> list:
    """Event handlers that keep a DIMSE association from waiting on TCP's timers (:func:`_no_delay`,
    :func:`_quick_ack`); ``evt`` is ``pynetdicom.evt``."""
    return [(evt.EVT_CONN_OPEN, _no_delay), (evt.EVT_PDU_SENT, _quick_ack), (evt.EVT_PDU_RECV, _quick_ack)]


def _keep_responses_for_the_caller(assoc) -> None:
    """Stop pynetdicom's association thread from taking the answers to our requests off the queue.

    pynetdicom (3.0) pauses its association reactor before each ``send_c_*``
    by clearing a checkpoint and waiting for a flag the reactor sets just
    *before* it waits on that checkpoint; when the request goes out in that
    instant, the reactor runs one more iteration, takes the first message off
    the queue and serves it as an unexpected request (pynetdicom issue #875,
    "Received unexpected C-FIND service message").  Against a fast archive
    that is a pending C-FIND answer lost (a study missing from a patient's
    results, or a patient with no studies: measured 8-16 of 620 queries with
    8 threads on loopback) or a final answer lost (a query or retrieval that
    waits out its timeout).  On a requestor association we never serve
    requests from the reactor (C-GET's C-STORE sub-operations are read by the
    thread that sent the C-GET), so its non-blocking reads return nothing.
    Written by hand because the library offers no switch for it.
    """
    import threading

    dimse = getattr(assoc, "dimse", None)
    if dimse is None or not hasattr(dimse, "get_msg"):
        return
    get_msg = dimse.get_msg

    def guarded(block: bool = False):
        if not block and threading.current_thread() is assoc:
            return None, None
        return get_msg(block)

    dimse.get_msg = guarded


def _release(associations) -> None:
    """Release associations that are still established (the archive may have closed them already)."""
    for assoc in associations:
        try:
            if assoc.is_established:
                assoc.release()
        except Exception:  # closed under us: nothing more to do
            pass


def _dataset(**attrs):
    """A query/retrieve identifier with these attributes (empty values: return keys, PS3.4 C.2.2.1.3)."""
    from pydicom.dataset import Dataset

    ds = Dataset()
    for k, v in attrs.items():
        setattr(ds, k, v)
    return ds


def _str(ds, kw: str) -> str:
    v = ds.get(kw, "")
    return "" if v is None else str(v).strip()


def _modalities(v) -> tuple[str, ...]:
    if v is None or v == "":
        return ()
    if isinstance(v, (list, tuple)) or hasattr(v, "__iter__") and not isinstance(v, str):
        return tuple(sorted({str(x).strip().upper() for x in v if str(x).strip()}))
    return tuple(sorted({x.strip().upper() for x in str(v).split("\\") if x.strip()}))


class DimseArchive:
    """A PACS over DIMSE.

    Parameters
    ----------
    pacs : str
        ``AET@HOST:PORT`` of the archive.
    calling_aet : str
        Our AE title (also the C-MOVE destination: the archive must map it to
        our host and ``move_port``).
    method : str
        ``get`` (C-GET) or ``move`` (C-MOVE to our storage SCP).
    move_port : int, optional
        Port of our storage SCP for C-MOVE (0: any free port, for tests).  With
        ``method="get"`` it enables the fall back to C-MOVE when C-GET is refused.
    move_host : str
        Address our storage SCP listens on (``0.0.0.0`` so the archive can
        reach it; ``127.0.0.1`` for an archive on this machine).
    timeout : float
        Seconds to wait for any one DIMSE message or connection.
    """

    def __init__(self, pacs: str, calling_aet: str = "COVIDBANK", method: str = "get", move_port: int | None = None,
                 move_host: str = "0.0.0.0", timeout: float = 30.0) -> None:
        from ..optional import require

        self._pn = require("pynetdicom", purpose="covidbank pull")
        from pynetdicom import _config

        # pynetdicom's debug log would print query identifiers (patient ids, accessions): never
        _config.LOG_REQUEST_IDENTIFIERS = False
        _config.LOG_RESPONSE_IDENTIFIERS = False
        self.aet, self.host, self.port = parse_pacs(pacs)
        if method not in ("get", "move"):
            raise PacsError(f"--method {method!r}: use get or move")
        if method == "move" and move_port is None:
            raise PacsError("--method move needs --move-port: the port of covidbank's storage SCP, which the "
                            "archive must know under the calling AE title")
        if not calling_aet or len(calling_aet) > 16:
            raise PacsError(f"--calling-aet {calling_aet!r}: an AE title has 1 to 16 characters")
        self.calling_aet = calling_aet
        self.method = method
        self.move_port = move_port
        self.move_host = move_host
        self.timeout = float(timeout)
        self._scp = None
        self._moves: dict[str, tuple[InstanceSink, Deadline, list[float]]] = {}
        self._move_lock = threading.Lock()
        self._local = threading.local()  # this thread's open association per kind ("get", "move")
        self._open: list = []  # every pooled association with its thread, to release them at close()
        self._pool_lock = threading.Lock()
        #: associations opened so far (each C-ECHO, and each pooled association once)
        self.associations = 0
        #: seconds a pooled association may stay unused before it is released rather than reused (archives close
        #: idle associations, Orthanc after 30 s: a query sent just as the archive closes one would be lost)
        self.idle = min(10.0, self.timeout / 2)

    @property
    def name(self) -> str:
        """``AET@HOST:PORT``."""
        return f"{self.aet}@{self.host}:{self.port}"

    # ------------------------------------------------------------------ associations
    def _ae(self, contexts: list[tuple[str, list[str] | None]]):
        ae = self._pn.AE(ae_title=self.calling_aet)
        ae.acse_timeout = self.timeout
        ae.dimse_timeout = self.timeout
        ae.network_timeout = self.timeout
        ae.connection_timeout = self.timeout
        ae.maximum_pdu_size = 0  # no limit on what we receive
        for uid, ts in contexts:
            if ts is None:
                ae.add_requested_context(uid)
            else:
                ae.add_requested_context(uid, ts)
        return ae

    def _associate(self, contexts, what: str, **kw):
        ae = self._ae(contexts)
        with self._pool_lock:
            self.associations += 1
        kw["evt_handlers"] = low_latency_handlers(self._pn.evt) + list(kw.get("evt_handlers", []))
        try:
            assoc = ae.associate(self.host, self.port, ae_title=self.aet, **kw)
        except Exception as e:  # socket errors surface here on some platforms
            raise PacsError(f"{self.name}: cannot connect for {what} ({type(e).__name__})") from None
        if assoc.is_established:
            _keep_responses_for_the_caller(assoc)
            return assoc
        if assoc.is_rejected:
            raise PacsError(f"{self.name}: the archive rejected the association for {what} (check the AE titles: "
                            f"ours is {self.calling_aet})")
        raise PacsError(f"{self.name}: no association for {what} (archive unreachable or not answering within "
                        f"{self.timeout:g} s)")

    def echo(self) -> None:
        """C-ECHO (Verification, PS3.7 9.1.5); raise :class:`PacsError` when the archive does not answer."""
        assoc = self._associate([(_VERIFY, None)], "C-ECHO")
        try:
            status = assoc.send_c_echo()
            if not status or status.get("Status") != 0x0000:
                raise PacsError(f"{self.name}: C-ECHO failed (no or an error status)")
        finally:
            assoc.release()

    # ------------------------------------------------------------------ queries
    # ------------------------------------------------------------------ pooled associations
    def _contexts(self, kind: str) -> list:
        """Presentation contexts of a pooled association: the retrieval model, FIND, and for C-GET the storage
        classes (each compressed syntax in its own context, so the archive sends its bytes unchanged)."""
        if kind == "move":
            return [(_MOVE, None), (_FIND, None)]
        return ([(_GET, None), (_FIND, None)] + [(c, [t]) for c in STORAGE_CLASSES for t in TRANSFER_SYNTAXES]
                + [(c, TRANSFER_SYNTAXES[:2]) for c in OTHER_CLASSES])[:128]

    def _pooled(self, kind: str) -> tuple[object, dict, bool]:
        """This thread's open association of ``kind`` (opened if needed): ``(assoc, holder, reused)``.

        ``holder`` is where the C-STORE handler of a C-GET association finds
        the current study's sink, deadline and activity clock.
        """
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        cur = pool.get(kind)
        if cur is not None and cur[0].is_established and time.monotonic() - cur[1]["used"] < self.idle:
            cur[1]["used"] = time.monotonic()
            return cur[0], cur[1], True
        if cur is not None:  # closed by the archive, or idle long enough that the archive may be closing it now
            self._drop(kind)
        holder: dict = {"sink": None, "deadline": None, "activity": [time.monotonic()], "used": time.monotonic()}
        kw = {}
        if kind == "get":
            pn = self._pn
            kw = {"ext_neg": [pn.build_role(c, scp_role=True) for c in STORAGE_CLASSES + OTHER_CLASSES],
                  "evt_handlers": [(pn.evt.EVT_C_STORE, lambda event: self._on_get_store(event, holder))]}
        assoc = self._associate(self._contexts(kind), "C-GET" if kind == "get" else "C-MOVE", **kw)
        pool[kind] = (assoc, holder)
        with self._pool_lock:
            # the associations of threads that have ended are nobody's any more: release them
            ended = [a for t, a in self._open if not t.is_alive()]
            self._open = [(t, a) for t, a in self._open if t.is_alive()] + [(threading.current_thread(), assoc)]
        _release(ended)
        return assoc, holder, False

    def _drop(self, kind: str, abort: bool = False) -> None:
        """Close this thread's association of ``kind`` (abort it when its state is unknown)."""
        pool = getattr(self._local, "pool", None) or {}
        cur = pool.pop(kind, None)
        if cur is None:
            return
        assoc = cur[0]
        with self._pool_lock:
            self._open = [(t, a) for t, a in self._open if a is not assoc]
        try:
            if assoc.is_established:
                assoc.abort() if abort else assoc.release()
        except Exception:  # closing a broken association: nothing more to do
            pass

    def _find(self, identifier) -> list:
        kind = self.method
        for attempt in (0, 1):
            try:
                assoc, _, reused = self._pooled(kind)
            except PacsError:
                raise PacsError(f"{self.name}: no association for C-FIND (archive unreachable or not answering "
                                f"within {self.timeout:g} s)") from None
            if not any(c.abstract_syntax == _FIND for c in assoc.accepted_contexts):
                self._drop(kind)
                raise PacsError(f"{self.name}: the archive does not accept C-FIND (Study Root)")
            assoc.dimse_timeout = self.timeout
            out, answered, done = [], False, False
            try:
                for status, ident in assoc.send_c_find(identifier, _FIND):
                    if not status:
                        raise PacsError(f"{self.name}: C-FIND timed out or the association was aborted")
                    answered = True
                    code = status.get("Status")
                    if code in (0xFF00, 0xFF01):
                        if ident is not None:
                            out.append(ident)
                    elif code == 0x0000:
                        done = True
                        break
                    else:
                        raise PacsError(f"{self.name}: C-FIND failed with status 0x{int(code or 0):04X}")
                if not done:
                    # no final status: the association ended under the query (an archive closes an association
                    # idle past its timeout, e.g. while the transfers wait for the conversion); never "no studies"
                    raise PacsError(f"{self.name}: the association closed before the C-FIND's final answer")
            except PacsError:
                self._drop(kind, abort=True)
                if reused and not answered and attempt == 0:
                    continue  # the archive had closed our idle association: once more on a new one
                raise
            except RuntimeError:  # pynetdicom: the association was released under us
                self._drop(kind, abort=True)
                if attempt == 0:
                    continue
                raise PacsError(f"{self.name}: C-FIND on a closed association") from None
            self._local.pool[kind][1]["used"] = time.monotonic()
            return out
        return []

    def find_studies(self, query: StudyQuery) -> list[StudyHit]:
        """C-FIND at STUDY level by Patient ID (+ Study Date range) or Accession Number."""
        ds = _dataset(QueryRetrieveLevel="STUDY", PatientID=query.patient_id or "", AccessionNumber=query.accession or "",
                      StudyDate=date_range(query.date_from, query.date_to) or "", StudyInstanceUID="",
                      ModalitiesInStudy="", NumberOfStudyRelatedInstances="")
        hits = {}
        for ident in self._find(ds):
            uid = _str(ident, "StudyInstanceUID")
            if not uid:
                continue
            if query.patient_id and _str(ident, "PatientID") not in ("", query.patient_id):
                continue  # archives that match patient ids loosely (wildcards, case)
            if query.accession and _str(ident, "AccessionNumber") not in ("", query.accession):
                continue
            hits[uid] = StudyHit(uid, _str(ident, "PatientID"), _str(ident, "AccessionNumber"),
                                 _str(ident, "StudyDate"), _modalities(ident.get("ModalitiesInStudy")),
                                 _int(ident.get("NumberOfStudyRelatedInstances")))
        return [hits[k] for k in sorted(hits)]

    def find_series(self, study: StudyHit) -> list[SeriesHit]:
        """C-FIND at SERIES level within one study."""
        ds = _dataset(QueryRetrieveLevel="SERIES", StudyInstanceUID=study.study_uid, SeriesInstanceUID="", Modality="",
                      SeriesNumber="", NumberOfSeriesRelatedInstances="")
        out = {}
        for ident in self._find(ds):
            uid = _str(ident, "SeriesInstanceUID")
            if uid:
                out[uid] = SeriesHit(uid, _str(ident, "Modality").upper(), _int(ident.get("SeriesNumber")),
                                     _int(ident.get("NumberOfSeriesRelatedInstances")))
        return sorted(out.values(), key=lambda s: (s.series_number if s.series_number is not None else 1 << 30,
                                                   s.series_uid))

    # ------------------------------------------------------------------ retrieval
    def _identifiers(self, study: StudyHit, series: list[SeriesHit] | None):
        if not series:
            return [_dataset(QueryRetrieveLevel="STUDY", StudyInstanceUID=study.study_uid)]
        return [_dataset(QueryRetrieveLevel="SERIES", StudyInstanceUID=study.study_uid, SeriesInstanceUID=s.series_uid)
                for s in series]

    def retrieve(self, study: StudyHit, series: list[SeriesHit] | None, sink: InstanceSink,
                 timeout: float) -> Retrieval:
        """Retrieve a study (or the listed series of it) into ``sink`` within ``timeout`` seconds.

        C-GET, falling back to C-MOVE when the archive refuses C-GET and a move
        port was given; or C-MOVE directly.
        """
        t0 = time.perf_counter()
        deadline = Deadline(timeout)
        if self.method == "get":
            r = self._get(study, series, sink, deadline)
            if r.status == "refused" and self.move_port is not None and sink.count == 0:
                r = self._move(study, series, sink, deadline)
                r.method = "move (get refused)"
        else:
            r = self._move(study, series, sink, deadline)
        r.received = sink.count
        r.seconds = time.perf_counter() - t0
        return r

    def _run(self, assoc, requests, send, deadline: Deadline, r: Retrieval, activity: list[float]) -> Retrieval:
        """Send each C-GET/C-MOVE request and follow its responses (PS3.4 C.4.2.1.4, C.4.3.1.4)."""
        answered = False
        for ident in requests:
            assoc.dimse_timeout = max(1.0, min(self.timeout, deadline.left))
            final = None
            for status, _ in send(ident):
                activity[0] = time.monotonic()
                answered = answered or bool(status)
                if not status:  # the association was aborted or a message did not come in time
                    final = None
                    break
                code = int(status.get("Status", 0xC000))
                if code == 0xFF00:
                    if deadline.passed:
                        assoc.abort()
                        return Retrieval("timed out", "the study took longer than its time limit", method=r.method)
                    continue
                final = status
                break
            if final is None:
                if deadline.passed or time.monotonic() - activity[0] >= assoc.dimse_timeout * 0.9:
                    return Retrieval("timed out", "no answer from the archive within the time limit", method=r.method)
                if not answered:
                    return Retrieval("transfer failed", _ABORTED_AT_ONCE, method=r.method)
                return Retrieval("transfer failed", "the association was aborted (archive stopped or network lost)",
                                 method=r.method)
            code = int(final.get("Status", 0xC000))
            failed = _int(final.get("NumberOfFailedSuboperations")) or 0
            r.failed_subops += failed
            if code in (0x0000, 0xB000):
                continue
            if code == 0xFE00:
                return Retrieval("transfer failed", "the archive cancelled the retrieval", method=r.method)
            if code in (0x0122, 0x0124, 0xA801):
                return Retrieval("refused", {0x0122: "the archive does not support this retrieval",
                                             0x0124: "the archive refused this retrieval (not authorized)",
                                             0xA801: "the archive does not know the move destination (register "
                                                     "our AE title, host and port in the archive)"}[code],
                                 method=r.method)
            if code in (0xA701, 0xA702):
                return Retrieval("transfer failed", "the archive ran out of resources", method=r.method)
            return Retrieval("transfer failed", "the archive could not perform the retrieval (error status)",
                             method=r.method)
        return r

    def _retrieve_on(self, kind: str, what: str, model: str, send, study, series, sink: InstanceSink,
                     deadline: Deadline, prepare) -> Retrieval:
        """Each C-GET/C-MOVE request of one study on this thread's pooled association (kept open when it went
        well, dropped otherwise); sent again on a new association when a reused one was closed before answering."""
        for attempt in (0, 1):
            try:
                assoc, holder, reused = self._pooled(kind)
            except PacsError:
                return Retrieval("transfer failed", f"no association for {what}", method=kind)
            if not any(c.abstract_syntax == model for c in assoc.accepted_contexts):
                self._drop(kind)
                return Retrieval("refused", f"the archive does not accept {what}", method=kind)
            activity = [time.monotonic()]
            prepare(holder, activity)
            try:
                r = self._run(assoc, self._identifiers(study, series), lambda ds: send(assoc, ds), deadline,
                              Retrieval(method=kind), activity)
            except RuntimeError:  # pynetdicom: the association was released under us
                r = Retrieval("transfer failed", _ABORTED_AT_ONCE, method=kind)
            finally:
                holder["sink"] = holder["deadline"] = None
                holder["used"] = time.monotonic()
            if r.status == "ok":
                return r
            self._drop(kind, abort=True)
            if reused and r.reason == _ABORTED_AT_ONCE and attempt == 0 and sink.count == 0 \
                    and not deadline.passed:
                continue  # the archive had closed our idle association: once more on a new one
            return r
        return r

    def _on_get_store(self, event, holder: dict) -> int:
        """C-STORE sub-operation of a C-GET on a pooled association: into the current study's sink."""
        sink, deadline = holder["sink"], holder["deadline"]
        holder["activity"][0] = time.monotonic()
        if sink is None or deadline is None or deadline.passed:
            return 0xA702  # no study is being retrieved on this association (late), or past its deadline
        try:
            sink.add(event.encoded_dataset())
        except OSError:
            return 0xA700  # out of resources: the staging disk is full
        return 0x0000

    def _get(self, study, series, sink: InstanceSink, deadline: Deadline) -> Retrieval:
        def prepare(holder: dict, activity: list[float]) -> None:
            holder["sink"], holder["deadline"], holder["activity"] = sink, deadline, activity

        r = self._retrieve_on("get", "C-GET", _GET, lambda assoc, ds: assoc.send_c_get(ds, _GET), study, series,
                              sink, deadline, prepare)
        if r.reason == _ABORTED_AT_ONCE and sink.count == 0:
            # archives that do not allow C-GET for our AE title often abort the association (Orthanc does)
            try:
                self.echo()
            except PacsError:
                return r  # the archive is gone: a failed transfer, not a refusal
            return Retrieval("refused", "the archive aborted C-GET at once while answering C-ECHO (C-GET not allowed "
                                        "for our AE title?)", method="get")
        return r

    # ------------------------------------------------------------------ C-MOVE and our storage SCP
    def _ensure_scp(self) -> None:
        with self._move_lock:
            if self._scp is None:
                self._start_scp()

    def _start_scp(self) -> None:
        pn = self._pn
        ae = pn.AE(ae_title=self.calling_aet)
        ae.network_timeout = self.timeout
        ae.acse_timeout = self.timeout
        ae.dimse_timeout = self.timeout
        ae.maximum_pdu_size = 0
        ae.require_calling_aet = [self.aet]  # only the archive may store into the pull
        for c in STORAGE_CLASSES + OTHER_CLASSES:
            ae.add_supported_context(c, TRANSFER_SYNTAXES)
        ae.add_supported_context(_VERIFY)
        try:
            self._scp = ae.start_server((self.move_host, int(self.move_port or 0)), block=False,
                                        evt_handlers=[(pn.evt.EVT_C_STORE, self._on_move_store)]
                                        + low_latency_handlers(pn.evt))
        except OSError as e:
            raise PacsError(f"cannot open covidbank's storage SCP on {self.move_host}:{self.move_port} "
                            f"({e.strerror or type(e).__name__}); choose another --move-port") from None

    @property
    def scp_port(self) -> int | None:
        """Port our storage SCP listens on (after :meth:`start_scp`)."""
        return self._scp.server_address[1] if self._scp is not None else None

    def start_scp(self) -> int:
        """Open the storage SCP now (C-MOVE destination) and return its port."""
        self._ensure_scp()
        return self.scp_port

    def _on_move_store(self, event) -> int:
        with self._move_lock:
            moves = dict(self._moves)
        if len(moves) > 1:  # several studies moving at once: route by Study Instance UID
            try:
                study = str(event.dataset.get("StudyInstanceUID", ""))
            except Exception:
                return 0xC000  # cannot be read: refuse
            target = moves.get(study)
        else:
            target = next(iter(moves.values()), None)
        if target is None or target[1].passed:
            return 0xA702  # nothing is being moved now (a late or unexpected sender): refuse
        sink, deadline, activity = target
        try:
            sink.add(event.encoded_dataset())
        except OSError:
            return 0xA700
        activity[0] = time.monotonic()
        return 0x0000

    def _move(self, study, series, sink: InstanceSink, deadline: Deadline) -> Retrieval:
        if self.move_port is None:
            return Retrieval("refused", "C-MOVE needs --move-port", method="move")
        self._ensure_scp()

        def prepare(holder: dict, activity: list[float]) -> None:
            with self._move_lock:
                self._moves[study.study_uid] = (sink, deadline, activity)

        try:
            return self._retrieve_on("move", "C-MOVE", _MOVE,
                                     lambda assoc, ds: assoc.send_c_move(ds, self.calling_aet, _MOVE),
                                     study, series, sink, deadline, prepare)
        finally:
            with self._move_lock:
                self._moves.pop(study.study_uid, None)

    def close(self) -> None:
        """Release the open associations and stop our storage SCP (if it was started)."""
        with self._pool_lock:
            open_, self._open = self._open, []
        _release([a for _, a in open_])
        self._local = threading.local()
        if self._scp is not None:
            self._scp.shutdown()
            self._scp = None
