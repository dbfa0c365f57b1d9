"""Real-browser harness: a `streamlit run` server on a temp store + Playwright driving Debian's Chromium.

- ``start_server(db_path)``: context manager yielding the base URL of a fresh server (use it when a test
  needs the server's *first* request, e.g. the legacy-multipage deep-link check).
- ``e2e_server`` (module): one server per test module, on the module's own copy (``e2e_db``) of a store
  seeded with the demo data and three users, one per role; ``e2e_users[role] == (username, password)``
  (random passwords made per run). Tests in one module share that store; modules never share one.
- ``page`` (function): a new browser context (1280x1400 viewport, run tracker installed, see waits.py)
  and page; a screenshot is saved to ``test-artifacts/<test name>.png`` at the end of each test.
- ``login(page, base_url, username, password)``: fills the login form and waits for the signed-in app.
- ``goto_page(page, title)``: opens a page through the sidebar and waits for its run to finish.
Every wait is in waits.py: on the app's state, never on the clock.
"""
from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest

from tests.e2e.waits import RUN_TIMEOUT_MS, new_context, open_url, rerun, wait_for_text
from tests.servers import running_streamlit as start_server  # noqa: F401 - re-exported for the tests

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def e2e_users() -> dict[str, tuple[str, str]]:
    from engine.roles import ROLES

    return {role: (f"e2e_{role}", secrets.token_urlsafe(16)) for role in ROLES}


@pytest.fixture(scope="session")
def e2e_template(tmp_path_factory, seeded_db_template, e2e_users) -> Path:
    """The seeded store with the three role users, made once (argon2 is slow on purpose); never served."""
    from engine import auth
    from engine.store import connect

    path = tmp_path_factory.mktemp("e2e-template") / "clinsight.db"
    shutil.copy(seeded_db_template, path)
    db = connect(path)
    for role, (username, password) in e2e_users.items():
        auth.create_user(db, username, password, role, actor=None)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return path


@pytest.fixture(scope="module")
def e2e_db(tmp_path_factory, e2e_template) -> Path:
    """This module's private copy of the template store."""
    path = tmp_path_factory.mktemp("e2e") / "clinsight.db"
    shutil.copy(e2e_template, path)
    return path


@pytest.fixture(scope="module")
def e2e_server(e2e_db) -> str:
    with start_server(e2e_db) as base:
        yield base


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: run `make test` (it installs it) or `make chromium`.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = new_context(browser)
    page = context.new_page()
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    except Exception:  # a screenshot is a convenience, never a reason to fail
        pass
    context.close()


def is_cookie_handover(response) -> bool:
    """The session route's answer that sets the HttpOnly session cookie after a log-in (issue 12)."""
    return response.url.endswith("/_clinsight/session") and response.request.method == "POST"


def login(page, base_url: str, username: str, password: str) -> None:
    """Log in and wait until signed in *and* the session cookie is set (a reload or typed URL then keeps it)."""
    open_url(page, base_url)
    page.get_by_role("textbox", name="Username", exact=True).fill(username)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    with page.expect_response(is_cookie_handover, timeout=RUN_TIMEOUT_MS) as handover:
        with rerun(page):
            page.get_by_role("button", name="Log in").click()
    assert handover.value.status == 200
    wait_for_text(page, f"Signed in as {username}")


def goto_page(page, title: str) -> None:
    """Open a page through the sidebar navigation (keeps the session, as a user would)."""
    with rerun(page):
        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
