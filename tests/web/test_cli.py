"""``covidbank serve``: help, errors, and a real server started by the command."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

SRC = Path(__file__).resolve().parents[2] / "src"


def test_serve_help(cli):
    out = cli("serve", "--help").output
    assert "--host" in out and "127.0.0.1" in out and "--port" in out


def test_serve_missing_bank(cli, tmp_path):
    res = cli("serve", tmp_path / "nope", expect=1)
    assert "no such bank folder" in res.output


def test_serve_runs_on_localhost(web_bank, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""), "XDG_CACHE_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "covidbank", "serve", str(web_bank["bank"]), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/records?per_page=1", timeout=5) as r:
                    body = r.read().decode()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"server did not start: {proc.stdout.read().decode() if proc.stdout else ''}")
                time.sleep(0.2)
        assert '"total":8' in body
        # a page served under another host name (DNS rebinding) is refused
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/records", headers={"Host": "evil.example"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 400
        # bound to loopback only: the port is not open on another local address
        conns = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout if _has("ss") else ""
        if conns:
            listening = [l for l in conns.splitlines() if f":{port} " in l]
            assert listening and all("127.0.0.1:" in l for l in listening), listening
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _has(cmd: str) -> bool:
    from shutil import which

    return which(cmd) is not None


def test_add_builds_the_viewer_cache_that_serve_reuses(cli, tmp_path, monkeypatch):
    """`covidbank add` (and `split`) build the viewer's cache outside the bank right after writing the index;
    the server's store then opens it without building; `--no-viewer-cache` leaves it to the server."""
    from covidbank.samples import make_cohen_table
    from covidbank.web.store import BankStore, SearchQuery, default_index_cache

    monkeypatch.delenv("COVIDBANK_NO_VIEWER_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    table = make_cohen_table(tmp_path / "c", 400, seed=5).parent
    bank = tmp_path / "bank"
    monkeypatch.chdir(tmp_path)
    cli("add", "cohen", table, "--bank", "bank")  # a relative path here, an absolute one for the server
    cache = default_index_cache(bank.resolve())
    (db,) = cache.glob("index-*.duckdb")
    assert not any(p.suffix == ".duckdb" for p in bank.rglob("*"))  # outside the bank
    st = BankStore(bank)
    assert st.built is False and list(cache.glob("index-*.duckdb")) == [db]
    assert st.search(SearchQuery()).total > 0 and st.search(SearchQuery(q="ground-glass")).total > 0

    cli("split", bank)  # a new table in the index: the cache is refreshed, the old state removed
    (db2,) = cache.glob("index-*.duckdb")
    assert db2 != db
    st = BankStore(bank)
    assert st.built is False and "splits" in st.tables

    other = tmp_path / "other"
    cli("add", "cohen", table, "--bank", other, "--no-viewer-cache")
    assert not list(default_index_cache(other.resolve()).glob("index-*.duckdb"))
    assert BankStore(other).built is True
