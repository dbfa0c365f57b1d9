"""Explore in a real browser: the walk-through findings of issue 12 that are page behaviour.

Column choices follow a dataset change (the correlation map opened with one column or none), range
filters take typed bounds, the saved-cohort box shows the cohort just saved, 0/1 groups read
"0 (no)" / "1 (yes)", and ages 90+ are named. Every wait is on the app's own state.
"""
from __future__ import annotations

import pytest

from tests.e2e.conftest import goto_page, login, wait_for_app
from tests.e2e.test_explore import _choose, _panel

pytestmark = pytest.mark.e2e


def _widget(scope, testid: str, label: str):
    """The widget of kind ``testid`` labelled ``label`` within ``scope`` (a page or a tab panel)."""
    page = getattr(scope, "page", scope)
    return scope.locator(f'[data-testid="{testid}"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)).first


def _type_number(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    wait_for_app(page)


def test_walkthrough_findings_in_the_browser(page, e2e_server, e2e_users):
    username, password = e2e_users["analyst"]
    login(page, e2e_server, username, password)
    goto_page(page, "Explore")
    page.get_by_role("heading", name="Explore").wait_for()

    # Correlation map: narrowed to one column on one dataset, it opens with several on the next.
    _choose(page, "stSelectbox", "Dataset", "uci_heart")
    page.get_by_text("(n=920)").first.wait_for()
    page.get_by_role("tab", name="Distributions & relations").click()
    panel = _panel(page)
    columns = _widget(panel, "stMultiSelect", "Columns")
    for name in ("max_heart_rate", "st_depression", "systolic_bp", "total_cholesterol"):
        columns.get_by_role("button", name=f"Remove {name}").click()
        wait_for_app(page)
    panel.get_by_text("Choose at least two columns.").wait_for()
    _choose(page, "stSelectbox", "Dataset", "pima_diabetes")
    page.get_by_text("(n=768)").first.wait_for()
    page.get_by_role("tab", name="Distributions & relations").click()
    panel = _panel(page)
    heatmap = panel.locator(".js-plotly-plot").filter(has_text="Pearson correlation")
    heatmap.wait_for()
    chips = _widget(panel, "stMultiSelect", "Columns").get_by_role("button", name="Remove ")
    assert chips.count() >= 5
    assert panel.get_by_text("Choose at least two columns.").count() == 0

    # Typed bounds on a range filter, then save: the saved-cohort box shows the saved cohort.
    _choose(page, "stMultiSelect", "Filter by", "bmi")
    _type_number(page, "bmi from", "30.05")
    _type_number(page, "bmi to", "35.15")
    page.get_by_text("bmi from 30.05 to 35.15").first.wait_for()
    page.get_by_label("Cohort name").fill("BMI 30-35")
    page.get_by_label("Cohort name").press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Save cohort").click()
    page.get_by_text("Saved cohort “BMI 30-35”").wait_for()
    wait_for_app(page)
    saved_box = _widget(page, "stSelectbox", "Saved cohort")
    shown = saved_box.inner_text() + " ".join(i.input_value() for i in saved_box.locator("input").all())
    assert "BMI 30-35" in shown

    # Heart-failure records: ages 90+ are named, and 0/1 groups carry their labels in the KM legend.
    _choose(page, "stSelectbox", "Dataset", "heart_failure")
    page.get_by_text("(n=299)").first.wait_for()
    page.get_by_text("6 patients aged 90 or older").first.wait_for()
    page.get_by_role("tab", name="Survival").click()
    _choose(page, "stSelectbox", "Compare groups", "smoking")
    chart = _panel(page).locator(".js-plotly-plot").filter(has_text="Kaplan-Meier").first
    chart.get_by_text("0 (no)").first.wait_for()
    assert chart.get_by_text("1 (yes)").count() >= 1
