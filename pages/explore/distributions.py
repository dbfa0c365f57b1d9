"""Explore tab: distributions, scatter with trend, and the correlation heat-map."""
from __future__ import annotations

import streamlit as st

from engine.errors import EngineError
from engine.stats import figures as fig
from pages.explore.common import Context, fmt, keep_choice, md, pick


def render_distributions(ctx: Context) -> None:
    st.caption(f"Cohort: {md(ctx.label)}")
    if not ctx.numeric:
        st.info("This cohort has no numeric columns.")
        return
    st.markdown("**Distribution**")
    c1, c2, c3 = st.columns(3)
    with c1:
        value = pick("Variable", ctx.numeric, "explore_dist_value")
    with c2:
        group = pick("Colour by", ctx.groupable, "explore_dist_group", none=True)
    kind = c3.radio("Plot", list(fig.DISTRIBUTION_KINDS), horizontal=True, key="explore_dist_kind")
    try:
        figure = fig.build_distribution_figure(ctx.cohort.frame, value, group, kind, ctx.label)
        st.plotly_chart(figure, key="explore_dist_chart")
        what = f"{kind.capitalize()} of {value}{' by ' + group if group else ''}"
        ctx.pin_button("explore_pin_dist", what, "distribution", what + ".", figure=figure)
    except EngineError as exc:
        st.error(str(exc))

    st.markdown("**Scatter with trend**")
    c1, c2, c3 = st.columns(3)
    with c1:
        x = pick("X", ctx.numeric, "explore_scatter_x")
    with c2:
        y = pick("Y", ctx.numeric, "explore_scatter_y", default=ctx.numeric[1] if len(ctx.numeric) > 1 else None)
    with c3:
        sgroup = pick("Colour by", ctx.groupable, "explore_scatter_group", none=True)
    try:
        figure = fig.build_scatter_figure(ctx.cohort.frame, x, y, sgroup, ctx.label)
        st.plotly_chart(figure, key="explore_scatter_chart")
        ctx.pin_button("explore_pin_scatter", f"{y} against {x}", "scatter",
                       f"Scatter of {y} against {x} with least-squares trend lines.", figure=figure)
    except EngineError as exc:
        st.error(str(exc))

    st.markdown("**Correlation heat-map**")
    c1, c2 = st.columns([3, 1])
    keep_choice("explore_corr_cols", ctx.numeric, ctx.numeric[:8])
    cols = c1.multiselect("Columns", ctx.numeric, key="explore_corr_cols")
    method = c2.radio("Method", ["pearson", "spearman"], key="explore_corr_method")
    if len(cols) < 2:
        st.info("Choose at least two columns.")
        return
    try:
        r, p, n = ctx.result("correlation", columns=cols, method=method)
    except EngineError as exc:
        st.error(str(exc))
        return
    figure = fig.build_correlation_figure(r, p, method, ctx.label)
    st.plotly_chart(figure, key="explore_corr_chart")
    st.caption(f"Pairwise-complete {method} correlations; n per pair from {int(n.values.min())} to "
               f"{int(n.values.max())}. Stars mark two-sided p-values (not adjusted for multiplicity).")
    ctx.pin_button("explore_pin_corr", f"{method.capitalize()} correlations", "correlation",
                f"{method.capitalize()} correlations with pairwise-complete cases; t-test of r = 0.", figure=figure,
                table=fmt(r.reset_index(names="variable")))
