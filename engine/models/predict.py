"""Predict with a registered model: validated inputs, calibrated probability, interval, SHAP, warnings.

The record is a flat mapping feature name -> value in the units on the card.
Values outside a feature's plausible range are refused (they are entry or unit
errors); values inside it but outside the training range, and patients whose
inputs jointly lie far from the training population, produce warnings returned
with the result. Missing inputs are imputed as on the card and listed.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from engine import audit, feedback
from engine.errors import InputError, NotFoundError
from engine.models.registry import LoadedModel, load_model, serving_card
from engine.models.specs import PATIENT_AGE, PATIENT_SEX
from engine.store import Database, transaction
from engine.store import models as model_rows
from engine.store import patients as patient_rows
from engine.treatment.units import from_canonical, quantity_for_code, to_canonical
from engine.unit_text import readable_unit, with_unit

_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n"}


def _fmt(x: float) -> str:
    return f"{x:g}"


def _range_text(f: dict) -> str:
    """What a numeric input must be, in the card's unit written for people ("a number between 0 and 120 years")."""
    if f.get("plausible"):
        low, high = f["plausible"]
        return with_unit(f"a number between {_fmt(low)} and {_fmt(high)}", f.get("unit"))
    unit = readable_unit(f.get("unit"))
    return f"a number in {unit}" if unit else "a number"



def _parse_value(f: dict, value: Any) -> Any:
    """One input checked against its card entry; returns float / category / NaN (missing).

    Messages name the input (the card's own name and label) and what it must be, never the submitted
    value: a form field or API record can hold anything, including an identifier typed into the wrong box.
    """
    name = f["name"]
    if value is None or (isinstance(value, str) and not value.strip()) or \
            (isinstance(value, float) and math.isnan(value)):
        return np.nan
    if f["kind"] == "categorical":
        text = str(value).strip().lower()
        cats = {c.lower(): c for c in f["categories"]}
        if text not in cats:
            raise InputError(f"Input '{name}' ({f['label']}) must be one of: {', '.join(f['categories'])}; "
                             "the value given is not one of them.")
        return cats[text]
    if f["kind"] == "binary":
        if isinstance(value, bool):
            return float(value)
        text = str(value).strip().lower()
        if text in _TRUE or text == "1.0":
            return 1.0
        if text in _FALSE or text == "0.0":
            return 0.0
        raise InputError(f"Input '{name}' ({f['label']}) must be 0 (no) or 1 (yes); the value given is neither.")
    if isinstance(value, bool):
        raise InputError(f"Input '{name}' ({f['label']}) must be {_range_text(f)}, not true/false.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"Input '{name}' ({f['label']}) must be {_range_text(f)}; the value given is not a "
                         "number.") from None
    if not math.isfinite(number):
        raise InputError(f"Input '{name}' ({f['label']}) must be a finite number.")
    if f.get("plausible"):
        low, high = f["plausible"]
        if not low <= number <= high:
            raise InputError(f"Input '{name}' ({f['label']}) is outside the plausible range "
                             f"{with_unit(f'{_fmt(low)}-{_fmt(high)}', f.get('unit'))}; check the value and its unit.")
    return number


def validate_record(card: dict[str, Any], record: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Parsed inputs (every card feature, NaN when missing) and warnings; InputError on bad input."""
    if not isinstance(record, dict):
        raise InputError("The input must be a JSON object of feature name -> value.")
    known = {f["name"]: f for f in card["features"]}
    unknown = [k for k in record if k not in known]
    if unknown:
        # Count the unknown names, never repeat them: a key is free text too (a name typed as a field).
        count = f"{len(unknown)} input name{'s are' if len(unknown) > 1 else ' is'}"
        raise InputError(f"{count} not among the inputs of model '{card['name']}' and the record was refused; "
                         f"accepted names: {', '.join(known)}.")
    parsed = {name: _parse_value(f, record.get(name)) for name, f in known.items()}
    missing = [n for n, v in parsed.items() if isinstance(v, float) and math.isnan(v)]
    if len(missing) == len(parsed):
        raise InputError(f"No inputs were given for model '{card['name']}'; expected: {', '.join(known)}.")
    warnings = []
    for name, value in parsed.items():
        f, train = known[name], known[name].get("training", {})
        if f["kind"] == "numeric" and not (isinstance(value, float) and math.isnan(value)) and "min" in train:
            if value < train["min"] or value > train["max"]:
                side = "below" if value < train["min"] else "above"
                label = with_unit(f"{f['label']} = {_fmt(value)}", f.get("unit"))
                train_range = with_unit(f"{_fmt(train['min'])}-{_fmt(train['max'])}", f.get("unit"))
                warnings.append(f"{label} is {side} the training range ({train_range}); the model has not seen "
                                "such values.")
        if f["kind"] == "categorical" and isinstance(value, str) and value not in train.get("categories", {}):
            warnings.append(f"{f['label']} = '{value}' never occurred in the training data.")
    if len(missing) > len(parsed) / 2:
        warnings.append(f"{len(missing)} of {len(parsed)} inputs are missing and were imputed; the prediction rests "
                        "on few measurements.")
    never_missing = [n for n in missing if known[n].get("training", {}).get("missing_fraction", 0) == 0]
    if never_missing:
        labels = ", ".join(known[n]["label"] for n in never_missing)
        warnings.append(f"{labels}: always recorded in the training data but missing here; imputed with the "
                        "training median, which may misrepresent this patient.")
    return parsed, warnings


def _source_map(names: np.ndarray, features: list[str]) -> list[str]:
    """Input feature behind each preprocessed column (num__x, num__missingindicator_x, cat__x_level)."""
    out = []
    for raw in names:
        stem = str(raw).split("__", 1)[-1]
        if stem.startswith("missingindicator_"):
            stem = stem[len("missingindicator_"):]
        if stem in features:
            out.append(stem)
            continue
        matches = [f for f in features if stem.startswith(f + "_")]
        out.append(max(matches, key=len))
    return out


class _Explainer:
    """SHAP on the learner's log-odds output (built once per loaded bundle)."""

    def __init__(self, loaded: LoadedModel):
        import shap

        model = loaded.pipeline.calibrated_classifiers_[0].estimator.named_steps["model"]
        self.linear = hasattr(model, "coef_")
        if self.linear:
            self.coef = model.coef_.ravel()
            background = loaded.bundle["background"].reshape(1, -1)
            self.explainer = shap.LinearExplainer(model, shap.maskers.Independent(background, max_samples=1))
        else:
            self.explainer = shap.TreeExplainer(model)
        features = [f["name"] for f in loaded.card["features"]]
        self.sources = _source_map(loaded.bundle["transformed_names"], features)
        self.features = features
        members = loaded.bundle["members"]
        # Linear members are scored in one matrix product (30 sklearn calls cost ~25 ms of input checks).
        self.member_coef = np.vstack([m.coef_.ravel() for m in members]) if self.linear else None
        self.member_intercept = np.array([float(m.intercept_[0]) for m in members]) if self.linear else None
        self.members = members
        self.matrix = np.zeros((len(self.sources), len(features)))
        for j, src in enumerate(self.sources):
            self.matrix[j, features.index(src)] = 1.0

    def member_decisions(self, Z: np.ndarray) -> np.ndarray:
        if self.linear:
            return self.member_coef @ Z[0] + self.member_intercept
        return np.array([float(m.decision_function(Z)[0]) for m in self.members])

    def explain(self, Z: np.ndarray) -> tuple[np.ndarray, float]:
        """(phi per input feature, expected value) on the learner's log-odds scale."""
        values = np.asarray(self.explainer.shap_values(Z)).reshape(len(Z), -1)
        expected = float(np.ravel(self.explainer.expected_value)[-1])
        return values @ self.matrix, expected


_EXPLAINERS: dict[str, _Explainer] = {}


def _explainer(loaded: LoadedModel) -> _Explainer:
    key = f"{loaded.name}@{loaded.version}:{loaded.sha256}"
    if key not in _EXPLAINERS:
        _EXPLAINERS[key] = _Explainer(loaded)
    return _EXPLAINERS[key]


def _frame(card: dict[str, Any], parsed: dict[str, Any]) -> pd.DataFrame:
    cols = {}
    for f in card["features"]:
        v = parsed[f["name"]]
        cols[f["name"]] = pd.Series([v], dtype=object if f["kind"] == "categorical" else float)
    return pd.DataFrame(cols)


def _percentile(train: dict, value: float) -> float | None:
    q = train.get("quantiles")
    if not q:
        return None
    return float(np.interp(value, q, np.linspace(0, 100, len(q))))


def risk_band(card: dict[str, Any], p: float, threshold: float) -> str:
    if p >= threshold:
        return "high"
    return "borderline" if p >= threshold / 2 else "low"


def predict_record(name: str, record: dict, version: str | None = None) -> dict[str, Any]:
    """Probability with 95% interval, risk band, SHAP contributions per input, basis and warnings."""
    card = serving_card(name, version)
    loaded = load_model(name, card["version"])
    parsed, warnings = validate_record(card, record)
    X = _frame(card, parsed)
    cal = loaded.pipeline.calibrated_classifiers_[0]
    pre, model = cal.estimator.named_steps["pre"], cal.estimator.named_steps["model"]
    Z = pre.transform(X)
    a, b = (float(x) for x in loaded.bundle["sigmoid"])
    decision = float(model.decision_function(Z)[0])
    logit_p = -(a * decision + b)
    p = 1 / (1 + math.exp(-logit_p))
    explainer = _explainer(loaded)
    member_dec = explainer.member_decisions(Z)
    member_p = 1 / (1 + np.exp(a * member_dec + b))
    low, high = np.percentile(member_p, [2.5, 97.5])
    low, high = min(float(low), p), max(float(high), p)

    phi, expected = explainer.explain(Z)
    contrib = -a * phi[0]
    base = -a * expected - b
    ood = loaded.bundle["ood"]
    diff = Z[0] - ood["mean"]
    d2 = float(diff @ ood["precision"] @ diff)
    if d2 > float(ood["threshold"]):
        warnings.append("This combination of inputs is unusual for the training population (Mahalanobis distance "
                        f"{math.sqrt(d2):.1f} vs {math.sqrt(float(ood['threshold'])):.1f} at the training 99th "
                        "centile); the prediction may not apply to this patient.")
    threshold = float(card["threshold"])
    contributions, basis = [], []
    for i, f in enumerate(card["features"]):
        v = parsed[f["name"]]
        is_missing = isinstance(v, float) and math.isnan(v)
        train = f.get("training", {})
        shown = None if is_missing else v
        contributions.append({"feature": f["name"], "label": f["label"], "value": shown, "unit": f["unit"],
                              "contribution": round(float(contrib[i]), 6), "imputed": is_missing})
        entry = {"feature": f["name"], "label": f["label"], "value": shown, "unit": f["unit"],
                 "status": "imputed" if is_missing else "used"}
        if f["kind"] != "categorical":
            entry.update({"training_median": train.get("median"), "training_min": train.get("min"),
                          "training_max": train.get("max"),
                          "percentile": None if is_missing or f["kind"] != "numeric"
                          else _percentile(train, float(v))})
            if is_missing:
                entry["imputed_value"] = train.get("median")
        else:
            entry["training_share"] = None if is_missing else train.get("categories", {}).get(v, 0.0)
        entry["outside_training_range"] = (not is_missing and f["kind"] == "numeric" and "min" in train
                                           and not train["min"] <= v <= train["max"])
        basis.append(entry)
    contributions.sort(key=lambda c: -abs(c["contribution"]))
    return {
        "model": name, "version": card["version"], "title": card["title"],
        "probability": round(p, 6), "interval": [round(low, 6), round(high, 6)],
        "risk_band": risk_band(card, p, threshold), "threshold": threshold,
        "base_value": round(base, 6), "logit": round(logit_p, 6), "explanation_scale": "log-odds",
        "contributions": contributions, "warnings": warnings,
        "basis": {"inputs": basis, "n_used": sum(e["status"] == "used" for e in basis),
                  "n_imputed": sum(e["status"] == "imputed" for e in basis),
                  "mahalanobis": round(math.sqrt(d2), 3),
                  "mahalanobis_99th": round(math.sqrt(float(ood["threshold"])), 3),
                  "population": card["population"], "uncertainty": card["uncertainty"]},
    }


def score_frame(name: str, frame: pd.DataFrame, version: str | None = None) -> np.ndarray:
    """Calibrated probabilities for many rows (batch scoring), with vectorised plausibility checks."""
    card = serving_card(name, version)
    loaded = load_model(name, card["version"])
    columns: dict[str, Any] = {}
    for f in card["features"]:
        if f["name"] not in frame.columns:
            columns[f["name"]] = np.full(len(frame), np.nan, dtype=float if f["kind"] != "categorical" else object)
            continue
        col = frame[f["name"]]
        if f["kind"] == "categorical":
            values = col.to_numpy(dtype=object)
            # check the distinct values only (hashing 100,000 strings once, not a per-row isin)
            seen = [v for v in pd.unique(values) if not (v is None or (isinstance(v, float) and math.isnan(v)))]
            unknown = [v for v in seen if v not in f["categories"]]
            if unknown:
                rows = int(np.isin(values, unknown).sum())
                raise InputError(f"Column '{f['name']}' has values outside {', '.join(f['categories'])} in "
                                 f"{rows} rows.")
            columns[f["name"]] = values
        else:
            values = col.to_numpy(dtype=float) if pd.api.types.is_numeric_dtype(col) else \
                pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            if f.get("plausible"):
                low, high = f["plausible"]
                with np.errstate(invalid="ignore"):
                    bad = (values < low) | (values > high)  # NaN compares False: missing is allowed
                if bad.any():
                    raise InputError(f"Column '{f['name']}' has {int(bad.sum())} values outside the plausible range "
                                     f"{with_unit(f'{_fmt(low)}-{_fmt(high)}', f.get('unit'))}.")
            columns[f["name"]] = values
    X = pd.DataFrame(columns, index=frame.index, copy=False)  # no block consolidation copy of 100k rows
    return loaded.pipeline.predict_proba(X)[:, 1]


def input_units(feature: dict[str, Any]) -> list[str]:
    """UCUM units a numeric input may be entered in: the card's unit first, then the common alternatives whose
    conversion is defined for that analyte (glucose mmol/L at 18.016 mg/dL per mmol/L, cholesterol at 38.67,
    HbA1c mmol/mol, creatinine umol/L, pressure kPa, ...: engine/treatment/units.py). Age stays in years."""
    unit = feature.get("unit")
    if feature.get("kind") != "numeric" or not unit:
        return [unit] if unit else []
    quantity = quantity_for_code(feature.get("code") or "")
    if quantity is None or quantity.canonical != unit or quantity.name == "age":
        return [unit]
    return quantity.units()


def in_unit(feature: dict[str, Any], value: float | None, unit: str) -> float | None:
    """A card-unit ``value`` expressed in ``unit`` (to prefill an entry box shown in that unit)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or unit == feature.get("unit"):
        return value
    return from_canonical(feature["code"], float(value), unit)


def to_card_units(card: dict[str, Any], values: dict[str, Any], units: dict[str, str]) -> dict[str, Any]:
    """Values entered in the units the user chose, converted to the card's units (which the model was trained in).

    An input without a chosen unit, or in the card's own unit, passes unchanged; a unit the input does not
    accept is refused with the input's name and the units it does accept.
    """
    features = {f["name"]: f for f in card["features"]}
    out = dict(values)
    for name, unit in units.items():
        f = features.get(name)
        value = values.get(name)
        if f is None or not unit or unit == f.get("unit") or value is None or \
                (isinstance(value, float) and math.isnan(value)):
            continue
        if unit not in input_units(f):
            accepted = ", ".join(readable_unit(u) or u for u in input_units(f))
            raise InputError(f"Input '{name}' ({f['label']}) can be entered in {accepted} only.")
        out[name], _ = to_canonical(f["code"], float(value), unit, label=f"Input '{name}' ({f['label']})")
    return out


def record_for_patient(db: Database, pseudo_id: str, card: dict[str, Any]) -> dict[str, Any]:
    """Model inputs for a stored patient: observations matched by vocabulary code, age/sex from the patient."""
    patient = patient_rows.get_patient(db, pseudo_id)
    if patient is None:
        raise NotFoundError("There is no patient with that pseudonymous id.")
    latest = {}
    for obs in patient_rows.observations_for(db, patient["id"]):
        latest[obs["code"]] = obs["value_num"] if obs["value_num"] is not None else obs["value_text"]
    record = {}
    for f in card["features"]:
        if f["code"] == PATIENT_AGE:
            value = patient.get("age")
        elif f["code"] == PATIENT_SEX:
            value = patient.get("sex") if patient.get("sex") in ("female", "male") else None
        else:
            value = latest.get(f["code"])
        if f["kind"] == "categorical" and isinstance(value, str) and value.lower() not in \
                {c.lower() for c in f["categories"]}:
            value = None
        record[f["name"]] = value
    return record


def run_prediction(db: Database, *, username: str, name: str, record: dict, pseudo_id: str | None = None,
                   version: str | None = None) -> tuple[int, dict[str, Any]]:
    """Predict, then store the prediction (inputs, output, explanation, user) and audit it in one transaction."""
    result = predict_record(name, record, version)
    patient_id = None
    if pseudo_id:
        patient = patient_rows.get_patient(db, pseudo_id)
        if patient is None:
            raise NotFoundError("There is no patient with that pseudonymous id.")
        patient_id = patient["id"]
    output = {k: result[k] for k in ("probability", "interval", "risk_band", "threshold", "warnings")}
    explanation = {k: result[k] for k in ("base_value", "logit", "explanation_scale", "contributions", "basis")}
    with transaction(db):
        prediction_id = model_rows.insert_prediction(
            db, patient_id=patient_id, model_name=name, model_version=result["version"], inputs=record,
            output=output, explanation=explanation, username=username)
        audit.record(db, username=username, action="predict.run", target_type="patient" if pseudo_id else "form",
                     target_id=pseudo_id, details={"model": name, "version": result["version"],
                                                   "prediction_id": prediction_id,
                                                   "warnings": len(result["warnings"])})
    return prediction_id, result


def record_feedback(db: Database, *, username: str, prediction_id: int, verdict: str, reason: str | None) -> int:
    """Store a clinician's agree / disagree on a risk prediction (a reason is required to disagree); audited."""
    return feedback.record_feedback(db, prediction_id=prediction_id, verdict=verdict, reason=reason, username=username)


def predictions_for_patient(db: Database, pseudo_id: str) -> list[dict[str, Any]]:
    """A patient's stored predictions with their latest feedback (for the patient page)."""
    import json

    patient = patient_rows.get_patient(db, pseudo_id)
    if patient is None:
        raise NotFoundError("There is no patient with that pseudonymous id.")
    rows = model_rows.predictions_for_patient(db, patient["id"])
    for row in rows:
        output = json.loads(row.pop("output"))
        row["probability"] = output.get("probability")
        row["interval"] = output.get("interval")
        row["risk_band"] = output.get("risk_band")
    return rows
