"""Capacity (issue 17): census forecast, bed sizing and the nurse roster, for unit managers and admins.

One module per tab; this one checks the role and lays out the tabs. Results live in session state
(pseudonymised stays and aggregates only) under the keys in :mod:`pages.capacity.state`.
"""
from __future__ import annotations

import streamlit as st

from pages.capacity import beds, forecast, inputs, roster, scenarios
from pages.components.session import require_page


def render() -> None:
    user = require_page("capacity")
    st.title("Capacity")
    st.caption("How full the unit will be, how many beds keep turn-aways rare, and who works which shift. Every "
               "figure shows its basis and uncertainty; the roster uses staff labels, never names.")
    tabs = st.tabs(["Inputs", "Forecast", "Beds", "Roster", "Scenarios"])
    with tabs[0]:
        inputs.render_tab(user)
    with tabs[1]:
        forecast.render_tab(user)
    with tabs[2]:
        beds.render_tab(user)
    with tabs[3]:
        roster.render_tab(user)
    with tabs[4]:
        scenarios.render_tab(user)


if __name__ == "__main__":
    from pages.components.standalone import run_app_instead

    run_app_instead()
