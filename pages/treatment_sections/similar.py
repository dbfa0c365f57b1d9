"""Similar patients (evidence, not a recommendation), the decisions recorded and the printable export."""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from engine import audit
from engine.errors import EngineError
from engine.store import open_db
from engine.treatment.decisions import decision_label, list_decisions
from engine.treatment.similar import closest_features, find_similar
from engine.treatment.summary import build_summary_html
from pages.components.cache_keys import settings_cache_key
from pages.components.session import user_can


@st.cache_data(show_spinner=False, max_entries=64)
def get_similar(db_path: str, pseudo_id: str, record_json: str) -> dict[str, Any]:
    """Similar patients for one patient and session record (cached per store, patient and values).

    ``db_path`` is the cache key only: the configured store is opened (SQLite or PostgreSQL)."""
    with open_db() as db:
        return find_similar(db, pseudo_id, json.loads(record_json))


def render_similar(settings, pseudo_id: str, record: dict[str, Any]) -> dict[str, Any] | None:
    st.subheader("Similar patients (evidence, not a recommendation)")
    try:
        similar = get_similar(settings_cache_key(), pseudo_id, json.dumps(record, sort_keys=True))
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
    for feature in similar["features"]:
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
        "closest on": ", ".join(closest_features(n)),
        "conditions": ", ".join(n["conditions"]) or "-", "treatments recorded": "; ".join(n["treatments"]) or "none recorded",
        "outcomes": "; ".join(f"{k}: {v:g}" if isinstance(v, float) else f"{k}: {v}" for k, v in n["outcomes"].items()) or "-",
    } for n in similar["neighbours"]])
    st.dataframe(table, hide_index=True, key="tx_similar_table")
    return similar


def _audit_export(username: str, pseudo_id: str) -> None:
    with open_db() as db:
        audit.record(db, username=username, action="treatment.export", target_type="patient", target_id=pseudo_id,
                     details={"format": "html"})


def render_decisions_and_export(user, pseudo_id: str, result: dict[str, Any], similar: dict[str, Any] | None) -> None:
    st.subheader("Decisions recorded for this patient")
    with open_db() as db:
        decisions = list_decisions(db, pseudo_id)
    if decisions:
        shown = pd.DataFrame([dict(d, decision=decision_label(d)) for d in decisions])
        st.dataframe(shown[["created_at", "option", "decision", "reason", "username"]],
                     hide_index=True, key="tx_decisions_table")
    else:
        st.caption("No decision recorded yet.")
    if user_can(user, "treatment.export"):
        html = build_summary_html(pseudo_id, result, decisions, similar, username=user.username)
        st.download_button("Export one-page summary (printable HTML)", data=html,
                           file_name=f"treatment-{pseudo_id}.html", mime="text/html", key="tx_export",
                           on_click=_audit_export, args=(user.username, pseudo_id))
