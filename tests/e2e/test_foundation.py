"""Foundation in a real browser: first admin, roles, deep links, lockout, logout."""
from __future__ import annotations

import re

from tests.e2e.conftest import goto_page, login, start_server, wait_for_app

PROTECTED = ["admin", "records", "patient", "predict", "imaging", "treatment", "explore", "models"]


def test_deep_links_as_first_request_show_only_the_login_form(tmp_path, browser, seeded_db_template):
    """DESIGN.md 4: a fresh server's first request for /admin runs pages/admin.py in legacy mode."""
    import shutil

    from engine import auth
    from engine.store import connect

    db_path = tmp_path / "fresh.db"
    shutil.copy(seeded_db_template, db_path)
    db = connect(db_path)
    auth.create_user(db, "someone", "a long enough password", "admin", actor=None)
    db.conn.close()
    for url_path in PROTECTED:
        with start_server(db_path) as base:
            context = browser.new_context(viewport={"width": 1280, "height": 1400})
            page = context.new_page()
            page.goto(f"{base}/{url_path}")
            page.get_by_role("textbox", name="Username", exact=True).wait_for(timeout=30_000)
            wait_for_app(page)
            body = page.locator('[data-testid="stApp"]').inner_text()
            assert "Administration" not in body and "Audit" not in body, url_path
            assert page.locator('[data-testid="stSidebarNav"]').count() == 0, url_path
            assert page.get_by_role("button", name="Log in").is_visible()
            context.close()


def test_first_start_creates_admin_then_form_is_gone(tmp_path, browser):
    db_path = tmp_path / "empty.db"
    with start_server(db_path) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 1400})
        page = context.new_page()
        page.goto(base)
        page.get_by_role("textbox", name="Admin username", exact=True).fill("founder")
        page.get_by_role("textbox", name="Admin password", exact=True).fill("a long enough password")
        page.get_by_role("textbox", name="Repeat password", exact=True).fill("a long enough password")
        page.get_by_role("button", name="Create administrator").click()
        page.get_by_text("Signed in as founder").wait_for()
        context.close()
        context = browser.new_context()
        page = context.new_page()
        page.goto(base)
        page.get_by_role("textbox", name="Username", exact=True).wait_for()
        assert page.get_by_role("textbox", name="Admin username", exact=True).count() == 0
        context.close()


def test_admin_adds_clinician_who_sees_only_clinician_pages(page, e2e_server, e2e_users):
    admin, admin_pw = e2e_users["admin"]
    login(page, e2e_server, admin, admin_pw)
    goto_page(page, "Admin")
    page.get_by_role("textbox", name="New username", exact=True).fill("nurse_jo")
    page.get_by_role("textbox", name="Initial password", exact=True).fill("a long enough password")
    page.get_by_role("button", name="Add user").click()
    page.get_by_text("Added nurse_jo as clinician").wait_for()
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("textbox", name="Username", exact=True).wait_for()

    login(page, e2e_server, "nurse_jo", "a long enough password")
    # With one page Streamlit hides the page list; the sidebar is there either way.
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "Admin" not in sidebar and "Explore" not in sidebar and "Models" not in sidebar
    assert page.get_by_role("heading", name="What you can do here").is_visible()

    # Typing the admin URL keeps the session (cookie) but shows nothing of the admin page ...
    page.goto(f"{e2e_server}/admin")
    wait_for_app(page)
    assert "Administration" not in page.locator('[data-testid="stApp"]').inner_text()


def test_five_wrong_passwords_lock_the_account(page, e2e_server, e2e_db):
    from engine import auth
    from engine.store import connect

    db = connect(e2e_db)
    auth.create_user(db, "lock_me", "the real password 1", "analyst", actor=None)
    db.conn.close()
    def attempts_recorded() -> int:
        db = connect(e2e_db)
        try:
            return db.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'login' AND username = 'lock_me'"
                                   ).fetchone()[0]
        finally:
            db.conn.close()

    page.goto(e2e_server)
    for attempt in range(5):
        page.get_by_role("textbox", name="Username", exact=True).fill("lock_me")
        page.get_by_role("textbox", name="Password", exact=True).fill(f"wrong password {attempt}")
        page.get_by_role("button", name="Log in").click()
        # Wait for the server to have handled this attempt before typing the next one.
        for _ in range(100):
            if attempts_recorded() == attempt + 1:
                break
            page.wait_for_timeout(100)
        wait_for_app(page)
    page.get_by_text(re.compile("locked for 15 minutes")).wait_for()
    # The right password is refused while locked.
    page.get_by_role("textbox", name="Username", exact=True).fill("lock_me")
    page.get_by_role("textbox", name="Password", exact=True).fill("the real password 1")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text(re.compile("account is locked")).wait_for()
    assert page.get_by_text("Signed in as lock_me").count() == 0
