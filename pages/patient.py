"""Patient: find a patient by pseudonymous id or filters, then their record (every view is audited)."""
from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from engine.errors import EngineError
from engine.patient_record import build_timeline_figure, filter_options, find_patients, view_patient
from engine.store import open_db
from engine.unit_text import count_noun, format_number, readable_unit
from pages.components.patient_notes import render_patient_notes
from pages.components.session import SELECTED_PATIENT_KEY, mark_viewed, require_page, start_visit, viewed_this_visit

ANY = "(any)"
PAGE_SIZE = 25
VIEWED_KEY = "patient_viewed"  # the record this visit to the page has audited as viewed


def render() -> None:
    user = require_page("patient")
    st.title("Patient")
    st.caption("Patients are shown by pseudonymous id only; names, contact details and record numbers are never "
               "stored. Opening a record is logged in the audit trail.")
    start_visit("patient_pick", VIEWED_KEY)
    handed_over = st.session_state.pop(SELECTED_PATIENT_KEY, None)
    if handed_over:  # another page linked here for one patient: search for and open it
        st.session_state["patient_search"] = handed_over
        st.session_state["patient_pick"] = handed_over
    with open_db() as db:
        options = filter_options(db)
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
    text = c1.text_input("Id, dataset or condition contains", key="patient_search",
                         help="Part of the pseudonymous id, the dataset or a condition (ICD-10-CM code or name).")
    source = c2.selectbox("Dataset", [ANY, *options["sources"]], key="patient_source")
    sex = c3.selectbox("Sex", [ANY, *options["sexes"]], key="patient_sex")
    condition = c4.text_input("ICD-10-CM code starts with", key="patient_condition")
    if st.session_state.get("patient_list_filters") != (text, source, sex, condition):  # new search: first page
        st.session_state["patient_list_filters"] = (text, source, sex, condition)
        st.session_state["patient_list_page"] = 1
    page = st.session_state.get("patient_list_page", 1)
    with open_db() as db:
        found = find_patients(db, text, page=page, page_size=PAGE_SIZE, source=None if source == ANY else source,
                              sex=None if sex == ANY else sex, condition_code=condition)
    if not found.rows:
        st.info("No patient matches these filters.")
        return
    info, pager = st.columns([3, 1])
    info.caption(f"{count_noun(found.total, 'patient')} match; showing {found.first:,}-{found.last:,}.")
    if found.pages > 1:
        st.session_state["patient_list_page"] = found.page
        pager.number_input(f"Page (of {found.pages:,})", min_value=1, max_value=found.pages, step=1,
                           key="patient_list_page")
    matches = found.rows
    st.dataframe(pd.DataFrame(matches)[["pseudo_id", "source", "sex", "age_group", "conditions"]], hide_index=True,
                 key="patient_matches")
    ids = [m["pseudo_id"] for m in matches]
    chosen = st.selectbox("Open patient", ids, index=None, placeholder="Choose a pseudonymous id",
                          key="patient_pick")
    if chosen is None:
        return
    try:
        with open_db() as db:
            # Opening a record is audited once per visit; a widget changed below redraws the same view.
            record = view_patient(db, chosen, username=user.username, role=user.role,
                                  audit_view=not viewed_this_visit(VIEWED_KEY, chosen))
    except EngineError as exc:
        st.error(str(exc))
        return
    mark_viewed(VIEWED_KEY, chosen)
    _render_record(record)
    render_patient_notes(chosen, user)


def _render_record(record: dict) -> None:
    patient = record["patient"]
    st.subheader(f"Patient {patient['pseudo_id']}")
    cols = st.columns(4)
    cols[0].metric("Sex", patient["sex"] or "unknown")
    cols[1].metric("Age", "90+" if patient["age_group"] == "90+" else
                   ("-" if patient["age"] is None else f"{patient['age']:.0f}"))
    cols[2].metric("Age group", patient["age_group"] or "-")
    cols[3].metric("Dataset", patient["source"] or "-")

    obs = pd.DataFrame(record["observations"])
    st.markdown("**Observations**")
    if obs.empty:
        st.caption("No observations recorded.")
    else:
        _render_trends(pd.DataFrame(record["trends"]))
        table = pd.DataFrame({
            "observation": obs["name"], "value": [format_number(v) if v is not None and v == v else (t or "")
                                                  for v, t in zip(obs["value_num"], obs["value_text"])],
            "unit": obs["unit"].map(readable_unit), "date": obs["time"].fillna(""),
            "reference range": obs["reference"].fillna("set by the laboratory"),
            "vs reference": obs["vs_reference"].map({"above": "▲ above", "below": "▼ below",
                                                     "within": "within"}).fillna(""),
            "data flag": obs["flag"].fillna(""), "code": obs["code"]})
        st.dataframe(table, hide_index=True, key="patient_obs_table")
        sources = sorted(s for s in obs["reference_source"].dropna().unique())
        if sources:
            st.caption("Reference ranges: " + "; ".join(sources) + ". Other ranges are set by each laboratory and "
                       "are not shown. A value outside a range is a prompt to review, not a diagnosis.")
    st.markdown("**Conditions**")
    if record["conditions"]:
        st.dataframe(pd.DataFrame(record["conditions"]), hide_index=True, key="patient_conditions")
    else:
        st.caption("No conditions recorded.")
    timeline = build_timeline_figure(record)
    if timeline is not None:
        st.plotly_chart(timeline, key="patient_timeline")
    for key, title in (("medications", "Medications"), ("allergies", "Allergies and intolerances"),
                       ("encounters", "Encounters"), ("immunizations", "Immunizations"),
                       ("procedures", "Procedures")):
        rows = record.get(key) or []
        if rows:
            st.markdown(f"**{title}**")
            st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"patient_{key}")
    st.markdown("**Past predictions and feedback**")
    if record["predictions"]:
        rows = []
        for pred in record["predictions"]:
            fb = pred["feedback"][-1] if pred["feedback"] else {}
            rows.append({"when": pred["created_at"], "model": f"{pred['model_name']} {pred['model_version']}",
                         "result": _format_output(pred["output"]), "by": pred["username"],
                         "feedback": fb.get("verdict") or "none yet", "reason": fb.get("reason") or ""})
        # A plain table (not a canvas grid): few rows, and the reasons stay readable and searchable.
        st.table(pd.DataFrame(rows))
    else:
        st.caption("No predictions recorded for this patient.")


def _render_trends(trends: pd.DataFrame) -> None:
    """Lines only for observations with two or more dated values: one value is not a trend."""
    if trends.empty:
        st.caption("No observation has two or more dated values, so there is no trend to draw; the values are "
                   "listed below with their reference ranges.")
        return
    numeric = trends[trends["value_num"].notna()]
    names = sorted(numeric["name"].unique())
    picked = st.multiselect("Plot over time", names, default=names[:1], key="patient_plot_pick")
    data = numeric[numeric["name"].isin(picked)].copy()
    if data.empty:
        return
    data["label"] = data["name"] + " (" + data["unit"].map(readable_unit) + ")"
    fig = px.line(data.sort_values("time"), x="time", y="value_num", color="label", markers=True,
                  labels={"time": "date (shifted)", "value_num": "value", "label": "observation"},
                  title="Observations over time")
    if len(picked) == 1:  # one kind plotted: name its reference range above the plot
        reference = data["reference"].dropna()
        if not reference.empty:
            fig.add_annotation(text=f"reference {reference.iloc[0]}", xref="paper", yref="paper", x=0, y=1.08,
                               showarrow=False, xanchor="left")
    st.plotly_chart(fig, key="patient_obs_chart")


def _format_output(output) -> str:
    """'probability 0.73 (95% 0.65-0.80), high' from a stored prediction output; withheld reads as such."""
    if not isinstance(output, dict):
        return str(output)[:120]
    probability = output.get("probability")
    if probability is None:
        return "probability withheld (image did not pass the quality check)"
    text = f"probability {probability:.2f}"
    interval = output.get("interval")
    if interval and len(interval) == 2 and None not in interval:
        text += f" (95% {interval[0]:.2f}-{interval[1]:.2f})"
    if output.get("risk_band"):
        text += f", {output['risk_band']}"
    return text


if __name__ == "__main__":
    from pages.components.standalone import run_app_instead

    run_app_instead()
