"""The one HTTP route beside the Streamlit app: trade a log-in ticket for the HttpOnly session cookie.

``POST /_clinsight/session`` with ``{"ticket": "..."}`` sets the cookie; ``DELETE`` clears it. Served by
``serve.py`` through ``st.App(routes=...)``, the only place in Streamlit 1.67 where a response header (and so
an HttpOnly cookie) can be set. A request whose ``Origin`` is another site is refused.
"""
from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from engine.config import get_settings
from engine.store import open_db
from engine.websession.service import ROUTE_PATH, redeem_ticket

MAX_BODY = 1024


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def _redeem(ticket: str) -> tuple[str, int] | None:
    with open_db() as db:
        return redeem_ticket(db, ticket)


async def session_cookie(request: Request) -> JSONResponse:
    """POST: set the session cookie for a valid ticket; DELETE: clear it."""
    name = get_settings().session_cookie_name
    secure = request.url.scheme == "https"
    if not _same_origin(request):
        return JSONResponse({"error": "forbidden", "detail": "Cross-site request refused."}, status_code=403)
    if request.method == "DELETE":
        response = JSONResponse({"ok": True})
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="strict")
        return response
    body = await request.body()
    try:
        ticket = json.loads(body)["ticket"] if len(body) <= MAX_BODY else None
    except (ValueError, KeyError, TypeError):
        ticket = None
    redeemed = await run_in_threadpool(_redeem, ticket) if isinstance(ticket, str) else None
    if redeemed is None:
        return JSONResponse({"error": "invalid_ticket", "detail": "The log-in ticket is not valid."}, status_code=401)
    value, max_age = redeemed
    response = JSONResponse({"ok": True})
    response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="strict")
    return response


def session_routes() -> list[Route]:
    return [Route(ROUTE_PATH, session_cookie, methods=["POST", "DELETE"])]
