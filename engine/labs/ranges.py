"""Reference ranges with their source, and the flag of one value against its range.

Why a short, cited list and not a full laboratory table: most reference intervals (sodium, potassium,
creatinine, platelets, CK) are set by each laboratory for its own method and population, and no single
published interval is right for every store. Those concepts get no range and the page says "set by the
laboratory" instead of guessing. The ranges below are the categories published by guideline bodies,
each with its citation; the flag says where a value falls against that category, not a diagnosis.
Values are compared in the concept's canonical UCUM unit (the store's unit).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.unit_text import format_number, readable_unit
from engine.vocabulary import CONCEPTS

ATP3 = ("National Cholesterol Education Program (NCEP) Adult Treatment Panel III, 2002: classification of "
        "LDL, total and HDL cholesterol and of triglycerides")
ADA2020 = "American Diabetes Association, Standards of Medical Care in Diabetes 2020, Section 2 (diagnosis)"
ACC2017 = "2017 ACC/AHA high blood pressure guideline: categories of blood pressure in adults (normal)"
WHO2000 = "WHO Technical Report Series 894, 2000: classification of adults by BMI (normal range)"
KDIGO2012 = "KDIGO 2012 CKD guideline: GFR categories (G3a-G5 below 60)"
AHA2022 = "2022 AHA/ACC/HFSA heart failure guideline: classification by LVEF (preserved at 50% or more)"


@dataclass(frozen=True)
class ReferenceRange:
    """An interval [low, high) in the concept's unit; either end may be open (None)."""

    concept: str
    low: float | None
    high: float | None
    label: str  # what being inside means: "normal", "desirable", "optimal", ...
    source: str

    @property
    def unit(self) -> str:
        return CONCEPTS[self.concept].unit

    def text(self) -> str:
        """'< 5.7 %' / '18.5-24.9 kg/m2' / '>= 60 mL/min/1.73 m2', as the source writes it."""
        unit = readable_unit(self.unit)
        suffix = f" {unit}" if unit else ""
        if self.low is not None and self.high is not None:
            return f"{format_number(self.low)}-{format_number(round(self.high - 0.1, 1))}{suffix}"
        if self.high is not None:
            return f"< {format_number(self.high)}{suffix}"
        return f"≥ {format_number(self.low)}{suffix}"

    def flag(self, value: float) -> str:
        """'below', 'above' or 'within' the range."""
        if self.low is not None and value < self.low:
            return "below"
        if self.high is not None and value >= self.high:
            return "above"
        return "within"


REFERENCE_RANGES: dict[str, ReferenceRange] = {r.concept: r for r in [
    ReferenceRange("hba1c", None, 5.7, "normal", ADA2020),
    ReferenceRange("glucose_ogtt_2h", None, 140, "normal", ADA2020),
    ReferenceRange("systolic_bp", None, 120, "normal", ACC2017),
    ReferenceRange("diastolic_bp", None, 80, "normal", ACC2017),
    ReferenceRange("total_cholesterol", None, 200, "desirable", ATP3),
    ReferenceRange("ldl_cholesterol", None, 100, "optimal", ATP3),
    ReferenceRange("ldl_cholesterol_direct", None, 100, "optimal", ATP3),
    ReferenceRange("hdl_cholesterol", 40, None, "not low", ATP3),
    ReferenceRange("triglycerides", None, 150, "normal", ATP3),
    ReferenceRange("bmi", 18.5, 25, "normal", WHO2000),
    ReferenceRange("egfr", 60, None, "G1-G2", KDIGO2012),
    ReferenceRange("egfr_mdrd", 60, None, "G1-G2", KDIGO2012),
    ReferenceRange("ejection_fraction", 50, None, "preserved", AHA2022),
]}

_BY_CODE = {CONCEPTS[key].code: rng for key, rng in REFERENCE_RANGES.items()}


def reference_for(code: str) -> ReferenceRange | None:
    """The cited reference range for a LOINC (or local) code, or None where the laboratory sets it."""
    return _BY_CODE.get(code)


def annotate(observations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each observation with ``reference`` (range text and its meaning), ``reference_source`` and
    ``vs_reference`` ('above', 'below', 'within'; None without a range, a number or the canonical unit)."""
    out = []
    for obs in observations:
        rng = reference_for(obs.get("code") or "")
        row = dict(obs)
        row["reference"] = f"{rng.text()} ({rng.label})" if rng else None
        row["reference_source"] = rng.source if rng else None
        value = obs.get("value_num")
        comparable = rng is not None and value is not None and (obs.get("unit") in (None, rng.unit))
        row["vs_reference"] = rng.flag(float(value)) if comparable else None
        out.append(row)
    return out
