"""Browser session rows: the SQL behind :mod:`engine.websession` (hashes only, never cookies or tickets)."""
from __future__ import annotations

from typing import Any

from engine.store import Database

_COLUMNS = ("id", "user_id", "username", "role", "disabled", "cookie_hash", "ticket_expires_at", "created_at",
            "last_seen_at", "expires_at", "revoked_at", "revoked_reason")
_SELECT = ("SELECT s.id, s.user_id, u.username, u.role, u.disabled, s.cookie_hash, s.ticket_expires_at, "
           "s.created_at, s.last_seen_at, s.expires_at, s.revoked_at, s.revoked_reason "
           "FROM web_sessions s JOIN users u ON u.id = s.user_id")


def _one(db: Database, where: str, params: tuple) -> dict[str, Any] | None:
    row = db.conn.execute(f"{_SELECT} WHERE {where}", params).fetchone()
    return dict(zip(_COLUMNS, row)) if row else None


def insert_session(db: Database, *, user_id: int, ticket_hash: str, ticket_expires_at: str, now: str,
                   expires_at: str) -> int:
    cur = db.conn.execute(
        "INSERT INTO web_sessions (user_id, ticket_hash, ticket_expires_at, created_at, last_seen_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?)", (user_id, ticket_hash, ticket_expires_at, now, now, expires_at))
    return int(cur.lastrowid)


def get_session(db: Database, session_id: int) -> dict[str, Any] | None:
    return _one(db, "s.id = ?", (session_id,))


def find_by_ticket(db: Database, ticket_hash: str) -> dict[str, Any] | None:
    return _one(db, "s.ticket_hash = ?", (ticket_hash,))


def find_by_cookie(db: Database, cookie_hash: str) -> dict[str, Any] | None:
    return _one(db, "s.cookie_hash = ?", (cookie_hash,))


def set_cookie_hash(db: Database, session_id: int, cookie_hash: str) -> None:
    """Bind the cookie to the row and burn the ticket (a ticket is good for one exchange only)."""
    db.conn.execute("UPDATE web_sessions SET cookie_hash = ?, ticket_hash = NULL, ticket_expires_at = NULL "
                    "WHERE id = ?", (cookie_hash, session_id))


def touch(db: Database, session_id: int, now: str) -> None:
    db.conn.execute("UPDATE web_sessions SET last_seen_at = ? WHERE id = ?", (now, session_id))


def revoke(db: Database, session_id: int, now: str, reason: str) -> None:
    db.conn.execute("UPDATE web_sessions SET revoked_at = ?, revoked_reason = ?, ticket_hash = NULL "
                    "WHERE id = ? AND revoked_at IS NULL", (now, reason, session_id))


def revoke_for_user(db: Database, username: str, now: str, reason: str) -> int:
    cur = db.conn.execute(
        "UPDATE web_sessions SET revoked_at = ?, revoked_reason = ?, ticket_hash = NULL WHERE revoked_at IS NULL "
        "AND user_id = (SELECT id FROM users WHERE username = ?)", (now, reason, username))
    return cur.rowcount
