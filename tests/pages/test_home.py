"""Home page: what each role can do, store counts, recent activity; the login gate in front of it."""
from __future__ import annotations

import json

import pytest

from engine import auth
from tests.pages.apptest_helpers import open_page, registered_url_paths

pytestmark = pytest.mark.both_backends  # the page on SQLite and PostgreSQL (issue 16)

EXPECTED_NAV = {
    "clinician": {"", "records", "patient", "predict", "imaging", "treatment", "ward"},
    "analyst": {"", "records", "explore", "models"},
    "admin": {"", "records", "patient", "predict", "imaging", "treatment", "explore", "models", "admin", "capacity",
              "ward"},
}


def test_first_start_shows_only_the_create_admin_form(db_path):
    at = open_page("", role=None)
    assert [t.label for t in at.text_input] == ["Admin username", "Admin password", "Repeat password"]
    at.text_input[0].input("root")
    at.text_input[1].input("a long enough password")
    at.text_input[2].input("a long enough password")
    at.button[0].click().run()
    assert not at.exception
    assert "Administration" in [p["page_name"] for p in at._registered_pages.values()] or \
        "admin" in registered_url_paths(at)


def test_login_form_once_a_user_exists(fresh_db):
    auth.create_user(fresh_db, "alice", "a long enough password", "clinician", actor=None)
    at = open_page("", role=None)
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    at.text_input[0].input("alice")
    at.text_input[1].input("wrong password here")
    at.button[0].click().run()
    assert at.error and "Wrong username or password" in at.error[0].value
    at.text_input[1].input("a long enough password")
    at.button[0].click().run()
    assert [t.value for t in at.title] == ["ClinSight"]
    assert "Signed in as **alice** (clinician)" in [c.value for c in at.sidebar.caption]


@pytest.mark.parametrize("role", ["clinician", "analyst", "admin"])
def test_home_per_role(seeded_db, role):
    at = open_page("", role=role)
    assert not at.exception
    available = set(registered_url_paths(at))
    # Pages still being built are absent; never a page the role may not open.
    assert available <= EXPECTED_NAV[role]
    assert "" in available
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Patients"] == "2,556"
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["data"][0]["type"] == "bar"


def test_recent_activity_is_own_for_non_admins(seeded_db):
    from engine import audit

    audit.record(seeded_db, username="someone_else", action="patient.view", target_type="patient", target_id="x")
    at = open_page("", role="clinician", username="alice")
    assert any("No activity recorded yet" in i.value for i in at.info)
    at = open_page("", role="admin", username="root")
    assert not any("No activity recorded yet" in i.value for i in at.info)


def test_log_out_returns_to_login(fresh_db):
    auth.create_user(fresh_db, "alice", "a long enough password", "clinician", actor=None)
    at = open_page("", role="clinician", username="alice")
    next(b for b in at.sidebar.button if b.label == "Log out").click().run()
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert any("logged out" in i.value for i in at.info)
