"""Predict in a real browser: a clinician opens a seeded patient, predicts, reads the waterfall and basis,
disagrees with a reason; the feedback is stored with the prediction (and shows on the patient page when
that page exists in this build)."""
from __future__ import annotations

import importlib.util
import sqlite3

from tests.e2e.conftest import goto_page, login
from tests.e2e.waits import app_text, last_run_was_fragment, rerun, wait_for_text
from tests.e2e.widgets import choose

REASON = "Normal CT coronary angiogram two weeks ago"


def test_clinician_predicts_reads_basis_and_disagrees(page, e2e_server, e2e_users, e2e_db):
    username, password = e2e_users["clinician"]
    login(page, e2e_server, username, password)
    goto_page(page, "Predict")
    page.get_by_role("heading", name="Predict").wait_for()
    choose(page, "Model", "Coronary artery disease (angiographic) (v1.0.0)")
    patient = page.get_by_role("textbox", name="Find a patient", exact=True)  # an exact id picks itself
    patient.fill("UCI-0001")
    with rerun(page):
        patient.press("Enter")
    with rerun(page):
        page.get_by_role("button", name="Predict", exact=True).click()
    wait_for_text(page, "95% interval", exact=True)
    # waterfall and the basis panel
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.wait_for()
    chart.locator(".main-svg").first.wait_for(state="attached")
    chart.filter(has_text="What pushed the risk").wait_for()  # Plotly draws after the run has ended
    html = chart.inner_html()
    assert "What pushed the risk" in html and "Average training patient" in html
    page.get_by_role("heading", name="Basis").wait_for()
    assert "Inputs used:" in app_text(page)
    # disagree with a reason
    with rerun(page):
        page.locator('[data-testid="stRadio"]').filter(has_text="Do you agree").get_by_text("disagree").click()
    page.get_by_role("textbox", name="Reason (required when you disagree)").fill(REASON)
    with rerun(page):
        page.get_by_role("textbox", name="Reason (required when you disagree)").press("Control+Enter")
    with rerun(page):
        page.get_by_role("button", name="Record feedback").click()
    wait_for_text(page, "Feedback recorded (disagree).")
    assert last_run_was_fragment(page)  # issue 16: the assessment reruns alone, not the model and charts above

    conn = sqlite3.connect(e2e_db)
    try:
        row = conn.execute(
            "SELECT f.verdict, f.reason, f.username, p.model_name FROM feedback f "
            "JOIN predictions p ON p.id = f.prediction_id JOIN patients pt ON pt.id = p.patient_id "
            "WHERE pt.pseudo_id = 'UCI-0001' ORDER BY f.id DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    assert row == ("disagree", REASON, username, "cad_uci")

    if importlib.util.find_spec("pages.patient") is not None:
        # The patient page (another feature) lists predictions with their feedback.
        with rerun(page):
            page.get_by_role("link", name="Open this patient's record").click()
        wait_for_text(page, REASON)
