"""Audit rows: the SQL behind :mod:`engine.audit` (append and read only)."""
from __future__ import annotations

from typing import Any

from engine.store import Database, where_clause

AUDIT_COLUMNS = ["id", "ts", "username", "action", "target_type", "target_id", "outcome", "details",
                 "prev_hash", "hash"]


def last_hash(db: Database) -> str | None:
    row = db.conn.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def insert_audit_row(db: Database, row: dict[str, Any]) -> int:
    """Append a row with the next id (caller holds the write lock, as :func:`engine.audit.record` does).

    The id is chosen here, not by the database: a PostgreSQL sequence skips numbers when a transaction
    rolls back, and the chain check reads a gap as a deleted row.
    """
    cols = [c for c in AUDIT_COLUMNS if c != "id"]
    cur = db.conn.execute(
        f"INSERT INTO audit (id, {', '.join(cols)}) "
        f"VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM audit), {', '.join('?' for _ in cols)})",
        tuple(row[c] for c in cols),
    )
    return int(cur.lastrowid)


def iter_audit_rows(db: Database):
    """All audit rows in chain order, as dicts (a generator: the chain can be long)."""
    cur = db.conn.execute(f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit ORDER BY id")
    for row in cur:
        yield dict(zip(AUDIT_COLUMNS, row))


def query_audit(db: Database, *, username: str | None = None, action: str | None = None,
                target_type: str | None = None, since: str | None = None, until: str | None = None,
                limit: int = 1000) -> list[dict[str, Any]]:
    """Audit rows newest first, filtered; ``since``/``until`` are ISO date or datetime strings."""
    where, params = where_clause([("username = ?", username), ("action = ?", action),
                                  ("target_type = ?", target_type), ("ts >= ?", since), ("ts < ?", until)])
    sql = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit{where}"
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return [dict(zip(AUDIT_COLUMNS, row)) for row in db.conn.execute(sql, params)]


def distinct_audit_values(db: Database, column: str) -> list[str]:
    if column not in {"username", "action", "target_type"}:
        raise ValueError(column)
    return [r[0] for r in db.conn.execute(f"SELECT DISTINCT {column} FROM audit WHERE {column} IS NOT NULL ORDER BY 1")]
