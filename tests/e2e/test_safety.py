"""Issue 12's safety findings in a real browser, on a private store and model folder:

- a model an analyst trained (not promoted) is not offered on Predict;
- the Records upload preview shows none of the identifiers planted in the file, before or after import,
  and its grid offers no download;
- a new X-ray upload clears the previous image's result and its feedback form;
- after an admin's "Reset password (also unlocks)" the users table shows the user active at once.
"""
from __future__ import annotations

import os
import re
import shutil
from unittest import mock

import pytest
from PIL import Image

from tests.e2e.conftest import goto_page, login, start_server
from tests.e2e.waits import new_context, rerun, wait_for_text
from tests.engine import records_files as rf
from tests.engine.test_ingest_preview import PLANTED, planted_frame

pytestmark = pytest.mark.e2e
UPLOADER = '[data-testid="stFileUploader"] input[type="file"]'
PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def safety_server(tmp_path_factory, seeded_db_template, e2e_users):
    """A server on its own seeded store and model folder, where an analyst has trained 'heart_failure'."""
    from engine import auth
    from engine.models import registry
    from engine.store import connect
    from tests.engine.test_model_serving import register_copy

    root = tmp_path_factory.mktemp("safety")
    db_path, models = root / "clinsight.db", root / "models"
    shutil.copy(seeded_db_template, db_path)
    shutil.copytree(registry.models_dir(), models)
    db = connect(db_path)
    for role, (username, password) in e2e_users.items():
        auth.create_user(db, username, password, role, actor=None)
    auth.create_user(db, "locked_out", PASSWORD, "clinician", actor=None)
    with mock.patch.dict(os.environ, {"CLINSIGHT_MODELS": str(models), "CLINSIGHT_DB": str(db_path)}):
        registry.clear_cache()
        register_copy(db, "heart_failure")  # exactly what Models > Train does once training is done
        registry.clear_cache()
    db.conn.close()
    with start_server(db_path, env={"CLINSIGHT_MODELS": str(models)}) as base:
        yield {"base": base, "db": db_path}


def _grid_text(page) -> str:
    """The text of every cell the data grids render (the grid draws on a canvas; its cells are mirrored
    in an accessible table, which is what a screen reader, and a copy, would get)."""
    cells = page.locator('[data-testid="stDataFrame"] [role="gridcell"]')
    return "\n".join(cells.all_inner_texts())


def _visible_text(page) -> str:
    return page.locator('[data-testid="stApp"]').inner_text() + "\n" + _grid_text(page)


def test_unpromoted_model_is_not_offered_on_predict(page, safety_server, e2e_users):
    username, password = e2e_users["clinician"]
    login(page, safety_server["base"], username, password)
    goto_page(page, "Predict")
    page.get_by_role("heading", name="Predict").wait_for()
    page.locator('[data-testid="stSelectbox"]').filter(has_text="Model").first.click()
    page.get_by_role("option").first.wait_for()
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    assert len(options) == 5, options  # the five shipped models
    assert not any("Analyst-trained" in o for o in options), options


@pytest.fixture
def wide_page(browser):
    """A page wide enough for the grid to render all 26 columns of the planted file (it virtualises)."""
    context = new_context(browser, viewport={"width": 4200, "height": 1400})  # with the run tracker waits.py reads
    yield context.new_page()
    context.close()


def test_upload_preview_shows_no_planted_identifier_and_no_download(wide_page, safety_server, e2e_users, tmp_path):
    page = wide_page
    upload = tmp_path / "ward_export.csv"
    upload.write_bytes(rf.csv_bytes(planted_frame()))
    username, password = e2e_users["analyst"]
    login(page, safety_server["base"], username, password)
    goto_page(page, "Records")
    with rerun(page):  # "File to import" (a FHIR bulk one follows); its rerun once the file has been sent
        page.locator(UPLOADER).first.set_input_files(str(upload))
    wait_for_text(page, "Hidden in this preview (identifiers)")
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.locator('[role="columnheader"]').filter(has_text="notes").first.wait_for(state="attached")
    cells = grid.locator('[role="gridcell"]').all_inner_texts()
    assert cells.count("[hidden]") >= 10 * 8 and "call back on [redacted] or mail [redacted]" in cells
    text = _visible_text(page)
    for raw in PLANTED:
        assert raw not in text, raw
    grid.hover()
    page.locator('[data-testid="stElementToolbar"]').first.wait_for(state="attached")
    labels = page.locator('[data-testid="stElementToolbar"] button').evaluate_all(
        "els => els.map(e => (e.getAttribute('aria-label') || '') + ' ' + e.innerText)")
    assert labels and not any("download" in label.lower() for label in labels), labels

    with rerun(page):
        page.get_by_role("button", name="Validate").click()
    wait_for_text(page, "Problems (row numbers as in the file")
    name = page.get_by_role("textbox", name="Dataset name", exact=True)
    name.fill("planted-ward")
    with rerun(page):
        name.press("Enter")
    with rerun(page):
        page.get_by_role("button", name="Import").click()
    wait_for_text(page, "Imported dataset 'planted-ward'")
    text = _visible_text(page)
    for raw in PLANTED:
        assert raw not in text, raw


def test_new_xray_upload_clears_the_previous_result(page, safety_server, e2e_users, tmp_path):
    from tests.chest_films import pediatric_dicom, pediatric_original

    dicom = tmp_path / "chest.dcm"  # a pediatric film the model reads, in a real chest CR container
    dicom.write_bytes(pediatric_dicom())
    jpeg = tmp_path / "chest.jpg"  # the same film as a JPEG: a second, different file
    Image.open(pediatric_original()).convert("L").save(jpeg)
    username, password = e2e_users["clinician"]
    login(page, safety_server["base"], username, password)
    goto_page(page, "Imaging")
    page.get_by_role("heading", name="Chest X-ray reading").wait_for()
    search = page.get_by_role("textbox", name="Find a patient", exact=True)  # nobody is picked on arrival
    search.fill("UCI-0001")
    with rerun(page):
        search.press("Enter")
    with rerun(page):  # the upload's rerun, once the file has been sent
        page.locator(UPLOADER).set_input_files(str(dicom))
    with rerun(page):  # click() itself waits until the button is enabled
        page.get_by_role("button", name="Analyse and store").click()
    wait_for_text(page.locator('[data-testid="stMetricLabel"]'), "Probability of pneumonia")
    page.get_by_role("button", name="Record feedback").wait_for()

    with rerun(page):  # the new file's rerun clears the previous result
        page.locator(UPLOADER).set_input_files(str(jpeg))
    page.get_by_text("chest.jpg").wait_for()  # the uploader lists the new file
    page.locator('[data-testid="stMetricLabel"]', has_text="Probability of pneumonia").wait_for(state="detached")
    assert page.get_by_role("button", name="Record feedback").count() == 0
    assert page.get_by_text("agree", exact=True).count() == 0
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 0


def test_admin_reset_shows_the_user_active_at_once(page, safety_server, e2e_users):
    from engine import auth
    from engine.errors import AuthError
    from engine.store import connect

    db = connect(safety_server["db"])
    try:
        for attempt in range(5):
            with pytest.raises(AuthError):
                auth.authenticate(db, "locked_out", f"wrong password {attempt}")
    finally:
        db.conn.close()
    username, password = e2e_users["admin"]
    login(page, safety_server["base"], username, password)
    goto_page(page, "Admin")
    page.get_by_role("heading", name="Administration").wait_for()
    _status_cell(page, "locked_out", "locked").wait_for(state="attached")  # ("locked_out" itself holds "locked")
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="User").first
    box.click()
    with rerun(page):
        page.get_by_role("option", name="locked_out", exact=True).click()
    page.get_by_role("textbox", name="New password", exact=True).fill("a brand new password 1")
    with rerun(page):
        page.get_by_role("textbox", name="New password", exact=True).press("Enter")
    with rerun(page):
        page.get_by_role("button", name="Reset password (also unlocks)").click()
    wait_for_text(page, "Password reset for locked_out")
    # The grid fills its accessible cells after the run has painted: wait for the row's new status, then read
    # the whole row (the row as it was before the reset says "locked", never "active").
    _status_cell(page, "locked_out", "active").wait_for(state="attached")
    row = _row_text(page, "locked_out")
    assert "active" in row and "locked" not in row.replace("locked_out", ""), row


def _users_row(page, username: str):
    """The users-table row(s) that hold ``username`` (the grid's accessible table)."""
    return page.locator('[data-testid="stDataFrame"]').first.locator('[role="row"]').filter(has_text=username)


def _status_cell(page, username: str, status: str):
    """The cell of ``username``'s row that says exactly ``status``."""
    return _users_row(page, username).locator('[role="gridcell"]').filter(
        has_text=re.compile(rf"^\s*{status}\s*$")).first


def _row_text(page, username: str) -> str:
    """The accessible text of the users-table row that holds ``username``."""
    return _users_row(page, username).first.inner_text()
