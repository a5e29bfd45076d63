"""Server-rendered HTML pages: search, case, CT viewer, summary, validation report."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

from ..severity.grade import RESEARCH_NOTICE
from markupsafe import Markup, escape

from .api import query_from_params
from .store import CT_WINDOWS, LABEL_VALUES, BankStore

__all__ = ["router", "templates", "highlight", "is_http", "REPORT_CSP"]

#: Content-Security-Policy of the validation report page (a file inside the bank, possibly shared by others).
REPORT_CSP = ("sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; font-src data:; "
              "frame-ancestors 'none'")

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def is_http(url: object) -> bool:
    """Whether ``url`` may become a link: only ``http://`` and ``https://`` (never ``javascript:``, ``data:``, ...)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(str(url).strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc) and not any(c in str(url) for c in "\r\n\t")


templates.env.filters["is_http"] = is_http


def idq(value: str) -> str:
    """URL-encode a record id for use in a path (``#``, ``?``, ``%`` and spaces escaped)."""
    return quote(str(value), safe=":/@!$&'()*+,;=-._~")


def highlight(text: str | None, terms: Iterable[str]) -> Markup:
    """Escape ``text`` and wrap every case-insensitive whole-word mention of ``terms`` in ``<mark>``."""
    if not text:
        return Markup("")
    words = sorted({t for t in terms if t and len(t) > 2}, key=len, reverse=True)
    if not words:
        return escape(text)
    pat = re.compile(r"(?<!\w)(" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.I)
    out, last = [], 0
    for m in pat.finditer(text):
        out.append(escape(text[last : m.start()]))
        out.append(Markup('<mark class="mention">') + escape(m.group(0)) + Markup("</mark>"))
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


templates.env.filters["idq"] = idq
templates.env.filters["fmt"] = _fmt
templates.env.globals["CT_WINDOWS"] = CT_WINDOWS
templates.env.globals["RESEARCH_NOTICE"] = RESEARCH_NOTICE
templates.env.globals["LABEL_VALUES"] = LABEL_VALUES


def _store(request: Request) -> BankStore:
    return request.app.state.store


def _render(request: Request, name: str, **ctx) -> HTMLResponse:
    st = _store(request)
    ctx.setdefault("bank_name", st.root.name)
    return templates.TemplateResponse(request, name, ctx)


_CLINICAL = [
    ("temperature", "Temperature (°C)"),
    ("po2_saturation", "pO2 saturation (%)"),
    ("leukocyte_count", "Leukocytes (10³/µL)"),
    ("neutrophil_count", "Neutrophils (10³/µL)"),
    ("lymphocyte_count", "Lymphocytes (10³/µL)"),
    ("intubated", "Intubated"),
    ("intubation_present", "Intubation present"),
    ("went_icu", "Went to ICU"),
    ("in_icu", "In ICU"),
    ("needed_supplemental_o2", "Supplemental O2"),
    ("extubated", "Extubated"),
    ("location", "Location"),
    ("date", "Date (as published)"),
]


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request) -> HTMLResponse:
    """The search page: filters, facet counts, a thumbnail grid, pages."""
    st = _store(request)
    q = query_from_params(request.query_params)
    res = st.search(q)
    q.page = res.page

    def url(**override) -> str:
        return "/?" + urlencode(q.params(**override), doseq=True)

    def toggle(field: str, value: str) -> str:
        cur = list(getattr(q, field))
        new = [v for v in cur if v != value] if value in cur else cur + [value]
        return url(**{field: new, "page": None})

    label_matches = sorted(st.label_names(q.label)[0]) if q.label else []
    return _render(
        request,
        "search.html",
        title="Search",
        q=q,
        res=res,
        url=url,
        toggle=toggle,
        labels=st.all_labels(),
        has_splits="splits" in st.tables,
        label_matches=label_matches,
    )


@router.get("/case/{subject_id:path}", response_class=HTMLResponse)
def case_page(request: Request, subject_id: str) -> HTMLResponse:
    """A subject's sessions in time order with images, labels, report, clinical data, provenance."""
    st = _store(request)
    case = st.case(subject_id)
    for s in case["sessions"]:
        terms: set[str] = set()
        for im in s["images"]:
            for lab in im["labels"]:
                if lab["value"] == 1:
                    terms.add(lab["label"])
                    terms |= st.tree.names(lab["label"], include_descendants=False)
        s["report_html"] = highlight(s.get("report"), terms)
        s["notes_html"] = highlight(s.get("clinical_notes"), terms)
        s["clinical"] = [(label, s.get(k)) for k, label in _CLINICAL if s.get(k) is not None]
    return _render(request, "case.html", title=f"Case {subject_id}", case=case)


@router.get("/ct/{image_id:path}", response_class=HTMLResponse)
def ct_page(request: Request, image_id: str) -> HTMLResponse:
    """The CT viewer for one volume record."""
    st = _store(request)
    rec = st.record(image_id)
    problem = st.file_problem(rec["image"])
    masks = [k for k, _ in st.masks(rec["image"])]
    return _render(request, "ct.html", title=f"CT {image_id}", rec=rec, problem=problem, masks=masks)


@router.get("/summary", response_class=HTMLResponse)
def summary_page(request: Request) -> HTMLResponse:
    """Counts of the bank and a link to its technical-validation report."""
    st = _store(request)
    return _render(request, "summary.html", title="Summary", s=st.summary(), report=st.report_file() is not None)


@router.get("/report")
def report_page(request: Request) -> FileResponse:
    """The bank's technical-validation report (``report.html`` inside the bank)."""
    p = _store(request).report_file()
    if p is None:
        raise HTTPException(404, "this bank has no technical-validation report (make one with `covidbank report`)")
    # served as an opaque sandboxed document: its scripts do not run and it cannot reach the viewer's origin
    return FileResponse(p, media_type="text/html", headers={"Content-Security-Policy": REPORT_CSP})
