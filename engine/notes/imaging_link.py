"""The imaging link: a chest radiograph's written report beside the model's read, with disagreement flagged.

The report is the patient's latest note that is a chest radiograph report (by its type, or by its text
naming a chest X-ray / radiograph / CXR). Its conclusion is the IMPRESSION (or CONCLUSION) section, else
its last sentence. Pneumonia counts as stated when the conclusion mentions pneumonia or a consolidation /
airspace opacity / infiltrate: present (affirmed, current, the patient's, asserted) or absent (negated);
raised only as possible ("possible pneumonia") it is "possible". For a report that states neither, or only
"possible", no agreement is claimed either way.
"""
from __future__ import annotations

import re
from typing import Any

from engine.notes.extract import asserted_now, report_conclusion
from engine.store import Database
from engine.store import notes as note_rows

PNEUMONIA_CODES = frozenset({"J18.9", "R91.8"})
_RADIOGRAPH = re.compile(r"(?i)\b(chest\s+(x-?ray|radiograph|film)|cxr|radiograph of the chest)\b")


def radiograph_report(db: Database, pseudo_id: str) -> dict[str, Any] | None:
    """The latest chest radiograph report of the patient with its conclusion, or None."""
    patient_id = note_rows.patient_row(db, pseudo_id)
    if patient_id is None:
        return None
    reports = [n for n in note_rows.patient_notes(db, patient_id)
               if _RADIOGRAPH.search(n["kind"] or "") or _RADIOGRAPH.search(n["text"][:400])]
    if not reports:
        return None
    note = reports[-1]
    conclusion = report_conclusion(note["text"])
    if conclusion is None:
        return None
    mentions = [f for f in conclusion["findings"] if f["code"] in PNEUMONIA_CODES]
    if any(asserted_now(f) for f in mentions):
        stated = "present"
    elif any(f["negation"] == "Negated" for f in mentions):
        stated = "absent"
    elif any(f.get("certainty") == "Uncertain" and f["negation"] == "Affirmed" for f in mentions):
        stated = "possible"
    else:
        stated = "not stated"
    return {"note_id": note["id"], "note_date": note["note_date"], "conclusion": conclusion["text"],
            "pneumonia": stated}


def compare_read(report: dict[str, Any] | None, model_label: str | None) -> dict[str, Any] | None:
    """Agreement between the report ('present'/'absent'/'possible'/'not stated') and the model's reading at its
    threshold ('pneumonia'/'normal'); None when there is no report or no reading."""
    if report is None or model_label is None:
        return None
    model_positive = model_label == "pneumonia"
    if report["pneumonia"] == "not stated":
        return {"agrees": None, "message": "The report's conclusion does not state pneumonia either way."}
    if report["pneumonia"] == "possible":
        return {"agrees": None, "message": "The report's conclusion raises pneumonia as possible without stating it: "
                                           "no agreement is claimed either way. Review the image and the report."}
    report_positive = report["pneumonia"] == "present"
    if report_positive == model_positive:
        return {"agrees": True, "message": "The report's conclusion and the model's reading agree."}
    return {"agrees": False, "message": (
        "Disagreement: the report's conclusion says pneumonia is "
        f"{'present' if report_positive else 'absent'}, the model reads "
        f"{'pneumonia' if model_positive else 'no pneumonia'}. Review the image and the report.")}
