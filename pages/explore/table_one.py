"""Explore tab: Table 1 with its exports."""
from __future__ import annotations

import streamlit as st

from engine.errors import EngineError
from pages.components.session import user_can
from pages.explore.common import Context, keep_choice, md, pick, record_audit, show_caveats


def render_table_one(ctx: Context) -> None:
    st.caption(f"Cohort: {md(ctx.label)}")
    columns = [c for c in ctx.kinds if ctx.kinds[c] != "date"]
    c1, c2 = st.columns([3, 1])
    keep_choice("explore_t1_vars", columns, columns[:15])
    variables = c1.multiselect("Variables", columns, key="explore_t1_vars")
    with c2:
        group = pick("Group by", ctx.groupable, "explore_t1_group", none=True,
                      default="sex" if "sex" in ctx.groupable else None)
    nonnormal = c1.multiselect("Always median [IQR]", [v for v in variables if v in ctx.numeric],
                               key="explore_t1_nonnormal")
    decimals = c2.number_input("Decimals", 0, 4, 1, key="explore_t1_decimals")
    if not variables:
        st.info("Choose variables for Table 1.")
        return
    try:
        res = ctx.result("table_one", "Building Table 1…", columns=variables, group=group, nonnormal=nonnormal,
                         decimals=int(decimals))
    except EngineError as exc:
        st.error(str(exc))
        return
    st.dataframe(res.table, hide_index=True, key="explore_t1_table")
    show_caveats(res.caveats)
    st.caption(res.methods)
    d1, d2, d3 = st.columns(3)
    details = {"dataset": ctx.spec.dataset, "result": "table_one", "n": ctx.cohort.n}
    d1.download_button("Download CSV", res.to_csv(), "table1.csv", "text/csv", key="explore_t1_csv",
                       on_click=record_audit, args=("explore.export", ctx.user), kwargs={**details, "format": "csv"},
                       disabled=not user_can(ctx.user, "explore.export"))
    d2.download_button("Download table (HTML)", _html_page("Table 1", ctx, res.to_html()), "table1.html",
                       "text/html", key="explore_t1_html", on_click=record_audit, args=("explore.export", ctx.user),
                       kwargs={**details, "format": "html"}, disabled=not user_can(ctx.user, "explore.export"))
    ctx.pin_button("explore_pin_t1", f"Table 1{' by ' + group if group else ''}", "table_one", res.methods,
                   container=d3, table=res.to_html(), caveats=res.caveats)


def _html_page(title: str, ctx: Context, body: str) -> str:
    from engine.stats.report import REPORT_CSS

    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{REPORT_CSS}</style>"
            f"</head><body><h1>{title}</h1><p class='cohort'>{ctx.label}: {ctx.cohort.definition()}</p>"
            f"{body}</body></html>")
