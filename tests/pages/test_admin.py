"""Admin page: users (add, role, disable, reset) and the audit trail (filters, chain check, export)."""
from __future__ import annotations

import pytest

from engine import auth
from engine.store.users import get_user
from tests.pages.apptest_helpers import open_page

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
