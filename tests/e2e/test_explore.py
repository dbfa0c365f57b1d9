"""Explore in a real browser: a cohort on the UCI heart data, Table 1 by sex (exported as CSV),
a Kaplan-Meier plot on the heart-failure records, and the pinned results exported as a report."""
from __future__ import annotations

import csv
import io

import pytest

from tests.e2e.conftest import ARTIFACTS, goto_page, login
from tests.e2e.waits import rerun, wait_for_text
from tests.e2e.widgets import choose

pytestmark = pytest.mark.e2e


def _panel(page):
    return page.locator('[role="tabpanel"]:visible').first


def test_cohort_table_one_km_and_report(page, e2e_server, e2e_users, e2e_db, tmp_path):
    username, password = e2e_users["analyst"]
    login(page, e2e_server, username, password)
    goto_page(page, "Explore")
    page.get_by_role("heading", name="Explore").wait_for()

    # Cohort on the UCI heart data: every site except Switzerland, saved under a name.
    choose(page, "Dataset", "uci_heart")
    wait_for_text(page, "(n=920)")
    choose(page, "Filter by", "uci_site", kind="stMultiSelect")
    with rerun(page):
        page.get_by_role("button", name="Remove Switzerland").click()
    page.get_by_label("Cohort name").fill("Three-site cohort")
    with rerun(page):
        page.get_by_label("Cohort name").press("Enter")
    with rerun(page):
        page.get_by_role("button", name="Save cohort").click()
    wait_for_text(page, "Saved cohort “Three-site cohort” (797 patients).")
    wait_for_text(page, "Three-site cohort (n=797)")

    # Table 1 by sex (the default grouping when the data have sex), exported as CSV.
    panel = _panel(page)
    wait_for_text(panel, "Cohort: Three-site cohort (n=797)")
    panel.locator('[data-testid="stDataFrame"]').first.wait_for()
    with page.expect_download() as download, rerun(page):  # the export's audit callback runs in this rerun
        panel.get_by_role("button", name="Download CSV").click()
    path = tmp_path / "table1.csv"
    download.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0][:6] == ["Variable", "Level", "Missing", "Overall", "female", "male"]
    assert rows[1][3] == "797"
    assert any(r[0] == "age, mean (SD)" and r[-3] == "Welch t-test" for r in rows)
    with rerun(page):
        panel.get_by_role("button", name="Pin to report").click()

    # Kaplan-Meier on the heart-failure records: time and event are recognised by name.
    choose(page, "Dataset", "heart_failure")
    wait_for_text(page, "(n=299)")
    page.get_by_role("tab", name="Survival").click()      # tabs switch in the browser: no rerun
    panel = _panel(page)
    choose(page, "Compare groups", "sex")
    panel = _panel(page)
    chart = panel.locator(".js-plotly-plot").first
    # Plotly draws after the run has ended: wait for this figure's title, not just its frame.
    panel.locator(".js-plotly-plot").filter(has_text="Kaplan-Meier: follow_up_days").first.wait_for()
    assert "Kaplan-Meier: follow_up_days (event death_event)" in chart.inner_text()
    assert chart.locator("path.js-fill").count() >= 2           # the two CI bands
    ARTIFACTS.mkdir(exist_ok=True)
    chart.screenshot(path=str(ARTIFACTS / "explore_km.png"))
    with rerun(page):
        panel.get_by_role("button", name="Pin to report").first.click()

    # The report holds both pinned results with their cohorts, methods and the figure.
    page.get_by_role("tab", name="Report (2)").click()
    panel = _panel(page)
    wait_for_text(panel, "Kaplan-Meier: follow_up_days by sex")
    with page.expect_download() as download, rerun(page):  # its audit callback runs in this rerun
        panel.get_by_role("button", name="Export report (HTML)").click()
    report = tmp_path / "report.html"
    download.value.save_as(report)
    html = report.read_text()
    assert "Three-site cohort (n=797)" in html and "Unsaved cohort (n=299)" in html
    assert "Kaplan-Meier method" in html and "Welch t-test" in html and "figure-2" in html
    assert "HF-0" not in html and "UCI-0" not in html                 # no pseudo ids in the export

    from engine.store import connect

    db = connect(e2e_db)  # both export callbacks ran in runs that have finished (see rerun above)
    try:
        actions = [r[0] for r in db.conn.execute("SELECT action FROM audit WHERE username = ?", (username,))]
    finally:
        db.conn.close()
    assert "explore.cohort_save" in actions and actions.count("explore.export") >= 2
