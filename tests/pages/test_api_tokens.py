"""AppTest of the admin page's API-token section (pages/components/api_tokens.py), run on its own as a
signed-in admin: create a token (shown once), see it listed, revoke it; non-admins see a refusal only."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from streamlit.testing.v1 import AppTest

from engine import api_tokens, auth
from engine.errors import AuthError
from pages.components.session import LAST_SEEN_KEY, USER_KEY
from tests.pages.apptest_helpers import APPTEST_DEADLINE_S

PASSWORD = "correct horse battery"  # test-only, temp store


def _section() -> None:
    from pages.components.api_tokens import render_api_tokens_admin

    render_api_tokens_admin()


def _app(username: str, role: str) -> AppTest:
    at = AppTest.from_function(_section, default_timeout=APPTEST_DEADLINE_S)
    at.session_state[USER_KEY] = {"username": username, "role": role}
    at.session_state[LAST_SEEN_KEY] = datetime.now(timezone.utc)
    return at


@pytest.fixture
def people(fresh_db):
    auth.create_user(fresh_db, "ada", PASSWORD, "admin", actor=None)
    auth.create_user(fresh_db, "cleo", PASSWORD, "clinician", actor="ada")
    return fresh_db


def test_admin_creates_sees_once_and_revokes(people):
    at = _app("ada", "admin").run()
    assert not at.exception
    assert [i.value for i in at.info] == ["No API tokens yet."]
    at.selectbox(key="api_token_user").select("cleo")
    at.text_input(key="api_token_label").input("EHR bridge")
    at.button[0].click().run()  # the form's submit button
    assert not at.exception
    (shown,) = at.code
    token = shown.value
    assert api_tokens.authenticate_token(people, token).user == auth.User("cleo", "clinician")
    assert "shown only this once" in at.success[0].value
    listed = at.dataframe[0].value
    assert list(listed["user"]) == ["cleo"] and list(listed["status"]) == ["active"]
    assert token not in listed.to_csv()

    at.run()  # any later run: the token is gone from the screen
    assert len(at.code) == 0

    at.selectbox(key="api_token_revoke").select(api_tokens.list_tokens(people)[0]["id"])
    at.button(key="api_token_revoke_button").click().run()
    assert not at.exception
    assert "revoked" in at.success[0].value
    assert list(at.dataframe[0].value["status"]) == ["revoked"]
    with pytest.raises(AuthError):
        api_tokens.authenticate_token(people, token)


def test_non_admin_sees_only_a_refusal(people):
    api_tokens.create_token(people, "cleo", actor="ada")
    at = _app("cleo", "clinician").run()
    assert [e.value for e in at.error] == ["Only an administrator may manage API tokens."]
    assert len(at.dataframe) == 0 and len(at.button) == 0 and len(at.selectbox) == 0


def test_signed_out_sees_only_a_refusal(people):
    at = AppTest.from_function(_section, default_timeout=APPTEST_DEADLINE_S).run()
    assert [e.value for e in at.error] == ["Only an administrator may manage API tokens."]
