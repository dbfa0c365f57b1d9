"""Clinical notes in a real browser: a clinician imports a note for a patient, sees the findings
highlighted by kind (present, negated, historical, family), confirms one suggested problem, and it
then shows in the patient's record (and the store) with an audit row."""
from __future__ import annotations

from engine.store import connect
from tests.e2e.conftest import goto_page, login
from tests.e2e.waits import rerun, wait_for_text

PATIENT = "PIMA-0001"
NOTE = """CHEST RADIOGRAPH REPORT AND ADMISSION NOTE

HISTORY OF PRESENT ILLNESS:
The patient presents with fever and productive cough. She denies chest pain.

PAST MEDICAL HISTORY:
Hypertension.

FAMILY HISTORY:
Mother had heart failure.

IMPRESSION:
Right lower lobe pneumonia. No pleural effusion.
"""


def test_clinician_imports_note_sees_highlights_and_confirms_a_problem(page, e2e_server, e2e_users, e2e_db, tmp_path):
    username, password = e2e_users["clinician"]
    login(page, e2e_server, username, password)
    goto_page(page, "Patient")
    search = page.get_by_role("textbox", name="Id, dataset or condition contains", exact=True)
    search.fill(PATIENT)
    with rerun(page):
        search.press("Enter")
    pick = page.locator('[data-testid="stSelectbox"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text="Open patient")).first
    pick.locator('[role="combobox"], input').first.click()
    with rerun(page):
        page.get_by_role("option", name=PATIENT, exact=True).click()
    page.get_by_role("heading", name=f"Patient {PATIENT}").wait_for()

    note = tmp_path / "note.txt"
    note.write_text(NOTE, encoding="utf-8")
    # The uploader sits in a form: choosing the file sends it but does not rerun, and the form only takes the
    # file once its upload has finished. Submitting earlier imports nothing. The chip's button says
    # "Cancel upload of note.txt" while sending and "Remove note.txt" once the file is on the server.
    page.locator('.st-key-notes_upload [data-testid="stFileUploader"] input[type="file"]').set_input_files(str(note))
    page.get_by_role("button", name="Remove note.txt", exact=True).wait_for()
    with rerun(page):
        page.get_by_role("button", name="Import note").click()
    wait_for_text(page, "Imported 1 note(s)")

    text = page.locator(".note-text").first
    text.wait_for()
    assert text.locator("mark.finding-affirmed", has_text="pneumonia").count() == 1
    assert text.locator("mark.finding-negated", has_text="pleural effusion").count() == 1
    assert text.locator("mark.finding-negated", has_text="chest pain").count() == 1
    assert text.locator("mark.finding-historical", has_text="Hypertension").count() == 1
    assert text.locator("mark.finding-family", has_text="heart failure").count() == 1

    page.get_by_text("Pneumonia (J18.9), mentioned 1 time(s)").wait_for()
    with rerun(page):
        page.locator(".st-key-notes_confirmed_J18_9 button").click()
    wait_for_text(page, "J18.9 confirmed (now in the record conditions)")
    # The rerun removes the reviewed suggestion (stale elements go when the run finishes).
    page.get_by_text("Pneumonia (J18.9), mentioned").wait_for(state="detached")

    db = connect(e2e_db)
    try:
        codes = {r[0] for r in db.conn.execute(
            "SELECT c.code FROM conditions c JOIN patients p ON p.id = c.patient_id WHERE p.pseudo_id = ?",
            (PATIENT,))}
        audited = db.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'notes.problem_confirm' "
                                  "AND target_id = ?", (PATIENT,)).fetchone()[0]
        hypertension = db.conn.execute("SELECT COUNT(*) FROM note_problem_reviews WHERE code = 'I10'").fetchone()[0]
    finally:
        db.conn.close()
    assert "J18.9" in codes and audited == 1 and hypertension == 0
