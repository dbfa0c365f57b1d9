"""Forecast tab: the census fan chart per unit, its basis and caveats, and the backtest."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.capacity.forecast import backtest_forecast
from engine.capacity.figures import build_fan_figure
from engine.errors import EngineError
from pages.capacity import state


def render_tab(user) -> None:
    forecasts = st.session_state.get(state.FORECASTS)
    if not forecasts:
        st.info("Forecast the census on the Inputs tab first.")
        return
    for unit, f in forecasts.items():
        st.subheader(f"Census forecast: {unit}")
        st.plotly_chart(build_fan_figure(f), key=f"cap_fan_{unit}")
        last = len(f["days"]) - 1
        c = f["census"]
        st.markdown(f"**{unit}**: {f['census_now']} patients now; on {f['days'][last]} a median of "
                    f"{c['p50'][last]:g} (50% band {c['p25'][last]:g}-{c['p75'][last]:g}, "
                    f"90% band {c['p05'][last]:g}-{c['p95'][last]:g}).")
        st.caption(f["basis"])
        for warning in f["warnings"]:
            st.warning(warning)
        with st.expander("Arrival model and length of stay"):
            st.json({"arrivals": f["arrivals"], "length_of_stay": f["los"]})
    adm = st.session_state.get(state.ADMISSIONS)
    if adm is None or (st.session_state.get(state.INPUTS) or {}).get("source") == "parameters":
        return
    st.subheader("Backtest on your history")
    if st.button("Run the backtest", key="cap_backtest"):
        try:
            with st.spinner("Refitting and forecasting at each past origin..."):
                st.session_state[state.BACKTEST] = {u: backtest_forecast(adm, u) for u in forecasts}
        except EngineError as exc:
            st.error(str(exc))
    for unit, b in (st.session_state.get(state.BACKTEST) or {}).items():
        st.markdown(f"**{unit}** ({b['source']}): MAE of the median forecast **{b['mae_model']:.2f}** patients vs "
                    f"seasonal-naive **{b['mae_seasonal_naive']:.2f}** over {len(b['origins'])} origins x "
                    f"{b['horizon_days']} days (skill {b['skill_vs_naive']:+.0%}).")
        frame = pd.DataFrame({"days ahead": range(1, b["horizon_days"] + 1), **b["mae_by_horizon"]})
        st.line_chart(frame, x="days ahead", y=["model", "seasonal_naive"], y_label="MAE (patients)")
        st.caption(b["basis"])
