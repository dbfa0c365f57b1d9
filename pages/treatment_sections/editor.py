"""Session-only values: measurements, medications, allergies and the states a clinician confirms."""
from __future__ import annotations

import json
from typing import Any

import streamlit as st

from engine.store import utcnow
from engine.treatment.units import accepted_units
from engine.unit_text import format_number, readable_unit, with_unit
from engine.vocabulary import CONCEPTS

SESSION_KEY = "tx_session_values"
# Observations the rules read, in the order the override picker offers them.
EDITABLE_CONCEPTS = ("egfr", "hba1c", "glucose", "ldl_cholesterol", "systolic_bp", "diastolic_bp", "potassium",
                     "ejection_fraction", "spo2", "ascvd_risk_10y", "egfr_mdrd", "ldl_cholesterol_direct")
CONCEPTS_BY_CODE = {c.code: c.name for c in CONCEPTS.values()}
# States the clinician can confirm for the session (unknown = the rules ask "to confirm").
CONFIRM_CHOICES = {"pregnant": ("Pregnancy status", {"unknown": "not recorded", "yes": "pregnant", "no": "not pregnant"}),
                   "angioedema_history": ("History of angioedema",
                                          {"unknown": "not recorded", "yes": "yes", "no": "no"})}


def session_values(pseudo_id: str) -> dict[str, Any]:
    store = st.session_state.setdefault(SESSION_KEY, {})
    return store.setdefault(pseudo_id, {"observations": {}, "medications": [], "allergies": [], "confirmed": {}})


def effective_record(stored: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The stored record with the clinician's session values: an entered value replaces that code's history."""
    record = json.loads(json.dumps(stored))
    record["observations"] = [o for o in record["observations"] if o["code"] not in values["observations"]]
    for code, item in values["observations"].items():
        record["observations"].append({"code": code, "value": item["value"], "unit": item["unit"],
                                       "time": item["time"], "source": "clinician (this session)"})
    record["medications"] += [{"display": m, "status": "active"} for m in values["medications"]]
    record["allergies"] += [{"substance": a} for a in values["allergies"]]
    if values.get("confirmed"):
        record["confirmed"] = dict(values["confirmed"])
    return record


def render_session_editor(pseudo_id: str, values: dict[str, Any]) -> None:
    values.setdefault("confirmed", {})
    with st.expander("Add or override values for this session (not saved to the record)", expanded=True):
        cols = st.columns([3, 2, 2, 1])
        key = cols[0].selectbox("Measurement", EDITABLE_CONCEPTS, key="tx_edit_concept",
                                format_func=lambda k: f"{CONCEPTS[k].name} [{CONCEPTS[k].code}]")
        concept = CONCEPTS[key]
        value = cols[1].number_input("Value", value=None, step=0.1, format="%.2f", key="tx_edit_value")
        unit = cols[2].selectbox("Unit", accepted_units(concept.code), key=f"tx_edit_unit_{key}",
                                format_func=lambda u: readable_unit(u) or u)
        cols[3].write("")
        if cols[3].button("Apply value", key="tx_edit_apply", type="primary"):
            if value is None:
                st.error("Enter a value first.")
            else:
                values["observations"][concept.code] = {"value": float(value), "unit": unit, "time": utcnow()}
        cols = st.columns(2)
        med = cols[0].text_input("Add a current medication (e.g. lisinopril)", key="tx_edit_med")
        if cols[0].button("Add medication", key="tx_edit_med_add") and med.strip():
            values["medications"].append(med.strip())
        allergy = cols[1].text_input("Add an allergy (e.g. penicillin)", key="tx_edit_allergy")
        if cols[1].button("Add allergy", key="tx_edit_allergy_add") and allergy.strip():
            values["allergies"].append(allergy.strip())
        cols = st.columns(2)
        for col, (name, (label, choices)) in zip(cols, CONFIRM_CHOICES.items()):
            current = {True: "yes", False: "no"}.get(values["confirmed"].get(name), "unknown")
            picked = col.radio(label, list(choices), index=list(choices).index(current), horizontal=True,
                               format_func=choices.get, key=f"tx_confirm_{name}_{pseudo_id}")
            if picked == "unknown":
                values["confirmed"].pop(name, None)
            else:
                values["confirmed"][name] = picked == "yes"
        if values["observations"] or values["medications"] or values["allergies"]:
            lines = [f"{CONCEPTS_BY_CODE.get(code, code)}: {with_unit(format_number(v['value']), v['unit'])}"
                     for code, v in values["observations"].items()]
            lines += [f"medication: {m}" for m in values["medications"]] + [f"allergy: {a}" for a in values["allergies"]]
            st.markdown("**Session values in use:** " + "; ".join(lines))
            if st.button("Clear session values", key="tx_edit_clear"):
                values["observations"].clear()
                values["medications"].clear()
                values["allergies"].clear()
                st.rerun()
