"""Explore tab: K-means and DBSCAN clustering of standardised features."""
from __future__ import annotations

import streamlit as st

from engine.errors import EngineError
from engine.stats import clustering
from engine.stats import figures as fig
from pages.explore.common import Context, fmt, md, show_caveats


def render_clustering(ctx: Context) -> None:
    st.caption(f"Cohort: {md(ctx.label)}")
    features = st.multiselect("Features (standardised before clustering)", ctx.numeric, key="explore_cl_features")
    c1, c2, c3, c4 = st.columns(4)
    method = c1.radio("Method", list(clustering.METHODS), key="explore_cl_method")
    k = c2.slider("Clusters (K-means)", 2, 10, 3, key="explore_cl_k")
    eps = c3.number_input("eps (DBSCAN)", 0.05, 10.0, 0.5, 0.05, key="explore_cl_eps")
    min_samples = c4.number_input("min samples (DBSCAN)", 2, 100, 5, key="explore_cl_min")
    if len(features) < 2:
        st.info("Choose at least two features.")
        return
    params = {"features": features, "method": method}
    params.update({"k": int(k)} if method == "kmeans" else {"eps": float(eps), "min_samples": int(min_samples)})
    try:
        res = ctx.result("cluster", "Clustering…", **params)
    except EngineError as exc:
        st.error(str(exc))
        return
    st.metric("Silhouette", "n/a" if res.silhouette is None else f"{res.silhouette:.3f}")
    figure = fig.build_cluster_figure(res, ctx.label)
    st.plotly_chart(figure, key="explore_cl_chart")
    st.markdown("**Cluster profiles** (means on the original scale)")
    st.dataframe(fmt(res.profiles), hide_index=True, key="explore_cl_profiles")
    show_caveats(res.caveats)
    st.caption(res.methods)
    ctx.pin_button("explore_pin_cl", f"{method.upper()} clustering", "clustering", res.methods,
                   table=fmt(res.profiles), figure=figure, caveats=res.caveats)
