"""Treatment: guideline options with citations, why / why not, blocked options, similar patients, decisions.

Thin page: it reads widgets, builds the session's record (stored record plus the
clinician's session-only values), calls the engine once per result and renders.
Session values never touch the store; decisions and exports are stored and audited.
"""
from __future__ import annotations

import json

import streamlit as st

from engine import audit
from engine.config import get_settings
from engine.errors import EngineError
from engine.store import open_db
from engine.treatment import DISCLAIMER, load_knowledge_base, record_from_store, suggest
from pages.components.navigation import render_page_link
from pages.components.patient_picker import render_patient_picker
from pages.components.session import require_page
from pages.treatment_sections.editor import effective_record, render_session_editor, session_values
from pages.treatment_sections.options import cite, render_blocked, render_currency, render_options
from pages.treatment_sections.similar import get_similar, render_decisions_and_export, render_similar

ALL_RECORDED = "__recorded__"
VIEWED_KEY = "tx_viewed"


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

    values = session_values(pseudo_id)
    render_session_editor(pseudo_id, values)
    record = effective_record(stored, values)
    try:
        result = suggest(record, condition=condition, kb=kb)
    except EngineError as exc:
        st.error(str(exc))
        return
    for warning in result["warnings"]:
        st.warning(warning)
    render_currency(result)

    render_options(result, user, pseudo_id, condition, record, get_similar.clear)
    render_blocked(result, user, pseudo_id, condition, record, get_similar.clear)
    with st.expander(f"Why not: {len(result['not_applicable'])} rule(s) that do not apply"):
        for item in result["not_applicable"]:
            st.markdown(f"**{item['option']}** ({cite(item['citation'])})")
            for reason in item["why_not"]:
                st.markdown(f"- {reason}")

    similar = render_similar(settings, pseudo_id, record)
    render_decisions_and_export(user, pseudo_id, result, similar)


if __name__ == "__main__":
    from pages.components.standalone import run_app_instead

    run_app_instead()
