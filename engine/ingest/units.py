"""Unit conversions into the vocabulary's UCUM units, and how a wrong unit shows itself.

Why: exports mix units (glucose in mmol/L beside mg/dL, temperature in F).
A column whose header names another unit is converted whole; inside a column,
values sitting in the range typical of the other unit (``suspect``) and
plausible once converted are reported as a unit mix-up the user may fix.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.labs.conversions import (
    CHOLESTEROL_MG_DL_PER_MMOL_L as CHOL, CM_PER_INCH, CREATININE_UMOL_L_PER_MG_DL as CREAT,
    GLUCOSE_MG_DL_PER_MMOL_L as GLU, KG_PER_POUND, TRIGLYCERIDE_MG_DL_PER_MMOL_L as TG,
    celsius_from_fahrenheit, hba1c_ngsp_from_ifcc,
)


@dataclass(frozen=True)
class AltUnit:
    """Another unit a concept is recorded in: UCUM code, spellings, conversion, tell-tale range."""

    unit: str
    spellings: tuple[str, ...]
    to_canonical: Callable[[np.ndarray], np.ndarray]
    suspect: tuple[float, float] | None = None


def _scale(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: x * factor


_GLUCOSE = AltUnit("mmol/L", ("mmol/l", "mmol"), _scale(GLU), (1.0, 35.0))
ALT_UNITS: dict[str, tuple[AltUnit, ...]] = {
    "glucose": (_GLUCOSE,),
    "glucose_ogtt_2h": (_GLUCOSE,),
    "total_cholesterol": (AltUnit("mmol/L", ("mmol/l", "mmol"), _scale(CHOL), (1.0, 20.0)),),
    "ldl_cholesterol": (AltUnit("mmol/L", ("mmol/l", "mmol"), _scale(CHOL), (0.3, 9.0)),),
    "hdl_cholesterol": (AltUnit("mmol/L", ("mmol/l", "mmol"), _scale(CHOL), (0.1, 4.5)),),
    "triglycerides": (AltUnit("mmol/L", ("mmol/l", "mmol"), _scale(TG), (0.1, 9.5)),),
    "body_temperature": (AltUnit("[degF]", ("f", "degf", "°f", "fahrenheit", "[degf]"),
                                 celsius_from_fahrenheit, (80.0, 113.0)),),
    "creatinine": (AltUnit("umol/L", ("umol/l", "µmol/l", "μmol/l", "umol"), _scale(1 / CREAT), (26.0, 2200.0)),),
    "hba1c": (AltUnit("mmol/mol", ("mmol/mol",), hba1c_ngsp_from_ifcc, (21.0, 200.0)),),
    "weight": (AltUnit("[lb_av]", ("lb", "lbs", "pound", "pounds", "[lb_av]"), _scale(KG_PER_POUND)),),
    "height": (AltUnit("[in_i]", ("in", "inch", "inches", "[in_i]"), _scale(CM_PER_INCH)),
               AltUnit("m", ("m", "metre", "meter"), _scale(100.0), (0.3, 2.5))),
}

_CANONICAL_SPELLINGS = {
    "mg/dl": "mg/dL", "mmhg": "mm[Hg]", "mm[hg]": "mm[Hg]", "c": "Cel", "cel": "Cel", "°c": "Cel", "degc": "Cel",
    "celsius": "Cel", "kg": "kg", "cm": "cm", "%": "%", "bpm": "/min", "/min": "/min", "kg/m2": "kg/m2",
    "mmol/l": "mmol/L", "u/l": "U/L", "years": "a", "y": "a", "yrs": "a", "a": "a",
}

_HEADER_UNIT = re.compile(r"[\(\[]\s*([^()\[\]]{1,20}?)\s*[\)\]]\s*$")


def unit_in_header(header: str) -> str | None:
    """The unit written at the end of a header, e.g. 'Glucose (mmol/L)' -> 'mmol/L'."""
    match = _HEADER_UNIT.search(header.strip())
    if match and not match.group(1).upper().startswith("LOINC"):
        return match.group(1)
    for token in ("mmol/l", "mg/dl", "umol/l", "mmol", "degf", "lbs", "kg", "cm"):
        if header.lower().replace(" ", "_").endswith("_" + token.replace("/", "_")):
            return token
    return None


def resolve_unit(concept_key: str | None, canonical: str, written: str | None) -> str:
    """The UCUM unit a column is recorded in: the canonical one unless the header names a known other unit."""
    if not written or concept_key is None:
        return canonical
    low = written.strip().lower()
    if _CANONICAL_SPELLINGS.get(low) == canonical or low == canonical.lower():
        return canonical
    for alt in ALT_UNITS.get(concept_key, ()):
        if low in alt.spellings or low == alt.unit.lower():
            return alt.unit
    return canonical


def alt_unit(concept_key: str, unit: str) -> AltUnit | None:
    return next((a for a in ALT_UNITS.get(concept_key, ()) if a.unit == unit), None)
