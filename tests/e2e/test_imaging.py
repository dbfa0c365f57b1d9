"""Imaging in a real browser: a clinician uploads a full-resolution JPEG and a DICOM chest X-ray, sees the
probability and heat-map, toggles the overlay, records feedback; a text file renamed .png is refused."""
from __future__ import annotations

import pytest
from PIL import Image

from engine.config import get_settings
from engine.store import connect
from tests.audit_rows import actions_on
from tests.chest_films import needs_fullres, pediatric_dicom, pediatric_original
from tests.e2e.conftest import goto_page, login
from tests.e2e.waits import app_text, last_run_was_fragment, rerun, wait_for_run, wait_for_text
from tests.e2e.widgets import choose

UPLOADER = '[data-testid="stFileUploader"] input[type="file"]'


def _bundle_installed() -> bool:
    root = get_settings().models_dir / "chest_xray_pneumonia"
    return root.is_dir() and any((p / "card.json").exists() for p in root.iterdir())


pytestmark = pytest.mark.skipif(not _bundle_installed(), reason="no chest X-ray model bundle installed")


@pytest.fixture
def chest_files(tmp_path):
    """A pediatric original of the training source (see tests/chest_films.py) enlarged to a full-resolution
    2,000 px JPEG, its pixels in a real chest CR DICOM container, and a text file renamed .png."""
    original = Image.open(pediatric_original()).convert("L")
    scale = 2000 / max(original.size)
    jpeg = tmp_path / "chest_full_resolution.jpg"
    original.resize((round(original.size[0] * scale), round(original.size[1] * scale)),
                    Image.Resampling.BICUBIC).save(jpeg, quality=92)
    dicom = tmp_path / "chest.dcm"
    dicom.write_bytes(pediatric_dicom())
    text = tmp_path / "notes.png"
    text.write_text("not an image, only a text file renamed\n" * 5)
    return {"dicom": str(dicom), "jpeg": str(jpeg), "text": str(text)}


def _pick_patient(page, pseudo_id: str = "UCI-0001") -> None:
    """Nobody is picked on arrival: type an exact id (it picks itself) and wait for the uploader."""
    search = page.get_by_role("textbox", name="Find a patient", exact=True)
    search.fill(pseudo_id)
    with rerun(page):
        search.press("Enter")
    page.locator(UPLOADER).wait_for(state="attached")


def _analyse(page, path: str) -> None:
    with rerun(page):  # the upload's rerun, once the file has been sent
        page.locator(UPLOADER).set_input_files(path)
    with rerun(page):  # click() itself waits until the button is enabled
        page.get_by_role("button", name="Analyse and store").click()


def _wait_for_charts(page, n: int) -> None:
    """Wait until exactly ``n`` plotly charts are on the page (stale ones vanish when a run ends)."""
    wait_for_run(page)
    page.wait_for_function(
        "(n) => document.querySelectorAll('[data-testid=\"stPlotlyChart\"]').length === n", arg=n)


def _wait_for_probability(page) -> None:
    wait_for_run(page)
    page.locator('[data-testid="stMetricLabel"]', has_text="Probability of pneumonia").wait_for()


def test_clinician_reads_jpeg_and_dicom_with_heatmap_and_feedback(page, e2e_server, e2e_users, e2e_db, chest_files):
    username, password = e2e_users["clinician"]
    login(page, e2e_server, username, password)
    goto_page(page, "Imaging")
    page.get_by_role("heading", name="Chest X-ray reading").wait_for()
    _pick_patient(page)

    _analyse(page, chest_files["jpeg"])
    _wait_for_probability(page)
    assert "95% interval" in app_text(page)
    _wait_for_charts(page, 2)  # viewer + heat-map
    charts = page.locator('[data-testid="stPlotlyChart"]')
    # toggle the overlay off and back on: the switch state and the drawn heat-map image follow
    def heat_image() -> str:
        return charts.nth(1).locator("image").first.get_attribute("href") or ""

    switch = page.get_by_role("switch", name="Show heat-map (Grad-CAM)")
    with_overlay = heat_image()
    assert switch.is_checked() and with_overlay
    with rerun(page):
        page.get_by_text("Show heat-map (Grad-CAM)").click()
    assert not switch.is_checked()
    page.wait_for_function(
        """(before) => {
            const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
            const img = charts.length > 1 ? charts[1].querySelector('image') : null;
            const href = img ? img.getAttribute('href') : null;
            return href && href !== before;
        }""", arg=with_overlay)
    assert heat_image() != with_overlay  # the plain image, no heat-map blended in
    with rerun(page):
        page.get_by_text("Show heat-map (Grad-CAM)").click()
    assert switch.is_checked()

    page.get_by_text("disagree", exact=True).click()  # inside a form: no rerun until it is submitted
    page.get_by_role("textbox", name="Reason (optional)").fill("e2e: no consolidation seen")
    with rerun(page):
        page.get_by_role("button", name="Record feedback").click()
    wait_for_text(page, "Feedback recorded: disagree")
    assert last_run_was_fragment(page)  # issue 16: the form reruns alone, not the viewer and heat-map

    _analyse(page, chest_files["dicom"])
    wait_for_text(page, "Window width")
    _wait_for_probability(page)
    table = page.locator('[data-testid="stTable"]')
    table.wait_for()
    text = table.inner_text()
    assert "Modality" in text and "CR" in text and "CHEST" in text, text
    _wait_for_charts(page, 2)  # viewer + heat-map of the DICOM (the JPEG's are gone once the run ends)

    db = connect(e2e_db)
    try:
        kinds = sorted(r[0] for r in db.conn.execute("SELECT kind FROM images"))
        feedback = db.conn.execute("SELECT verdict, reason FROM feedback").fetchall()
    finally:
        db.conn.close()
    assert kinds == ["dicom", "jpeg"]
    assert ("disagree", "e2e: no consolidation seen") in feedback


def test_text_renamed_png_is_refused_in_the_browser(page, e2e_server, e2e_users, chest_files):
    username, password = e2e_users["clinician"]
    login(page, e2e_server, username, password)
    goto_page(page, "Imaging")
    _pick_patient(page)
    _analyse(page, chest_files["text"])
    wait_for_text(page, "not a PNG, JPEG or DICOM image")
    assert page.locator('[data-testid="stMetricLabel"]').count() == 0


@needs_fullres
def test_full_size_original_at_its_own_aspect_ratio_gets_a_read_with_heatmap(page, e2e_server, e2e_users):
    """A real original of the training source, uploaded at its own (non-square) geometry, is read, not refused."""
    original = pediatric_original()
    username, password = e2e_users["clinician"]
    login(page, e2e_server, username, password)
    goto_page(page, "Imaging")
    _pick_patient(page)
    page.get_by_role("heading", name="Chest X-ray reading").wait_for()
    _analyse(page, str(original))
    _wait_for_probability(page)
    app = page.locator('[data-testid="stApp"]')
    assert "95% interval" in app.inner_text()
    assert "does not look like a frontal chest X-ray" not in app.inner_text()
    _wait_for_charts(page, 2)  # viewer + heat-map
    assert page.locator('[data-testid="stPlotlyChart"]').nth(1).locator("image").first.get_attribute("href")


def test_admin_serves_another_chest_xray_version_from_the_models_page(page, e2e_server, e2e_users, e2e_db):
    """Models -> "Chest X-ray model": the installed versions with the served one marked; an administrator
    serves another and the table shows it at once (last in this module: the served version changes)."""
    from engine.imaging.bundle import installed_versions

    versions = installed_versions()
    if len(versions) < 2:
        pytest.skip("needs two installed chest X-ray versions")
    username, password = e2e_users["admin"]
    login(page, e2e_server, username, password)
    goto_page(page, "Models")
    page.get_by_role("heading", name="Models").wait_for()
    page.get_by_role("tab", name="Chest X-ray model").click()
    panel = page.get_by_role("tabpanel", name="Chest X-ray model")
    # the dataframe draws on a canvas; its accessible grid cells are in the DOM but not "visible"
    panel.locator("[role=gridcell]", has_text="shipped default").wait_for(state="attached")
    other = versions[0]  # 2.0.0 is the shipped default; 1.0.0 is the other
    choose(page, "Serve another version", other)
    with rerun(page):
        page.get_by_role("button", name="Serve this version").click()
    wait_for_text(page, f"Chest X-ray model {other} now serves")
    panel.locator("[role=gridcell]", has_text="promoted by an administrator").wait_for(state="attached")
    assert actions_on(e2e_db, f"chest_xray_pneumonia@{other}") == ["models.promote"]
