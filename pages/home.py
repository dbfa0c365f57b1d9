"""Home: what this user can do, store counts, recent activity."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.activity import PAGE_DESCRIPTIONS, build_counts_figure, summarise_home
from engine.store import open_db
from pages.components.navigation import render_page_link, specs_for_role
from pages.components.session import require_page


def render() -> None:
    user = require_page("")
    st.title("ClinSight")
    st.caption("Decision support for clinical teams: every output shows its basis; treatment output is a list of "
               "options with citations, never a directive.")
    with open_db() as db:
        summary = summarise_home(db, user.username, user.role)

    st.subheader("What you can do here")
    for spec in specs_for_role(user.role):
        if spec.url_path:
            render_page_link(spec.url_path)
            st.caption(PAGE_DESCRIPTIONS.get(spec.url_path, ""))

    counts = summary["counts"]
    st.subheader("In the store")
    cols = st.columns(4)
    for col, (label, key) in zip(cols, [("Patients", "patients"), ("Observations", "observations"),
                                         ("Predictions", "predictions"), ("Datasets", "datasets")]):
        col.metric(label, f"{counts[key]:,}")
    st.plotly_chart(build_counts_figure(counts), key="home_counts")

    st.subheader("Recent activity" + ("" if user.role == "admin" else " (yours)"))
    if summary["recent"]:
        st.dataframe(pd.DataFrame(summary["recent"]), hide_index=True, key="home_recent")
    else:
        st.info("No activity recorded yet.")


if __name__ == "__main__":
    from pages.components.standalone import run_app_instead

    run_app_instead()
