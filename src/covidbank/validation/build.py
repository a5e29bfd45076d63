"""Assemble the technical-validation report of a bank: sections of text, tables and figures."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from ..bank import Bank
from ..labels import LabelTree, default_tree
from . import figures as F
from . import stats as S
from .treecounts import compare_tree_counts, read_tree_counts, tree_from_counts

__all__ = ["ReportTable", "ReportFigure", "ReportText", "Section", "Report", "ReportContext", "SECTIONS", "build_report"]


@dataclass
class ReportTable:
    """A table of the report (written in full as ``tables/<name>.csv``)."""

    name: str
    title: str
    frame: pd.DataFrame
    note: str = ""
    max_rows: int = 30


@dataclass
class ReportFigure:
    """A figure of the report (PNG bytes)."""

    name: str
    title: str
    png: bytes
    note: str = ""


@dataclass
class ReportText:
    """A paragraph placed between tables and figures."""

    text: str


@dataclass
class Section:
    """A titled section: paragraphs, then tables and figures in order."""

    key: str
    title: str
    text: list[str] = field(default_factory=list)
    items: list[ReportTable | ReportFigure | ReportText] = field(default_factory=list)

    def table(self, name: str, title: str, frame: pd.DataFrame | None, note: str = "", max_rows: int = 30) -> None:
        if frame is None:
            return
        self.items.append(ReportTable(name, title, frame, note, max_rows))

    def figure(self, name: str, title: str, png: bytes | None, note: str = "") -> None:
        if png:
            self.items.append(ReportFigure(name, title, png, note))

    def say(self, *paras: str) -> None:
        """Add paragraphs: to the section's introduction before any table or
        figure, else in place after the items so far."""
        for p in paras:
            if not p:
                continue
            if self.items:
                self.items.append(ReportText(p))
            else:
                self.text.append(p)


@dataclass
class Report:
    """A built report: title, bank path, generation time, sections and headline numbers."""

    title: str
    bank: str
    created: str
    sections: list[Section]
    numbers: dict = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table of the report by name."""
        return {i.name: i.frame for s in self.sections for i in s.items if isinstance(i, ReportTable)}

    def figures(self) -> dict[str, bytes]:
        """Every figure of the report by name (PNG bytes)."""
        return {i.name: i.png for s in self.sections for i in s.items if isinstance(i, ReportFigure)}


def _nonempty(df: pd.DataFrame | None) -> bool:
    return df is not None and not df.empty


@dataclass
class ReportContext:
    """What every section builder reads: the bank, the label tree, the reference counts; and what they fill."""

    bank: Bank
    tree: LabelTree
    ref: pd.DataFrame | None = None
    reference_tree_counts: str | Path | None = None
    numbers: dict = field(default_factory=dict)
    _demographics: pd.DataFrame | None = None

    @property
    def demographics(self) -> pd.DataFrame:
        """Per-subject sex and age (computed once, used by two sections)."""
        if self._demographics is None:
            self._demographics = S.subject_demographics(self.bank)
        return self._demographics


def _section_counts(ctx: ReportContext) -> Section:
    """Subjects, sessions and images per source and modality; images per session, sessions per subject."""
    s = Section("counts", "1. Counts")
    by_src = S.counts_by_source(ctx.bank)
    by_mod = S.counts_by_modality(ctx.bank)
    s.say(
        "Subjects, sessions (studies) and images per source. A session is counted under each modality it has "
        "images of, as the BIMCV COVID-19+ paper counts sessions by modality; a session holding two modalities "
        "therefore appears in two rows."
    )
    s.table("counts_by_source", "Subjects, sessions and images per source", by_src)
    s.table("counts_by_modality", "Subjects, sessions and images per source and modality", by_mod)
    s.figure("sessions_by_modality", "Sessions by modality",
             F.faceted_bars(by_mod, "modality", "sessions", "Sessions by modality", "modality", "sessions"))
    s.figure("images_by_modality", "Images by modality",
             F.faceted_bars(by_mod, "modality", "images", "Images (files/series) by modality", "modality", "images"))
    ips = S.images_per_session(ctx.bank)
    sps = S.sessions_per_subject(ctx.bank)
    s.table("images_per_session", "Sessions by number of images", ips, max_rows=12)
    s.table("sessions_per_subject", "Subjects by number of sessions", sps, max_rows=12)
    s.figure("images_per_session", "Images per session",
             F.histogram_bars(ips, "images_in_session", "sessions", "Images per session", "images in the session", "sessions"))
    s.figure("sessions_per_subject", "Sessions per subject",
             F.histogram_bars(sps, "sessions_of_subject", "subjects", "Sessions per subject", "sessions of the subject", "subjects"))
    ctx.numbers["counts_by_source"] = by_src.to_dict("records")
    ctx.numbers["sessions_by_modality"] = {f"{r.source}/{r.modality}": int(r.sessions) for r in by_mod.itertuples()}
    return s


def _section_demographics(ctx: ReportContext) -> Section:
    """Subjects by sex and age."""
    s = Section("demographics", "2. Demographics")
    demo = ctx.demographics
    s.say("Counted per subject. " + S.SEX_RULE, S.AGE_RULE)
    sex = S.sex_counts(ctx.bank, demo)
    ages = S.age_summary(ctx.bank, demo)
    s.table("sex", "Subjects by sex", sex)
    s.figure("sex", "Subjects by sex", F.faceted_bars(sex, "sex", "subjects", "Subjects by sex", "sex", "subjects"))
    s.table("age_summary", "Age of subjects (years)", ages)
    s.table("age_histogram", "Subjects per 10-year age bin", S.age_histogram(ctx.bank, 10, demo))
    s.figure("age_histogram", "Age histogram",
             F.value_histogram(demo, "age", "Age of subjects (years)", "age (years)", bins=list(range(0, 105, 5)), ylabel="subjects"))
    ctx.numbers["sex"] = {f"{r.source}/{r.sex}": int(r.subjects) for r in sex.itertuples()}
    ctx.numbers["age"] = ages.to_dict("records")
    return s


def _section_acquisition(ctx: ReportContext) -> Section:
    """Photometric interpretation, devices (the BIMCV paper's Table 5) and views."""
    s = Section("acquisition", "3. Acquisition")
    ph = S.photometric_counts(ctx.bank)
    vend = S.vendor_table(ctx.bank)
    views = S.view_counts(ctx.bank)
    s.say(
        "Photometric interpretation of X-ray images (CR, DX, X-ray) as the source records it. A MONOCHROME1 file "
        "(high values dark) is inverted once by covidbank's loaders, the export and the viewer; ingest already "
        "writes MONOCHROME1 radiographs as display-ready PNGs and records them so (`display_ready`), and those "
        "are never inverted again.",
        "Devices in the form of the BIMCV paper's Table 5: `Manufacturer Model` (quotes around DICOM values "
        "removed) and the number of studies (distinct sessions) with at least one image from the device.",
    )
    s.table("photometric", "X-ray images by photometric interpretation", ph)
    s.figure("photometric", "Photometric interpretation",
             F.faceted_bars(ph, "photometric", "images", "X-ray images by photometric interpretation", "photometric interpretation", "images"))
    s.table("vendors", "Studies per device (Manufacturer Model)", vend, max_rows=25)
    s.figure("vendors", "Studies per device",
             F.faceted_bars(vend, "Manufacturer Model", "studies", "Studies per device (top 20)", "Manufacturer Model", "studies",
                            facet=None, horizontal=True, max_cats=20, wrap=40))
    s.table("views", "Images by view/projection", views)
    s.figure("views", "Views", F.faceted_bars(views.groupby(["source", "view"], as_index=False)["images"].sum(), "view", "images",
                                              "Images by view/projection", "view", "images"))
    ctx.numbers["photometric"] = {f"{r.source}/{r.photometric}": int(r.images) for r in ph.itertuples()}
    ctx.numbers["vendors_top"] = vend.head(10)[["Manufacturer Model", "studies"]].to_dict("records")
    return s


def _section_findings(ctx: ReportContext) -> Section:
    """Positive labels per session and image, co-occurrence, the label tree with counts (and against a reference file)."""
    s = Section("findings", "4. Findings")
    per_ses = S.label_counts(ctx.bank, "session", tree=ctx.tree)
    per_img = S.label_counts(ctx.bank, "image", tree=ctx.tree)
    s.say(
        "Positive labels as published (labels only implied by the hierarchy are not counted here), names "
        "normalized for case, spacing and quotes; counted once per session (the BIMCV paper's Table 6) and once "
        "per image. `share` is over all sessions (images) of the source."
    )
    s.table("findings_per_session", "Most frequent findings per session", per_ses, max_rows=25)
    s.figure("findings_per_session", "Findings per session",
             F.faceted_bars(per_ses, "label", "sessions", "Most frequent findings, counted per session", "finding", "sessions",
                            horizontal=True, max_cats=20))
    s.table("findings_per_image", "Most frequent findings per image", per_img, max_rows=25)
    s.figure("findings_per_image", "Findings per image",
             F.faceted_bars(per_img, "label", "images", "Most frequent findings, counted per image", "finding", "images",
                            horizontal=True, max_cats=20))
    for src in sorted(per_ses["source"].unique()) if _nonempty(per_ses) else []:
        co = S.label_cooccurrence(ctx.bank, top=15, unit="session", source=src)
        if _nonempty(co) and len(co) > 1:
            s.figure(f"cooccurrence_{src}", f"Label co-occurrence ({src})",
                     F.heatmap(co, f"{src}: sessions with both labels (15 most frequent)", "finding", "finding", "sessions"))
    tc_all = S.label_tree_counts(ctx.bank, ctx.tree, unit="session")
    tc = tc_all[(tc_all["n_with_children"] > 0) | (~tc_all["in_tree"])] if _nonempty(tc_all) else tc_all
    s.table("label_tree_counts", "Label tree with counts (sessions)", tc, max_rows=60,
            note="`counts`: sessions with the label itself; `n_with_children`: plus the children's n_with_children "
                 "(BIMCV's definition, a sum along the tree); `n_distinct`: sessions with the label or any "
                 "descendant. Nodes with no count are left out.")
    if ctx.ref is not None:
        cmp = compare_tree_counts(tc_all, ctx.ref, ctx.tree)
        both = cmp.dropna(subset=["ref_counts", "counts"])
        both = both[(both["ref_counts"] > 0) & (both["counts"] > 0)]
        med = float((both["counts"] / both["ref_counts"]).median()) if len(both) else float("nan")
        pooled = float(both["counts"].sum() / both["ref_counts"].sum()) if len(both) else float("nan")
        withref = cmp[cmp["ref_counts"].fillna(0) > 0]
        absent = withref[withref["counts"].fillna(0) == 0]
        cmp_note = (
            f"Reference: `{Path(ctx.reference_tree_counts).name}`. {len(both)} labels are counted in both: median ratio "
            f"bank/reference {med:.3f}, pooled ratio (sum over those labels) {pooled:.3f}. {len(absent)} labels of "
            f"the reference ({int(absent['ref_counts'].sum()):,} counts) have no session in the bank"
            + (f", e.g. {', '.join(absent.sort_values('ref_counts', ascending=False)['label'].head(5))}" if len(absent) else "")
            + " (localizations are not labels in a bank)."
        )
        ctx.numbers["tree_median_ratio"] = med
        ctx.numbers["tree_pooled_ratio"] = pooled
        s.table("label_tree_vs_reference", "Label tree counts compared with the reference file",
                cmp[(cmp["ref_counts"].fillna(0) > 0) | (cmp["counts"].fillna(0) > 0)], max_rows=40, note=cmp_note)
        s.figure("label_tree_vs_reference", "Tree counts vs reference",
                 F.scatter_compare(both, "ref_counts", "counts", "label", "Label counts: bank vs reference file",
                                   "reference counts (sessions)", "bank counts (sessions)"))
    ctx.numbers["findings_per_session"] = {f"{r.source}/{r.label}": int(r.sessions) for r in per_ses.head(200).itertuples()}
    return s


def _section_tests(ctx: ReportContext) -> Section:
    """Diagnostic tests by type and result, and days from each image to its subject's closest test."""
    s = Section("tests", "5. Diagnostic tests")
    tcnt = S.test_counts(ctx.bank)
    if _nonempty(tcnt):
        days = S.days_to_closest_test(ctx.bank)
        s.say("Days from each image to its subject's closest test (positive: the test came after the image); "
              "day offsets when both have them, else dates.")
        s.table("tests", "Tests by type and result", tcnt)
        tplot = tcnt.assign(kind=tcnt["test_type"] + " " + tcnt["result"])
        s.figure("tests", "Tests by type and result",
                 F.faceted_bars(tplot, "kind", "tests", "Diagnostic tests by type and result", "test and result", "tests"))
        if not _nonempty(days):
            s.say("No image has a date or day offset to set against its subject's tests, so the days between an "
                  "image and its closest test cannot be computed for this bank.")
        else:
            s.table("days_to_closest_test_summary", "Days between image and closest test",
                    days.groupby(["source", "test_type"])["days"].describe().round(2).reset_index())
            s.figure("days_to_closest_test", "Days to closest test",
                     F.value_histogram(days, "days", "Days from image to the closest test", "days (test − image)",
                                       bins=30, ylabel="images"))
    else:
        s.say("The bank has no diagnostic tests (none of the loaded sources publishes them).")
    return s


def _section_sources(ctx: ReportContext) -> Section:
    """Per-source specifics: CT categories, findings by view, X-ray severity scores."""
    s = Section("sources", "6. Per-source specifics")
    ct = S.ct_category_counts(ctx.bank)
    if _nonempty(ct):
        s.say("CT severity categories (MosMedData scale CT-0..CT-4), counted per study.")
        s.table("ct_categories", "Studies by CT category", ct)
        s.figure("ct_categories", "CT categories",
                 F.faceted_bars(ct, "ct_category", "studies", "Studies by CT severity category", "CT category", "studies"))
        ctx.numbers["ct_categories"] = {f"{r.source}/{r.ct_category}": int(r.studies) for r in ct.itertuples()}
    for src in ctx.bank.sources():
        fv = S.findings_by_view(ctx.bank, source=src)
        if _nonempty(fv) and len(fv.columns) > 2:
            s.say(f"{src}: positive images per label and view, implied parents included (the torchxrayvision "
                  "`COVID19_Dataset` summary); the last row counts all images of each view.")
            s.table(f"findings_by_view_{src}", f"{src}: findings by view (images)", fv, max_rows=40)
            body = fv[fv["label"] != "(all images)"].set_index("label").drop(columns="total").head(15)
            if body.shape[1] > 1:
                s.figure(f"findings_by_view_{src}", f"{src}: findings by view",
                         F.heatmap(body, f"{src}: positive images by label and view", "view", "label", "images"))
    sev = S.severity_scores(ctx.bank)
    if _nonempty(sev):
        s.say("X-ray severity scores: geographic extent (0-8) and opacity (0-6), mean of the raters.")
        s.table("severity_summary", "X-ray severity scores", S.severity_summary(ctx.bank))
        s.figure("severity_geographic_extent", "Geographic extent",
                 F.value_histogram(sev, "geographic_extent", "X-ray severity: geographic extent (0-8)", "score",
                                   bins=[x / 2 for x in range(0, 18)], ylabel="images"))
        s.figure("severity_opacity", "Opacity",
                 F.value_histogram(sev, "opacity", "X-ray severity: opacity (0-6)", "score",
                                   bins=[x / 2 for x in range(0, 14)], ylabel="images"))
    if not s.items:
        s.say("No source-specific information (CT categories, views with labels, severity scores) in this bank.")
    return s


def _section_quality(ctx: ReportContext) -> Section:
    """Files present and missing, skipped records, missing demographics, exclusions, duplicates, leakage across splits."""
    s = Section("quality", "7. Data quality")
    mf = S.missing_files(ctx.bank)
    sk = S.skipped_reasons(ctx.bank)
    md = S.missing_demographics(ctx.bank, ctx.demographics)
    ex = S.excluded_images(ctx.bank)
    s.table("missing_files", "Image files present and missing", mf)
    s.figure("missing_files", "Files present/missing",
             F.faceted_bars(mf.melt(id_vars="source", value_vars=["present", "missing", "unknown"], var_name="state", value_name="n"),
                            "state", "n", "Image files on disk", "file state", "images"))
    s.table("skipped", "Records skipped when loading, by reason", sk)
    if not _nonempty(sk):
        s.say("No record was skipped when the sources were loaded.")
    s.table("missing_demographics", "Images and subjects without sex or age", md)
    s.table("excluded", "Images the source marks for exclusion", ex)
    dup = S.duplicate_summary(ctx.bank)
    leak = S.leakage_summary(ctx.bank)
    if dup is None:
        s.say("No `duplicates` table in the bank (run duplicate detection to fill this part).")
    else:
        s.table("duplicates", "Duplicate groups by size", dup)
    if leak is None:
        s.say("No `splits` table in the bank: leakage not checked.")
    else:
        s.table("leakage", "Leakage across splits", leak)
        ctx.numbers["leakage"] = leak.to_dict("records")
    ctx.numbers["missing_files"] = mf.to_dict("records")
    return s


#: The report's sections in order: (progress label, builder).  A builder takes the
#: :class:`ReportContext`, returns its :class:`Section` and may add headline numbers.
SECTIONS: list[tuple[str, Callable[[ReportContext], Section]]] = [
    ("counts", _section_counts),
    ("demographics", _section_demographics),
    ("acquisition", _section_acquisition),
    ("findings", _section_findings),
    ("diagnostic tests", _section_tests),
    ("per-source specifics", _section_sources),
    ("data quality", _section_quality),
]


def build_report(
    bank: Bank,
    trees: Iterable[str | Path] = (),
    reference_tree_counts: str | Path | None = None,
    title: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Compute every statistic and figure of the technical-validation report.

    Parameters
    ----------
    bank : Bank
        The bank to describe.
    trees : iterable of path
        PadChest ``trees_code`` files merged into the label vocabulary for the
        label tree (BIMCV labels).
    reference_tree_counts : path, optional
        A BIMCV ``tree_term_CUI_counts`` file: its hierarchy is merged into the
        vocabulary and its counts are compared with the bank's.
    title : str, optional
        Report title (default: ``Technical validation: <bank folder name>``).
    progress : callable, optional
        Called with each section's title as it starts.
    """
    say = progress or (lambda s: None)
    tree: LabelTree = default_tree(list(trees))
    ref = None
    if reference_tree_counts is not None:
        ref = read_tree_counts(reference_tree_counts)
        tree = tree_from_counts(ref, tree)
    ctx = ReportContext(bank, tree, ref, reference_tree_counts)
    sections: list[Section] = []
    for label, builder in SECTIONS:
        say(label)
        sections.append(builder(ctx))

    return Report(
        title=title or f"Technical validation: {bank.path.name}",
        bank=str(bank.path),
        created=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        sections=sections,
        numbers=ctx.numbers,
    )
