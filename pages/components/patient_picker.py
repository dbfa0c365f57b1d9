"""One patient picker for every page that works on one patient (Predict, Imaging, Treatment).

Clinicians rarely know an exact pseudonymous id: they type part of it, a dataset or a condition and
pick from a paged list that says how many patients match. Typing an exact id (or narrowing to one
patient) selects it; otherwise nothing is selected until the user chooses, so no page starts on a
patient nobody picked. The search itself is ``engine.patient_record.find_patients``.
"""
from __future__ import annotations

import streamlit as st

from engine.errors import EngineError
from engine.patient_record import PatientPage, find_patients
from engine.store import open_db
from engine.unit_text import count_noun

PLACEHOLDER = "Part of the id, a dataset or a condition, e.g. 0042, pima, E11 or diabetes"


def _label(row: dict) -> str:
    """'PIMA-0001 · pima · female, 50-59 · E11.9 Type 2 diabetes ...' (pseudonymous fields only)."""
    who = ", ".join(str(v) for v in (row.get("sex"), row.get("age_group")) if v)
    parts = [row["pseudo_id"], row.get("source") or "", who, row.get("conditions") or ""]
    return " · ".join(p for p in parts if p)


def _auto_choice(result: PatientPage, query: str) -> str | None:
    """The patient the search itself names: an exact id, or the only match."""
    if result.rows and result.rows[0]["pseudo_id"].lower() == query.strip().lower():
        return result.rows[0]["pseudo_id"]
    if result.total == 1:
        return result.rows[0]["pseudo_id"]
    return None


def render_patient_picker(*, query_key: str, pick_key: str, label: str = "Patient",
                          handed_over: str | None = None, page_size: int = 25) -> str | None:
    """Search box, match count, page control and a picker; returns the chosen pseudonymous id or None.

    ``handed_over`` is a patient another page was working on: it fills the search once, so it is picked.
    """
    if handed_over and query_key not in st.session_state:
        st.session_state[query_key] = handed_over
    query = st.text_input("Find a patient", key=query_key, placeholder=PLACEHOLDER,
                          help="Matches the pseudonymous id, the dataset and the patient's conditions "
                               "(ICD-10-CM code or name). Several words narrow the search.")
    page_key, last_key = f"{pick_key}_page", f"{pick_key}_last_query"
    changed = st.session_state.get(last_key) != query
    if changed:
        st.session_state[page_key] = 1
    st.session_state[last_key] = query
    try:
        with open_db() as db:
            result = find_patients(db, query, page=st.session_state.get(page_key, 1), page_size=page_size)
    except EngineError as exc:
        st.error(str(exc))
        return None
    if result.total == 0:
        st.info("No patient matches this search; try part of the id, a dataset name or a condition.")
        return None
    info, pager = st.columns([3, 1])
    info.caption(f"{count_noun(result.total, 'patient')} match; showing {result.first:,}-{result.last:,}.")
    if result.pages > 1:
        st.session_state[page_key] = result.page
        pager.number_input(f"Page (of {result.pages:,})", min_value=1, max_value=result.pages, step=1,
                           key=page_key)
    labels = {row["pseudo_id"]: _label(row) for row in result.rows}
    current = st.session_state.get(pick_key)
    if changed:  # a new search picks what it names, else keeps a choice that still matches
        current = _auto_choice(result, query) or current
    st.session_state[pick_key] = current if current in labels else None
    return st.selectbox(label, list(labels), index=None, format_func=labels.get, key=pick_key,
                        placeholder="Choose a patient")
