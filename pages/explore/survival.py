"""Explore tab: Kaplan-Meier curves and the Cox model."""
from __future__ import annotations

import streamlit as st

from engine.errors import EngineError
from engine.stats import figures as fig
from engine.stats.common import format_p
from engine.stats.cohort import guess_survival_columns
from pages.explore.common import NONE, Context, fmt, follow, md, pick, show_caveats


def render_survival(ctx: Context) -> None:
    st.caption(f"Cohort: {md(ctx.label)}")
    time_guess, event_guess = guess_survival_columns(ctx.cohort.frame)
    if st.session_state.get("explore_surv__dataset") != ctx.spec.dataset:
        # First visit for this dataset: preselect the recognised time and event columns.
        st.session_state["explore_surv__dataset"] = ctx.spec.dataset
        st.session_state["explore_surv_time"] = time_guess or NONE
        st.session_state["explore_surv_event"] = event_guess or NONE
    c1, c2, c3 = st.columns(3)
    with c1:
        time = pick("Follow-up time", ctx.numeric, "explore_surv_time", default=time_guess, none=True)
    with c2:
        event = pick("Event (1 = event, 0 = censored)", ctx.binary, "explore_surv_event", default=event_guess,
                      none=True)
    with c3:
        group = pick("Compare groups", ctx.groupable, "explore_surv_group", none=True)
    if not (time and event):
        st.info("Choose a follow-up time and an event column.")
        return
    try:
        km = ctx.result("km", "Estimating survival…", time=time, event=event, group=group)
    except EngineError as exc:
        st.error(str(exc))
        return
    figure = fig.build_km_figure(km, ctx.label)
    st.plotly_chart(figure, key="explore_km_chart")
    if km.logrank:
        st.metric("Log-rank p", format_p(km.logrank["p_value"]),
                  help=f"chi-square {km.logrank['statistic']:.3f} on {km.logrank['df']:.0f} df")
    st.dataframe(fmt(km.summary()), hide_index=True, key="explore_km_summary")
    st.markdown("**Numbers at risk**")
    st.dataframe(km.at_risk.rename(columns=lambda c: f"{c:g}"), key="explore_km_atrisk")
    show_caveats(km.caveats)
    st.caption(km.methods)
    ctx.pin_button("explore_pin_km", f"Kaplan-Meier: {time}{' by ' + group if group else ''}", "survival", km.methods,
                table=fmt(km.summary()), figure=figure, caveats=km.caveats)

    st.markdown("**Cox proportional hazards**")
    others = [c for c in ctx.kinds if c not in (time, event) and ctx.kinds[c] != "date"]
    c1, c2 = st.columns(2)
    covariates = c1.multiselect("Covariates", others, key="explore_cox_covariates")
    follow("explore_cox_categorical", covariates,
            [c for c in covariates if ctx.kinds.get(c) == "categorical" and c not in ctx.binary])
    cox_cat = c2.multiselect("Categorical covariates", covariates, key="explore_cox_categorical")
    if not covariates:
        st.info("Choose covariates for the Cox model.")
        return
    try:
        cox = ctx.result("cox", "Fitting the Cox model…", time=time, event=event, covariates=covariates,
                         categorical=cox_cat)
    except EngineError as exc:
        st.error(str(exc))
        return
    st.metric("Concordance", f"{cox.concordance:.3f}")
    st.dataframe(fmt(cox.hazard_ratios), hide_index=True, key="explore_cox_table")
    forest = fig.build_forest_figure(cox, ctx.label)
    st.plotly_chart(forest, key="explore_cox_forest")
    st.markdown("**Proportional-hazards check** (scaled Schoenfeld residuals vs rank time)")
    st.dataframe(fmt(cox.ph_test), hide_index=True, key="explore_cox_ph")
    show_caveats(cox.caveats)
    st.caption(cox.methods)
    ctx.pin_button("explore_pin_cox", f"Cox model of {time}", "cox", cox.methods, table=fmt(cox.hazard_ratios),
                   statistics={"n": f"{cox.n:,}", "events": f"{cox.events:,}",
                               "rows left out (missing values)": f"{cox.n_dropped:,}",
                               "concordance": f"{cox.concordance:.3f}"},
                   figure=forest, caveats=cox.caveats)
