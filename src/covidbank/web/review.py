"""The review queue of burned-in text in the viewer: ``/review`` (queue), ``/review/{image}`` (decide).

The queue and the images are read-only pages.  Decisions (``POST
/review/{image}/decision``) are accepted only when the viewer runs with
``covidbank serve --review`` and only from the page's own script: a JSON body
and the ``X-Covidbank-Review`` header, which a page of another site cannot
send without a CORS preflight the viewer never grants.  They are stored in the
bank (:func:`covidbank.ocr.review.record_decision`) and applied by the next
``covidbank ingest`` run.
"""
from __future__ import annotations

import io

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ..errors import BankError

__all__ = ["accepts", "router"]

router = APIRouter(include_in_schema=False)
HEADER = "x-covidbank-review"
_MAX_SIDE = 1024


def accepts(request: Request) -> bool:
    """Whether a state-changing request is a review decision the viewer may take."""
    return (bool(getattr(request.app.state, "review", False)) and request.method == "POST"
            and request.url.path.startswith("/review/") and request.url.path.endswith("/decision")
            and request.headers.get(HEADER) == "1"
            and request.headers.get("content-type", "").split(";")[0].strip() == "application/json")


def _bank(request: Request):
    return request.app.state.store.root


def _page(request: Request, name: str, **ctx) -> HTMLResponse:
    from .pages import templates

    html = templates.get_template(name).render(request=request, bank_name=_bank(request).name, **ctx)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/review", response_class=HTMLResponse)
def queue_page(request: Request) -> HTMLResponse:
    from ..ocr.review import review_queue

    items = review_queue(_bank(request), include_decided=True)
    return _page(request, "review.html", title="Review: burned-in text", items=items,
                 writable=bool(request.app.state.review))


@router.get("/review/{stem}", response_class=HTMLResponse)
def item_page(request: Request, stem: str) -> HTMLResponse:
    from ..ocr.review import review_queue

    items = review_queue(_bank(request), include_decided=True)
    match = [it for it in items if it["stem"] == stem]
    if not match:
        raise HTTPException(404, "no image of the review queue has this name")
    i = items.index(match[0])
    nxt = items[i + 1]["stem"] if i + 1 < len(items) else None
    return _page(request, "review_item.html", title=f"Review {stem}", item=match[0], next_stem=nxt,
                 rank=i + 1, total=len(items), writable=bool(request.app.state.review))


@router.get("/review/{stem}/image.png")
def item_image(request: Request, stem: str) -> Response:
    """The X-ray windowed to 8 bits (percentile window), longest side at most 1024 px."""
    from PIL import Image

    from ..ocr.detect import window_to_uint8
    from ..ocr.review import image_path

    try:
        p = image_path(_bank(request), stem)
    except BankError:
        raise HTTPException(404, "no such image") from None
    if not p.exists():
        raise HTTPException(404, "the image is not in the bank (excluded)")
    import numpy as np

    im = Image.fromarray(window_to_uint8(np.asarray(Image.open(p))))
    im.thumbnail((_MAX_SIDE, _MAX_SIDE))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return Response(buf.getvalue(), media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/review/{stem}/decision")
async def decide(request: Request, stem: str) -> JSONResponse:
    from ..ocr.review import record_decision

    if not accepts(request):  # the middleware let it through only if so; keep the check next to the write
        raise HTTPException(403, "review decisions need covidbank serve --review")
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    try:
        rec = record_decision(_bank(request), stem, str(body.get("decision", "")), body.get("boxes") or [])
    except BankError as e:
        raise HTTPException(400, str(e)) from None
    return JSONResponse({"stem": stem, **rec, "applied": "by the next covidbank ingest run"})
