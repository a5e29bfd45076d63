"""The documentation that is generated from the code stays in step with it."""
from __future__ import annotations

from pathlib import Path

from covidbank.schema import schema_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_schema_doc_matches_the_code():
    text = (ROOT / "docs" / "schema.md").read_text()
    assert schema_markdown().strip() in text, "docs/schema.md is stale: regenerate it with schema_markdown()"


def test_readme_commands_and_links():
    readme = (ROOT / "README.md").read_text()
    for marker in ("<!-- main-command -->", "<!-- test-command -->"):
        assert marker in readme
    import re

    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).is_file(), f"README links to a missing file: {link}"
    assert "when it lands" not in readme
    assert (ROOT / "LICENSE").is_file()
