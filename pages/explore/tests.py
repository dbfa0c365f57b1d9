"""Explore tab: group comparisons and the association of two categorical variables."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.errors import EngineError
from engine.stats import tests as hyp
from pages.explore.common import Context, fmt, md, pick, show_caveats


def render_tests(ctx: Context) -> None:
    st.caption(f"Cohort: {md(ctx.label)}")
    st.markdown("**Compare groups**")
    c1, c2 = st.columns(2)
    values = c1.multiselect("Outcome variables", ctx.numeric, key="explore_test_values")
    with c2:
        group = pick("Groups", ctx.groupable, "explore_test_group")
    c3, c4 = st.columns(2)
    test = c3.selectbox("Test", ["auto", "welch", "student", "mann-whitney", "anova", "welch-anova", "kruskal"],
                        key="explore_test_kind", help="auto runs the test the assumption checks recommend.")
    correction = c4.selectbox("Multiple-comparison correction", ["holm", "bh", "none"], key="explore_test_corr")
    if values and group:
        try:
            results, table = ctx.result("tests", "Running tests…", values=values, group=group,
                                        correction=None if correction == "none" else correction, test=test)
            st.dataframe(fmt(table), hide_index=True, key="explore_test_table")
            for r in results:
                show_caveats([f"{r.name}: {c}" for c in r.caveats])
            with st.expander("Assumption checks"):
                st.dataframe(fmt(pd.DataFrame([{"comparison": r.name, **r.assumptions} for r in results])),
                             hide_index=True, key="explore_test_assumptions")
            methods = hyp.summarize_methods(results)
            st.caption(methods)
            ctx.pin_button("explore_pin_tests", f"Tests by {group}", "tests", methods, table=fmt(table),
                        caveats=[c for r in results for c in r.caveats])
        except EngineError as exc:
            st.error(str(exc))
    else:
        st.info("Choose outcome variables and a grouping column.")

    st.markdown("**Association of two categorical variables**")
    c1, c2 = st.columns(2)
    with c1:
        a = pick("Variable A", ctx.categorical, "explore_assoc_a", none=True)
    with c2:
        b = pick("Variable B", ctx.categorical, "explore_assoc_b", none=True)
    if a and b and a != b:
        try:
            res = ctx.result("association", a=a, b=b)
            st.dataframe(fmt(pd.DataFrame([res.as_row()])), hide_index=True, key="explore_assoc_table")
            show_caveats(res.caveats)
            st.caption(res.methods)
            ctx.pin_button("explore_pin_assoc", f"{a} vs {b}", "association", res.methods,
                           table=fmt(pd.DataFrame([res.as_row()])), caveats=res.caveats)
        except EngineError as exc:
            st.error(str(exc))
