"""The viewer application: :func:`create_app` builds the FastAPI app for one bank."""
from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import RecordNotFoundError
from ..labels import LabelTree
from . import api, pages
from . import review as review_pages
from .render import Renderer, default_cache_dir
from .store import BankStore

__all__ = ["create_app", "STATIC_DIR", "TEMPLATE_DIR", "CSP", "DOCS_CSP"]

#: Content-Security-Policy of every response: scripts and styles from the viewer only, no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: The API docs page (Swagger UI, served from the package) starts itself with an inline script.
DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATE_DIR = Path(__file__).parent / "templates"


def create_app(
    bank_path: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    tree: LabelTree | None = None,
    thumb_size: int = 256,
    allowed_hosts: list[str] | None = None,
    review: bool = False,
) -> FastAPI:
    """Build the read-only viewer for the bank at ``bank_path``.

    Parameters
    ----------
    bank_path : str or Path
        The bank folder (its ``index/`` is read; nothing is written to it).
    cache_dir : str or Path, optional
        Thumbnail cache folder (default: ``~/.cache/covidbank/web/<bank hash>``).
    tree : LabelTree, optional
        Label vocabulary for hierarchical label search.
    thumb_size : int
        Longest side of thumbnails in pixels.
    allowed_hosts : list of str, optional
        Accept only requests whose ``Host`` header names one of these (400
        otherwise): ``covidbank serve`` on a loopback address passes the
        loopback names, which stops DNS-rebinding pages from reading the bank.
    review : bool
        Accept the curators' decisions of the burned-in text review queue
        (``/review``; stored in the bank's ``.covidbank/``): the one write the
        viewer can make, off by default.

    Raises
    ------
    covidbank.errors.BankError
        When ``bank_path`` is not a bank folder.
    """
    store = BankStore(bank_path, tree=tree)
    renderer = Renderer(Path(cache_dir) if cache_dir else default_cache_dir(store.root), thumb_size=thumb_size)
    # The API docs page loads Swagger UI from the package (fastapi-offline), not from a CDN,
    # so it works on a machine without internet access.
    from fastapi_offline import FastAPIOffline

    app = FastAPIOffline(
        title="covidbank viewer",
        description=f"Read-only viewer and REST API for the bank at `{store.root.name}`.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        static_url="/api/docs-static",
    )
    app.state.store = store
    app.state.renderer = renderer
    app.include_router(api.router)
    app.include_router(pages.router)
    app.state.review = review
    app.include_router(review_pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if allowed_hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.exception_handler(StarletteHTTPException)
    async def _errors(request: Request, exc: StarletteHTTPException):
        detail = api.scrub_paths(str(exc.detail)) if exc.detail is not None else None
        if request.url.path.startswith(("/api", "/static")):
            return await http_exception_handler(request, StarletteHTTPException(exc.status_code, detail, exc.headers))
        html = pages.templates.get_template("error.html").render(
            request=request, status=exc.status_code, detail=detail, title=f"Error {exc.status_code}"
        )
        return HTMLResponse(html, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _bad_parameter(request: Request, exc: RequestValidationError):
        # a parameter that is not a number where one is expected (or out of range) is the client's error: 400
        names = sorted({".".join(str(x) for x in e.get("loc", ())[1:]) or "parameter" for e in exc.errors()})
        return await _errors(request, StarletteHTTPException(400, f"invalid parameter(s): {', '.join(names)}"))

    @app.exception_handler(RecordNotFoundError)
    async def _not_found(request: Request, exc: RecordNotFoundError):
        # an unknown record id is a 404 on every route, API (JSON) and pages (HTML)
        return await _errors(request, StarletteHTTPException(404, str(exc)))

    @app.middleware("http")
    async def _read_only(request: Request, call_next):
        if request.method not in ("GET", "HEAD", "OPTIONS") and not review_pages.accepts(request):
            resp = HTMLResponse("read-only viewer", status_code=405)
        else:
            resp = await call_next(request)
        docs = request.url.path.startswith(("/api/docs", "/api/docs-static"))
        resp.headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else CSP)
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return resp

    return app
