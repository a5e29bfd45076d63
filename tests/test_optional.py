"""Optional extras fail with one message that names the extra (covidbank.optional)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from covidbank.errors import CovidbankError, MissingExtraError
from covidbank.optional import require


def test_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "imagehash", None)
    with pytest.raises(MissingExtraError) as e:
        require("imagehash", purpose="duplicate detection")
    assert isinstance(e.value, CovidbankError) and isinstance(e.value, ImportError)
    assert "pip install 'covidbank[duplicates]'" in str(e.value)
    assert "duplicate detection" in str(e.value)


def test_require_does_not_hide_a_broken_module(tmp_path, monkeypatch):
    (tmp_path / "brokenmod.py").write_text("import no_such_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError):
        require("brokenmod", extra="ct")


def _run_cli(block: str, *args: str) -> subprocess.CompletedProcess:
    code = (f"import sys; sys.modules[{block!r}] = None\n"
            "from covidbank.cli import main\n"
            f"sys.argv = ['covidbank', *{list(args)!r}]\n"
            "main()\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})


def test_severity_without_scipy_is_one_line_naming_the_ct_extra(tmp_path):
    ct = tmp_path / "x.nii.gz"
    ct.write_bytes(b"")
    r = _run_cli("scipy", "severity", str(ct))
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert "pip install 'covidbank[ct]'" in r.stderr


def test_serve_without_uvicorn_prints_the_extra_with_its_brackets(tmp_path):
    r = _run_cli("uvicorn", "serve", str(tmp_path))
    assert r.returncode == 1, r.stderr
    # rich markup would eat "[web]" if the message were not escaped
    assert "pip install 'covidbank[web]'" in r.stderr
