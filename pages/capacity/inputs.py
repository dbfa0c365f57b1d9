"""Inputs tab: an admissions export (or the synthetic sample), or stated parameters; then forecast."""
from __future__ import annotations

import streamlit as st

from engine.capacity import service
from engine.capacity.arrivals import WEEKDAYS
from engine.capacity.los import exponential_los, icu_los, icu_unit_types, lognormal_los
from engine.capacity.sample import SAMPLE_LABEL, sample_admissions_csv
from engine.config import get_settings
from engine.errors import EngineError
from engine.store import open_db
from engine.uploads import check_size
from pages.capacity import state

SOURCES = ("Upload an admissions export", "Synthetic sample history", "Parameters")


def _load_export(data: bytes, units_text: str, source: str) -> None:
    units = [u.strip() for u in units_text.split(",") if u.strip()]
    with open_db() as db:
        st.session_state[state.ADMISSIONS] = service.import_admissions(db, data, units=units, source=source)
    state.clear_results()


def render_tab(user) -> None:
    settings = get_settings()
    source = st.radio("Where the patient flow comes from", SOURCES, key="cap_source", horizontal=True)
    weeks = st.slider("Forecast horizon (weeks)", 1, 12, 4, key="cap_weeks")
    if source == "Parameters":
        _render_parameters(weeks)
        return
    units_text = st.text_input("Your units (rows naming another unit are reported and left out)",
                               ", ".join(settings.capacity_units), key="cap_units")
    if source == "Upload an admissions export":
        st.caption("CSV or Excel with a unit, an admit time and a discharge time per stay (blank discharge = still "
                   "in). A patient number column, if present, is pseudonymised as it is read; other columns are "
                   "ignored.")
        upload = st.file_uploader("Admissions export", type=["csv", "xlsx"], key="cap_upload")
        if upload is not None and st.session_state.get("cap_upload_id") != upload.file_id:
            try:
                check_size(upload.size)
                _load_export(upload.getvalue(), units_text, "upload")
                st.session_state["cap_upload_id"] = upload.file_id
            except EngineError as exc:
                st.session_state.pop(state.ADMISSIONS, None)
                st.error(str(exc))
    elif st.button("Load the synthetic sample history", key="cap_load_sample"):
        try:
            _load_export(sample_admissions_csv(), units_text, SAMPLE_LABEL)
        except EngineError as exc:
            st.error(str(exc))
    adm = st.session_state.get(state.ADMISSIONS)
    if adm is None:
        st.info("Upload an export (or load the sample) to forecast from your own patient flow.")
        return
    summary = adm.summary()
    if adm.source != "upload":
        st.warning(f"Using the {adm.source}: not a real hospital's admissions.")
    st.success(f"{summary['stays_used']:,} stays read from {summary['rows']:,} rows "
               f"({summary['first_admit_date']} to {summary['export_end_date']}); "
               f"{summary['still_in_unit']} patients still in.")
    for problem in summary["problems"]:
        st.warning(problem["message"])
    chosen = st.multiselect("Units to plan", adm.units, default=adm.units, key="cap_plan_units")
    los_choice = st.selectbox("Length of stay", ["Fitted from the export", "Real ICU stays (PhysioNet 2012)"],
                              key="cap_export_los")
    if st.button("Forecast census", key="cap_forecast_export", type="primary", disabled=not chosen):
        try:
            with st.spinner("Simulating the census..."):
                if los_choice.startswith("Real"):
                    los = {u: icu_los(u if u.upper() in icu_unit_types() else "ICU") for u in chosen}
                else:
                    los = {u: service.los_for_unit(adm, u) for u in chosen}
                st.session_state[state.FORECASTS] = service.forecast_units(adm, chosen, weeks=weeks, los=los)
                st.session_state[state.LOS] = los
            st.session_state[state.INPUTS] = {"source": adm.source, "units": chosen, "weeks": weeks,
                                              "los": {u: d.describe() for u, d in los.items()},
                                              "rows": summary["rows"], "stays": summary["stays_used"],
                                              "period": [summary["first_admit_date"], summary["export_end_date"]]}
            for key in (state.BEDS, state.ROSTER, state.BACKTEST):
                st.session_state.pop(key, None)
        except EngineError as exc:
            st.error(str(exc))
    if st.session_state.get(state.FORECASTS):
        st.success("Forecast ready: see the Forecast, Beds and Roster tabs.")


def _render_parameters(weeks: int) -> None:
    unit = st.text_input("Unit", "ICU", key="cap_param_unit").strip() or "unit"
    cols = st.columns(7)
    rates = [c.number_input(day, 0.0, 500.0, 5.0 if i < 5 else 3.0, 0.5, key=f"cap_rate_{day}")
             for i, (c, day) in enumerate(zip(cols, WEEKDAYS))]
    kind = st.selectbox("Length of stay", ["Real ICU stays (PhysioNet 2012)", "Exponential", "Lognormal"],
                        key="cap_los_kind")
    try:
        if kind.startswith("Real"):
            types = icu_unit_types() or ["ICU"]
            los = icu_los(st.selectbox("ICU type", types, key="cap_icu_type"))
        elif kind == "Exponential":
            los = exponential_los(st.number_input("Mean stay (days)", 0.1, 365.0, 4.0, key="cap_los_mean"))
        else:
            los = lognormal_los(st.number_input("Mean stay (days)", 0.1, 365.0, 4.0, key="cap_los_mean"),
                                st.number_input("Spread (coefficient of variation)", 0.1, 10.0, 1.2,
                                                key="cap_los_cv"))
    except EngineError as exc:
        st.error(str(exc))
        return
    st.caption(f"Length of stay: {los.label}; mean {los.mean_days:.2f} days.")
    census_now = st.number_input("Patients in the unit now", 0, 5000, 0, key="cap_census_now")
    if st.button("Forecast census", key="cap_forecast_params", type="primary"):
        try:
            with st.spinner("Simulating the census..."):
                st.session_state[state.FORECASTS] = {unit: service.forecast_from_parameters(
                    rates, los, weeks=weeks, census_now=int(census_now), label=unit)}
                st.session_state[state.LOS] = {unit: los}
            st.session_state[state.INPUTS] = {"source": "parameters", "units": [unit], "weeks": weeks,
                                              "weekday_rates": rates, "los": los.describe(),
                                              "census_now": int(census_now)}
            for key in (state.BEDS, state.ROSTER, state.BACKTEST):
                st.session_state.pop(key, None)
            st.success("Forecast ready: see the Forecast, Beds and Roster tabs.")
        except EngineError as exc:
            st.error(str(exc))
