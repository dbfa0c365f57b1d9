"""Scenarios tab: save the current plan under a name; compare saved ones side by side."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.capacity import scenarios
from engine.capacity.figures import build_compare_figure
from engine.errors import EngineError
from engine.roles import can
from engine.store import open_db
from engine.store.capacity import list_scenarios
from pages.capacity import state


def render_tab(user) -> None:
    forecasts = st.session_state.get(state.FORECASTS)
    if forecasts and can(user.role, "capacity.scenario_save"):
        name = st.text_input("Scenario name", key="cap_scenario_name", placeholder="e.g. winter, 2 more ICU beds")
        if st.button("Save scenario", key="cap_save_scenario"):
            try:
                with open_db() as db:
                    scenarios.save(db, name, inputs=st.session_state.get(state.INPUTS) or {}, forecasts=forecasts,
                                   beds=st.session_state.get(state.BEDS), roster=st.session_state.get(state.ROSTER),
                                   username=user.username)
                st.success(f"Saved scenario '{name.strip()}'.")
            except EngineError as exc:
                st.error(str(exc))
    with open_db() as db:
        saved = list_scenarios(db)
    if not saved:
        st.info("No saved scenarios yet.")
        return
    names = [s["name"] for s in saved]
    picked = st.multiselect("Compare scenarios", names, default=names[:2], key="cap_compare")
    chosen = [s for s in saved if s["name"] in picked]
    if chosen:
        st.dataframe(pd.DataFrame(scenarios.compare(chosen)), hide_index=True, key="cap_compare_table")
        st.plotly_chart(build_compare_figure(chosen), key="cap_compare_fig")
