"""Explore tab: missing values, outliers and class balance."""
from __future__ import annotations

import streamlit as st

from engine.errors import EngineError
from engine.stats import figures as fig
from pages.explore.common import Context, fmt, keep_choice, md, show_caveats


def render_quality(ctx: Context) -> None:
    st.caption(f"Cohort: {md(ctx.label)}")
    keep_choice("explore_q_outcomes", ctx.categorical, ctx.binary)
    outcomes = st.multiselect("Outcome columns (class balance)", ctx.categorical, key="explore_q_outcomes")
    try:
        res = ctx.result("quality", "Checking data quality…", outcome_columns=outcomes)
    except EngineError as exc:
        st.error(str(exc))
        return
    show_caveats(res.caveats)
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Missing values**")
        st.dataframe(fmt(res.missingness), hide_index=True, key="explore_q_missing")
    with c2:
        st.plotly_chart(fig.build_missingness_figure(res, ctx.label), key="explore_q_map")
    st.markdown("**Outliers** (|z| > 3; Tukey fences at 1.5 and 3 IQR)")
    st.dataframe(fmt(res.outliers), hide_index=True, key="explore_q_outliers")
    if not res.class_balance.empty:
        balance = fig.build_class_balance_figure(res, ctx.label)
        st.plotly_chart(balance, key="explore_q_balance")
    st.caption(res.methods)
    ctx.pin_button("explore_pin_q", "Data quality", "quality", res.methods, table=fmt(res.missingness),
                figure=fig.build_missingness_figure(res, ctx.label), caveats=res.caveats)
