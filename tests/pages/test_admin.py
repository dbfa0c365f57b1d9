"""Admin page: users (add, role, disable, reset) and the audit trail (filters, chain check, export)."""
from __future__ import annotations

import pytest

from engine import auth
from engine.errors import AuthError
from engine.store.users import get_user
from tests.pages.apptest_helpers import open_page

pytestmark = pytest.mark.both_backends  # the page on SQLite and PostgreSQL (issue 16)

PASSWORD = "a long enough password"


@pytest.fixture
def admin_db(fresh_db):
    auth.create_user(fresh_db, "root", PASSWORD, "admin", actor=None)
    auth.create_user(fresh_db, "carol", PASSWORD, "clinician", actor="root")
    return fresh_db


@pytest.mark.parametrize("role", ["clinician", "analyst", None])
def test_non_admins_never_see_admin_content(admin_db, role):
    at = open_page("admin", role=role)
    assert "Administration" not in [t.value for t in at.title]
    assert not any(t.label == "New username" for t in at.text_input)


def test_admin_adds_a_user(admin_db):
    at = open_page("admin", role="admin", username="root")
    form_inputs = {t.label: t for t in at.text_input}
    form_inputs["New username"].input("dave")
    form_inputs["Initial password"].input(PASSWORD)
    at.selectbox(key="add_user_role").select("analyst")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert not at.exception
    assert any("Added dave as analyst" in s.value for s in at.success)
    assert get_user(admin_db, "dave")["role"] == "analyst"


def test_admin_add_user_with_short_password_shows_error(admin_db):
    at = open_page("admin", role="admin", username="root")
    form_inputs = {t.label: t for t in at.text_input}
    form_inputs["New username"].input("dave")
    form_inputs["Initial password"].input("short")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert any("at least 10 characters" in e.value for e in at.error)
    assert get_user(admin_db, "dave") is None


def test_admin_changes_role_disables_and_resets(admin_db):
    at = open_page("admin", role="admin", username="root")
    at.selectbox(key="admin_target_user").select("carol")
    at.selectbox(key="admin_new_role").select("analyst")
    at.button(key="admin_change_role").click().run()
    assert get_user(admin_db, "carol")["role"] == "analyst"
    at.button(key="admin_toggle_disabled").click().run()
    assert get_user(admin_db, "carol")["disabled"] == 1
    at.text_input(key="admin_new_password").input("another long password")
    at.button(key="admin_reset_password").click().run()
    assert any("Password reset for carol" in s.value for s in at.success)


def test_audit_viewer_filters_and_verifies(admin_db):
    at = open_page("admin", role="admin", username="root")
    assert any("Audit chain verified" in s.value for s in at.success)
    at.selectbox(key="audit_action").select("user.create").run()
    table = at.dataframe[-1].value  # users table first, audit table last
    assert set(table["action"]) == {"user.create"}
    assert "prev_hash" not in table.columns


def test_admin_page_creates_an_api_token_shown_once(admin_db):
    from engine.api_tokens import list_tokens

    at = open_page("admin", role="admin", username="root")
    at.selectbox(key="api_token_user").select("carol")
    at.text_input(key="api_token_label").input("EHR bridge")
    next(b for b in at.button if "token" in b.label.lower() and "revoke" not in b.label.lower()).click().run()
    assert not at.exception
    shown = [c.value for c in at.code]
    assert len(shown) == 1 and shown[0].startswith("cst_")
    assert [t["username"] for t in list_tokens(admin_db)] == ["carol"]
    at.run()
    assert not any(c.value.startswith("cst_") for c in at.code)  # never shown twice


def test_reset_password_unlocks_and_the_table_shows_it_at_once(admin_db):
    """Issue 12: after 'Reset password (also unlocks)' the users table still said 'locked'."""
    for attempt in range(5):
        with pytest.raises(AuthError):
            auth.authenticate(admin_db, "carol", f"wrong password {attempt}")
    at = open_page("admin", role="admin", username="root")
    status = at.dataframe[0].value.set_index("username")["status"]
    assert status["carol"] == "locked"
    at.selectbox(key="admin_target_user").select("carol")
    at.text_input(key="admin_new_password").input("another long password")
    at.button(key="admin_reset_password").click().run()
    assert not at.exception
    assert any("Password reset for carol" in s.value for s in at.success)
    assert at.dataframe[0].value.set_index("username")["status"]["carol"] == "active"


def test_audit_chart_colours_ok_green_and_failed_red(admin_db):
    import json

    with pytest.raises(AuthError):
        auth.authenticate(admin_db, "carol", "wrong password 1")
    auth.authenticate(admin_db, "carol", PASSWORD)
    at = open_page("admin", role="admin", username="root")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)  # the audit tab's one chart
    colours = {trace["name"]: trace["marker"]["color"] for trace in spec["data"]}
    assert {"ok", "failed"} <= set(colours)

    def rgb(hex_colour: str) -> tuple[int, int, int]:
        return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))

    r, g, b = rgb(colours["ok"])
    assert g > r and g > b  # green-ish
    r, g, b = rgb(colours["failed"])
    assert r > g and r > b  # red
