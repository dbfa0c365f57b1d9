"""Pydantic models for every API request and response (they are the OpenAPI schema at /docs).

Why bounds on every field: the schema is the first size and type gate. A record
is a flat map of feature name to a number, a short text, a boolean or null,
never nested objects, so a client cannot send something the engine would have
to guess about; NaN and infinity are refused (JSON has neither).
"""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

MAX_FEATURES = 200

FeatureName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
FeatureValue = bool | int | FiniteNumber | ShortText | None
Record = Annotated[dict[FeatureName, FeatureValue], Field(max_length=MAX_FEATURES)]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Version = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")]


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body: a machine-readable code and a sentence a person can act on."""

    error: str = Field(description="Short code, e.g. invalid_request, input_error, not_found, forbidden.")
    detail: str = Field(description="What is wrong and what to do about it.")
    errors: list[dict[str, Any]] | None = Field(default=None, description="Field-level problems, when known.")


# --- predictions -------------------------------------------------------------------------------------------------

class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"record": {"age": 63, "sex": "male", "trestbps": 145, "chol": 233}, "version": None}]})

    record: Record = Field(description="Feature name -> value, in the units the model card lists.")
    version: Version | None = Field(default=None, description="Model version; the promoted one when omitted.")


class Contribution(BaseModel):
    model_config = ConfigDict(extra="allow")

    feature: str
    value: Any = None
    unit: str | None = None
    contribution: float


class PredictResponse(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    model: str
    version: str
    probability: float = Field(description="Calibrated probability of the outcome, 0-1.")
    interval: list[float] = Field(description="Uncertainty interval [low, high] around the probability.")
    risk_band: str | None = None
    contributions: list[Contribution] = Field(default_factory=list,
                                              description="Why: each feature's contribution to this prediction.")
    warnings: list[str] = Field(default_factory=list,
                                description="Caveats to read with the result (imputed, out-of-range inputs...).")
    prediction_id: int | None = Field(default=None, description="Id of the stored prediction record.")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: Annotated[list[Record], Field(min_length=1, max_length=10_000)] = Field(
        description="Up to 10,000 records; results stream back as NDJSON, one line per record, in order.")
    version: Version | None = None
    include_basis: bool = Field(default=False, description=(
        "Add each result's 'basis' (every input beside its training range; about 10 KB a line). The stored "
        "prediction keeps it either way."))


class BatchLine(BaseModel):
    """One NDJSON line of a batch response (the last line has ``summary`` instead)."""

    index: int | None = None
    ok: bool | None = None
    result: PredictResponse | None = None
    error: ErrorResponse | None = None
    summary: dict[str, int] | None = None


# --- imaging -----------------------------------------------------------------------------------------------------

class ImageQuality(BaseModel):
    model_config = ConfigDict(extra="allow")

    ok: bool
    warnings: list[str] = Field(default_factory=list)


class ImagingResponse(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    model: str
    version: str
    probability: float | None = Field(description="Probability of pneumonia; null when withheld for quality.")
    interval: list[float] | None = None
    quality: ImageQuality
    heatmap_png_base64: str | None = Field(default=None, description="Heat-map as a base64-encoded PNG.")


# --- models ------------------------------------------------------------------------------------------------------

class FeatureSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    unit: str | None = None


class ModelSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    status: str | None = None
    title: str | None = None
    features: list[FeatureSpec] = Field(default_factory=list)


class ModelList(BaseModel):
    models: list[ModelSummary]


class ModelCard(BaseModel):
    """The model card as stored with the bundle (training data, metrics with CIs, intended use, limits)."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    version: str | None = None


# --- treatment ---------------------------------------------------------------------------------------------------

ListOfItems = Annotated[list[ShortText | dict[str, JsonValue]], Field(max_length=500)]


class TreatmentRecord(BaseModel):
    """The canonical patient record the treatment rules read (the engine validates units and codes).

    Known fields are typed for the schema at /docs; anything else is passed on for
    the engine to accept or refuse with a sentence (422).
    """

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "age": 58, "sex": "female", "conditions": [{"code": "E11", "system": "ICD-10-CM"}],
        "observations": [{"code": "4548-4", "value": 7.9, "unit": "%", "time": "2026-10-01"}],
        "medications": ["metformin"], "allergies": []}]})

    age: FiniteNumber | None = Field(default=None, description="Years.")
    sex: ShortText | None = Field(default=None, description="female, male, other or unknown.")
    conditions: ListOfItems | None = Field(default=None, description="ICD-10-CM codes or {code, system} objects.")
    observations: Annotated[list[dict[str, JsonValue]], Field(max_length=2000)] | None = Field(
        default=None, description="{code (LOINC), value, unit, time} objects.")
    medications: ListOfItems | None = None
    allergies: ListOfItems | None = None
    predictions: Annotated[list[dict[str, JsonValue]], Field(max_length=100)] | None = None
    as_of: ShortText | None = Field(default=None, description="Review date-time, ISO 8601 (default: now).")
    confirmed: dict[str, JsonValue] | None = Field(
        default=None, description="Clinician-confirmed states: pregnant, angioedema_history (true/false); "
                                  "not given = unknown, shown 'to confirm'.")


class TreatmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    record: TreatmentRecord
    condition: Annotated[str, StringConstraints(min_length=1, max_length=16)] | None = Field(
        default=None, description="Restrict to one condition (ICD-10-CM code), e.g. E11.")


class TreatmentResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    options: list[dict[str, Any]] = Field(description="Ranked options, each with its guideline citation.")
    blocked: list[dict[str, Any]] = Field(default_factory=list,
                                          description="Options excluded by a contraindication, with the reason.")
    warnings: list[str] = Field(default_factory=list)


# --- health ------------------------------------------------------------------------------------------------------

class Health(BaseModel):
    status: str
    store: str
    features: dict[str, bool] = Field(description="Which engine features are installed in this build.")
