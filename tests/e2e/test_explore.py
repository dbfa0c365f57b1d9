"""Explore in a real browser: a cohort on the UCI heart data, Table 1 by sex (exported as CSV),
a Kaplan-Meier plot on the heart-failure records, and the pinned results exported as a report."""
from __future__ import annotations

import csv
import io

import pytest

from tests.e2e.conftest import ARTIFACTS, goto_page, login, wait_for_app

pytestmark = pytest.mark.e2e


def _choose(page, testid: str, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox / multiselect whose label is ``label``."""
    widget = page.locator(f'[data-testid="{testid}"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)).first
    widget.locator('[role="combobox"], input').first.click()
    page.keyboard.type(option)                      # long option lists are virtualised: filter first
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")
    wait_for_app(page)


def _panel(page):
    return page.locator('[role="tabpanel"]:visible').first


def test_cohort_table_one_km_and_report(page, e2e_server, e2e_users, e2e_db, tmp_path):
    username, password = e2e_users["analyst"]
    login(page, e2e_server, username, password)
    goto_page(page, "Explore")
    page.get_by_role("heading", name="Explore").wait_for()

    # Cohort on the UCI heart data: every site except Switzerland, saved under a name.
    _choose(page, "stSelectbox", "Dataset", "uci_heart")
    page.get_by_text("(n=920)").first.wait_for()
    _choose(page, "stMultiSelect", "Filter by", "uci_site")
    page.get_by_role("button", name="Remove Switzerland").click()
    wait_for_app(page)
    page.get_by_label("Cohort name").fill("Three-site cohort")
    page.get_by_label("Cohort name").press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Save cohort").click()
    page.get_by_text("Saved cohort “Three-site cohort” (797 patients).").wait_for()
    page.get_by_text("Three-site cohort (n=797)").first.wait_for()

    # Table 1 by sex (the default grouping when the data have sex), exported as CSV.
    panel = _panel(page)
    panel.get_by_text("Cohort: Three-site cohort (n=797)").wait_for()
    panel.locator('[data-testid="stDataFrame"]').first.wait_for()
    with page.expect_download() as download:
        panel.get_by_role("button", name="Download CSV").click()
    path = tmp_path / "table1.csv"
    download.value.save_as(path)
    wait_for_app(page)                                    # the export's audit callback runs in this rerun
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0][:6] == ["Variable", "Level", "Missing", "Overall", "female", "male"]
    assert rows[1][3] == "797"
    assert any(r[0] == "age, mean (SD)" and r[-3] == "Welch t-test" for r in rows)
    panel.get_by_role("button", name="Pin to report").click()
    wait_for_app(page)

    # Kaplan-Meier on the heart-failure records: time and event are recognised by name.
    _choose(page, "stSelectbox", "Dataset", "heart_failure")
    page.get_by_text("(n=299)").first.wait_for()
    page.get_by_role("tab", name="Survival").click()
    panel = _panel(page)
    _choose(page, "stSelectbox", "Compare groups", "sex")
    panel = _panel(page)
    chart = panel.locator(".js-plotly-plot").first
    chart.wait_for()
    assert "Kaplan-Meier: follow_up_days (event death_event)" in chart.inner_text()
    assert chart.locator("path.js-fill").count() >= 2           # the two CI bands
    ARTIFACTS.mkdir(exist_ok=True)
    chart.screenshot(path=str(ARTIFACTS / "explore_km.png"))
    panel.get_by_role("button", name="Pin to report").first.click()
    wait_for_app(page)

    # The report holds both pinned results with their cohorts, methods and the figure.
    page.get_by_role("tab", name="Report (2)").click()
    panel = _panel(page)
    panel.get_by_text("Kaplan-Meier: follow_up_days by sex").wait_for()
    with page.expect_download() as download:
        panel.get_by_role("button", name="Export report (HTML)").click()
    report = tmp_path / "report.html"
    download.value.save_as(report)
    wait_for_app(page)
    html = report.read_text()
    assert "Three-site cohort (n=797)" in html and "Unsaved cohort (n=299)" in html
    assert "Kaplan-Meier method" in html and "Welch t-test" in html and "figure-2" in html
    assert "HF-0" not in html and "UCI-0" not in html                 # no pseudo ids in the export

    import time

    from engine.store import connect

    deadline = time.time() + 15
    while True:
        db = connect(e2e_db)
        actions = [r[0] for r in db.conn.execute("SELECT action FROM audit WHERE username = ?", (username,))]
        db.conn.close()
        if actions.count("explore.export") >= 2 or time.time() > deadline:
            break
        time.sleep(0.5)
    assert "explore.cohort_save" in actions and actions.count("explore.export") >= 2
