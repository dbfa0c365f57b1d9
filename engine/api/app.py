"""The FastAPI application: ``uvicorn --factory engine.api.app:create_app`` (``make api``).

Layers, outermost first: :class:`~engine.api.middleware.ApiMiddleware` (body
limits, JSON 500s, the audit row), FastAPI's exception handlers (engine errors
to 4xx JSON), then the routes (role check, one engine call, store).
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from engine.api.errors import install_handlers
from engine.api.middleware import DOCS_STATIC, ApiMiddleware
from engine.api.routes import router
from engine.store import connect

API_VERSION = "1.0.0"

DESCRIPTION = """
ClinSight's models over HTTP, for hospital systems (EHR, PACS router, research pipelines).

* Authenticate with a per-user API token (`Authorization: Bearer cst_...`) created by an administrator
  on the admin page. A token acts with its user's role: the same role checks as the app.
* Every call is audited. Every prediction is stored with model, version, inputs, output, explanation and user.
* Errors are JSON `{"error": code, "detail": sentence}`; bad input is always a 4xx.
* Outputs are decision support: read them with their warnings, interval and model card.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Migrate the store once, then hold one idle connection open for the life of the process.

    Why: requests open the store per use, and when the *last* connection to a
    WAL database closes, SQLite checkpoints and removes the WAL (fsyncs). With
    one connection always open that happens once at shutdown instead of on every
    request: an audited write measured 31 ms without it and 1.6 ms with it here.
    The held connection is never used for queries (no sharing across threads).
    """
    keeper = connect()
    try:
        yield
    finally:
        keeper.conn.close()


def create_app() -> FastAPI:
    """Build the app (no store access at build time: the lifespan opens the store at start-up)."""
    # FastAPIOffline serves Swagger UI's own files from the package: FastAPI's default /docs loads them from
    # a CDN at run time, which is blank on an offline hospital network and tells a third party who reads it.
    app = FastAPIOffline(title="ClinSight API", version=API_VERSION, description=DESCRIPTION, docs_url="/docs",
                         redoc_url=None, static_url=DOCS_STATIC, lifespan=lifespan)
    install_handlers(app)
    app.include_router(router)
    app.add_middleware(ApiMiddleware)
    return app
