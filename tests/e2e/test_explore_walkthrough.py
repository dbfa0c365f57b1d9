"""Explore in a real browser: the walk-through findings of issue 12 that are page behaviour.

Column choices follow a dataset change (the correlation map opened with one column or none), range
filters take typed bounds, the saved-cohort box shows the cohort just saved, 0/1 groups read
"0 (no)" / "1 (yes)", and ages 90+ are named. Every wait is on the app's own state.
"""
from __future__ import annotations

import pytest

from tests.e2e.conftest import goto_page, login
from tests.e2e.test_explore import _panel
from tests.e2e.waits import rerun, wait_for_run, wait_for_text
from tests.e2e.widgets import choose

pytestmark = pytest.mark.e2e


def _widget(scope, testid: str, label: str):
    """The widget of kind ``testid`` labelled ``label`` within ``scope`` (a page or a tab panel)."""
    page = getattr(scope, "page", scope)
    return scope.locator(f'[data-testid="{testid}"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)).first


def _type_number(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    with rerun(page):
        box.press("Enter")


def test_walkthrough_findings_in_the_browser(page, e2e_server, e2e_users):
    username, password = e2e_users["analyst"]
    login(page, e2e_server, username, password)
    goto_page(page, "Explore")
    page.get_by_role("heading", name="Explore").wait_for()

    # Correlation map: narrowed to one column on one dataset, it opens with several on the next.
    choose(page, "Dataset", "uci_heart")
    wait_for_text(page, "(n=920)")
    page.get_by_role("tab", name="Distributions & relations").click()
    panel = _panel(page)
    columns = _widget(panel, "stMultiSelect", "Columns")
    for name in ("max_heart_rate", "st_depression", "systolic_bp", "total_cholesterol"):
        with rerun(page):
            columns.get_by_role("button", name=f"Remove {name}").click()
    wait_for_text(panel, "Choose at least two columns.")
    choose(page, "Dataset", "pima_diabetes")
    wait_for_text(page, "(n=768)")
    page.get_by_role("tab", name="Distributions & relations").click()
    panel = _panel(page)
    heatmap = panel.locator(".js-plotly-plot").filter(has_text="Pearson correlation")
    heatmap.wait_for()
    chips = _widget(panel, "stMultiSelect", "Columns").get_by_role("button", name="Remove ")
    assert chips.count() >= 5
    assert panel.get_by_text("Choose at least two columns.").count() == 0

    # Typed bounds on a range filter, then save: the saved-cohort box shows the saved cohort.
    choose(page, "Filter by", "bmi", kind="stMultiSelect")
    _type_number(page, "bmi from", "30.05")
    _type_number(page, "bmi to", "35.15")
    wait_for_text(page, "bmi from 30.05 to 35.15")
    page.get_by_label("Cohort name").fill("BMI 30-35")
    with rerun(page):
        page.get_by_label("Cohort name").press("Enter")
    with rerun(page):
        page.get_by_role("button", name="Save cohort").click()
    wait_for_text(page, "Saved cohort “BMI 30-35”")
    wait_for_run(page)
    saved_box = _widget(page, "stSelectbox", "Saved cohort")
    shown = saved_box.inner_text() + " ".join(i.input_value() for i in saved_box.locator("input").all())
    assert "BMI 30-35" in shown

    # Heart-failure records: ages 90+ are named, and 0/1 groups carry their labels in the KM legend.
    choose(page, "Dataset", "heart_failure")
    wait_for_text(page, "(n=299)")
    wait_for_text(page, "6 patients aged 90 or older")
    page.get_by_role("tab", name="Survival").click()      # tabs switch in the browser: no rerun
    choose(page, "Compare groups", "smoking")
    chart = _panel(page).locator(".js-plotly-plot").filter(has_text="Kaplan-Meier").first
    chart.get_by_text("0 (no)").first.wait_for()
    assert chart.get_by_text("1 (yes)").count() >= 1
