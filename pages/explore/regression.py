"""Explore tab: linear and logistic regression with a formula builder."""
from __future__ import annotations

from itertools import combinations

import streamlit as st

from engine.errors import EngineError
from engine.stats import figures as fig
from engine.stats import regression
from engine.stats.common import format_statistic
from pages.explore.common import Context, fmt, follow, md, pick, show_caveats


def render_regression(ctx: Context) -> None:
    st.caption(f"Cohort: {md(ctx.label)}")
    c1, c2 = st.columns(2)
    kind = c1.radio("Model", list(regression.KINDS), horizontal=True, key="explore_reg_kind")
    outcome_opts = ctx.binary if kind == "logistic" else ctx.numeric + ctx.binary
    with c2:
        outcome = pick("Outcome", outcome_opts, "explore_reg_outcome")
    others = [c for c in list(ctx.kinds) if c != outcome and ctx.kinds[c] != "date"]
    predictors = st.multiselect("Predictors", others, key="explore_reg_predictors")
    c1, c2 = st.columns(2)
    follow("explore_reg_categorical", predictors,
            [p for p in predictors if ctx.kinds.get(p) == "categorical" and p not in ctx.binary])
    categorical = c1.multiselect("Treat as categorical", predictors, key="explore_reg_categorical")
    pairs = [f"{a} × {b}" for a, b in combinations(predictors, 2)]
    chosen_pairs = c2.multiselect("Interactions", pairs, key="explore_reg_interactions")
    if not (outcome and predictors):
        st.info("Choose an outcome and at least one predictor.")
        return
    try:
        formula = regression.build_formula(outcome, predictors, categorical,
                                           [tuple(p.split(" × ")) for p in chosen_pairs])
    except EngineError as exc:
        st.error(str(exc))
        return
    if st.session_state.get("explore_reg_built") != formula:
        # The builder changed: start the editable formula from the new one.
        st.session_state["explore_reg_built"] = formula
        st.session_state["explore_reg_formula"] = formula
    custom = st.text_input("Formula (edit for transformations, e.g. np.log(x))", key="explore_reg_formula")
    try:
        res = ctx.result("regression", "Fitting the model…", formula=custom, kind=kind)
    except EngineError as exc:
        st.error(str(exc))
        return
    cols = st.columns(len(res.fit))
    for col, (k, v) in zip(cols, res.fit.items()):
        col.metric(k.replace("_", " "), format_statistic(k, v))
    st.dataframe(fmt(res.coefficients), hide_index=True, key="explore_reg_table")
    show_caveats(res.caveats)
    st.caption(res.methods)
    forest = fig.build_forest_figure(res, ctx.label)
    st.plotly_chart(forest, key="explore_reg_forest")
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(fig.build_residual_figure(res, ctx.label), key="explore_reg_resid")
    with c2:
        st.markdown("**Variance inflation factors**")
        st.dataframe(fmt(res.vif), hide_index=True, key="explore_reg_vif")
    ctx.pin_button("explore_pin_reg", f"{kind.capitalize()} regression of {outcome}", "regression", res.methods,
                   table=fmt(res.coefficients), figure=forest, caveats=res.caveats,
                   statistics={"n": f"{res.n:,}", "rows left out (missing values)": f"{res.n_dropped:,}",
                               **{k.replace("_", " "): format_statistic(k, v) for k, v in res.fit.items()}})
