"""Explore tab: the pinned results, exported as HTML or PDF."""
from __future__ import annotations

import hashlib

import streamlit as st

from engine.errors import EngineError
from engine.stats.report import Pin, build_report_html, build_report_pdf, pdf_available, pins_to_json
from pages.components.session import user_can
from pages.explore.common import PINS_KEY, Context, md, record_audit


def _remove_pin(index: int) -> None:
    pins = st.session_state.get(PINS_KEY, [])
    if 0 <= index < len(pins):
        pins.pop(index)


def render_report(ctx: Context) -> None:
    pins: list[Pin] = st.session_state.get(PINS_KEY, [])
    if not pins:
        st.info("Nothing pinned yet: use “Pin to report” under any result.")
    for i, pin in enumerate(pins):
        c1, c2 = st.columns([5, 1])
        c1.markdown(f"{i + 1}\\. **{md(pin.title)}** · {md(pin.cohort_label)}")
        c2.button("Remove", key=f"explore_unpin_{i}", on_click=_remove_pin, args=(i,))
    title = st.text_input("Report title", "ClinSight analysis report", key="explore_report_title")
    html = build_report_html(pins, title=title, author=ctx.user.username)
    st.download_button("Export report (HTML)", html, "clinsight-report.html", "text/html",
                       key="explore_report_download", disabled=not pins or not user_can(ctx.user, "explore.export"),
                       on_click=record_audit, args=("explore.export", ctx.user),
                       kwargs={"dataset": ctx.spec.dataset, "result": "report", "pins": len(pins), "format": "html"})
    if pdf_available():
        signature = hashlib.sha256((title + pins_to_json(pins)).encode("utf-8")).hexdigest()
        c1, c2 = st.columns(2)
        if c1.button("Prepare PDF", key="explore_report_pdf_make", disabled=not pins):
            try:
                with st.spinner("Printing the report to PDF…"):
                    printable = build_report_html(pins, title=title, author=ctx.user.username, for_print=True)
                    st.session_state["explore_report_pdf"] = (signature, build_report_pdf(printable))
            except EngineError as exc:
                st.error(str(exc))
        ready = st.session_state.get("explore_report_pdf")
        if ready and ready[0] == signature:
            c2.download_button("Download report (PDF)", ready[1], "clinsight-report.pdf", "application/pdf",
                               key="explore_report_pdf_download", disabled=not user_can(ctx.user, "explore.export"),
                               on_click=record_audit, args=("explore.export", ctx.user),
                               kwargs={"dataset": ctx.spec.dataset, "result": "report", "pins": len(pins),
                                       "format": "pdf"})
    else:
        st.caption("PDF: no Chromium on this server; open the exported HTML in a browser and print it to PDF "
                   "(print styles included).")
    if pins and st.button("Clear all pins", key="explore_report_clear"):
        st.session_state[PINS_KEY] = []
        st.rerun()
