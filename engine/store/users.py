"""User rows: the SQL behind :mod:`engine.auth`."""
from __future__ import annotations

from typing import Any

from engine.store import Database, utcnow


def count_users(db: Database) -> int:
    return db.conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]


def get_user(db: Database, username: str) -> dict[str, Any] | None:
    row = db.conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
    if row is None:
        return None
    cols = [d[0] for d in db.conn.execute("SELECT * FROM users LIMIT 0").description]
    return dict(zip(cols, row))


def list_users(db: Database) -> list[dict[str, Any]]:
    cur = db.conn.execute(
        "SELECT id, username, role, disabled, failed_attempts, locked_until, created_at, last_login_at "
        "FROM users ORDER BY username"
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def insert_user(db: Database, username: str, password_hash: str, role: str) -> int:
    cur = db.conn.execute(
        "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
        (username, password_hash, role, utcnow()),
    )
    return int(cur.lastrowid)


def update_user(db: Database, username: str, **fields: Any) -> None:
    allowed = {"password_hash", "role", "disabled", "failed_attempts", "locked_until", "last_login_at"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown user fields: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ?" for name in fields)
    db.conn.execute(f"UPDATE users SET {assignments} WHERE username = ?", (*fields.values(), username))
