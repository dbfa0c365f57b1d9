"""Ward: ICU stays ranked by model risk and NEWS2, one stay's timeline, drivers, stale data, alert acknowledgement."""
from __future__ import annotations

import streamlit as st

from engine.errors import EngineError
from engine.icu.figures import build_by_hour_figure, build_drivers_figure, build_timeline_figure
from engine.icu.ward import acknowledge_alert, record_stay_view, stay_acks, stay_timeline, ward_overview
from engine.store import open_db
from pages.components.cache_keys import settings_cache_key
from pages.components.session import (mark_viewed, require_page, require_page_in_fragment, start_visit, user_can,
                                      checked_user, viewed_this_visit)

STAY_KEY = "ward_stay"
VIEWED_KEY = "ward_viewed"  # the stay this visit to the page has audited as viewed
ACK_FRAGMENT = "ward_acknowledgements"


@st.cache_data(ttl=30, show_spinner="Scoring every stay...")
def get_overview(settings_key: str):
    with open_db() as db:
        return ward_overview(db)


@st.cache_data(ttl=30, show_spinner="Scoring the stay's hours...")
def get_timeline(settings_key: str, stay_id: int):
    """One stay's picture, cached like the overview (30 s): it scores every hour of the stay, ~0.6 s of CPU
    that every rerun (typing an acknowledgement, any click) used to repeat. The page audits each view and
    reads the acknowledgements fresh."""
    with open_db() as db:
        return stay_timeline(db, stay_id)


def render() -> None:
    user = require_page("ward")
    start_visit(STAY_KEY, VIEWED_KEY)
    st.title("Ward")
    st.caption("ICU stays ranked by the model's risk of in-hospital death and by NEWS2 (RCP 2017). Decision support: "
               "the basis and limits of both are shown; acknowledge an alert with what you did or why not.")
    try:
        overview = get_overview(settings_cache_key())
    except EngineError as exc:
        st.error(str(exc))
        return
    if overview.empty:
        st.info("No ICU stays in the store yet. An analyst imports them with `python -m engine icu import DIR` "
                "(`make run` loads 300 demo stays when the PhysioNet 2012 folder is present).")
        return
    n_alerts = int(overview["alert"].sum())
    c1, c2, c3 = st.columns(3)
    c1.metric("Stays", f"{len(overview):,}")
    c2.metric("Model alerts", f"{n_alerts:,}")
    c3.metric("NEWS2 high (7+)", f"{int((overview['news2'] >= 7).sum()):,}")
    table = overview.assign(
        risk_shown=[f"{r:.0%} ({lo:.0%}-{hi:.0%}) {t}" for r, lo, hi, t in
                    zip(overview["risk"], overview["risk_low"], overview["risk_high"], overview["risk_trend"])],
        news2_shown=[("" if n != n else f"{n:.0f} {b} {t}") + ("" if c else " (inputs missing)")
                     for n, b, t, c in zip(overview["news2"], overview["news2_band"], overview["news2_trend"],
                                           overview["news2_complete"])],
        alert_shown=["ALERT" if a else "" for a in overview["alert"]])
    st.dataframe(table[["patient", "hour", "alert_shown", "risk_shown", "news2_shown"]], hide_index=True,
                 column_config={"patient": "Patient", "hour": st.column_config.NumberColumn("Hour of stay", format="%.0f"),
                                "alert_shown": "Alert", "risk_shown": "Risk now (interval) trend",
                                "news2_shown": "NEWS2 now, band, trend"},
                 key="ward_table", height=320)
    labels = {int(r.stay_id): f"{r.patient} — risk {r.risk:.0%}{' — ALERT' if r.alert else ''}"
              for r in overview.itertuples()}
    stay_id = st.selectbox("Open a stay", list(labels), format_func=labels.get, key=STAY_KEY)
    _render_stay(int(stay_id), user)


def _render_stay(stay_id: int, user) -> None:
    try:
        timeline = get_timeline(settings_cache_key(), stay_id)
        if not viewed_this_visit(VIEWED_KEY, stay_id):  # audited once per visit, not on every redraw
            with open_db() as db:
                record_stay_view(db, timeline.patient, username=user.username)
    except EngineError as exc:
        st.error(str(exc))
        return
    mark_viewed(VIEWED_KEY, stay_id)
    risk = timeline.risk
    st.subheader(f"{timeline.patient} at hour {timeline.hour:.0f}")
    c1, c2, c3 = st.columns(3)
    c1.metric("Risk of in-hospital death", f"{risk['risk']:.1%}")
    c2.metric("Interval (member spread)", f"{risk['low']:.1%} - {risk['high']:.1%}")
    news_now = timeline.news2.iloc[-1] if len(timeline.news2) else None
    c3.metric("NEWS2 now", "n/a" if news_now is None else f"{news_now['total']:.0f} ({news_now['band']})")
    if news_now is not None and not news_now["complete"]:
        st.warning(f"NEWS2 is incomplete: {news_now['missing']} not measured recently (missing is not scored as normal).")
    if timeline.stale:
        st.warning("Missing or stale data: " + "; ".join(timeline.stale) + ".")
    st.plotly_chart(build_timeline_figure(timeline.series, timeline.news2, timeline.trajectory, timeline.threshold),
                    key="ward_timeline")
    st.plotly_chart(build_drivers_figure(timeline.drivers), key="ward_drivers")
    st.caption(f"Model icu_mortality v{timeline.model_version}: gradient boosting on 48-hour summaries of PhysioNet "
               f"2012 set A, calibrated for the hour of the stay. {timeline.reading} Alert at "
               f"{timeline.threshold:.0%} (threshold rule fixed on set A).")
    if timeline.by_hour:
        with st.expander("How well the model reads a stay at each hour"):
            st.plotly_chart(build_by_hour_figure(timeline.by_hour, timeline.hour), key="ward_by_hour")
    if risk["alert"]:
        st.error(f"Alert: risk {risk['risk']:.0%} is at or above the alert threshold {timeline.threshold:.0%}.")
    render_acknowledgements(stay_id, timeline.hour, risk["risk"], timeline.model_version, bool(risk["alert"]))


@st.fragment(key=ACK_FRAGMENT)
def render_acknowledgements(stay_id: int, hour: float, risk: float, model_version: str, alert: bool) -> None:
    """The stay's acknowledgements (read fresh) and, on an alert, the form to acknowledge it.

    A fragment: typing the reason and pressing Acknowledge rerun this section only, not the ranked overview,
    the timeline and the drivers above it (issue 16)."""
    user = require_page_in_fragment("ward")
    try:
        with open_db() as db:
            acks = stay_acks(db, stay_id)
    except EngineError as exc:
        st.error(str(exc))
        return
    for ack in acks:
        st.info(f"Acknowledged by {ack['username']} at hour {ack['hours']:.0f} ({ack['created_at']}): {ack['reason']}")
    if alert and user_can(user, "icu.acknowledge"):
        reason_key, error_key = f"ward_ack_reason_{stay_id}", f"ward_ack_error_{stay_id}"
        st.text_area("Acknowledge this alert: what was done, or why no action", key=reason_key)
        st.button("Acknowledge alert", key=f"ward_ack_{stay_id}", on_click=_acknowledge,
                  args=(stay_id, hour, risk, model_version))
        if error := st.session_state.pop(error_key, None):
            st.error(error)


def _acknowledge(stay_id: int, hour: float, risk: float, model_version: str) -> None:
    """Button callback: store the acknowledgement, then empty the reason box (a callback runs before the
    widgets are drawn, the only point where Streamlit lets a widget's value be reset). The session is
    checked here first: a callback runs before any page or fragment check."""
    user = checked_user("ward", "icu.acknowledge")
    if user is None:
        return
    reason_key = f"ward_ack_reason_{stay_id}"
    try:
        with open_db() as db:
            acknowledge_alert(db, stay_id, hour=hour, risk=risk, model_version=model_version,
                              reason=st.session_state.get(reason_key, ""), username=user.username)
    except EngineError as exc:
        st.session_state[f"ward_ack_error_{stay_id}"] = str(exc)
        return
    st.session_state[reason_key] = ""


if __name__ == "__main__":
    from pages.components.standalone import run_app_instead

    run_app_instead()
