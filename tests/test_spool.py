"""Spool folders of ``covidbank add``: removed when done, and after a kill by the next add."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from covidbank.spool import SPOOL_PREFIX, SpoolFolder, remove_stale_spools

REPO = Path(__file__).resolve().parents[1]

_KILLED = """
import os, sys, time
from covidbank.spool import SpoolFolder
f = SpoolFolder(sys.argv[1])
(f.path / "images.parquet").write_bytes(b"x" * 1000)
print(f.path, flush=True)
time.sleep(60)
"""


def test_a_killed_adds_spool_is_removed_by_the_next_one(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True)
    left = Path(proc.stdout.readline().strip())
    assert left.is_dir() and left.name.startswith(f"{SPOOL_PREFIX}{proc.pid}-")
    live = SpoolFolder(tmp_path)  # the other add is still running: its folder stays
    assert left.is_dir()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert left.is_dir()  # a kill leaves it ...
    unknown = tmp_path / f"{SPOOL_PREFIX}notapid"
    unknown.mkdir()
    again = SpoolFolder(tmp_path)  # ... and the next spool removes it, not a live one nor one of unknown shape
    assert not left.exists() and live.path.is_dir() and again.path.is_dir() and unknown.is_dir()
    assert remove_stale_spools(tmp_path) == []
    again.cleanup()
    assert not again.path.exists()
