"""Treatment options with guideline citations, contraindication checks and similar patients.

The public entry point is :func:`suggest` (the REST API and the command line call it
with a canonical patient record). The output is decision support: a ranked list of
*options* that cited guidelines support for this patient, each with its basis, and
the options a contraindication, allergy or interaction blocks, each with its reason.
It never says what to do.
"""
from __future__ import annotations

import copy
from typing import Any

from engine.errors import InputError
from engine.treatment.evaluate import evaluate
from engine.treatment.knowledge import KnowledgeBase, load_knowledge_base
from engine.treatment.record import icd10cm_code, record_from_store, validate_record

__all__ = ["suggest", "load_knowledge_base", "record_from_store", "DISCLAIMER", "InputError"]

DISCLAIMER = ("Decision support, not a directive: these are options that the cited guidelines describe for "
              "patients matching the criteria shown. Review the basis, the missing data and the patient's full "
              "context; the clinician decides.")


def suggest(record: dict, *, condition: str | None = None, kb: KnowledgeBase | None = None) -> dict[str, Any]:
    """Evaluate the guideline rules on one canonical patient record.

    ``condition`` (an ICD-10-CM code) restricts the evaluation to that condition's rules
    and, when the record does not list it, evaluates as if it were recorded (a working
    diagnosis; the result says so). Raises :class:`InputError` for a malformed record.
    """
    kb = kb or load_knowledge_base()
    if condition is not None:
        # Checked for the ICD-10-CM shape before it is used or repeated in a note: free text never comes back.
        condition = icd10cm_code(condition)
        if condition is None:
            raise InputError("The selected condition must be a code of the ICD-10-CM tabular list such as E11 or "
                             "I25.10.")
    working = copy.deepcopy(record) if isinstance(record, dict) else record
    notes: list[str] = []
    patient = validate_record(working, kb)
    if condition is not None and not any(c["code"] == condition for c in patient.conditions):
        patient.conditions.append({"code": condition, "system": "ICD-10-CM", "display": None,
                                   "source": "selected by clinician"})
        notes.append(f"Condition {condition} is not in the record; it was evaluated as a working diagnosis.")
    result = evaluate(kb, patient, condition)
    if not result["rules_considered"]:
        notes.append("No rule in the knowledge base covers the recorded or selected conditions.")
    used = {
        code: [{"value": o.original_value, "unit": o.original_unit, "time": o.time, "source": o.source}
               for o in obs_list]
        for code, obs_list in patient.observations.items()
    }
    return {
        "disclaimer": DISCLAIMER,
        "condition": condition,
        "options": result["options"],
        "blocked": result["blocked"],
        "not_applicable": result["not_applicable"],
        "rules_considered": result["rules_considered"],
        "warnings": patient.warnings + result["medication_warnings"] + notes,
        "as_of": patient.as_of.isoformat(timespec="seconds"),
        "confirmed": patient.confirmed,
        "inputs": {
            "age": patient.age, "sex": patient.sex,
            "conditions": [{"code": c["code"], "source": c.get("source")} for c in patient.conditions],
            "observations": used,
            "medications": [{"display": m["display"], "classes": m["classes"], "active": m["active"],
                             "stopped": m["stopped"].isoformat(timespec="minutes") if m["stopped"] else None}
                            for m in patient.medications],
            "allergies": [{"substance": a["substance"], "classes": a["classes"], "reaction": a["reaction"]}
                          for a in patient.allergies],
            "predictions": patient.predictions,
        },
        "knowledge_base": kb.versions,
        # Edition of each guideline and any newer edition that supersedes it.
        "guidelines": [g.currency() for g in kb.guidelines],
    }
