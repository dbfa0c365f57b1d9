"""Exception handlers: every error leaves the API as JSON ``{"error", "detail"}`` with a 4xx/5xx code.

Why a table: the engine already raises typed errors with a sentence a person can
act on; the API only has to choose the HTTP status. Bad input is always a 4xx,
never a 500. Validation errors echo field locations and messages but never the
submitted values (they may be patient data).
"""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.api.features import FeatureUnavailableError
from engine.errors import (AuthError, EngineError, InputError, IntegrityError, ModelUnavailableError,
                           NotFoundError, StoreBusyError)

# Most specific first: the first matching class decides the status.
ENGINE_ERROR_STATUS: list[tuple[type[EngineError], int, str]] = [
    (FeatureUnavailableError, 503, "feature_unavailable"),
    (InputError, 422, "input_error"),
    (NotFoundError, 404, "not_found"),
    (ModelUnavailableError, 503, "model_unavailable"),
    (AuthError, 403, "forbidden"),
    (IntegrityError, 500, "integrity_error"),
    (StoreBusyError, 503, "store_busy"),  # nothing was written; the client may retry
    (EngineError, 400, "bad_request"),
]

STATUS_CODES: dict[int, str] = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "invalid_request", 429: "too_many_requests", 500: "internal_error", 503: "unavailable",
}


def error_body(status: int, detail: str, *, error: str | None = None, errors: list | None = None) -> dict:
    body: dict = {"error": error or STATUS_CODES.get(status, "error"), "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return body


def engine_error_status(exc: EngineError) -> tuple[int, str]:
    for cls, status, code in ENGINE_ERROR_STATUS:
        if isinstance(exc, cls):
            return status, code
    return 400, "bad_request"  # pragma: no cover - EngineError is the last row


def _clean_validation_errors(exc: RequestValidationError) -> list[dict]:
    """Location, message and type of each problem; the offending input is left out on purpose."""
    return [{"loc": [str(part) for part in err.get("loc", ())], "msg": str(err.get("msg", "")),
             "type": str(err.get("type", ""))} for err in exc.errors()]


def _validation_sentence(errors: list[dict]) -> str:
    if not errors:
        return "The request is not valid."
    first = errors[0]
    where = ".".join(p for p in first["loc"] if p != "body") or "body"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"The request is not valid: {where}: {first['msg']}{more}."


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(EngineError)
    async def _engine_error(request: Request, exc: EngineError) -> JSONResponse:
        status, code = engine_error_status(exc)
        return JSONResponse(error_body(status, str(exc), error=code), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean_validation_errors(exc)
        return JSONResponse(error_body(422, _validation_sentence(errors), errors=errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "The request could not be served."
        return JSONResponse(error_body(exc.status_code, detail), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))
