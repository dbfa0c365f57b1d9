"""Session-state keys shared by the capacity tabs."""
from __future__ import annotations

import streamlit as st

ADMISSIONS = "cap_admissions"  # engine Admissions (pseudonymised) or None
INPUTS = "cap_inputs"  # the scenario inputs as plain data
FORECASTS = "cap_forecasts"  # unit -> forecast dict
LOS = "cap_los"  # unit -> LOSDistribution used
BEDS = "cap_beds"  # unit -> bed sizing result
ROSTER = "cap_roster"  # roster result
BACKTEST = "cap_backtest"  # unit -> backtest result


def clear_results() -> None:
    for key in (FORECASTS, LOS, BEDS, ROSTER, BACKTEST):
        st.session_state.pop(key, None)
