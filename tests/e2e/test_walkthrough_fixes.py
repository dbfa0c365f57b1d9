"""Walk-through findings in a real browser: the patient picker (part of a dataset + condition, paged with
a total), model-card legends off the curves at a 1400 px window, and reference ranges on the patient page
with no trend drawn for single undated values. Waits are on the app's own state and content."""
from __future__ import annotations

import sqlite3

from tests.e2e.conftest import goto_page, login
from tests.e2e.waits import rerun, wait_for_text

OVERLAP_JS = """(key) => {
    const root = document.querySelector('.st-key-' + key);
    if (!root) return null;
    const legend = root.querySelector('g.legend');
    const plot = root.querySelector('rect.nsewdrag');
    if (!legend || !plot) return null;
    const a = legend.getBoundingClientRect(), b = plot.getBoundingClientRect();
    const w = Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left));
    const h = Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
    return {overlap: w * h, legendTop: a.top, plotBottom: b.bottom, plotArea: b.width * b.height};
}"""


def _open_as(page, server: str, users: dict, role: str, title: str) -> None:
    username, password = users[role]
    login(page, server, username, password)
    goto_page(page, title)


def _search(page, label: str, text: str) -> None:
    box = page.get_by_role("textbox", name=label, exact=True)
    box.fill(text)
    with rerun(page):
        box.press("Enter")


def test_picker_finds_patients_by_dataset_and_condition(page, e2e_server, e2e_users, e2e_db):
    conn = sqlite3.connect(e2e_db)
    try:
        total = conn.execute("SELECT COUNT(DISTINCT p.id) FROM patients p JOIN conditions c ON c.patient_id = p.id "
                             "WHERE p.source LIKE '%pima%' AND c.code LIKE 'E11%'").fetchone()[0]
    finally:
        conn.close()
    assert total > 25  # more than one page
    _open_as(page, e2e_server, e2e_users, "clinician", "Treatment")
    _search(page, "Find a patient", "pima E11")
    wait_for_text(page, f"{total:,} patients match; showing 1-25.")
    pages = -(-total // 25)
    page.get_by_text(f"Page (of {pages})").wait_for()
    picker = page.locator('[data-testid="stSelectbox"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text="Patient")).first
    assert "PIMA-" not in picker.inner_text()  # nobody picked until the user chooses
    picker.locator('[role="combobox"], input').first.click()
    option = page.get_by_role("option").first
    label = option.inner_text()
    assert "pima" in label and "E11" in label
    with rerun(page):
        option.click()
    page.get_by_role("link", name="Open this patient's record").wait_for()


def test_model_card_legends_do_not_cover_the_curves_at_1400px(page, e2e_server, e2e_users):
    page.set_viewport_size({"width": 1400, "height": 1400})
    _open_as(page, e2e_server, e2e_users, "analyst", "Models")
    for key in ("models_roc", "models_calibration", "models_decision"):
        page.wait_for_function(f"(key) => ({OVERLAP_JS})(key) !== null", arg=key)
        box = page.evaluate(OVERLAP_JS, key)
        assert box["plotArea"] > 0
        assert box["overlap"] == 0 and box["legendTop"] >= box["plotBottom"], (key, box)


def test_patient_page_shows_reference_ranges_and_no_false_trend(page, e2e_server, e2e_users):
    _open_as(page, e2e_server, e2e_users, "clinician", "Patient")
    _search(page, "Id, dataset or condition contains", "UCI-0001")
    pick = page.locator('[data-testid="stSelectbox"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text="Open patient")).first
    pick.locator('[role="combobox"], input').first.click()
    with rerun(page):
        page.get_by_role("option", name="UCI-0001", exact=True).click()
    page.get_by_role("heading", name="Patient UCI-0001").wait_for()
    page.get_by_text("so there is no trend to draw").wait_for()
    page.get_by_text("Reference ranges:").wait_for()
    assert page.locator('.st-key-patient_obs_chart').count() == 0
    assert "2017 ACC/AHA" in page.get_by_text("Reference ranges:").inner_text()
