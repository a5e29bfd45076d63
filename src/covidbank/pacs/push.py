"""Send DICOM files to an archive: C-STORE (pynetdicom) or STOW-RS (dicomweb-client).

Self-contained on purpose (``covidbank pull``, issue 18, builds the rest of
this package): one association per call with explicit timeouts, presentation
contexts for exactly the SOP classes and transfer syntaxes being sent, one
status per file.  Files are read whole; a file that cannot be read or sent is
reported with a fixed-vocabulary reason, the rest go on.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import PacsError
from .dimse import low_latency_handlers, parse_pacs

__all__ = ["PushError", "PushResult", "parse_pacs", "push_dimse", "push_dicomweb", "dicom_files"]


class PushError(PacsError):
    """The archive cannot be reached or refused the association/request."""


@dataclass
class PushResult:
    path: str
    ok: bool
    status: str  # "stored", "refused", "unreadable", "failed"
    detail: str = ""


def dicom_files(paths) -> list[Path]:
    """The ``.dcm`` files of files and folders, sorted."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        out.extend(sorted(q for q in p.rglob("*.dcm") if q.is_file()) if p.is_dir() else [p])
    return out


def _read(files):
    import pydicom

    for f in files:
        try:
            yield f, pydicom.dcmread(str(f))
        except Exception:  # noqa: BLE001 - reported, the rest go on
            yield f, None


def push_dimse(files, pacs: str, *, calling_aet: str = "COVIDBANK", timeout: float = 30.0) -> list[PushResult]:
    """C-STORE ``files`` to ``pacs`` (``AET@HOST:PORT``) in one association.

    Raises
    ------
    PushError
        The association cannot be established (unreachable, rejected).
    """
    from ..optional import require

    pn = require("pynetdicom", extra="pacs", purpose="C-STORE (covidbank push --pacs)")
    AE = pn.AE
    aet, host, port = parse_pacs(pacs)
    items = list(_read(files))
    results: list[PushResult] = [PushResult(str(f), False, "unreadable") for f, ds in items if ds is None]
    good = [(f, ds) for f, ds in items if ds is not None]
    if not good:
        return results
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    contexts = sorted({(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for _, ds in good})
    for sop, ts in contexts[:128]:
        ae.add_requested_context(sop, [ts])
    assoc = ae.associate(host, port, ae_title=aet, evt_handlers=low_latency_handlers(pn.evt))
    if not assoc.is_established:
        raise PushError(f"{pacs}: association not established (unreachable, or the archive rejected AE title "
                        f"{calling_aet!r}); check the address and that {calling_aet} is a known modality")
    try:
        for f, ds in good:
            status = assoc.send_c_store(ds)
            code = int(getattr(status, "Status", -1)) if status else -1
            if code in (0x0000, 0xB000, 0xB007, 0xB006):
                results.append(PushResult(str(f), True, "stored"))
            elif code == -1:
                results.append(PushResult(str(f), False, "failed", "no response (timeout or aborted)"))
            else:
                results.append(PushResult(str(f), False, "refused", f"status 0x{code:04X}"))
    finally:
        assoc.release()
    return results


def push_dicomweb(files, url: str, *, timeout: float = 60.0) -> list[PushResult]:
    """STOW-RS ``files`` to the DICOMweb service at ``url`` (one request per study).

    Raises
    ------
    PushError
        The service cannot be reached or refuses the request.
    """
    from ..optional import require

    DICOMwebClient = require("dicomweb_client.api", extra="pacs", purpose="STOW-RS (covidbank push --dicomweb)").DICOMwebClient
    items = list(_read(files))
    results: list[PushResult] = [PushResult(str(f), False, "unreadable") for f, ds in items if ds is None]
    by_study: dict[str, list] = {}
    for f, ds in items:
        if ds is not None:
            by_study.setdefault(str(ds.StudyInstanceUID), []).append((f, ds))
    client = DICOMwebClient(url=url.rstrip("/"), timeout=timeout)
    for study, group in by_study.items():
        try:
            resp = client.store_instances([ds for _, ds in group], study_instance_uid=study)
        except Exception as e:  # noqa: BLE001 - requests/HTTP errors of many kinds
            raise PushError(f"{url}: STOW-RS failed ({type(e).__name__}: {str(e)[:200]})") from None
        failed = {str(it.ReferencedSOPInstanceUID) for it in resp.get("FailedSOPSequence", [])}
        for f, ds in group:
            ok = str(ds.SOPInstanceUID) not in failed
            results.append(PushResult(str(f), ok, "stored" if ok else "refused"))
    return results
