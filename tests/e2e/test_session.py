"""Sessions in a real browser (issue 12): a reload or a deep link keeps the signed-in user; log-out ends it.

The cookie is set by the server's session route after log-in; each test waits for that response (the
app's own event), never for a fixed time, before reloading.
"""
from __future__ import annotations

import pytest

from pages.components.session import REFUSAL
from tests.e2e.conftest import goto_page, login
from tests.e2e.waits import app_text, open_url, reload, rerun, wait_for_run, wait_for_text

pytestmark = pytest.mark.e2e
COOKIE = "clinsight_session"


def login_with_cookie(page, url: str, username: str, password: str) -> None:
    login(page, url, username, password)  # waits for the cookie hand-over too


def _no_page_not_found(page) -> None:
    assert page.get_by_text("Page not found").count() == 0


def test_reload_keeps_the_user_signed_in_on_the_same_page(page, e2e_server, e2e_users):
    username, password = e2e_users["clinician"]
    login_with_cookie(page, e2e_server, username, password)
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    goto_page(page, "Predict")
    page.get_by_role("heading", name="Predict").wait_for()
    reload(page)
    wait_for_text(page, f"Signed in as {username}")
    assert page.url.rstrip("/").endswith("/predict")
    assert page.get_by_role("heading", name="Predict").is_visible()
    assert page.get_by_role("button", name="Log in").count() == 0
    _no_page_not_found(page)


def test_logout_then_reload_shows_the_login_form(page, e2e_server, e2e_users):
    username, password = e2e_users["analyst"]
    login_with_cookie(page, e2e_server, username, password)
    stolen = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    with page.expect_response(lambda r: r.url.endswith("/_clinsight/session") and r.request.method == "DELETE"):
        with rerun(page):
            page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="Log in").wait_for()
    reload(page)
    page.get_by_role("textbox", name="Username", exact=True).wait_for()
    assert page.get_by_text(f"Signed in as {username}").count() == 0
    # A copy of the cookie kept from before the log-out opens nothing: the server revoked its session.
    page.context.add_cookies([stolen])
    reload(page)
    page.get_by_role("textbox", name="Username", exact=True).wait_for()
    assert page.get_by_text(f"Signed in as {username}").count() == 0
    _no_page_not_found(page)


def test_deep_link_lands_on_the_page_after_login(page, e2e_server, e2e_users):
    username, password = e2e_users["admin"]
    open_url(page, f"{e2e_server}/models")
    page.get_by_role("textbox", name="Username", exact=True).wait_for()
    _no_page_not_found(page)
    login_with_cookie(page, f"{e2e_server}/models", username, password)
    page.get_by_role("heading", name="Models").first.wait_for()
    assert page.url.rstrip("/").endswith("/models")
    _no_page_not_found(page)


def test_forbidden_page_says_not_available_for_your_role(page, e2e_server, e2e_users):
    username, password = e2e_users["clinician"]
    login_with_cookie(page, e2e_server, username, password)
    page.goto(f"{e2e_server}/admin")  # typed URL: a new connection, signed in again by the cookie
    page.get_by_text(REFUSAL).wait_for()
    wait_for_run(page)
    body = app_text(page)
    assert "Administration" not in body and "New username" not in body
    assert page.get_by_text(f"Signed in as {username}").is_visible()
    _no_page_not_found(page)


def test_disabling_the_user_ends_the_open_session(page, e2e_server, e2e_db):
    from engine import auth
    from engine.store import connect

    db = connect(e2e_db)
    auth.create_user(db, "soon_gone", "a long enough password", "clinician", actor=None)
    db.conn.close()
    login_with_cookie(page, e2e_server, "soon_gone", "a long enough password")
    db = connect(e2e_db)
    try:
        admins = [u["username"] for u in auth.list_users(db) if u["role"] == "admin"]
        auth.set_disabled(db, "soon_gone", True, actor=admins[0])
    finally:
        db.conn.close()
    reload(page)
    page.get_by_role("textbox", name="Username", exact=True).wait_for()
    assert page.get_by_text("Signed in as soon_gone").count() == 0
