"""UCUM unit handling for treatment criteria: convert where a conversion is well defined, refuse otherwise.

Why a table and not a general UCUM library: the conversions that matter here are
*concept-specific* (1 mmol/L of glucose is 18.016 mg/dL, of cholesterol 38.67 mg/dL),
which a dimensional library cannot know. Each quantity below lists its canonical unit
(the vocabulary's unit) and the units it accepts with the conversion to canonical.
A unit not listed is refused with a sentence naming the accepted ones, never guessed.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engine.errors import InputError
from engine.labs.conversions import (
    CHOLESTEROL_MG_DL_PER_MMOL_L as CHOL, CM_PER_INCH, CREATININE_UMOL_L_PER_MG_DL as CREAT,
    GLUCOSE_MG_DL_PER_MMOL_L as GLU, KG_PER_POUND, MMHG_PER_KPA, TRIGLYCERIDE_MG_DL_PER_MMOL_L as TG,
    celsius_from_fahrenheit, fahrenheit_from_celsius, hba1c_ifcc_from_ngsp, hba1c_ngsp_from_ifcc,
)
from engine.vocabulary import concept_for_code

Converter = Callable[[float], float]


def _scale(factor: float) -> Converter:
    return lambda value: value * factor


@dataclass(frozen=True)
class Quantity:
    """One measurable kind: canonical UCUM unit and converters *to* it from other units."""

    name: str
    canonical: str
    to_canonical: dict[str, Converter] = field(default_factory=dict)
    from_canonical: dict[str, Converter] = field(default_factory=dict)

    def units(self) -> list[str]:
        return [self.canonical, *self.to_canonical]


# The factors (molar masses, the IFCC-NGSP master equation) live in engine.labs.conversions, shared with import.
QUANTITIES: dict[str, Quantity] = {q.name: q for q in [
    Quantity("glucose", "mg/dL", {"mmol/L": _scale(GLU)}, {"mmol/L": _scale(1 / GLU)}),
    Quantity("cholesterol", "mg/dL", {"mmol/L": _scale(CHOL)}, {"mmol/L": _scale(1 / CHOL)}),
    Quantity("triglycerides", "mg/dL", {"mmol/L": _scale(TG)}, {"mmol/L": _scale(1 / TG)}),
    Quantity("creatinine", "mg/dL", {"umol/L": _scale(1 / CREAT)}, {"umol/L": _scale(CREAT)}),
    Quantity("hba1c", "%", {"mmol/mol": hba1c_ngsp_from_ifcc}, {"mmol/mol": hba1c_ifcc_from_ngsp}),
    Quantity("egfr", "mL/min/{1.73_m2}"),
    Quantity("pressure", "mm[Hg]", {"kPa": _scale(MMHG_PER_KPA)}, {"kPa": _scale(1 / MMHG_PER_KPA)}),
    Quantity("percent", "%"),
    # A risk may be given as a fraction (unit "1", UCUM's dimensionless unit): converted explicitly to percent,
    # and the record's warnings say so. Plain "%" stays as is.
    Quantity("risk_percent", "%", {"1": _scale(100.0), "{fraction}": _scale(100.0)},
             {"1": _scale(0.01), "{fraction}": _scale(0.01)}),
    # Monovalent ions: 1 mmol/L = 1 meq/L exactly.
    Quantity("monovalent_ion", "mmol/L", {"meq/L": _scale(1.0)}, {"meq/L": _scale(1.0)}),
    Quantity("rate", "/min"),
    Quantity("age", "a", {"mo": _scale(1 / 12), "wk": _scale(7 / 365.25), "d": _scale(1 / 365.25)},
             {"mo": _scale(12), "wk": _scale(365.25 / 7), "d": _scale(365.25)}),
    Quantity("temperature", "Cel", {"[degF]": celsius_from_fahrenheit}, {"[degF]": fahrenheit_from_celsius}),
    Quantity("mass", "kg", {"g": _scale(0.001), "[lb_av]": _scale(KG_PER_POUND)},
             {"g": _scale(1000), "[lb_av]": _scale(1 / KG_PER_POUND)}),
    Quantity("length", "cm", {"m": _scale(100), "mm": _scale(0.1), "[in_i]": _scale(CM_PER_INCH)},
             {"m": _scale(0.01), "mm": _scale(10), "[in_i]": _scale(1 / CM_PER_INCH)}),
    Quantity("bmi", "kg/m2"),
]}

# Vocabulary key -> quantity. Observations whose concept is not listed accept only their own unit.
CONCEPT_QUANTITY: dict[str, str] = {
    "glucose": "glucose", "glucose_ogtt_2h": "glucose",
    "total_cholesterol": "cholesterol", "ldl_cholesterol": "cholesterol", "ldl_cholesterol_direct": "cholesterol",
    "hdl_cholesterol": "cholesterol", "triglycerides": "triglycerides", "creatinine": "creatinine",
    "hba1c": "hba1c", "egfr": "egfr", "egfr_mdrd": "egfr",
    "systolic_bp": "pressure", "diastolic_bp": "pressure",
    "spo2": "percent", "sao2_arterial": "percent", "ejection_fraction": "percent", "ascvd_risk_10y": "risk_percent",
    "sodium": "monovalent_ion", "potassium": "monovalent_ion",
    "heart_rate": "rate", "max_heart_rate": "rate", "respiratory_rate": "rate",
    "age": "age", "body_temperature": "temperature", "weight": "mass", "height": "length", "bmi": "bmi",
}

# Common non-UCUM spellings seen in exports, mapped to their UCUM form. Only unambiguous ones.
UNIT_ALIASES: dict[str, str] = {
    "mmHg": "mm[Hg]", "mm Hg": "mm[Hg]", "mmhg": "mm[Hg]",
    "mg/dl": "mg/dL", "mmol/l": "mmol/L", "umol/l": "umol/L", "µmol/L": "umol/L", "μmol/L": "umol/L",
    "mEq/L": "meq/L", "mEq/l": "meq/L", "meq/l": "meq/L",
    "mL/min/1.73m2": "mL/min/{1.73_m2}", "mL/min/1.73 m2": "mL/min/{1.73_m2}",
    "ml/min/1.73m2": "mL/min/{1.73_m2}", "ml/min/1.73 m2": "mL/min/{1.73_m2}", "mL/min/1.73m^2": "mL/min/{1.73_m2}",
    "years": "a", "year": "a", "yr": "a", "y": "a", "months": "mo", "percent": "%",
    "bpm": "/min", "beats/min": "/min", "degC": "Cel", "°C": "Cel", "degF": "[degF]", "°F": "[degF]",
    "lb": "[lb_av]", "lbs": "[lb_av]", "in": "[in_i]", "kg/m^2": "kg/m2",
}


FRACTION_UNITS = {"1", "{fraction}"}


def normalise_unit(unit: str) -> str:
    """The UCUM spelling of ``unit`` (aliases resolved, surrounding spaces removed)."""
    unit = unit.strip()
    return UNIT_ALIASES.get(unit, unit)


def quantity_for_code(code: str) -> Quantity | None:
    concept = concept_for_code(code)
    if concept is None:
        return None
    name = CONCEPT_QUANTITY.get(concept.key)
    if name is not None:
        return QUANTITIES[name]
    return Quantity(concept.key, concept.unit)


def accepted_units(code: str) -> list[str]:
    quantity = quantity_for_code(code)
    return quantity.units() if quantity else []


def to_canonical(code: str, value: float, unit: str, *, label: str | None = None) -> tuple[float, str]:
    """Convert ``value`` in ``unit`` to the concept's canonical unit; InputError if not convertible."""
    quantity = quantity_for_code(code)
    what = label or code
    if quantity is None:
        raise InputError(f"{what} has a code that is not a known concept, so its unit cannot be checked.")
    ucum = normalise_unit(unit)
    if ucum == quantity.canonical:
        return float(value), ucum
    convert = quantity.to_canonical.get(ucum)
    if convert is None:
        # The unit given is not repeated: it is free text and may be anything the user typed.
        raise InputError(f"{what} has a unit ClinSight cannot convert; use one of: {', '.join(quantity.units())}.")
    return float(convert(float(value))), quantity.canonical


def from_canonical(code: str, value: float, unit: str) -> float:
    """Express a canonical-unit ``value`` of ``code`` in ``unit`` (for thresholds written in other units)."""
    quantity = quantity_for_code(code)
    if quantity is None:
        raise InputError(f"Observation code '{code}' is not a known concept.")
    ucum = normalise_unit(unit)
    if ucum == quantity.canonical:
        return float(value)
    convert = quantity.from_canonical.get(ucum)
    if convert is None:
        raise InputError(f"Unit '{unit}' cannot be used for code '{code}'; use one of: {', '.join(quantity.units())}.")
    return float(convert(float(value)))
