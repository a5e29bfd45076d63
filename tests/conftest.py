"""Shared fixtures and the two test tiers.

Tests marked ``realdata`` read ``../shared/data`` (next to the repository).
When it is missing they are skipped, unless ``COVIDBANK_REQUIRE_REAL_DATA=1``
(set by ``.ci/run``), in which case they fail.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# the report labeler would load a sentence model the developer built (covidbank train-labeler); tests that use
# one pass it explicitly, the others test the rules alone, whatever is in ~/.local/share
os.environ["COVIDBANK_LABELER_MODEL"] = "none"
# the commands that change a bank's index build the web viewer's cache in ~/.cache; the tests of that
# (tests/web/test_cli.py) turn it back on with a cache folder of their own
os.environ["COVIDBANK_NO_VIEWER_CACHE"] = "1"
SHARED_DATA = Path(os.environ.get("COVIDBANK_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()


def _require_real() -> bool:
    return os.environ.get("COVIDBANK_REQUIRE_REAL_DATA", "") not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data``; skip (or fail in CI) when absent."""
    if not SHARED_DATA.is_dir():
        msg = f"real data folder {SHARED_DATA} is missing"
        if _require_real():
            pytest.fail(msg + " and COVIDBANK_REQUIRE_REAL_DATA is set")
        pytest.skip(msg)
    return SHARED_DATA


def pytest_sessionstart(session):
    if _require_real() and not SHARED_DATA.is_dir():
        raise pytest.UsageError(
            f"COVIDBANK_REQUIRE_REAL_DATA is set but {SHARED_DATA} is missing: "
            "place the shared data beside the repository or unset the variable"
        )


@pytest.fixture
def cli(tmp_path):
    """Run the ``covidbank`` CLI in-process: ``cli("add", "cohen", path, "--bank", b)``."""
    from typer.testing import CliRunner

    from covidbank.cli import get_app

    runner = CliRunner()

    def run(*args, expect: int | None = 0):
        res = runner.invoke(get_app(), [str(a) for a in args], catch_exceptions=False)
        if expect is not None:
            assert res.exit_code == expect, f"exit {res.exit_code}: {res.output}"
        return res

    return run


@pytest.fixture(scope="session")
def orthanc():
    """A real Orthanc archive (DIMSE + DICOMweb) on free loopback ports for the whole session.

    Tests that change its content should call ``orthanc.clear()`` first.
    Fails (not skips) when Orthanc is missing: ``.ci/system-deps`` installs it.
    """
    from orthanc_server import orthanc_server

    with orthanc_server() as server:
        yield server
