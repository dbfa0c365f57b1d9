"""Beds tab: beds needed for a target chance of a full unit, with the Erlang curve and simulated checks."""
from __future__ import annotations

import streamlit as st

from engine.capacity import service
from engine.capacity.figures import build_beds_figure
from engine.errors import EngineError
from pages.capacity import state


def render_tab(user) -> None:
    forecasts = st.session_state.get(state.FORECASTS)
    if not forecasts:
        st.info("Forecast the census on the Inputs tab first: bed sizing uses its arrivals and length of stay.")
        return
    target = st.number_input("Target chance that an arriving patient finds the unit full", 0.001, 0.5, 0.05, 0.01,
                             format="%.3f", key="cap_target")
    if st.button("Size beds", key="cap_size_beds", type="primary"):
        try:
            with st.spinner("Checking the formula against the simulation..."):
                st.session_state[state.BEDS] = {u: service.beds_for_forecast(f, st.session_state[state.LOS][u],
                                                                             target=target)
                                                for u, f in forecasts.items()}
        except EngineError as exc:
            st.error(str(exc))
    for unit, result in (st.session_state.get(state.BEDS) or {}).items():
        st.subheader(f"Beds: {unit}")
        cols = st.columns(3)
        cols[0].metric("Beds needed", result["recommended_beds"])
        cols[1].metric("P(full on arrival) there", f"{result['p_full_at_recommended']:.1%}")
        cols[2].metric("Offered load (beds)", f"{result['offered_load_beds']:.1f}")
        st.plotly_chart(build_beds_figure(result), key=f"cap_beds_fig_{unit}")
        st.caption(result["basis"])
        for warning in result["warnings"]:
            st.warning(warning)
