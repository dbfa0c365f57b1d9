"""Request size limits and the per-call audit row, as one pure ASGI middleware.

Why here and not in each route: a limit must act before the body is parsed
(a 2 GB upload must never reach the multipart parser), and "every call audited"
must include calls that fail validation, authentication or routing, which no
route function sees. Streaming responses are audited after the last byte, with
the counts the route left in ``request.state``.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine import audit
from engine.api.errors import engine_error_status, error_body
from engine.config import get_settings
from engine.errors import StoreBusyError
from engine.store import open_db

logger = logging.getLogger("clinsight.api")

# Not audited: liveness probes and the API's own documentation carry no data.
UNAUDITED_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
DOCS_STATIC = "/docs-static"  # Swagger UI's files, served locally (no CDN)


def body_limit(path: str) -> int:
    """Largest request body, in bytes, accepted for ``path``."""
    settings = get_settings()
    if path.startswith("/v1/imaging/"):
        return settings.api_max_upload_mb * 1024 * 1024
    if path.endswith("/batch"):
        return settings.api_max_batch_mb * 1024 * 1024
    return settings.api_max_json_kb * 1024


def _too_large(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"The request body is larger than the {limit // (1024 * 1024)} MB this endpoint accepts."
    return f"The request body is larger than the {limit // 1024} KB this endpoint accepts."


def outcome_for(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 401:
        return "unauthenticated"
    if status == 403:
        return "denied"
    if status < 500:
        return "rejected"
    return "error"


class ApiMiddleware:
    """Enforce body limits (413), turn unexpected exceptions into a JSON 500, audit every call."""

    def __init__(self, app: ASGIApp, *, audit_writer: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.app = app
        self.audit_writer = audit_writer or write_audit_row

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        state: dict[str, Any] = scope.setdefault("state", {})
        limit = body_limit(path)
        audited = path in UNAUDITED_PATHS or path.startswith(DOCS_STATIC + "/")
        status_holder: dict[str, Any] = {"status": None}

        async def audit_once(status: int | None) -> None:
            nonlocal audited
            if audited:
                return
            audited = True
            await run_in_threadpool(self.audit_writer, _audit_row(scope, state, status))

        held: list[Message] = []  # the response start, sent with the first body (so a failed audit can still answer)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                held.append(message)
                return
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                # The audit row is written before the last byte leaves: a client that has its answer
                # can rely on the call being in the audit trail (and a crash cannot lose the row).
                try:
                    await audit_once(status_holder["status"])
                except StoreBusyError as exc:
                    if not held:  # a stream already under way: it breaks off, audited as far as possible
                        raise
                    # The store went away (or stayed locked) before the row could be written: the client gets
                    # the store's sentence as a complete 503, not a cut connection nor an unaudited answer.
                    status, code = engine_error_status(exc)  # the API's one mapping (503, store_busy)
                    held.clear()
                    status_holder["status"] = status
                    await _send_json(send, status, error_body(status, str(exc), error=code))
                    return
            if held:
                await send(held.pop())
            await send(message)

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(status_code=413, detail=_too_large(limit))
            return message

        declared = _content_length(scope)
        try:
            if declared is not None and declared > limit:
                await _send_json(send_wrapper, 413, error_body(413, _too_large(limit)))
            else:
                await self.app(scope, receive_wrapper, send_wrapper)
        except Exception:  # a bug, not bad input: log it, answer JSON, never a traceback to the client
            logger.exception("unhandled error serving %s %s", scope.get("method"), path)
            if status_holder["status"] is None or held:  # nothing has left yet
                held.clear()
                await _send_json(send_wrapper, 500, error_body(
                    500, "The server hit an unexpected error; it has been logged. Please report it."))
            else:  # failed mid-stream: the client saw 200 and a cut-off body; the audit says what happened
                status_holder["status"] = 500
        finally:
            # Still unaudited: the client went away mid-stream, or the stream broke.
            await audit_once(status_holder["status"] or 500)


def _audit_row(scope: Scope, state: dict[str, Any], status: int | None) -> dict[str, Any]:
    details = {"method": scope.get("method"), "path": scope.get("path"), "status": status, "via": "api",
               **state.get("audit_details", {})}
    if state.get("token_id") is not None:
        details["token_id"] = state["token_id"]
    return {"username": state.get("username"), "action": state.get("action") or "api.request",
            "outcome": outcome_for(status or 500), "target_type": state.get("target_type"),
            "target_id": state.get("target_id"), "details": details}


def write_audit_row(row: dict[str, Any]) -> None:
    with open_db() as db:
        audit.record(db, **row)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_json(send: Send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
