"""The patient page's notes section: import a note, read it with findings highlighted, review suggestions.

Thin: the engine parses, de-identifies, extracts, stores and audits; this module reads widgets and renders.
"""
from __future__ import annotations

import html

import streamlit as st

from engine.errors import EngineError
from engine.notes.extract import highlight_segments
from engine.notes.service import import_notes, patient_notes, review_suggestion
from engine.store import open_db
from pages.components.session import user_can

# One look per kind of mention; the legend repeats it in words (colour is never the only cue).
STYLES = {
    "affirmed": "background:#fde68a;border-bottom:2px solid #b45309;",
    "negated": "background:#e5e7eb;text-decoration:line-through;color:#374151;",
    "historical": "background:#dbeafe;font-style:italic;border-bottom:2px dotted #1d4ed8;",
    "family": "background:#ede9fe;border:1px dashed #6d28d9;",
    "hypothetical": "background:#ffedd5;border-bottom:2px dashed #c2410c;",
    "uncertain": "background:#fef9c3;border-bottom:2px dotted #a16207;",
}
WORDS = {"affirmed": "present now", "negated": "negated", "historical": "historical", "family": "family / other person",
         "hypothetical": "hypothetical", "uncertain": "possible (not asserted)"}


def render_patient_notes(pseudo_id: str, user) -> None:
    st.markdown("**Clinical notes**")
    if user_can(user, "notes.import"):
        with st.form("notes_import_form", clear_on_submit=True):
            upload = st.file_uploader("Import a note (plain text for this patient, CSV or FHIR DocumentReference)",
                                      type=["txt", "csv", "json"], key="notes_upload")
            submitted = st.form_submit_button("Import note")
        if submitted and upload is not None:
            try:
                with st.spinner("De-identifying and reading the note..."), open_db() as db:
                    result = import_notes(db, upload.getvalue(), username=user.username, patient=pseudo_id)
                st.success(f"Imported {result.notes} note(s) as version {result.version}: {result.findings} "
                           f"finding(s); {sum(result.redactions.values())} identifier(s) replaced before storing.")
            except EngineError as exc:
                st.error(str(exc))
    try:
        with open_db() as db:
            view = patient_notes(db, pseudo_id)
    except EngineError as exc:
        st.error(str(exc))
        return
    if not view["notes"]:
        st.caption("No notes for this patient yet.")
        return
    legend = " ".join(f'<span style="{STYLES[k]}padding:0 3px">{WORDS[k]}</span>' for k in STYLES)
    st.html(f'<div class="notes-legend">Findings: {legend}</div>')
    for note in view["notes"]:
        title = " - ".join(x for x in (note["kind"] or "Note", note["note_date"]) if x)
        with st.expander(f"{title} (import v{note['import_version']}, {len(note['findings'])} findings)",
                         expanded=True):
            st.html(_note_html(note))
    st.markdown("**Suggested from notes**")
    st.caption("Problems the notes state as present, current and about the patient (a mention raised only as "
               "possible is not suggested). Only problems you confirm join the record; every decision is audited.")
    if not view["suggestions"]:
        st.caption("No problems awaiting review.")
    decided = view["reviewed"]
    if decided:
        st.caption("Decided: " + "; ".join(
            f"{code} {'confirmed (now in the record conditions)' if d == 'confirmed' else 'rejected'}"
            for code, d in sorted(decided.items())))
    for item in view["suggestions"]:
        c1, c2, c3 = st.columns([4, 1, 1])
        c1.write(f"{item['label']} ({item['code']}), mentioned {item['mentions']} time(s)")
        if user_can(user, "notes.review"):
            for col, decision, word in ((c2, "confirmed", "Confirm"), (c3, "rejected", "Reject")):
                if col.button(word, key=f"notes_{decision}_{item['code'].replace('.', '_')}"):
                    try:
                        with open_db() as db:
                            review_suggestion(db, pseudo_id, item["code"], decision, username=user.username)
                        st.rerun()
                    except EngineError as exc:
                        st.error(str(exc))


def _note_html(note: dict) -> str:
    parts = []
    for piece, style, label in highlight_segments(note["text"], note["findings"]):
        text = html.escape(piece)
        if style is None:
            parts.append(text)
        else:
            parts.append(f'<mark class="finding finding-{style}" title="{html.escape(label)}: {WORDS[style]}" '
                         f'style="{STYLES[style]}padding:0 2px">{text}</mark>')
    return f'<div class="note-text" style="white-space:pre-wrap;font-family:serif">{"".join(parts)}</div>'


def render_report_link(pseudo_id: str, model_label: str | None) -> None:
    """Imaging page: the patient's chest radiograph report conclusion beside the model's read."""
    from engine.notes.imaging_link import compare_read, radiograph_report

    with open_db() as db:
        report = radiograph_report(db, pseudo_id)
    if report is None:
        return
    st.markdown("**Radiology report**")
    st.caption(f"Conclusion ({report['note_date'] or 'undated'}): {report['conclusion']}")
    verdict = compare_read(report, model_label)
    if verdict is None or verdict["agrees"] is None:
        st.caption(verdict["message"] if verdict else "No model reading to compare.")
    elif verdict["agrees"]:
        st.success(verdict["message"])
    else:
        st.warning(verdict["message"])
