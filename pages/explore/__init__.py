"""Explore (analysts, admins): build a cohort, then Table 1, distributions, tests, regression,
survival, clustering, data quality, and a report of the results pinned along the way.

One module per tab (``pages/explore/<tab>.py``); ``common`` holds the cohort Context and
the cached engine calls every tab uses. Thin by design: widgets are read, one cached engine
call makes each result, and the tab renders it with its cohort label, caveats and methods
sentence. Results are cached per (store, dataset version, cohort definition, settings); pins
live in the session until exported.

A package is not a legacy multipage script (Streamlit only lists ``pages/*.py``), so this page
is reached through app.py's navigation only; the guard below is kept for symmetry with the
other pages.
"""
from __future__ import annotations

import streamlit as st

from pages.components.session import require_page
from pages.explore.clustering import render_clustering
from pages.explore.cohort import render_cohort_builder
from pages.explore.common import PINS_KEY, record_audit
from pages.explore.distributions import render_distributions
from pages.explore.quality import render_quality
from pages.explore.regression import render_regression
from pages.explore.report import render_report
from pages.explore.survival import render_survival
from pages.explore.table_one import render_table_one
from pages.explore.tests import render_tests

__all__ = ["TABS", "record_audit", "render"]

TABS = [("Table 1", render_table_one), ("Distributions & relations", render_distributions),
        ("Tests", render_tests), ("Regression", render_regression), ("Survival", render_survival),
        ("Clustering", render_clustering), ("Data quality", render_quality), ("Report", render_report)]


def render() -> None:
    user = require_page("explore")
    st.title("Explore")
    st.caption("Describe and analyse a cohort. Results are for research and review; every number names its "
               "cohort, method and caveats.")
    ctx = render_cohort_builder(user)
    if ctx is None:
        return
    n_pins = len(st.session_state.get(PINS_KEY, []))
    tabs = st.tabs([name if name != "Report" else f"Report ({n_pins})" for name, _ in TABS])
    for tab, (_, fn) in zip(tabs, TABS):
        with tab:
            fn(ctx)


if __name__ == "__main__":
    from pages.components.standalone import run_app_instead

    run_app_instead()
