"""API token rows: the SQL behind :mod:`engine.api_tokens` (hashes only, never tokens)."""
from __future__ import annotations

from typing import Any

from engine.store import Database, utcnow

_LIST_COLUMNS = ("id", "username", "role", "disabled", "prefix", "label", "created_by", "created_at",
                 "last_used_at", "revoked_at", "revoked_by")


def insert_token(db: Database, *, user_id: int, token_hash: str, prefix: str, label: str | None,
                 created_by: str | None) -> int:
    cur = db.conn.execute(
        "INSERT INTO api_tokens (user_id, token_hash, prefix, label, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (user_id, token_hash, prefix, label, created_by, utcnow()),
    )
    return int(cur.lastrowid)


def _select() -> str:
    return (
        "SELECT t.id, u.username, u.role, u.disabled, t.prefix, t.label, t.created_by, t.created_at, "
        "t.last_used_at, t.revoked_at, t.revoked_by FROM api_tokens t JOIN users u ON u.id = t.user_id"
    )


def list_tokens(db: Database) -> list[dict[str, Any]]:
    """Every token (active first, then newest first), joined with its user's current role."""
    cur = db.conn.execute(_select() + " ORDER BY t.revoked_at IS NOT NULL, t.id DESC")
    return [dict(zip(_LIST_COLUMNS, row)) for row in cur.fetchall()]


def get_token(db: Database, token_id: int) -> dict[str, Any] | None:
    row = db.conn.execute(_select() + " WHERE t.id = ?", (token_id,)).fetchone()
    return dict(zip(_LIST_COLUMNS, row)) if row else None


def find_by_hash(db: Database, token_hash: str) -> dict[str, Any] | None:
    row = db.conn.execute(_select() + " WHERE t.token_hash = ?", (token_hash,)).fetchone()
    return dict(zip(_LIST_COLUMNS, row)) if row else None


def mark_revoked(db: Database, token_id: int, *, revoked_by: str | None) -> None:
    db.conn.execute("UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
                    (utcnow(), revoked_by, token_id))


def touch(db: Database, token_id: int, when: str) -> None:
    db.conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (when, token_id))
