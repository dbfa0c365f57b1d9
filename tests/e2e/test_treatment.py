"""Treatment in a real browser: a clinician reviews a seeded diabetic, sees metformin with its ADA citation,
sets eGFR to 25 for the session, sees metformin blocked with the reason, records a decision and exports
the one-page summary."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.e2e.conftest import goto_page, login
from tests.e2e.waits import rerun, wait_for_text


def _open_patient(page, server: str, users, pseudo_id: str) -> str:
    """Log in as the clinician, open Treatment and select ``pseudo_id``; returns the username."""
    username, password = users["clinician"]
    login(page, server, username, password)
    goto_page(page, "Treatment")
    search = page.get_by_role("textbox", name="Find a patient", exact=True)  # an exact id picks itself
    search.fill(pseudo_id)
    with rerun(page):
        search.press("Enter")
    return username


def _block_metformin_at_egfr_25(page):
    """Enter eGFR 25 for the session (the measurement picker starts on eGFR); returns the blocked metformin box."""
    value = page.get_by_role("spinbutton", name="Value")
    value.fill("25")
    with rerun(page):
        value.press("Enter")
    with rerun(page):
        page.get_by_role("button", name="Apply value").click()
    blocked = page.locator(".st-key-tx_blocked_ada2020_t2d_metformin-initial")
    wait_for_text(blocked, "Blocked: Metformin")
    return blocked


def test_clinician_metformin_blocked_by_egfr_25_and_decision_recorded(page, e2e_server, e2e_users, e2e_db):
    username = _open_patient(page, e2e_server, e2e_users, "PIMA-0001")
    main = page.locator('[data-testid="stMain"]')
    metformin = page.locator(".st-key-tx_option_ada2020_t2d_metformin-initial")
    metformin.get_by_text("Metformin").first.wait_for()
    assert "American Diabetes Association (ADA) 2020, Section 9" in metformin.inner_text()
    assert "eGFR" in metformin.inner_text()  # reported as missing data, not assumed normal

    blocked = _block_metformin_at_egfr_25(page)
    # The reason renders after the box's header: wait for the alert that carries it, then read that alert.
    reason_alert = blocked.locator('[data-testid="stAlert"]', has_text="eGFR below 30").first
    reason_alert.wait_for()
    assert "value 25" in reason_alert.inner_text()
    assert page.locator(".st-key-tx_option_ada2020_t2d_metformin-initial").count() == 0

    with rerun(page):
        blocked.get_by_text("decline", exact=True).click()
    reason = blocked.get_by_role("textbox", name="Reason (required to decline or to override the block)")
    reason.fill("eGFR 25 on today's labs")
    with rerun(page):
        reason.press("Enter")
    with rerun(page):
        blocked.get_by_role("button", name="Record decision").click()
    wait_for_text(main, "Decision recorded: decline.")  # the run has finished too: the export holds the decision

    # The export's on_click writes the audit row in a rerun: wait for it before reading the store.
    with rerun(page), page.expect_download() as download_info:
        page.get_by_role("button", name="Export one-page summary (printable HTML)").click()
    summary = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert "Blocked options" in summary and "eGFR below 30" in summary and "not a directive" in summary
    assert "eGFR 25 on today&#x27;s labs" in summary

    with sqlite3.connect(e2e_db) as conn:
        row = conn.execute("SELECT t.rule_id, t.decision, t.reason, t.username FROM treatment_decisions t "
                           "JOIN patients p ON p.id = t.patient_id WHERE p.pseudo_id = 'PIMA-0001' "
                           "ORDER BY t.id DESC LIMIT 1").fetchone()  # this test's (the module shares one store)
        actions = [r[0] for r in conn.execute("SELECT action FROM audit WHERE target_id = 'PIMA-0001'")]
    assert row == ("ada2020.t2d.metformin-initial", "decline", "eGFR 25 on today's labs", username)
    assert "treatment.view" in actions and "treatment.decide" in actions and "treatment.export" in actions


def test_clinician_sees_pregnancy_check_switch_washout_and_unmapped_medication(page, e2e_server, e2e_users):
    """Issue 13: HF-0015 (woman of 49, I50.2, LVEF 30%) with no pregnancy status recorded. Adding lisinopril for
    the session turns the ARNi into a switch with its 36-hour washout; every option harmful in pregnancy asks to
    confirm she is not pregnant; a medication name ClinSight cannot map is a visible warning."""
    _open_patient(page, e2e_server, e2e_users, "HF-0015")
    page.locator(".st-key-tx_option_aha2022_hfref_arni").get_by_text("To confirm: not pregnant").first.wait_for()

    med = page.get_by_role("textbox", name="Add a current medication (e.g. lisinopril)")
    for name in ("lisinopril 10 mg", "Foobarex 5 mg"):
        med.fill(name)
        with rerun(page):
            med.press("Enter")
        with rerun(page):
            page.get_by_role("button", name="Add medication").click()

    switch = page.locator(".st-key-tx_option_aha2022_hfref_arni-switch")
    switch.get_by_text("Switch from lisinopril 10 mg").wait_for()
    text = switch.inner_text()
    assert "Stop the ACE inhibitor and allow at least 36 hours after its last dose" in text
    assert "To confirm: not pregnant" in text
    assert "2022, 7.3.1" in text
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("is not in ClinSight's drug vocabulary").first.wait_for()
    assert page.locator(".st-key-tx_option_aha2022_hfref_arni").count() == 0  # replaced by the switch


def test_accepting_a_blocked_option_is_an_override_that_needs_a_reason(page, e2e_server, e2e_users):
    """Issue 12: metformin blocked at eGFR 25 was accepted with an empty reason. Now the page refuses it, takes it
    with a reason, and the printed summary marks it as an override."""
    _open_patient(page, e2e_server, e2e_users, "PIMA-0001")
    blocked = _block_metformin_at_egfr_25(page)

    with rerun(page):
        blocked.get_by_role("button", name="Record decision").click()  # "accept" is preselected, reason empty
    wait_for_text(blocked, "accepting it is an override and needs a reason")

    reason = blocked.get_by_role("textbox", name="Reason (required to decline or to override the block)")
    reason.fill("eGFR rechecked at 34 today")
    with rerun(page):
        reason.press("Enter")
    with rerun(page):
        blocked.get_by_role("button", name="Record decision").click()
    # The run has finished too: the export below is built from the decisions that run listed.
    wait_for_text(page.locator('[data-testid="stMain"]'), "Decision recorded: accept (override of a block).")

    with rerun(page), page.expect_download() as download_info:  # the export's on_click reruns the app
        page.get_by_role("button", name="Export one-page summary (printable HTML)").click()
    summary = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert "<b>accept (override of a block)</b>" in summary and "eGFR rechecked at 34 today" in summary
