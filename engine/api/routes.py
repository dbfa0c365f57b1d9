"""The API's routes: thin wrappers that check the role, call one engine function, store and return.

Engine modules are looked up per call (:func:`engine.api.features.load`) so a
feature that is not installed answers 503 with a sentence instead of breaking
the whole API. Sync routes run in FastAPI's thread pool, as engine calls block.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from engine.api import features
from engine.api.errors import engine_error_status, error_body
from engine.api.schemas import (BatchLine, BatchRequest, ErrorResponse, Health, IcuRequest, IcuResponse, ImagingResponse,
                                ModelCard, ModelList, ModelName,
                                PredictRequest, PredictResponse, TreatmentRequest, TreatmentResponse, Version)
from engine.api.security import require
from engine.api.service import imaging_payload, store_predictions
from engine.auth import User
from engine.errors import EngineError, InputError
from engine.store import open_db

router = APIRouter()

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "No token, or an unknown or revoked token.",
        403: "The token's role may not do this.",
        413: "The request body is too large.",
        422: "The request or the record is not valid (the detail says what and where).",
        503: "The engine feature or the model is not available in this build.",
    }.items()
}
NOT_FOUND = {404: {"model": ErrorResponse, "description": "No such model or version."}}
BATCH_CHUNK = 50  # records scored (and stored in one transaction) per streamed piece: first lines come fast

PathModel = Annotated[ModelName, Path(description="Model name, as listed by GET /v1/models.")]


def _set_target(request: Request, target_type: str, target_id: Any = None, **details: Any) -> None:
    request.state.target_type = target_type
    request.state.target_id = None if target_id is None else str(target_id)
    request.state.audit_details = {**getattr(request.state, "audit_details", {}), **details}


# --- health ------------------------------------------------------------------------------------------------------

@router.get("/health", response_model=Health, tags=["service"], summary="Liveness, store and installed features",
            responses={503: {"model": Health, "description": "The store does not open."}})
def health() -> JSONResponse:
    """No token needed; says whether the store opens and which engine features this build has."""
    try:
        with open_db() as db:
            db.conn.execute("SELECT 1").fetchone()
        store = "ok"
    except Exception:  # the health check must answer even when the store is broken
        store = "unavailable"
    body = Health(status="ok" if store == "ok" else "degraded", store=store, features=features.installed())
    return JSONResponse(body.model_dump(), status_code=200 if store == "ok" else 503)


# --- models ------------------------------------------------------------------------------------------------------

@router.get("/v1/models", response_model=ModelList, tags=["models"], responses=ERRORS,
            summary="Models and versions with their features and units")
def list_models(request: Request, user: User = Depends(require("api.models.read"))) -> dict[str, Any]:
    _set_target(request, "model")
    models = features.load("models")()
    request.state.audit_details = {"n": len(models)}
    return {"models": models}


@router.get("/v1/models/{name}", response_model=ModelCard, tags=["models"], responses={**ERRORS, **NOT_FOUND},
            summary="A model's card: training data, metrics with CIs, intended use and limits")
def get_model_card(request: Request, name: PathModel,
                   version: Annotated[Version | None, Query(description="A version; the promoted one if omitted.")]
                   = None,
                   user: User = Depends(require("api.models.read"))) -> dict[str, Any]:
    _set_target(request, "model", name, version=version)
    return features.load("model_card")(name, version=version)


# --- predictions -------------------------------------------------------------------------------------------------

@router.post("/v1/predict/{model}", response_model=PredictResponse, tags=["predict"],
             responses={**ERRORS, **NOT_FOUND}, summary="One calibrated prediction with its reasons")
def predict(request: Request, model: PathModel, body: PredictRequest,
            user: User = Depends(require("predict.run"))) -> dict[str, Any]:
    """Score one record; the prediction is stored with its inputs, output, explanation and user."""
    _set_target(request, "model", model, n=1)
    predict_record = features.load("predict")
    result = predict_record(model, dict(body.record), version=body.version)
    with open_db() as db:
        (prediction_id,) = store_predictions(db, user.username, [(dict(body.record), result)])
    request.state.audit_details.update({"version": result.get("version"), "prediction_id": prediction_id})
    return {**result, "prediction_id": prediction_id}


# One NDJSON line's schema; its nested models (PredictResponse, ErrorResponse) are components already.
_BATCH_LINE_SCHEMA = {k: v for k, v in BatchLine.model_json_schema(ref_template="#/components/schemas/{model}").items()
                      if k != "$defs"}


def _error_line(index: int, exc: EngineError) -> dict[str, Any]:
    status, code = engine_error_status(exc)
    return {"index": index, "ok": False, "error": error_body(status, str(exc), error=code)}


@router.post("/v1/predict/{model}/batch", tags=["predict"], responses={
    **ERRORS, **NOT_FOUND,
    200: {"description": "NDJSON: one line per record, in order (`{index, ok, result}` or `{index, ok: false, "
                         "error}`), then a last line `{summary: {n, ok, failed}}`.",
          "content": {"application/x-ndjson": {"schema": _BATCH_LINE_SCHEMA}}}},
    response_class=StreamingResponse,
    summary="Up to 10,000 records, scored and streamed back as NDJSON")
def predict_batch(request: Request, model: PathModel, body: BatchRequest,
                  user: User = Depends(require("predict.run"))) -> StreamingResponse:
    """A record the engine rejects gets an error line and does not stop the batch; an unknown or
    unavailable model fails the whole request before anything is streamed."""
    records = [dict(r) for r in body.records]
    _set_target(request, "model", model, n=len(records), version=body.version)
    predict_record = features.load("predict")
    # Score the first record now, so an unknown or unavailable model is a 404/503, not a 200 of errors.
    try:
        first: dict[str, Any] | EngineError = predict_record(model, records[0], version=body.version)
    except InputError as exc:  # a bad record, not a bad model: it becomes that record's error line
        first = exc
    counts = {"n": len(records), "ok": 0, "failed": 0}
    details = request.state.audit_details

    def lines() -> Iterator[bytes]:
        for start in range(0, len(records), BATCH_CHUNK):
            chunk: list[tuple[int, dict[str, Any] | EngineError]] = []
            for index in range(start, min(start + BATCH_CHUNK, len(records))):
                if index == 0:
                    chunk.append((0, first))
                    continue
                try:
                    chunk.append((index, predict_record(model, records[index], version=body.version)))
                except EngineError as exc:
                    chunk.append((index, exc))
            scored = [(i, r) for i, r in chunk if isinstance(r, dict)]
            with open_db() as db:
                ids = store_predictions(db, user.username, [(records[i], r) for i, r in scored])
            id_of = {i: pid for (i, _), pid in zip(scored, ids)}
            if ids:  # the audit row names the stored predictions this batch made
                details.setdefault("first_prediction_id", ids[0])
                details["last_prediction_id"] = ids[-1]
            out = []
            for index, result in chunk:
                if isinstance(result, EngineError):
                    counts["failed"] += 1
                    out.append(_error_line(index, result))
                else:
                    counts["ok"] += 1
                    shown = result if body.include_basis else {k: v for k, v in result.items() if k != "basis"}
                    payload = PredictResponse.model_validate({**shown, "prediction_id": id_of[index]})
                    out.append({"index": index, "ok": True, "result": payload.model_dump(mode="json")})
            details.update(counts)
            yield "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in out).encode("utf-8")
        yield (json.dumps({"summary": counts}) + "\n").encode("utf-8")

    return StreamingResponse(lines(), media_type="application/x-ndjson")


# --- imaging -----------------------------------------------------------------------------------------------------

@router.post("/v1/imaging/predict", response_model=ImagingResponse, tags=["imaging"], responses=ERRORS,
             summary="Chest X-ray (PNG, JPEG or DICOM) in; probability, quality verdict and heat-map out")
async def imaging_predict(request: Request,
                          file: Annotated[UploadFile, File(description="The image file (PNG, JPEG or DICOM).")],
                          user: User = Depends(require("api.imaging.run"))) -> dict[str, Any]:
    """The file type is sniffed from its content by the engine, never taken from its name."""
    data = await file.read()
    _set_target(request, "image", None, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    if not data:
        raise InputError("The uploaded file is empty.")
    predict_image = features.load("imaging")
    result = await run_in_threadpool(predict_image, data, file.filename)
    request.state.target_id = str(result.get("model"))
    request.state.audit_details["version"] = result.get("version")
    return imaging_payload(result)


# --- treatment ---------------------------------------------------------------------------------------------------

@router.post("/v1/treatment/suggest", response_model=TreatmentResponse, tags=["treatment"], responses=ERRORS,
             summary="Guideline-cited treatment options and the ones a contraindication blocks")
def treatment_suggest(request: Request, body: TreatmentRequest,
                      user: User = Depends(require("treatment.view"))) -> dict[str, Any]:
    """Options to review, each with its guideline; never a directive."""
    _set_target(request, "treatment", body.condition)
    record = body.record.model_dump(exclude_unset=True)
    suggest = features.load("treatment")
    result = suggest(record) if body.condition is None else suggest(record, condition=body.condition)
    request.state.audit_details.update({"options": len(result.get("options", [])),
                                        "blocked": len(result.get("blocked", []))})
    return result


# --- ICU ---------------------------------------------------------------------------------------------------------

@router.post("/v1/icu/predict", response_model=IcuResponse, tags=["icu"], responses=ERRORS,
             summary="Risk of in-hospital death and NEWS2 for one ICU stay's vital signs and labs")
def icu_predict(request: Request, body: IcuRequest, user: User = Depends(require("icu.predict"))) -> dict[str, Any]:
    """The same model, cleaning rules and NEWS2 as the Ward page; audited like every call."""
    _set_target(request, "icu", "icu_mortality", values=len(body.series))
    result = features.load("icu")(body.model_dump(exclude_unset=True))
    request.state.audit_details.update({"version": result["version"], "alert": result["alert"]})
    return result
