"""Small stand-ins for engine features that are NOT yet on main (prediction, registry, imaging, treatment).

They follow the contracts the API is coded against (issue 9 brief) and exist only
so the API layer can be tested before those features merge. The ``engine_features``
fixture installs a stand-in ONLY for a module that cannot be imported; once the
real module is on main it is used instead and these are dead code. The numbers
here are synthetic (a toy logistic model), never a clinical claim.
"""
from __future__ import annotations

import io
import math
import types
from typing import Any

from engine.errors import InputError, NotFoundError

MODEL = "standin_risk"
VERSION = "0.0-standin"
FEATURES = [
    {"name": "age", "unit": "a", "min": 18, "max": 100, "example": 63, "weight": 0.04, "centre": 55},
    {"name": "sbp", "unit": "mm[Hg]", "min": 70, "max": 250, "example": 145, "weight": 0.02, "centre": 130},
    {"name": "smoker", "unit": None, "min": 0, "max": 1, "example": True, "weight": 0.7, "centre": 0},
]


def list_models() -> list[dict[str, Any]]:
    return [{"name": MODEL, "version": VERSION, "status": "promoted", "title": "Stand-in risk (synthetic)",
             "features": [{k: f[k] for k in ("name", "unit", "min", "max", "example")} for f in FEATURES]}]


def get_card(name: str, version: str | None = None) -> dict[str, Any]:
    if name != MODEL or version not in (None, VERSION):
        raise NotFoundError(f"There is no model '{name}'" + (f" version {version}." if version else "."))
    return {"name": MODEL, "version": VERSION, "title": "Stand-in risk (synthetic)",
            "features": list_models()[0]["features"], "intended_use": "Tests of the API layer only.",
            "metrics": {"auc": {"value": 0.5, "ci95": [0.4, 0.6]}}}


def predict_record(name: str, record: dict, version: str | None = None) -> dict[str, Any]:
    get_card(name, version)
    warnings: list[str] = []
    contributions = []
    logit = -1.0
    for spec in FEATURES:
        value = record.get(spec["name"])
        if value is None:
            warnings.append(f"'{spec['name']}' is missing and was imputed.")
            value = spec["centre"]
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float)):
            raise InputError(f"Feature '{spec['name']}' must be a number.")
        if not spec["min"] <= value <= spec["max"]:
            warnings.append(f"'{spec['name']}' is outside the training range {spec['min']}-{spec['max']}.")
        term = spec["weight"] * (value - spec["centre"])
        logit += term
        contributions.append({"feature": spec["name"], "value": value, "unit": spec["unit"], "contribution": term})
    unknown = sorted(set(record) - {f["name"] for f in FEATURES})
    if unknown:
        warnings.append(f"{len(unknown)} unknown field(s) were ignored.")
    p = 1 / (1 + math.exp(-max(-30.0, min(30.0, logit))))
    return {"model": MODEL, "version": VERSION, "probability": p, "interval": [max(0.0, p - 0.05), min(1.0, p + 0.05)],
            "contributions": contributions, "warnings": warnings, "risk_band": "high" if p >= 0.5 else "low"}


def predict_image(data: bytes, filename: str | None = None) -> dict[str, Any]:
    from PIL import Image, UnidentifiedImageError

    if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")):
        raise InputError("The file is not a PNG, JPEG or DICOM image.")
    try:
        image = Image.open(io.BytesIO(data)).convert("L")
    except (UnidentifiedImageError, OSError):
        raise InputError("The image could not be decoded.") from None
    if min(image.size) < 64:
        return {"model": "standin_xray", "version": VERSION, "probability": None, "interval": None,
                "quality": {"ok": False, "warnings": ["The image is too small to read."]}, "heatmap_png": None}
    mean = sum(image.resize((8, 8)).tobytes()) / 64 / 255
    heat = io.BytesIO()
    image.resize((32, 32)).save(heat, format="PNG")
    return {"model": "standin_xray", "version": VERSION, "probability": mean, "interval": [mean * 0.9, mean],
            "quality": {"ok": True, "warnings": []}, "heatmap_png": heat.getvalue()}


def suggest(record: dict, *, condition: str | None = None) -> dict[str, Any]:
    """Toy rule on the canonical record shape: type 2 diabetes (E11) with HbA1c >= 7 % -> metformin."""
    age = record.get("age")
    if age is not None and not 0 <= age <= 130:
        raise InputError("Field 'age' must be a number of years between 0 and 130 (or null when unknown).")
    codes = {c if isinstance(c, str) else c.get("code") for c in record.get("conditions") or []}
    if condition:
        codes.add(condition)
    hba1c = [o.get("value") for o in record.get("observations") or [] if o.get("code") == "4548-4"]
    if any(not isinstance(v, (int, float)) for v in hba1c):
        raise InputError("Observation 4548-4 (HbA1c) needs a numeric value in %.")
    options, blocked = [], []
    if "E11" in codes and any(v >= 7 for v in hba1c):
        option = {"name": "metformin", "citation": "Stand-in guideline 2024, section 9"}
        allergies = [a if isinstance(a, str) else a.get("substance") for a in record.get("allergies") or []]
        if "metformin" in allergies:
            blocked.append({**option, "reason": "Recorded allergy."})
        else:
            options.append(option)
    return {"options": options, "blocked": blocked, "warnings": []}


# module name -> functions the stand-in module provides
MODULES: dict[str, dict[str, Any]] = {
    "engine.models.registry": {"list_models": list_models, "get_card": get_card},
    "engine.models.predict": {"predict_record": predict_record},
    "engine.imaging.service": {"predict_image": predict_image},
    "engine.treatment": {"suggest": suggest},
}


def build_module(name: str) -> types.ModuleType:
    module = types.ModuleType(name, "Test stand-in (see tests/api/api_standins.py).")
    module.__dict__.update(MODULES.get(name, {}))
    if name not in MODULES:
        module.__path__ = []  # a package placeholder, e.g. engine.models
    return module
