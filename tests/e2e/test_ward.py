"""Ward in a real browser: a clinician opens Ward, sees ranked stays, opens one timeline and acknowledges
an alert, which is stored and audited. Its own server, on a copy of the e2e store with 30 real ICU stays
of PhysioNet 2012 set A (skipped with a reason when ../shared is absent)."""
from __future__ import annotations

import shutil
import sqlite3

import pytest

from engine.config import get_settings
from tests.e2e.conftest import goto_page, login, start_server
from tests.e2e.waits import last_run_was_fragment, rerun, wait_for_text

REASON = "Seen with the intensivist: fluids and antibiotics started"


@pytest.fixture(scope="module")
def ward_server(e2e_db, tmp_path_factory):
    if not (get_settings().icu_data_dir / "set-a").is_dir():
        pytest.skip(f"PhysioNet 2012 set A is not at {get_settings().icu_data_dir} (set CLINSIGHT_ICU_DATA)")
    from engine.icu.seed import seed_icu
    from engine.store import connect

    path = tmp_path_factory.mktemp("ward") / "clinsight.db"
    shutil.copy(e2e_db, path)
    db = connect(path)
    seed_icu(db, limit=30)
    db.conn.close()
    with start_server(path) as base:
        yield base, path


def test_clinician_ranks_opens_timeline_and_acknowledges(page, ward_server, e2e_users):
    base, path = ward_server
    username, password = e2e_users["clinician"]
    login(page, base, username, password)
    goto_page(page, "Ward")
    page.get_by_role("heading", name="Ward").wait_for()
    page.get_by_text("Model alerts", exact=True).wait_for()
    # the first stay (highest-ranked) is open: its timeline with NEWS2 and risk panels
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.locator(".main-svg").first.wait_for(state="attached")
    # Plotly draws its panels' titles after the run has ended (and after .main-svg exists): wait for them.
    chart.filter(has_text="NEWS2").filter(has_text="Model risk of in-hospital death").filter(
        has_text="Heart rate").wait_for()
    html = chart.inner_html()
    assert "NEWS2" in html and "Model risk of in-hospital death" in html and "Heart rate" in html
    # how well the model read set A's stays at this hour (the card's out-of-fold figures by hour): said, and drawn
    page.get_by_text("h of data, cross-validated on set A: AUROC").wait_for()
    page.get_by_text("How well the model reads a stay at each hour").click()
    page.locator(".st-key-ward_by_hour").filter(has_text="Alert at the threshold").wait_for()
    page.get_by_text("Alert: risk").wait_for()
    box = page.get_by_role("textbox", name="Acknowledge this alert: what was done, or why no action")
    box.fill(REASON)
    with rerun(page):  # the text area sends its value (and reruns) on Ctrl+Enter
        box.press("Control+Enter")
    with rerun(page):
        page.get_by_role("button", name="Acknowledge alert").click()
    wait_for_text(page, f"Acknowledged by {username}")
    assert last_run_was_fragment(page)  # issue 16: the acknowledgement reruns alone, not the scored stay above
    assert box.input_value() == ""  # the reason box is emptied once the acknowledgement is stored
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT reason, username FROM icu_alert_acks").fetchall() == [(REASON, username)]
        assert conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'icu.alert_ack'").fetchone()[0] == 1


def test_analyst_cannot_open_ward(page, ward_server, e2e_users):
    base, _path = ward_server
    username, password = e2e_users["analyst"]
    login(page, base, username, password)
    assert page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Ward", exact=True).count() == 0
