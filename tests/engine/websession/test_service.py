"""Server-side browser sessions (issue 12): the cookie is signed and expiring, and the server's row decides.

Times are passed in explicitly, so expiry is tested without waiting.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from engine import auth
from engine.websession import (ROUTE_PATH, check_session, end_session, redeem_ticket, resume_from_cookie,
                               start_session)
from engine.websession.routes import session_routes

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)

PASSWORD = "a long enough password"
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def users(fresh_db):
    auth.create_user(fresh_db, "root", PASSWORD, "admin", actor=None)
    auth.create_user(fresh_db, "cleo", PASSWORD, "clinician", actor="root")
    return fresh_db


def signed_in(db, username: str = "cleo", now: datetime = T0) -> tuple[int, str]:
    session_id, ticket = start_session(db, username, now=now)
    cookie, max_age = redeem_ticket(db, ticket, now=now)
    assert max_age == 12 * 3600
    return session_id, cookie


def test_cookie_resumes_the_session_with_the_current_role(users):
    session_id, cookie = signed_in(users)
    resumed = resume_from_cookie(users, cookie, now=T0 + timedelta(minutes=5))
    assert resumed.id == session_id and resumed.user == auth.User("cleo", "clinician")
    auth.set_role(users, "cleo", "analyst", actor="root")
    assert resume_from_cookie(users, cookie, now=T0 + timedelta(minutes=6)).user.role == "analyst"
    stored = users.conn.execute("SELECT cookie_hash, ticket_hash FROM web_sessions").fetchone()
    assert cookie.split(".")[0] not in str(stored) and stored[1] is None  # hashes only; the ticket is burnt


def test_a_ticket_works_once_and_only_for_a_minute(users):
    _, ticket = start_session(users, "cleo", now=T0)
    assert redeem_ticket(users, ticket, now=T0 + timedelta(seconds=61)) is None
    _, ticket = start_session(users, "cleo", now=T0)
    assert redeem_ticket(users, ticket, now=T0) is not None
    assert redeem_ticket(users, ticket, now=T0) is None
    assert redeem_ticket(users, "made-up", now=T0) is None


def test_a_tampered_or_expired_cookie_opens_nothing(users):
    _, cookie = signed_in(users)
    cookie_id, expires, signature = cookie.split(".")
    later = str(int(expires) + 86400)
    assert resume_from_cookie(users, f"{cookie_id}.{later}.{signature}", now=T0) is None  # expiry extended
    assert resume_from_cookie(users, f"{cookie_id}x.{expires}.{signature}", now=T0) is None
    assert resume_from_cookie(users, "garbage", now=T0) is None and resume_from_cookie(users, None) is None
    assert resume_from_cookie(users, cookie, now=T0 + timedelta(hours=12, seconds=1)) is None  # absolute limit


def test_idle_past_the_limit_ends_the_session_for_good(users):
    session_id, cookie = signed_in(users)
    assert check_session(users, session_id, now=T0 + timedelta(minutes=29)) is not None
    assert resume_from_cookie(users, cookie, now=T0 + timedelta(minutes=29 + 31)) is None
    assert resume_from_cookie(users, cookie, now=T0 + timedelta(minutes=29 + 32)) is None  # revoked, not revived
    assert users.conn.execute("SELECT revoked_reason FROM web_sessions").fetchone()[0] == "idle"


@pytest.mark.parametrize("how", ["logout", "disable", "reset"])
def test_logout_disabling_and_password_reset_revoke(users, how):
    session_id, cookie = signed_in(users)
    if how == "logout":
        end_session(users, session_id, username="cleo")
    elif how == "disable":
        auth.set_disabled(users, "cleo", True, actor="root")
    else:
        auth.reset_password(users, "cleo", "another long password", actor="root")
    now = datetime.now(timezone.utc)
    assert resume_from_cookie(users, cookie, now=now) is None
    assert check_session(users, session_id, now=now) is None


def test_route_sets_an_httponly_samesite_cookie_and_refuses_other_sites(users):
    _, ticket = start_session(users, "cleo")
    with TestClient(Starlette(routes=session_routes()), base_url="http://127.0.0.1:8501") as client:
        foreign = client.post(ROUTE_PATH, json={"ticket": ticket}, headers={"Origin": "http://evil.example"})
        assert foreign.status_code == 403
        answer = client.post(ROUTE_PATH, json={"ticket": ticket}, headers={"Origin": "http://127.0.0.1:8501"})
        assert answer.status_code == 200
        header = answer.headers["set-cookie"].lower()
        assert header.startswith("clinsight_session=") and "httponly" in header and "samesite=strict" in header
        assert "path=/" in header and "max-age=" in header
        cookie = answer.cookies["clinsight_session"]
        assert resume_from_cookie(users, cookie).user.username == "cleo"
        assert client.post(ROUTE_PATH, json={"ticket": ticket}).status_code == 401  # single use
        assert client.post(ROUTE_PATH, content=b"x" * 5000).status_code == 401
        cleared = client.delete(ROUTE_PATH)
        assert cleared.status_code == 200 and "max-age=0" in cleared.headers["set-cookie"].lower()
