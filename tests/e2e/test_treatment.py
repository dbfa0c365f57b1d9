"""Treatment in a real browser: a clinician reviews a seeded diabetic, sees metformin with its ADA citation,
sets eGFR to 25 for the session, sees metformin blocked with the reason, records a decision and exports
the one-page summary."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.conftest import goto_page, login
from tests.e2e.waits import rerun, wait_for_text


def test_clinician_metformin_blocked_by_egfr_25_and_decision_recorded(page, e2e_server, e2e_users, e2e_db):
    username, password = e2e_users["clinician"]
    login(page, e2e_server, username, password)
    goto_page(page, "Treatment")

    search = page.get_by_role("textbox", name="Find a patient by pseudonymous id", exact=True)
    search.fill("PIMA-0001")
    with rerun(page):
        search.press("Enter")
    main = page.locator('[data-testid="stMain"]')
    metformin = page.locator(".st-key-tx_option_ada2020_t2d_metformin-initial")
    wait_for_text(metformin, "Metformin")
    assert "American Diabetes Association (ADA) 2020, Section 9" in metformin.inner_text()
    assert "eGFR" in metformin.inner_text()  # reported as missing data, not assumed normal

    # The measurement picker starts on eGFR; enter 25 mL/min/1.73 m2 for this session.
    value = page.get_by_role("spinbutton", name="Value")
    value.fill("25")
    with rerun(page):
        value.press("Enter")
    with rerun(page):
        page.get_by_role("button", name="Apply value").click()

    blocked = page.locator(".st-key-tx_blocked_ada2020_t2d_metformin-initial")
    wait_for_text(blocked, "Blocked: Metformin")
    text = blocked.inner_text()
    assert "eGFR below 30" in text and "value 25" in text
    assert page.locator(".st-key-tx_option_ada2020_t2d_metformin-initial").count() == 0

    with rerun(page):
        blocked.get_by_text("decline", exact=True).click()
    reason = blocked.get_by_role("textbox", name="Reason (required to decline)")
    reason.fill("eGFR 25 on today's labs")
    with rerun(page):
        reason.press("Enter")
    with rerun(page):
        blocked.get_by_role("button", name="Record decision").click()
    # "Decision recorded" shows mid-run; the export button below it is rebuilt later in the same run,
    # so the run must have finished before the export is clicked (it once exported the stale summary).
    wait_for_text(main, "Decision recorded: decline.")

    with page.expect_download() as download_info, rerun(page):
        page.get_by_role("button", name="Export one-page summary (printable HTML)").click()
    summary = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert "Blocked options" in summary and "eGFR below 30" in summary and "not a directive" in summary
    assert "eGFR 25 on today&#x27;s labs" in summary

    with sqlite3.connect(e2e_db) as conn:
        row = conn.execute("SELECT t.rule_id, t.decision, t.reason, t.username FROM treatment_decisions t "
                           "JOIN patients p ON p.id = t.patient_id WHERE p.pseudo_id = 'PIMA-0001'").fetchone()
        actions = [r[0] for r in conn.execute("SELECT action FROM audit WHERE target_id = 'PIMA-0001'")]
    assert row == ("ada2020.t2d.metformin-initial", "decline", "eGFR 25 on today's labs", username)
    assert "treatment.view" in actions and "treatment.decide" in actions and "treatment.export" in actions
