"""The viewer's read-only REST API, mounted under ``/api`` (OpenAPI docs at ``/api/docs``).

Records are addressed by their bank ids (``cohen:images/1.jpeg``); files are
found through the index row of that id, never through a client-supplied path.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Optional

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from ..errors import RenderError
from ..pixels import is_nifti, record_needs_inversion
from .render import Renderer
from ..severity.grade import RESEARCH_NOTICE
from .store import CT_WINDOWS, LABEL_VALUES, BankStore, SearchQuery

__all__ = ["router", "query_from_params", "scrub_paths"]

_ABS_PATH = re.compile(r"(?<![\w.~])(?:[A-Za-z]:)?(?:[/\\][^\s/\\:'\"<>|]+)+[/\\]?")


def scrub_paths(text: str) -> str:
    """``text`` with every absolute path reduced to its last part (no error shows where files live)."""
    def name(m: re.Match) -> str:
        parts = [p for p in re.split(r"[/\\]", m.group(0)) if p]
        return parts[-1] if parts else ""
    return _ABS_PATH.sub(name, str(text))

router = APIRouter(prefix="/api", tags=["bank"])

_PNG = {"content": {"image/png": {}}, "description": "PNG image"}
_CACHE = {"Cache-Control": "private, max-age=300"}


def _store(request: Request) -> BankStore:
    return request.app.state.store


def _renderer(request: Request) -> Renderer:
    return request.app.state.renderer


def _float(v: Optional[str], name: str = "value") -> float | None:
    """A finite number, None for an empty parameter; 400 for anything else (``inf``, ``nan``, ``abc``)."""
    if v in (None, ""):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise HTTPException(400, f"{name} must be a number") from None
    if not math.isfinite(f):
        raise HTTPException(400, f"{name} must be a finite number")
    return f


def query_from_params(params) -> SearchQuery:
    """Build a :class:`SearchQuery` from a request's query parameters (a bad number answers 400)."""

    def ints(name: str, default: int) -> int:
        v = params.get(name)
        if v in (None, ""):
            return default
        try:
            n = int(v)
        except ValueError:
            raise HTTPException(400, f"{name} must be a whole number") from None
        if n < 1 or n > 100_000:
            raise HTTPException(400, f"{name} must be between 1 and 100000")
        return n

    fp = params.get("file_present")
    return SearchQuery(
        source=params.getlist("source"),
        modality=params.getlist("modality"),
        view=params.getlist("view"),
        sex=params.getlist("sex"),
        age_min=_float(params.get("age_min"), "age_min"),
        age_max=_float(params.get("age_max"), "age_max"),
        label=params.get("label"),
        value=params.get("value") or "positive",
        ct_grade=params.getlist("ct_grade"),
        split=params.getlist("split"),
        q=params.get("q"),
        file_present=None if fp in (None, "") else fp in ("1", "true", "yes"),
        page=ints("page", 1),
        per_page=ints("per_page", 50),
    )


@router.get("/records", summary="Search images")
def records(
    request: Request,
    source: list[str] = Query([], description="Source name(s), e.g. cohen"),
    modality: list[str] = Query([], description="CR, DX, CT or X-ray"),
    view: list[str] = Query([], description="PA, AP, AP Supine, L, Axial, Coronal, unknown"),
    sex: list[str] = Query([], description="M or F"),
    age_min: Optional[float] = Query(None),
    age_max: Optional[float] = Query(None),
    label: Optional[str] = Query(None, description="Label name or CUI; its descendants match too (Pneumonia finds COVID-19)"),
    value: str = Query("positive", description="positive, negative, uncertain or any"),
    ct_grade: list[str] = Query([], description="CT-0 .. CT-4"),
    split: list[str] = Query([], description="Split name when the bank has a splits table"),
    q: Optional[str] = Query(None, description="Text in the report or clinical notes"),
    file_present: Optional[bool] = Query(None),
    page: int = Query(1, ge=1),
    per_page: int = Query(50, ge=1, le=500),
) -> dict:
    """Images matching the filters, one page at a time, with facet counts."""
    if value not in LABEL_VALUES and value != "any":
        raise HTTPException(422, f"value must be one of {', '.join(LABEL_VALUES)} or any")
    for n, v in (("age_min", age_min), ("age_max", age_max)):
        if v is not None and not math.isfinite(v):
            raise HTTPException(400, f"{n} must be a finite number")
    sq = SearchQuery(source, modality, view, sex, age_min, age_max, label, value, ct_grade, split, q, file_present, page, per_page)
    res = _store(request).search(sq)
    return {
        "total": res.total,
        "page": res.page,
        "per_page": res.per_page,
        "pages": res.pages,
        "results": res.rows,
        "facets": {k: [{"value": v, "count": n} for v, n in vals] for k, vals in res.facets.items()},
    }


@router.get("/records/{image_id:path}", summary="One image record")
def record(request: Request, image_id: str) -> dict:
    """An image record with its labels (values and CUIs), session, subject and severity rows."""
    return _store(request).record(image_id)


@router.get("/subjects/{subject_id:path}", summary="One subject (case)")
def subject(request: Request, subject_id: str) -> dict:
    """A subject with sessions in day-offset order, their images and labels, and tests."""
    return _store(request).case(subject_id)


@router.get("/labels", summary="Labels in the bank")
def labels(request: Request) -> list[dict]:
    """Label names in the bank (and their ancestors) with CUI and parents."""
    st = _store(request)
    out = []
    for name in st.all_labels():
        lab = st.tree.get(name)
        out.append({"label": name, "cui": lab.cui if lab else None, "parents": sorted(lab.parents) if lab else []})
    return out


@router.get("/summary", summary="Bank counts")
def summary(request: Request) -> dict:
    """Counts per source, modality, view, sex, CT grade, label, split and skipped reasons."""
    return _store(request).summary()


def _file(request: Request, image_id: str) -> tuple[dict, Path]:
    st = _store(request)
    rec, path = st.image_file(image_id)
    problem = st.file_problem(rec)
    if problem or path is None:
        raise HTTPException(404, problem or "no file")
    return rec, path


def _masks(request: Request, rec: dict, kinds: list[str] | None = None) -> list[tuple[str, Path]]:
    masks = _store(request).masks(rec)
    if kinds:
        want = {k.lower() for k in kinds}
        masks = [m for m in masks if m[0] in want]
    return masks


@router.get("/image/{image_id:path}", summary="Rendered image", responses={200: _PNG})
def image(
    request: Request,
    image_id: str,
    wc: Optional[float] = Query(None, description="Window center in the file's units (default: auto)"),
    ww: Optional[float] = Query(None, gt=0, description="Window width (default: auto)"),
    size: int = Query(1024, ge=16, le=4096, description="Longest side in pixels"),
    overlay: bool = Query(False, description="Draw the record's masks over the image"),
    mask: list[str] = Query([], description="Mask kinds to draw (default: all), e.g. lung"),
) -> Response:
    """A 2-D image windowed to 8 bits as PNG (16-bit PNGs keep their full range until windowed)."""
    rec, path = _file(request, image_id)
    if rec.get("is_volume"):
        raise HTTPException(404, f"{image_id} is a volume: use /api/slice")
    masks = _masks(request, rec, mask) if overlay else []
    try:
        data, (c, w) = _renderer(request).image_png(path, wc, ww, size, masks, invert=record_needs_inversion(rec))
    except RenderError as e:
        raise HTTPException(422, scrub_paths(str(e)))
    return Response(data, media_type="image/png", headers={**_CACHE, "X-Window-Center": f"{c:g}", "X-Window-Width": f"{w:g}"})


@router.get("/imageinfo/{image_id:path}", summary="Image size, bit depth and default window")
def imageinfo(request: Request, image_id: str) -> dict:
    """Width, height, bits, value range and default window of a 2-D image."""
    rec, path = _file(request, image_id)
    try:
        kinds = [k for k, _ in _masks(request, rec)]
        return {"image_id": image_id, "masks": kinds, **_renderer(request).image_info(path, record_needs_inversion(rec))}
    except RenderError as e:
        raise HTTPException(422, scrub_paths(str(e)))


@router.get("/thumbnail/{image_id:path}", summary="Cached thumbnail", responses={200: _PNG})
def thumbnail(request: Request, image_id: str) -> Response:
    """A PNG thumbnail (cached on disk; a changed file gets a new one)."""
    rec, path = _file(request, image_id)
    try:
        data = _renderer(request).thumbnail(image_id, path, record_needs_inversion(rec))
    except RenderError as e:
        raise HTTPException(422, scrub_paths(str(e)))
    return Response(data, media_type="image/png", headers=_CACHE)


def _volume_paths(request: Request, image_id: str) -> tuple[dict, Path | None, list[tuple[str, Path]], str | None]:
    st = _store(request)
    rec, path = st.image_file(image_id)
    problem = st.file_problem(rec)
    masks = _masks(request, rec)
    if problem and not masks:
        raise HTTPException(404, problem)
    if not problem and not is_nifti(path.name):
        raise HTTPException(404, f"{image_id} is not a NIfTI volume")
    return rec, (None if problem else path), masks, problem


@router.get("/volume/{image_id:path}", summary="CT volume information")
def volume(request: Request, image_id: str) -> dict:
    """Shape, spacing, HU range and mask labels of a CT volume, its window presets and severity rows."""
    rec, path, masks, problem = _volume_paths(request, image_id)
    try:
        info = _renderer(request).volume_info(path, masks)
    except RenderError as e:
        raise HTTPException(422, scrub_paths(str(e)))
    return {
        "image_id": image_id,
        **info,
        "volume_problem": problem,
        "windows": {k: {"center": c, "width": w} for k, (c, w) in CT_WINDOWS.items()},
        "severity": _store(request).severity(rec),
        "notice": RESEARCH_NOTICE,
    }


@router.get("/slice/{image_id:path}", summary="Axial CT slice", responses={200: _PNG})
def slice_(
    request: Request,
    image_id: str,
    z: int = Query(..., ge=0, description="Axial slice index (0 = most inferior)"),
    window: str = Query("lung", description="lung or mediastinum (ignored when wc and ww are given)"),
    wc: Optional[float] = Query(None),
    ww: Optional[float] = Query(None, gt=0),
    overlay: bool = Query(True, description="Draw the record's masks"),
    mask: list[str] = Query([], description="Mask kinds to draw (default: all), e.g. lesion, lung"),
) -> Response:
    """Axial slice ``z`` in radiological convention, HU-windowed, with lesion/lung mask overlays."""
    rec, path, masks, _problem = _volume_paths(request, image_id)
    if window not in CT_WINDOWS and (wc is None or ww is None):
        raise HTTPException(422, f"window must be one of {', '.join(CT_WINDOWS)}")
    c, w = (wc, ww) if wc is not None and ww is not None else CT_WINDOWS[window]
    if mask:
        masks = [m for m in masks if m[0] in {k.lower() for k in mask}]
    if not overlay and path is not None:
        masks = []
    try:
        data = _renderer(request).slice_png(path, z, c, w, masks)
    except RenderError as e:
        raise HTTPException(422, scrub_paths(str(e)))
    return Response(data, media_type="image/png", headers=_CACHE)
