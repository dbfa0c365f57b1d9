"""Records in a real browser: an analyst imports a semicolon CSV with a BOM and mixed glucose units,
fixes the units, and a clinician then finds those patients on the patient page, identifiers masked."""
from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import goto_page, login
from tests.e2e.waits import app_text, rerun, wait_for_text
from tests.e2e.widgets import choose
from tests.engine import records_files as rf

pytestmark = pytest.mark.e2e


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
    with rerun(page):
        page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(upload))
    caption = wait_for_text(page, "Format: csv").inner_text()
    assert "semicolon" in caption and "BOM" in caption
    with rerun(page):
        page.get_by_role("button", name="Validate").click()
    wait_for_text(page, "Problems (row numbers as in the file")
    # The grid draws its cells after the run ends (a canvas plus an accessible table filled in later):
    # wait for exactly what is asserted next: the problems grid holding the unit mix-up row, or the page's
    # own lower-case words for it (a plain get_by_text would ignore case and match the "Unit mix-ups"
    # label, which renders before the grid: that let the assertion read the grid too early).
    grid = page.locator('[data-testid="stDataFrame"]').filter(has_text="unit_mixup")
    grid.or_(page.get_by_text(re.compile("unit mix-ups"))).first.wait_for()
    assert grid.count() >= 1 or "unit mix-ups" in app_text(page)
    choose(page, "Unit mix-ups", "fix: convert", exact=False)
    name = page.get_by_role("textbox", name="Dataset name", exact=True)
    name.fill("ward-export")
    with rerun(page):
        name.press("Enter")
    with rerun(page):
        page.get_by_role("button", name="Import").click()
    text = wait_for_text(page, "Imported dataset 'ward-export' version 1").inner_text()
    assert "60 new patients" in text and "3 values converted" in text

    with rerun(page):
        page.get_by_role("button", name="Log out").click()
    clinician, password = e2e_users["clinician"]
    login(page, e2e_server, clinician, password)
    goto_page(page, "Patient")
    choose(page, "Dataset", "ward-export", exact=False)
    pick = page.locator('[data-testid="stSelectbox"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text="Open patient")).first
    pick.locator('[role="combobox"], input').first.click()
    option = page.get_by_role("option").first
    pseudo = option.inner_text().strip()
    assert pseudo.startswith("P-") and len(pseudo) == 18
    with rerun(page):
        option.click()
    page.get_by_role("heading", name=f"Patient {pseudo}").wait_for()
    wait_for_text(page, "so there is no trend to draw")  # one visit per patient: no trend line
    body = app_text(page)
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
