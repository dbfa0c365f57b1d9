"""Server-side browser sessions and the signed cookie that names one.

Why this shape: Streamlit keeps a signed-in user in per-connection memory, so a reload (a new
WebSocket) used to sign the user out. The browser now keeps a cookie, and the server decides:

1. Log-in (in the Streamlit script) creates a ``web_sessions`` row and a one-time *ticket* (random,
   valid for ``session_ticket_seconds``, stored as a SHA-256 hash).
2. The page hands the ticket to ``POST /_clinsight/session`` (see :mod:`engine.websession.routes`), which
   burns it and answers with ``Set-Cookie``: HttpOnly (page scripts cannot read it), SameSite=Strict,
   Path=/, Secure over HTTPS, expiring with the session. Streamlit scripts cannot set such a cookie
   themselves (issue streamlit/streamlit#861); an HTTP route served beside the app can.
3. A new connection (reload, deep link, new tab) presents the cookie in its WebSocket handshake;
   :func:`resume_from_cookie` checks the HMAC signature and expiry, then the row: not revoked, not idle
   past ``session_idle_minutes``, within ``session_absolute_hours``, user present and enabled. The role is
   read from the user row every time, so a role change applies at once.
4. Log-out, idle expiry, disabling the user and a password reset revoke the row: the cookie then opens
   nothing, even if a copy of it survives in some browser.

The cookie holds a random id (256 bits), its expiry and a signature; the store keeps only the id's
SHA-256. The signing key is generated once per store and kept in its ``secrets`` table.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from engine import audit
from engine.auth import User
from engine.config import get_settings
from engine.store import Database, transaction
from engine.store import records as secret_rows
from engine.store import users as user_rows
from engine.store import web_sessions as rows

ROUTE_PATH = "/_clinsight/session"
SIGNING_KEY_NAME = "web_session_signing_key"
TOUCH_EVERY = timedelta(seconds=30)  # last-seen is written at most this often (a write per rerun is wasteful)


@dataclass(frozen=True)
class WebSession:
    """A live browser session: its row id and the user as the store sees them now."""

    id: int
    user: User


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _signing_key(db: Database) -> bytes:
    key = secret_rows.read_secret(db, SIGNING_KEY_NAME)
    if key is None:
        with transaction(db):
            key = secret_rows.read_secret(db, SIGNING_KEY_NAME)
            if key is None:
                key = secrets.token_hex(32)
                secret_rows.insert_secret(db, SIGNING_KEY_NAME, key)
    return bytes.fromhex(key)


def _signature(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def start_session(db: Database, username: str, *, now: datetime | None = None) -> tuple[int, str]:
    """Create the server-side session of a user who has just logged in; return (session id, ticket)."""
    settings = get_settings()
    now = _now(now)
    ticket = secrets.token_urlsafe(32)
    with transaction(db):
        user = user_rows.get_user(db, username)
        if user is None:
            raise LookupError("start_session is called only after a successful login")
        session_id = rows.insert_session(
            db, user_id=user["id"], ticket_hash=_sha256(ticket),
            ticket_expires_at=_iso(now + timedelta(seconds=settings.session_ticket_seconds)), now=_iso(now),
            expires_at=_iso(now + timedelta(hours=settings.session_absolute_hours)))
    return session_id, ticket


def redeem_ticket(db: Database, ticket: str, *, now: datetime | None = None) -> tuple[str, int] | None:
    """Exchange a one-time ticket for the signed cookie value and its max-age in seconds; None if not valid."""
    now = _now(now)
    if not ticket or len(ticket) > 200:
        return None
    with transaction(db):
        row = rows.find_by_ticket(db, _sha256(ticket))
        if row is None or row["revoked_at"] or not row["ticket_expires_at"] \
                or datetime.fromisoformat(row["ticket_expires_at"]) < now:
            return None
        cookie_id = secrets.token_urlsafe(32)
        rows.set_cookie_hash(db, row["id"], _sha256(cookie_id))
    expires = datetime.fromisoformat(row["expires_at"])
    payload = f"{cookie_id}.{int(expires.timestamp())}"
    value = f"{payload}.{_signature(_signing_key(db), payload)}"
    return value, max(0, int((expires - now).total_seconds()))


def _verified_cookie_id(db: Database, value: str, now: datetime) -> str | None:
    parts = (value or "").split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    cookie_id, expires, signature = parts
    if not hmac.compare_digest(signature, _signature(_signing_key(db), f"{cookie_id}.{expires}")):
        return None
    if int(expires) < now.timestamp():
        return None
    return cookie_id


def _live(db: Database, row: dict | None, now: datetime) -> bool:
    """True while the row's session may be used; an expired one is revoked on the way (it never comes back)."""
    if row is None or row["revoked_at"]:
        return False
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    reason = None
    if row["disabled"]:
        reason = "user disabled"
    elif datetime.fromisoformat(row["expires_at"]) <= now:
        reason = "expired"
    elif now - datetime.fromisoformat(row["last_seen_at"]) > idle:
        reason = "idle"
    if reason:
        with transaction(db):
            rows.revoke(db, row["id"], _iso(now), reason)
        return False
    return True


def _touch(db: Database, row: dict, now: datetime) -> None:
    if now - datetime.fromisoformat(row["last_seen_at"]) >= TOUCH_EVERY:
        with transaction(db):
            rows.touch(db, row["id"], _iso(now))


def resume_from_cookie(db: Database, value: str | None, *, now: datetime | None = None) -> WebSession | None:
    """The session a reloaded page's cookie names, if it is still valid; audited as ``session.resume``."""
    now = _now(now)
    cookie_id = _verified_cookie_id(db, value or "", now)
    if cookie_id is None:
        return None
    row = rows.find_by_cookie(db, _sha256(cookie_id))
    if not _live(db, row, now):
        return None
    with transaction(db):
        rows.touch(db, row["id"], _iso(now))
        audit.record(db, username=row["username"], action="session.resume", target_type="session",
                     target_id=row["id"])
    return WebSession(row["id"], User(row["username"], row["role"]))


def check_session(db: Database, session_id: int, *, now: datetime | None = None) -> User | None:
    """The session's user (current role) while it is live, else None; keeps its last-seen time fresh."""
    now = _now(now)
    row = rows.get_session(db, session_id)
    if not _live(db, row, now):
        return None
    _touch(db, row, now)
    return User(row["username"], row["role"])


def end_session(db: Database, session_id: int, reason: str = "logout", *, username: str | None = None) -> None:
    """Revoke one session (log-out or idle expiry seen by the page); audited."""
    now = _iso(_now(None))
    with transaction(db):
        rows.revoke(db, session_id, now, reason)
        audit.record(db, username=username, action="logout" if reason == "logout" else "session.end",
                     target_type="session", target_id=session_id, details={"reason": reason})


def revoke_user_sessions(db: Database, username: str, reason: str) -> int:
    """Revoke every open session of ``username`` (joins the caller's transaction)."""
    return rows.revoke_for_user(db, username, _iso(_now(None)), reason)
