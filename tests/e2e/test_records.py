"""Records in a real browser: an analyst imports a semicolon CSV with a BOM and mixed glucose units,
fixes the units, and a clinician then finds those patients on the patient page, identifiers masked."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import goto_page, login, wait_for_app
from tests.engine import records_files as rf

pytestmark = pytest.mark.e2e


def _choose(page, label: str, option_prefix: str) -> None:
    """Pick the option starting with ``option_prefix`` in the selectbox labelled ``label``."""
    widget = page.locator('[data-testid="stSelectbox"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)).first
    widget.locator('[role="combobox"], input').first.click()
    page.keyboard.type(option_prefix)  # filter the list first (long lists are virtualised)
    page.get_by_role("option").filter(has_text=option_prefix).first.click()
    page.keyboard.press("Escape")
    wait_for_app(page)


def test_analyst_imports_mixed_units_and_clinician_sees_masked_patients(page, e2e_server, e2e_users, e2e_db,
                                                                        tmp_path):
    # Real Framingham rows; synthetic identifiers and three glucose values written in mmol/L.
    df = rf.with_identifiers(rf.with_mixed_glucose(rf.framingham_frame(60), [2, 25, 48]))
    upload = tmp_path / "ward_export.csv"
    upload.write_bytes(rf.csv_bytes(df, sep=";", encoding="utf-8-sig"))

    analyst, password = e2e_users["analyst"]
    login(page, e2e_server, analyst, password)
    goto_page(page, "Records")
    # The first uploader takes one file; the second (several FHIR files together) is not used here.
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(upload))
    page.get_by_text("Format: csv").wait_for()
    caption = page.get_by_text("Format: csv").inner_text()
    assert "semicolon" in caption and "BOM" in caption
    wait_for_app(page)
    page.get_by_role("button", name="Validate").click()
    page.get_by_text("Problems (row numbers as in the file").wait_for(timeout=60_000)
    wait_for_app(page)
    problems = page.locator('[data-testid="stDataFrame"]').filter(has_text="unit_mixup")
    assert problems.count() >= 1 or "unit mix-ups" in page.locator('[data-testid="stApp"]').inner_text()
    _choose(page, "Unit mix-ups", "fix: convert")
    name = page.get_by_role("textbox", name="Dataset name", exact=True)
    name.fill("ward-export")
    name.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Import").click()
    success = page.get_by_text("Imported dataset 'ward-export' version 1")
    success.wait_for(timeout=60_000)
    text = success.inner_text()
    assert "60 new patients" in text and "3 values converted" in text

    page.get_by_role("button", name="Log out").click()
    clinician, password = e2e_users["clinician"]
    login(page, e2e_server, clinician, password)
    goto_page(page, "Patient")
    _choose(page, "Dataset", "ward-export")
    pick = page.locator('[data-testid="stSelectbox"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text="Open patient")).first
    pick.locator('[role="combobox"], input').first.click()
    option = page.get_by_role("option").first
    pseudo = option.inner_text().strip()
    assert pseudo.startswith("P-") and len(pseudo) == 18
    option.click()
    wait_for_app(page)
    page.get_by_role("heading", name=f"Patient {pseudo}").wait_for()
    page.get_by_text("so there is no trend to draw").wait_for()  # one visit per patient: no trend line
    body = page.locator('[data-testid="stApp"]').inner_text()
    for raw in ("FRM000", "Anna", "Smith", "@example.org", "555-", "2021-"):
        assert raw not in body, raw
    from engine.store import connect

    db = connect(e2e_db)
    try:
        converted = db.conn.execute("SELECT COUNT(*) FROM observations WHERE flag = 'converted'").fetchone()[0]
        viewed = db.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'patient.view' AND target_id = ?",
                                 (pseudo,)).fetchone()[0]
    finally:
        db.conn.close()
    assert converted == 3 and viewed >= 1
