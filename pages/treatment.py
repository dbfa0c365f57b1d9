"""Treatment: guideline options with citations, why / why not, blocked options, similar patients, decisions.

Thin page: it reads widgets, builds the session's record (stored record plus the
clinician's session-only values), calls the engine once per result and renders.
Session values never touch the store; decisions and exports are stored and audited.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine import audit
from engine.config import get_settings
from engine.errors import EngineError
from engine.store import open_db, utcnow
from engine.treatment import DISCLAIMER, load_knowledge_base, record_from_store, suggest
from engine.treatment.decisions import list_decisions, record_decision
from engine.treatment.similar import find_similar
from engine.treatment.summary import build_summary_html
from engine.treatment.units import accepted_units
from engine.unit_text import format_number, readable_unit, with_unit
from engine.vocabulary import CONCEPTS
from pages.components.navigation import render_page_link
from pages.components.patient_picker import render_patient_picker
from pages.components.session import require_page, user_can

SESSION_KEY = "tx_session_values"
ALL_RECORDED = "__recorded__"
VIEWED_KEY = "tx_viewed"
# Observations the rules read, in the order the override picker offers them.
EDITABLE_CONCEPTS = ("egfr", "hba1c", "glucose", "ldl_cholesterol", "systolic_bp", "diastolic_bp", "potassium",
                     "ejection_fraction", "spo2", "ascvd_risk_10y", "egfr_mdrd", "ldl_cholesterol_direct")


@st.cache_data(show_spinner=False, max_entries=64)
def get_similar(db_path: str, pseudo_id: str, record_json: str) -> dict[str, Any]:
    """Similar patients for one patient and session record (cached per store, patient and values)."""
    with open_db(db_path) as db:
        return find_similar(db, pseudo_id, json.loads(record_json))


def _session_values(pseudo_id: str) -> dict[str, Any]:
    store = st.session_state.setdefault(SESSION_KEY, {})
    return store.setdefault(pseudo_id, {"observations": {}, "medications": [], "allergies": []})


def _effective_record(stored: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The stored record with the clinician's session values: an entered value replaces that code's history."""
    record = json.loads(json.dumps(stored))
    record["observations"] = [o for o in record["observations"] if o["code"] not in values["observations"]]
    for code, item in values["observations"].items():
        record["observations"].append({"code": code, "value": item["value"], "unit": item["unit"],
                                       "time": item["time"], "source": "clinician (this session)"})
    record["medications"] += [{"display": m, "status": "active"} for m in values["medications"]]
    record["allergies"] += [{"substance": a} for a in values["allergies"]]
    return record


def render() -> None:
    user = require_page("treatment")
    st.title("Treatment options")
    st.info(DISCLAIMER, icon=":material/info:")
    settings = get_settings()
    kb = load_knowledge_base()

    pseudo_id = render_patient_picker(query_key="tx_filter", pick_key="tx_patient")
    if pseudo_id is None:
        return
    try:
        with open_db() as db:
            stored = record_from_store(db, pseudo_id)
            viewed = st.session_state.setdefault(VIEWED_KEY, set())
            if pseudo_id not in viewed:
                audit.record(db, username=user.username, action="treatment.view", target_type="patient",
                             target_id=pseudo_id)
                viewed.add(pseudo_id)
    except EngineError as exc:
        st.error(str(exc))
        return

    recorded = [c["code"] for c in stored["conditions"]]
    covered = kb.conditions()
    choices = [ALL_RECORDED] + recorded + [code for code in covered if code not in recorded]
    labels = {code: f"{code} - {covered.get(code) or next((c['display'] for c in stored['conditions'] if c['code'] == code), '')}"
              + (" (recorded)" if code in recorded else " (working diagnosis)") for code in choices[1:]}
    labels[ALL_RECORDED] = "All recorded conditions"
    choice = st.selectbox("Condition to review", choices, format_func=lambda c: labels[c], key=f"tx_condition_{pseudo_id}")
    condition = None if choice == ALL_RECORDED else choice
    st.caption(f"Age {stored['age'] if stored['age'] is not None else 'not recorded'}, sex {stored['sex']}, "
               f"recorded conditions: {', '.join(recorded) or 'none'}.")

    render_page_link("patient", label="Open this patient's record")
    if stored["predictions"]:
        with st.expander(f"Latest predictions ({len(stored['predictions'])}): context only, no rule uses them"):
            for p in stored["predictions"]:
                st.markdown(f"- **{p['model_name']}** v{p['model_version']} ({p['created_at']}): "
                            f"`{json.dumps(p['output'], default=str)[:300]}`")

    values = _session_values(pseudo_id)
    _render_session_editor(pseudo_id, values)
    record = _effective_record(stored, values)
    try:
        result = suggest(record, condition=condition, kb=kb)
    except EngineError as exc:
        st.error(str(exc))
        return
    for warning in result["warnings"]:
        st.warning(warning)

    _render_options(result, user, pseudo_id, condition, record, kb)
    _render_blocked(result, user, pseudo_id, condition, record)
    with st.expander(f"Why not: {len(result['not_applicable'])} rule(s) that do not apply"):
        for item in result["not_applicable"]:
            st.markdown(f"**{item['option']}** ({_cite(item['citation'])})")
            for reason in item["why_not"]:
                st.markdown(f"- {reason}")

    similar = _render_similar(settings, pseudo_id, record)
    _render_decisions_and_export(user, pseudo_id, result, similar)


def _render_session_editor(pseudo_id: str, values: dict[str, Any]) -> None:
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


CONCEPTS_BY_CODE = {c.code: c.name for c in CONCEPTS.values()}


def _cite(c: dict[str, Any]) -> str:
    rec = f", recommendation {c['recommendation']}" if c.get("recommendation") else ""
    return f"{c['body']} {c['year']}, {c['section']}{rec}"


def _render_decision_widgets(prefix: str, rule_id: str, user, pseudo_id: str, condition: str | None,
                             record: dict[str, Any]) -> None:
    if not user_can(user, "treatment.decide"):
        return
    cols = st.columns([2, 4, 2])
    decision = cols[0].radio("Decision", ["accept", "decline"], key=f"{prefix}_dec_{rule_id}", horizontal=True)
    reason = cols[1].text_input("Reason (required to decline)", key=f"{prefix}_reason_{rule_id}")
    cols[2].write("")
    if cols[2].button("Record decision", key=f"{prefix}_save_{rule_id}"):
        try:
            with open_db() as db:
                record_decision(db, username=user.username, pseudo_id=pseudo_id, rule_id=rule_id, decision=decision,
                                reason=reason, condition=condition, inputs={"observations": record["observations"]})
        except EngineError as exc:
            st.error(str(exc))
        else:
            get_similar.clear()
            st.success(f"Decision recorded: {decision}.")


def _render_options(result: dict[str, Any], user, pseudo_id: str, condition: str | None, record: dict[str, Any], kb) -> None:
    st.subheader(f"Options ({len(result['options'])})")
    if not result["options"]:
        st.info("No guideline option applies with the data available. See the blocked and 'why not' lists.")
    for option in result["options"]:
        with st.container(border=True, key=f"tx_option_{option['id'].replace('.', '_')}"):
            st.markdown(f"**{option['rank']}. {option['option']}** - {option['strength']['text']} - *{option['status']}*")
            st.caption(f"Citation: {_cite(option['citation'])}")
            st.write(option["statement"])
            if option["matched"]:
                st.markdown("**Why:** " + "; ".join(_matched_text(m) for m in option["matched"]))
            for m in option["missing"]:
                need = "to check a contraindication" if m["needed_for"].startswith("contra") else "for this option"
                unit = readable_unit(m["unit"]) or m["unit"]
                st.markdown(f"- Missing data ({need}): **{m['name']}** in {unit} - criterion {m['criterion']}. "
                            "Not assumed normal; add it above if known.")
            for item in option["to_confirm"]:
                st.markdown(f"- To confirm: {item}")
            for caution in option["cautions"]:
                st.warning(caution)
            for note in option["notes"]:
                st.caption(note)
            _render_decision_widgets("tx", option["id"], user, pseudo_id, condition, record)


def _matched_text(m: dict[str, Any]) -> str:
    if m.get("value") is None or m.get("unit") is None:
        return f"{m['criterion']}"
    when = f", {m['time']}" if m.get("time") else ""
    source = f", {m['source']}" if m.get("source") not in (None, "store", "record") else ""
    return f"{m['criterion']} (value {with_unit(format_number(m['value']), m['unit'])}{when}{source})"


def _render_blocked(result: dict[str, Any], user, pseudo_id: str, condition: str | None, record: dict[str, Any]) -> None:
    st.subheader(f"Blocked options ({len(result['blocked'])})")
    if not result["blocked"]:
        st.caption("No option is blocked by a contraindication, allergy or interaction with the data available.")
    for item in result["blocked"]:
        with st.container(border=True, key=f"tx_blocked_{item['id'].replace('.', '_')}"):
            st.markdown(f"**Blocked: {item['option']}** - {item['strength']['text']}")
            st.caption(f"Citation: {_cite(item['citation'])}")
            for block in item["blocked_by"]:
                evidence = "; ".join(_matched_text(m) for m in block["evidence"])
                st.error(f"Reason: {block['reason']}" + (f" Based on: {evidence}." if evidence else ""))
            _render_decision_widgets("txb", item["id"], user, pseudo_id, condition, record)


def _render_similar(settings, pseudo_id: str, record: dict[str, Any]) -> dict[str, Any] | None:
    st.subheader("Similar patients (evidence, not a recommendation)")
    try:
        similar = get_similar(str(settings.db_path), pseudo_id, json.dumps(record, sort_keys=True))
    except EngineError as exc:
        st.error(str(exc))
        return None
    st.caption(similar["caveat"])
    for warning in similar.get("warnings", []):
        st.warning(warning)
    if not similar["neighbours"]:
        return similar
    st.caption(f"Compared within the '{similar['cohort']}' cohort ({similar['n_cohort']} patients) on: "
               f"{', '.join(similar['features'])}. Distance: {similar['distance']}.")
    fig = go.Figure()
    features = similar["features"]
    for feature in features:
        fig.add_bar(
            name=feature, orientation="h",
            y=[n["pseudo_id"] for n in similar["neighbours"]],
            x=[next((c["share"] for c in n["contributions"] if c["feature"] == feature), 0) * n["distance"]
               for n in similar["neighbours"]],
            hovertemplate=feature + ": %{x:.3f}<extra></extra>")
    fig.update_layout(barmode="stack", title="Distance to each neighbour, split by feature (share of squared distance)",
                      xaxis_title="distance (standard deviations)", yaxis={"autorange": "reversed"}, height=320)
    st.plotly_chart(fig, key="tx_similar_chart")
    table = pd.DataFrame([{
        "patient": n["pseudo_id"], "distance": n["distance"], "age": n["age"], "sex": n["sex"],
        "closest on": ", ".join(c["feature"] for c in sorted(n["contributions"], key=lambda c: c["share"])[:3]),
        "conditions": ", ".join(n["conditions"]) or "-", "treatments recorded": "; ".join(n["treatments"]) or "none recorded",
        "outcomes": "; ".join(f"{k}: {v:g}" if isinstance(v, float) else f"{k}: {v}" for k, v in n["outcomes"].items()) or "-",
    } for n in similar["neighbours"]])
    st.dataframe(table, hide_index=True, key="tx_similar_table")
    return similar


def _audit_export(username: str, pseudo_id: str) -> None:
    with open_db() as db:
        audit.record(db, username=username, action="treatment.export", target_type="patient", target_id=pseudo_id,
                     details={"format": "html"})


def _render_decisions_and_export(user, pseudo_id: str, result: dict[str, Any], similar: dict[str, Any] | None) -> None:
    st.subheader("Decisions recorded for this patient")
    with open_db() as db:
        decisions = list_decisions(db, pseudo_id)
    if decisions:
        st.dataframe(pd.DataFrame(decisions)[["created_at", "option", "decision", "reason", "username"]],
                     hide_index=True, key="tx_decisions_table")
    else:
        st.caption("No decision recorded yet.")
    if user_can(user, "treatment.export"):
        html = build_summary_html(pseudo_id, result, decisions, similar, username=user.username)
        st.download_button("Export one-page summary (printable HTML)", data=html,
                           file_name=f"treatment-{pseudo_id}.html", mime="text/html", key="tx_export",
                           on_click=_audit_export, args=(user.username, pseudo_id))


if __name__ == "__main__":
    from pages.components.standalone import run_app_instead

    run_app_instead()
