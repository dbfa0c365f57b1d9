"""Roster tab: staffing needs from the forecast census, the 4-week CP-SAT roster, its CSV download."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine import audit
from engine.capacity import service
from engine.capacity.figures import build_roster_figure
from engine.capacity.roster import RosterRules, roster_csv
from engine.errors import EngineError
from engine.store import open_db
from pages.capacity import state

DEFAULT_RATIO = {"ICU": 2.0, "CCU": 2.0, "CSRU": 2.0, "MICU": 2.0, "SICU": 2.0, "HDU": 3.0}


def _audit_download(username: str, result: dict) -> None:
    with open_db() as db:
        audit.record(db, username=username, action="capacity.export", target_type="roster", target_id=None,
                     details={"nurses": result["nurses"], "days": result["days"]})


def render_tab(user) -> None:
    forecasts = st.session_state.get(state.FORECASTS)
    if not forecasts:
        st.info("Forecast the census on the Inputs tab first: the nurses needed per shift come from it.")
        return
    if any(len(f["days"]) < 28 for f in forecasts.values()):
        st.info("The roster covers 4 weeks: forecast at least 4 weeks ahead on the Inputs tab.")
        return
    cols = st.columns(len(forecasts) + 2)
    ratios = {u: cols[i].number_input(f"{u}: patients per nurse", 0.5, 20.0, DEFAULT_RATIO.get(u.upper(), 4.0), 0.5,
                                      key=f"cap_ratio_{u}") for i, u in enumerate(forecasts)}
    n_nurses = cols[-2].number_input("Nurses", 1, 120, 30, key="cap_nurses")
    plan_for = cols[-1].selectbox("Staff for the census", service.PLAN_FOR, key="cap_plan_for",
                                  help="p50 median, p75 top of the 50% band, p95 top of the 90% band")
    r = st.columns(4)
    rules = RosterRules(max_consecutive=r[0].number_input("Max days in a row", 1, 14, 5, key="cap_max_consec"),
                        rest_days_after_nights=r[1].number_input("Rest days after nights", 0, 5, 2, key="cap_rest"),
                        max_nights=r[2].number_input("Max nights each", 0, 28, 8, key="cap_max_nights"),
                        max_shifts=r[3].number_input("Max shifts each", 0, 28, 20, key="cap_max_shifts"))
    c = st.columns(2)
    dual = c[0].number_input("Nurses skilled for every unit (the rest are split by each unit's need)", 0, 120,
                             int(n_nurses) // 3, key="cap_dual")
    leave_text = c[1].text_input("Leave (staff label: first-last day of the roster)", "", key="cap_leave",
                                 placeholder="N03:8-14, N12:15-19")
    if st.button("Build roster", key="cap_build_roster", type="primary"):
        try:
            with st.spinner("Solving the roster (OR-Tools CP-SAT)..."):
                st.session_state[state.ROSTER] = service.plan_roster(
                    forecasts, ratios, n_nurses=int(n_nurses), plan_for=plan_for, rules=rules, dual_skilled=int(dual),
                    leave=service.parse_leave(leave_text))
        except EngineError as exc:
            st.error(str(exc))
    result = st.session_state.get(state.ROSTER)
    if not result:
        return
    if result["status"] not in ("optimal", "feasible"):
        st.error("No roster: " + " ".join(result["reasons"]))
        return
    proof = "proven optimal" if result["status"] == "optimal" else f"within {result['gap']:.1%} of the proven best"
    st.success(f"Roster for {result['nurses']} nurses x {result['days']} days: {proof} "
               f"(gap {result['gap']:.2%}, {result['wall_s']:.1f} s).")
    st.plotly_chart(build_roster_figure(result), key="cap_roster_fig")
    counts = pd.DataFrame(result["per_nurse"])
    counts.insert(1, "units", [", ".join(result["skills"][n]) for n in counts["nurse"]])
    st.dataframe(counts, hide_index=True, key="cap_roster_counts")
    st.caption(result["basis"])
    st.download_button("Download roster (CSV)", roster_csv(result), "roster.csv", "text/csv", key="cap_roster_csv",
                       on_click=_audit_download, args=(user.username, result))
