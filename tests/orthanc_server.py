"""A real Orthanc archive for the tests: started on free loopback ports with a temporary configuration.

Debian's ``orthanc`` and ``orthanc-dicomweb`` (installed by ``.ci/system-deps``)
give a DICOM archive with C-ECHO/C-FIND/C-GET/C-MOVE/C-STORE (DIMSE) and
QIDO-RS/WADO-RS/STOW-RS (DICOMweb).  :func:`orthanc_server` starts one in a
temporary folder, waits until its REST API answers, and stops it (and removes
its storage) on exit.  Nothing listens beyond 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

ORTHANC = os.environ.get("COVIDBANK_ORTHANC", "/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


_BIND_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
/* Orthanc 1.10 has no bind-address option: turn a bind to the wildcard address into loopback. */
int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static int (*real)(int, const struct sockaddr *, socklen_t) = 0;
    if (!real) real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
    if (addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in a; memcpy(&a, addr, sizeof a);
        if (a.sin_addr.s_addr == htonl(INADDR_ANY)) {
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return real(fd, (const struct sockaddr *)&a, sizeof a);
        }
    }
    if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 a; memcpy(&a, addr, sizeof a);
        if (!memcmp(&a.sin6_addr, &in6addr_any, sizeof a.sin6_addr)) {
            a.sin6_addr = in6addr_loopback;
            return real(fd, (const struct sockaddr *)&a, sizeof a);
        }
    }
    return real(fd, addr, len);
}
"""


def loopback_shim() -> Path:
    """Build (once per user) the LD_PRELOAD library that keeps Orthanc's listeners on loopback.

    Orthanc 1.10 (Debian 12) binds its HTTP and DICOM ports on every interface
    and has no option to choose the address; the tests must listen on
    127.0.0.1 only, so ``bind`` to the wildcard address is rewritten to
    loopback.  Needs gcc (present wherever Python packages compile).
    """
    out = Path(tempfile.gettempdir()) / f"covidbank-bind-loopback-{os.getuid()}.so"
    if not out.exists():
        src = out.with_suffix(".c")
        src.write_text(_BIND_SHIM)
        tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
        subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(tmp), str(src), "-ldl"], check=True,
                       capture_output=True)
        os.replace(tmp, out)
    return out


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available() -> bool:
    """Whether the Orthanc binary and its DICOMweb plugin are installed."""
    return Path(ORTHANC).is_file() and Path(DICOMWEB_PLUGIN).is_file()


@dataclass
class Orthanc:
    """A running Orthanc: its ports, AE title and a small REST client."""

    http_port: int
    dicom_port: int
    aet: str
    folder: Path
    process: subprocess.Popen
    modalities: dict = field(default_factory=dict)
    command: list = field(default_factory=list)
    env: dict | None = None

    host = "127.0.0.1"

    @property
    def url(self) -> str:
        """Base URL of the REST API."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        """Root of the DICOMweb services (QIDO-RS, WADO-RS, STOW-RS)."""
        return f"{self.url}/dicom-web"

    @property
    def pacs(self) -> str:
        """``AET@HOST:PORT`` for DIMSE."""
        return f"{self.aet}@{self.host}:{self.dicom_port}"

    # ----------------------------------------------------------------- REST
    def request(self, method: str, path: str, data: bytes | dict | list | None = None,
                content_type: str = "application/json", timeout: float = 30):
        """Call the REST API; JSON answers are decoded."""
        body = json.dumps(data).encode() if isinstance(data, (dict, list)) else data
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers={"Content-Type": content_type} if body is not None else {})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            if r.headers.get_content_type() == "application/json":
                return json.loads(raw or b"null")
            return raw

    def upload(self, path: str | os.PathLike) -> dict:
        """Store one DICOM file (``POST /instances``)."""
        return self.request("POST", "/instances", Path(path).read_bytes(), "application/dicom")

    def upload_bytes(self, data: bytes) -> dict:
        """Store one DICOM file given as bytes."""
        return self.request("POST", "/instances", data, "application/dicom")

    def add_modality(self, name: str, aet: str, port: int, host: str = "127.0.0.1", **settings) -> None:
        """Tell the archive about a C-MOVE destination / C-STORE peer.

        ``settings`` are Orthanc's per-modality options (``AllowGet=False`` to
        refuse C-GET from that AE title, ...).
        """
        self.request("PUT", f"/modalities/{name}", {"AET": aet, "Host": host, "Port": port, **settings})
        self.modalities[name] = (aet, host, port)

    def instances(self) -> list[str]:
        """Orthanc ids of the stored instances."""
        return self.request("GET", "/instances")

    def clear(self) -> None:
        """Delete every patient (and so every stored instance)."""
        for pid in self.request("GET", "/patients"):
            self.request("DELETE", f"/patients/{pid}")

    def stop(self) -> None:
        """Stop the server (the storage folder stays until the context ends)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def start(self, startup_timeout: float = 60) -> None:
        """Start a stopped server again on the same ports, configuration and storage."""
        if self.running:
            return
        with open(self.folder / "orthanc.log", "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder,
                                            env=self.env)
        _wait_ready(self, startup_timeout)

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.process.poll() is None


def _config(folder: Path, http_port: int, dicom_port: int, aet: str, extra: dict | None) -> dict:
    cfg = {
        "Name": "covidbank-test-archive",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": aet,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True,
        "DicomModalitiesInDatabase": True,
        "DicomModalities": {},
        "UnknownSopClassAccepted": True,
        "StableAge": 1,
        "Plugins": [DICOMWEB_PLUGIN],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True, "Ssl": False,
                     "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
        "HttpTimeout": 60,
        "DicomScuTimeout": 30,
        "SaveJobs": False,
    }
    cfg = {k: v for k, v in cfg.items() if v is not None}
    cfg.update(extra or {})
    return cfg


def _wait_ready(server: Orthanc, startup_timeout: float) -> None:
    deadline = time.monotonic() + startup_timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"Orthanc exited with {server.process.returncode}: see {server.folder / 'orthanc.log'}")
        try:
            server.request("GET", "/system", timeout=2)
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Orthanc did not answer within {startup_timeout} s: see {server.folder}")
            time.sleep(0.2)


@contextmanager
def orthanc_server(aet: str = "ORTHANC", config: dict | None = None, startup_timeout: float = 60) -> Iterator[Orthanc]:
    """Run Orthanc on free loopback ports in a temporary folder for the duration of the block.

    Parameters
    ----------
    aet : str
        The archive's AE title.
    config : dict, optional
        Extra configuration entries (they override the defaults).
    startup_timeout : float
        Seconds to wait for the REST API.
    """
    if not available():
        raise RuntimeError(f"Orthanc is not installed ({ORTHANC}, {DICOMWEB_PLUGIN}): run .ci/system-deps")
    folder = Path(tempfile.mkdtemp(prefix="covidbank-orthanc-"))
    http_port, dicom_port = free_port(), free_port()
    while dicom_port == http_port:
        dicom_port = free_port()
    (folder / "storage").mkdir()
    cfg_file = folder / "orthanc.json"
    cfg_file.write_text(json.dumps(_config(folder, http_port, dicom_port, aet, config), indent=1))
    log = open(folder / "orthanc.log", "wb")
    env = dict(os.environ, LD_PRELOAD=str(loopback_shim()))
    command = [ORTHANC, "--logdir=" + str(folder), str(cfg_file)]
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder, env=env)
    server = Orthanc(http_port, dicom_port, aet, folder, proc, command=command, env=env)
    try:
        _wait_ready(server, startup_timeout)
        yield server
    finally:
        server.stop()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
