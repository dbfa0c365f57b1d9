"""Ward page (AppTest through app.py): roles, ranked stays, a timeline with NEWS2 and risk, alert acknowledgement.

Uses 40 real stays of PhysioNet 2012 set A (skipped with a reason when ../shared is absent).
"""
from __future__ import annotations

import json

import pytest

from engine.config import get_settings
from tests.pages.apptest_helpers import open_page

DATA = get_settings().icu_data_dir


@pytest.mark.parametrize("role", ["analyst", None])
def test_roles_without_ward_see_nothing(fresh_db, role):
    at = open_page("ward", role=role)
    assert "Ward" not in [t.value for t in at.title]


def test_empty_store_says_how_to_import(fresh_db):
    at = open_page("ward", role="clinician")
    assert not at.exception
    assert any("No ICU stays" in i.value for i in at.info)


@pytest.fixture
def icu_db(fresh_db):
    if not (DATA / "set-a").is_dir():
        pytest.skip(f"PhysioNet 2012 set A is not at {DATA} (set CLINSIGHT_ICU_DATA)")
    from engine.icu.seed import seed_icu

    assert seed_icu(fresh_db, limit=40) == 40
    return fresh_db


def test_clinician_sees_ranked_stays_timeline_and_acknowledges_an_alert(icu_db):
    at = open_page("ward", role="clinician", username="nurse")
    assert not at.exception
    assert [e.value for e in at.error if not e.value.startswith("Alert:")] == []  # the top stay's alert, nothing else
    table = at.dataframe[0].value
    assert len(table) == 40
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Stays"] == "40"
    # ranked: alerts first, then by risk
    labels = at.selectbox(key="ward_stay").options
    assert "ALERT" in labels[0]
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = {trace.get("name") for trace in figure["data"]}
    assert {"NEWS2 total", "risk"} <= names
    assert any("Heart rate" in (n or "") for n in names)
    # drivers read as clinical words ("Lactate, last value (mmol/L) = 2.1"), not feature names ("Lactate_last")
    drivers = json.loads(at.get("plotly_chart")[1].proto.spec)["data"][0]["y"]
    assert drivers and not any("_" in label for label in drivers)
    assert any(", " in label for label in drivers)
    # how well the model read stays at this hour: the card's out-of-fold figures by hour, in words and drawn
    assert any("h of data, cross-validated on set A: AUROC" in c.value for c in at.caption)
    by_hour = json.loads(at.get("plotly_chart")[2].proto.spec)
    assert {"AUROC", "sensitivity", "positive predictivity"} <= {t.get("name") for t in by_hour["data"]}
    # acknowledge: a reason is required, then it is stored and audited
    stay_id = at.selectbox(key="ward_stay").value
    at.button(key=f"ward_ack_{stay_id}").click().run()
    assert any("reason" in e.value for e in at.error)
    at.text_area(key=f"ward_ack_reason_{stay_id}").input("Reviewed with the intensivist; fluids started").run()
    at.button(key=f"ward_ack_{stay_id}").click().run()
    assert not at.exception
    row = icu_db.conn.execute("SELECT reason, username FROM icu_alert_acks").fetchone()
    assert row == ("Reviewed with the intensivist; fluids started", "nurse")
    assert icu_db.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'icu.alert_ack'").fetchone()[0] == 1
    assert any("Acknowledged by nurse" in i.value for i in at.info)
    assert at.text_area(key=f"ward_ack_reason_{stay_id}").value == ""  # the box is emptied after the save


def test_a_redraw_of_the_open_stay_writes_nothing_and_scores_nothing_again(icu_db, monkeypatch):
    """Issue 16: a rerun that redraws the open stay (typing an acknowledgement, any click) is a pure read:
    the stay's view is audited once per visit and its hours are not scored again (cached like the overview)."""
    import pages.ward as ward_page
    from tests.pages.apptest_helpers import StoreCounter

    scored = []
    original = ward_page.stay_timeline
    monkeypatch.setattr(ward_page, "stay_timeline", lambda *a, **k: scored.append(1) or original(*a, **k))
    at = open_page("ward", role="clinician", username="nurse")
    stay_id = at.selectbox(key="ward_stay").value
    views = "SELECT COUNT(*) FROM audit WHERE action = 'patient.view' AND username = 'nurse'"
    assert icu_db.conn.execute(views).fetchone()[0] == 1 and scored == [1]
    counter = StoreCounter().install(monkeypatch)
    at.text_area(key=f"ward_ack_reason_{stay_id}").input("Reviewed").run()
    at.run()
    assert not at.exception and at.get("plotly_chart")
    assert counter.writes == 0, counter.statements
    assert scored == [1]
    assert icu_db.conn.execute(views).fetchone()[0] == 1


def test_acknowledging_reruns_only_its_fragment_and_is_audited(icu_db, monkeypatch):
    """Issue 16: typing the reason and acknowledging run the acknowledgement fragment alone (the overview,
    timeline and drivers are not redrawn); the acknowledgement is stored, audited and listed."""
    import pages.ward as ward_page
    from tests.pages.apptest_helpers import run_fragment

    at = open_page("ward", role="clinician", username="nurse")
    stay_id = at.selectbox(key="ward_stay").value
    assert "ALERT" in at.selectbox(key="ward_stay").options[0]
    drawn = []
    original = ward_page.build_timeline_figure
    monkeypatch.setattr(ward_page, "build_timeline_figure", lambda *a, **k: drawn.append(1) or original(*a, **k))

    def acknowledge(a):
        a.text_area(key=f"ward_ack_reason_{stay_id}").input("Reviewed; fluids started")
        a.button(key=f"ward_ack_{stay_id}").click()

    run_fragment(at, ward_page.ACK_FRAGMENT, acknowledge)
    assert not at.exception
    assert drawn == []
    assert any("Acknowledged by nurse" in i.value for i in at.info)
    assert icu_db.conn.execute("SELECT reason FROM icu_alert_acks").fetchall() == [("Reviewed; fluids started",)]
    assert icu_db.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'icu.alert_ack'").fetchone()[0] == 1


def test_an_expired_session_cannot_acknowledge_from_an_open_tab(icu_db):
    """A button's callback runs before app.py's gate and the page's check: it must check the session itself.
    The tab was open when the session expired; pressing Acknowledge stores nothing and shows the log-in page."""
    from datetime import datetime, timedelta, timezone

    from pages.components.session import LAST_SEEN_KEY

    at = open_page("ward", role="clinician", username="nurse")
    stay_id = at.selectbox(key="ward_stay").value
    at.text_area(key=f"ward_ack_reason_{stay_id}").input("Reviewed with the intensivist").run()
    at.session_state[LAST_SEEN_KEY] = datetime.now(timezone.utc) - timedelta(days=1)
    at.button(key=f"ward_ack_{stay_id}").click().run()
    assert not at.exception
    assert icu_db.conn.execute("SELECT COUNT(*) FROM icu_alert_acks").fetchone()[0] == 0
    assert icu_db.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'icu.alert_ack'").fetchone()[0] == 0
    assert any("session expired" in i.value for i in at.info)
