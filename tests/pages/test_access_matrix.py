"""The access-control matrix in AppTest: every page x every role (and an anonymous visitor).

For each page listed in ``navigation.PAGE_SPECS`` whose module exists, each role
either sees the page's content (the role is in ``engine.roles.PAGE_ROLES``) or
sees only the refusal; an anonymous visitor sees only "Please log in." The
per-page guard (``require_page``) is also checked for every URL in PAGE_ROLES,
including pages not built yet; a deep link through app.py reaches a page's render only
for allowed roles; and running a page *file* on its own (Streamlit's legacy multipage
mode, DESIGN.md section 4) shows only the login gate.
Session expiry is checked here too.
"""
from __future__ import annotations

import importlib
import importlib.util
from datetime import datetime, timedelta, timezone

import pytest
from streamlit.testing.v1 import AppTest

from engine.config import REPO_ROOT
from engine.roles import PAGE_ROLES, ROLES, can_open_page
from pages.components.navigation import PAGE_SPECS, available_specs, specs_for_role
from pages.components.session import LAST_SEEN_KEY, USER_KEY
from tests.pages.apptest_helpers import APPTEST_DEADLINE_S

from pages.components.session import REFUSAL  # noqa: E402
LOGIN_PROMPT = "Please log in."
VISITORS = (*ROLES, None)  # None: anonymous

PAGE_SCRIPT = """
from pages.components.navigation import PAGE_SPECS, render_function
spec = next(s for s in PAGE_SPECS if s.url_path == {url!r})
render_function(spec)()
"""

def _run(script: str, role: str | None, *, last_seen: datetime | None = None) -> AppTest:
    at = AppTest.from_string(script, default_timeout=APPTEST_DEADLINE_S)
    if role is not None:
        at.session_state[USER_KEY] = {"username": f"matrix_{role}", "role": role}
        at.session_state[LAST_SEEN_KEY] = last_seen or datetime.now(timezone.utc)
    return at.run()


def _content_elements(at: AppTest) -> list:
    """Everything a page could show besides the one refusal message."""
    kinds = ("title", "header", "subheader", "markdown", "caption", "dataframe", "table", "metric", "text_input",
             "button", "selectbox", "plotly_chart", "info", "success", "json", "code")
    found = []
    for kind in kinds:
        try:
            found.extend(at.get(kind))
        except Exception:  # noqa: BLE001 - a kind this Streamlit version does not index
            continue
    return found


def _assert_refused(at: AppTest, expected: str) -> None:
    assert not at.exception, at.exception
    messages = [e.value for e in at.error] + [w.value for w in at.warning]
    assert messages == [expected], messages
    assert _content_elements(at) == [], [type(e).__name__ for e in _content_elements(at)]


EXISTING = [spec.url_path for spec in available_specs()]


@pytest.mark.parametrize("visitor", VISITORS, ids=lambda v: v or "anonymous")
@pytest.mark.parametrize("url", EXISTING, ids=lambda u: u or "home")
def test_existing_page_shows_content_or_refusal(url, visitor, seeded_db):
    at = _run(PAGE_SCRIPT.format(url=url), visitor)
    if visitor is None:
        _assert_refused(at, LOGIN_PROMPT)
    elif can_open_page(visitor, url):
        assert not at.exception, at.exception
        assert REFUSAL not in [e.value for e in at.error] and LOGIN_PROMPT not in [w.value for w in at.warning]
        assert _content_elements(at), "an allowed role saw an empty page"
    else:
        _assert_refused(at, REFUSAL)


class _Stopped(Exception):
    pass


class _FakeStreamlit:
    """Just what ``require_page`` touches: session state, warning, error, stop (records instead of rendering)."""

    def __init__(self, state: dict) -> None:
        self.session_state = state
        self.shown: list[str] = []

    def warning(self, text: str) -> None:
        self.shown.append(text)

    def error(self, text: str) -> None:
        self.shown.append(text)

    def stop(self):
        raise _Stopped()


@pytest.mark.parametrize("visitor", VISITORS, ids=lambda v: v or "anonymous")
def test_page_guard_for_every_url(visitor, monkeypatch):
    """The guard each page calls first, for every URL in the role table (built or not), for every visitor.

    Done without AppTest (36 script runs would cost half a minute); the AppTest cases above show the
    same guard rendering inside real pages.
    """
    from pages.components import session

    for url in PAGE_ROLES:
        state = {}
        if visitor is not None:
            state = {USER_KEY: {"username": "m", "role": visitor}, LAST_SEEN_KEY: datetime.now(timezone.utc)}
        fake = _FakeStreamlit(state)
        monkeypatch.setattr(session, "st", fake)
        try:
            user = session.require_page(url)
            outcome = "content"
        except _Stopped:
            outcome = "refused"
        if visitor is None:
            assert (outcome, fake.shown) == ("refused", [LOGIN_PROMPT]), url
        elif can_open_page(visitor, url):
            assert (outcome, fake.shown, user.role) == ("content", [], visitor), url
        else:
            assert (outcome, fake.shown) == ("refused", [REFUSAL]), (url, visitor)


@pytest.mark.parametrize("spec", available_specs(), ids=lambda s: s.url_path or "home")
def test_page_file_run_on_its_own_shows_only_the_login_gate(spec, seeded_db):
    """Legacy multipage mode runs pages/<name>.py directly (DESIGN.md section 4): signed out, that must show
    the login form and nothing of the page."""
    from engine import auth

    auth.create_user(seeded_db, "matrixadmin", "matrix-password-1", "admin", actor=None)
    origin = importlib.util.find_spec(spec.module).origin
    at = AppTest.from_file(origin, default_timeout=APPTEST_DEADLINE_S).run()
    assert not at.exception, at.exception
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert not at.metric and not at.dataframe and not at.get("plotly_chart")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url", [u for u in EXISTING if u], ids=str)
def test_deep_link_through_the_app(url, role, seeded_db, monkeypatch):
    """Through app.py, as a typed-in deep link: the page's render runs only for allowed roles (spied on)."""
    from tests.pages.apptest_helpers import open_page, registered_url_paths

    spec = next(s for s in PAGE_SPECS if s.url_path == url)
    module = importlib.import_module(spec.module)
    calls = []
    original = module.render

    def spy() -> None:
        calls.append(url)
        original()

    monkeypatch.setattr(module, "render", spy)
    at = open_page(url, role=role)
    assert not at.exception, at.exception
    refused = REFUSAL in [e.value for e in at.error]
    if can_open_page(role, url):
        assert calls and not refused and url in registered_url_paths(at)
    else:
        assert url not in registered_url_paths(at)
        assert not calls or refused  # never reached, or reached and refused by the page's own guard


@pytest.mark.parametrize("role", ROLES)
def test_navigation_lists_exactly_the_allowed_pages(role):
    listed = {spec.url_path for spec in specs_for_role(role)}
    assert listed == {url for url in EXISTING if can_open_page(role, url)}


def test_manager_sees_only_home_and_capacity_and_only_managers_and_admins_see_capacity():
    """Issue 17: the unit manager's role is deliberately narrow; clinicians and analysts never plan capacity."""
    assert {spec.url_path for spec in specs_for_role("manager")} == {"", "capacity"}
    assert {role for role in ROLES if can_open_page(role, "capacity")} == {"manager", "admin"}


def test_every_page_spec_is_in_the_role_table():
    assert {spec.url_path for spec in PAGE_SPECS} <= set(PAGE_ROLES)


def test_anonymous_app_shows_only_the_login_form(seeded_db):
    from engine import auth

    auth.create_user(seeded_db, "matrixadmin", "matrix-password-1", "admin", actor=None)
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=APPTEST_DEADLINE_S).run()
    assert not at.exception, at.exception
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert not at.dataframe and not at.metric


def test_expired_session_is_signed_out(seeded_db, monkeypatch):
    monkeypatch.setenv("CLINSIGHT_SESSION_IDLE_MINUTES", "30")
    stale = datetime.now(timezone.utc) - timedelta(minutes=31)
    at = _run(PAGE_SCRIPT.format(url=""), "admin", last_seen=stale)
    _assert_refused(at, LOGIN_PROMPT)
    assert USER_KEY not in at.session_state
    fresh = datetime.now(timezone.utc) - timedelta(minutes=29)
    at = _run(PAGE_SCRIPT.format(url=""), "admin", last_seen=fresh)
    assert not at.warning and _content_elements(at)


def test_expired_session_in_the_app_returns_to_login_with_notice(seeded_db):
    from engine import auth

    auth.create_user(seeded_db, "matrixadmin", "matrix-password-1", "admin", actor=None)
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=APPTEST_DEADLINE_S)
    at.session_state[USER_KEY] = {"username": "matrixadmin", "role": "admin"}
    at.session_state[LAST_SEEN_KEY] = datetime.now(timezone.utc) - timedelta(hours=5)
    at.run()
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert any("expired" in i.value for i in at.info)
