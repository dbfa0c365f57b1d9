"""The access matrix in a real browser: each role's sidebar and pages, deep links, anonymous visits, expiry.

(The fresh-server first-request deep links for every protected URL are in test_foundation.py.)
"""
from __future__ import annotations

import pytest

from engine.roles import PAGE_ROLES, ROLES, can_open_page
from pages.components.navigation import available_specs
from tests.e2e.conftest import goto_page, login, start_server
from tests.e2e.waits import app_text, new_page, open_url, rerun, wait_for_text

from pages.components.session import REFUSAL  # noqa: E402
EXISTING = {spec.url_path: spec.title for spec in available_specs()}


def _sidebar_titles(page) -> set[str]:
    links = page.locator('[data-testid="stSidebarNav"] a')
    # Each link's text is "<icon name>\n\n<title>": keep the title.
    return {links.nth(i).inner_text().strip().splitlines()[-1].strip() for i in range(links.count())}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_exactly_its_pages_and_each_opens(page, e2e_server, e2e_users, role):
    username, password = e2e_users[role]
    login(page, e2e_server, username, password)
    allowed = {title for url, title in EXISTING.items() if can_open_page(role, url)}
    assert _sidebar_titles(page) == (allowed if len(allowed) > 1 else set())  # one page: Streamlit shows no nav
    for url, title in EXISTING.items():
        if can_open_page(role, url) and url:
            goto_page(page, title)
            body = app_text(page)
            assert REFUSAL not in body and "Please log in." not in body, (role, url)


@pytest.mark.parametrize("role", [r for r in ROLES if any(not can_open_page(r, u) for u in EXISTING)])
def test_typed_url_to_a_forbidden_page_shows_nothing_of_it(page, e2e_server, e2e_users, role):
    username, password = e2e_users[role]
    login(page, e2e_server, username, password)
    for url in EXISTING:
        if can_open_page(role, url):
            continue
        open_url(page, f"{e2e_server}/{url}")  # a typed URL: the cookie signs the user in; the page refuses plainly
        wait_for_text(page, REFUSAL)
        assert page.get_by_text("Page not found").count() == 0, (role, url)
        body = app_text(page)
        assert "Administration" not in body and "New username" not in body, (role, url)


def test_anonymous_visitor_gets_only_the_login_form_for_every_url(page, e2e_server):
    for url in PAGE_ROLES:
        open_url(page, f"{e2e_server}/{url}")
        page.get_by_role("textbox", name="Username", exact=True).wait_for()
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0, url
        assert page.get_by_role("button", name="Log in").is_visible(), url
        body = app_text(page)
        assert "Recent activity" not in body and "Administration" not in body, url


def test_idle_session_expires_in_the_browser(tmp_path, browser, seeded_db_template):
    """With a zero idle limit the very next run after login finds the session expired."""
    import shutil

    from engine import auth
    from engine.store import connect

    db_path = tmp_path / "expiry.db"
    shutil.copy(seeded_db_template, db_path)
    db = connect(db_path)
    auth.create_user(db, "sleepy", "a long enough password", "clinician", actor=None)
    db.conn.close()
    with start_server(db_path, env={"CLINSIGHT_SESSION_IDLE_MINUTES": "0"}) as base, new_page(browser) as page:
        open_url(page, base)
        page.get_by_role("textbox", name="Username", exact=True).fill("sleepy")
        page.get_by_role("textbox", name="Password", exact=True).fill("a long enough password")
        with rerun(page):
            page.get_by_role("button", name="Log in").click()
        wait_for_text(page, "Your session expired")  # the notice renders before the form: the run must end
        page.get_by_role("button", name="Log in").wait_for()
        assert page.get_by_role("button", name="Log in").is_visible()
        assert page.locator('[data-testid="stSidebarNav"]').count() == 0
