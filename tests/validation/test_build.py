"""validation.build: the report is a list of named sections, each buildable on its own."""
from __future__ import annotations

from covidbank.labels import default_tree
from covidbank.validation.build import SECTIONS, ReportContext, Section, build_report


def test_each_section_builds_on_its_own(small_bank_ml):
    keys = []
    for label, builder in SECTIONS:
        ctx = ReportContext(small_bank_ml, default_tree([]))
        sec = builder(ctx)
        assert isinstance(sec, Section) and (sec.items or sec.text), label
        keys.append(sec.key)
    assert keys == ["counts", "demographics", "acquisition", "findings", "tests", "sources", "quality"]


def test_report_sections_follow_the_list_and_report_progress(small_bank_ml):
    seen = []
    rep = build_report(small_bank_ml, progress=seen.append)
    assert seen == [label for label, _ in SECTIONS]
    assert [s.key for s in rep.sections] == ["counts", "demographics", "acquisition", "findings", "tests", "sources", "quality"]
    assert "counts_by_source" in rep.numbers and "missing_files" in rep.numbers
