"""One patient's record for the patient page: demographics, observations, conditions, predictions.

Every call of :func:`view_patient` is audited (``patient.view``) with the
pseudonymous id only; nothing here returns a direct identifier because none is
stored (imports remove or pseudonymise them).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from engine import audit
from engine.errors import AuthError, NotFoundError
from engine.labs import annotate, trend_rows
from engine.roles import can
from engine.terminology import rules_note
from engine.store import Database
from engine.store import clinical as clinical_rows
from engine.store import patients as patient_rows
from engine.store import records as record_rows


@dataclass(frozen=True)
class PatientPage:
    """One page of a patient search: the rows shown, how many match in all, and where this page sits."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    page_size: int

    @property
    def first(self) -> int:
        """1-based position of this page's first row in the whole result (0 when nothing matches)."""
        return (self.page - 1) * self.page_size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


def find_patients(db: Database, query: str | None, *, page: int = 1, page_size: int = 25, source: str | None = None,
                  sex: str | None = None, condition_code: str | None = None) -> PatientPage:
    """Patients whose pseudonymous id, dataset or condition (ICD-10-CM code or name) contains each word of
    ``query``, one page at a time with the total; an exact id comes first so typing it picks it.

    Clinicians rarely know an exact id: part of it ("0042"), a dataset ("pima") or a condition ("E11",
    "diabetes") is enough. Words narrow the search ("pima E11"). ``source``, ``sex`` and ``condition_code``
    (an ICD-10-CM prefix) are exact filters for the patient page's filter row. A page past the end gives the
    last page.
    """
    terms = (query or "").split()
    filters = {"source": source or None, "sex": sex or None,
               "condition_code": (condition_code or "").strip().upper() or None}
    page_size = max(1, min(int(page_size), 200))
    _, total = patient_rows.find_patients_page(db, terms, limit=0, offset=0, **filters)
    pages = max(1, -(-total // page_size))
    page = min(max(1, int(page)), pages)
    rows, _ = patient_rows.find_patients_page(db, terms, limit=page_size, offset=(page - 1) * page_size, **filters)
    return PatientPage(rows, total, page, pages, page_size)


def filter_options(db: Database) -> dict[str, list[str]]:
    return {"sources": patient_rows.list_sources(db), "sexes": ["female", "male", "other", "unknown"]}


def view_patient(db: Database, pseudo_id: str, *, username: str, role: str, audit_view: bool = True) -> dict[str, Any]:
    """The whole record of one patient, audited as a view.

    ``audit_view=False`` is for a page redrawing a record it has already audited in this visit (a widget
    changed on the page): the same view, so not a second audit row, and no store write on a pure read."""
    if not can(role, "patient.view"):
        raise AuthError("Your role may not open patient records.")
    patient = patient_rows.get_patient(db, pseudo_id)
    if patient is None:
        audit.record(db, username=username, action="patient.view", target_type="patient", target_id=pseudo_id,
                     outcome="not_found")
        raise NotFoundError(f"There is no patient '{pseudo_id}'.")
    observations = annotate(patient_rows.observations_for(db, patient["id"]))
    predictions = record_rows.predictions_with_feedback(db, patient["id"])
    for pred in predictions:
        try:
            pred["output"] = json.loads(pred["output"])
        except (TypeError, ValueError):
            pass
    if audit_view:
        audit.record(db, username=username, action="patient.view", target_type="patient", target_id=pseudo_id,
                     details={"observations": len(observations), "predictions": len(predictions)})
    return {
        "patient": {k: patient[k] for k in ("pseudo_id", "source", "sex", "age", "age_group", "birth_year")},
        "observations": observations,  # each with its cited reference range and where the value falls
        "trends": trend_rows(observations),  # only what has two or more dated values
        "conditions": [{**c, "rules": rules_note(c["code"], c["system"])}
                       for c in patient_rows.conditions_for(db, patient["id"])],
        "medications": patient_rows.medications_for(db, patient["id"]),
        "allergies": patient_rows.allergies_for(db, patient["id"]),
        "encounters": clinical_rows.encounters_for(db, patient["id"]),
        "immunizations": clinical_rows.immunizations_for(db, patient["id"]),
        "procedures": clinical_rows.procedures_for(db, patient["id"]),
        "predictions": predictions,
    }


def build_timeline_figure(record: dict[str, Any]):
    """Encounters as bars over (shifted) time, with procedures and immunizations as markers; None when the
    record has no dated encounter (dates generalised to the year cannot be drawn as intervals)."""
    import plotly.graph_objects as go

    def when(value: Any) -> str | None:
        return value if isinstance(value, str) and len(value) >= 10 else None

    encounters = [e for e in record.get("encounters") or [] if when(e["period_start"])]
    if not encounters:
        return None
    fig = go.Figure()
    for klass in sorted({e["class_code"] or "unknown" for e in encounters}):
        rows = [e for e in encounters if (e["class_code"] or "unknown") == klass]
        fig.add_trace(go.Scatter(
            x=[v for e in rows for v in (e["period_start"], when(e["period_end"]) or e["period_start"], None)],
            y=[klass for _ in rows for _ in range(3)], mode="lines+markers", name=f"encounter {klass}",
            line={"width": 10}, hovertext=[t for e in rows for t in [e["type_display"] or klass] * 3]))
    for key, field, label in (("procedures", "performed_start", "procedure"),
                              ("immunizations", "occurrence", "immunization")):
        rows = [r for r in record.get(key) or [] if when(r[field])]
        if rows:
            fig.add_trace(go.Scatter(x=[r[field] for r in rows], y=[label] * len(rows), mode="markers",
                                     name=label, hovertext=[r["display"] or r["code"] for r in rows],
                                     marker={"size": 10, "symbol": "diamond"}))
    fig.update_layout(title="Encounters, procedures and immunizations (dates shifted per patient)",
                      xaxis_title="date (shifted)", yaxis_title=None, height=320)
    return fig
