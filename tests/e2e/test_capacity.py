"""Capacity in a real browser: a manager uploads an admissions export, sees the forecast, sizes beds and
downloads a roster; a clinician cannot open the page."""
from __future__ import annotations

import csv
import io

import pytest

from pages.components.session import REFUSAL

from engine.capacity.los import icu_los, lognormal_los
from engine.capacity.sample import sample_admissions_csv
from tests.e2e.conftest import goto_page, login
from tests.e2e.waits import app_text, rerun, wait_for_run, wait_for_text

pytestmark = pytest.mark.e2e


def _tab(page, name: str) -> None:
    """st.tabs switch in the browser (no rerun): the caller then waits for the element it reads."""
    page.get_by_role("tab", name=name).click()


def test_manager_forecasts_sizes_beds_and_downloads_a_roster(page, e2e_server, e2e_users, tmp_path):
    # SYNTHETIC arrivals; ICU stays resampled from the real PhysioNet 2012 lengths of stay.
    upload = tmp_path / "admissions_export.csv"
    upload.write_bytes(sample_admissions_csv(weeks=12, units={"ICU": (0.6, icu_los()),
                                                              "HDU": (0.8, lognormal_los(3.0, 0.9))}))
    manager, password = e2e_users["manager"]
    login(page, e2e_server, manager, password)
    goto_page(page, "Capacity")
    with rerun(page):  # the upload's rerun, once the file has been sent
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(upload))
    wait_for_text(page, "stays read from")
    with rerun(page):
        page.get_by_role("button", name="Forecast census").click()
    wait_for_text(page, "Forecast ready")

    _tab(page, "Forecast")
    page.get_by_role("heading", name="Census forecast: ICU").wait_for()
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
    assert "90% band" in app_text(page)

    _tab(page, "Beds")
    with rerun(page):
        page.get_by_role("button", name="Size beds").click()
    wait_for_text(page, "Beds needed")
    page.get_by_role("heading", name="Beds: ICU").wait_for()

    _tab(page, "Roster")
    with rerun(page):
        page.get_by_role("button", name="Build roster").click()
    wait_for_text(page, "Roster for 30 nurses x 28 days")
    with rerun(page), page.expect_download() as info:  # the button's on_click (an audit row) reruns the app
        page.get_by_role("button", name="Download roster (CSV)").click()
    rows = list(csv.reader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
    assert rows[0][0] == "nurse" and len(rows[0]) == 29 and len(rows) == 31
    assert {r[0] for r in rows[1:]} == {f"N{i:02d}" for i in range(1, 31)}
    assert "S0000" not in "".join(",".join(r) for r in rows)  # staff labels only, no patient numbers


def test_clinician_cannot_open_capacity(page, e2e_server, e2e_users):
    clinician, password = e2e_users["clinician"]
    login(page, e2e_server, clinician, password)
    nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
    assert "Capacity" not in nav
    page.goto(f"{e2e_server}/capacity")  # a typed URL: the session cookie keeps the user; the page refuses plainly
    page.get_by_text(REFUSAL).wait_for()
    wait_for_run(page)
    body = app_text(page)
    assert "Census forecast" not in body and "Admissions export" not in body
