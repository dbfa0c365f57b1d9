"""Small helpers shared by the treatment tests (not a test module)."""
from __future__ import annotations

from typing import Any

from engine.treatment import suggest


AS_OF = "2026-11-15"
RECENT = "2026-11-01"   # inside every staleness window at AS_OF


def obs(code: str, value: float, unit: str, time: str | None = RECENT) -> dict[str, Any]:
    return {"code": code, "value": value, "unit": unit, "time": time}


def patient(age: float | None = 50, conditions: tuple[str, ...] = (), observations: tuple = (),
            medications: tuple = (), allergies: tuple = (), sex: str = "female") -> dict[str, Any]:
    return {"age": age, "sex": sex, "as_of": AS_OF, "conditions": [{"code": c, "system": "ICD-10-CM"} for c in conditions],
            "observations": list(observations), "medications": list(medications), "allergies": list(allergies)}


def outcome(record: dict[str, Any], rule_id: str, condition: str | None = None) -> tuple[str, dict[str, Any] | None]:
    """('option' | 'blocked' | 'not_applicable' | 'absent', entry) for one rule on one record."""
    result = suggest(record, condition=condition)
    for status in ("options", "blocked", "not_applicable"):
        for entry in result[status]:
            if entry["id"] == rule_id:
                return {"options": "option", "blocked": "blocked", "not_applicable": "not_applicable"}[status], entry
    return "absent", None
