"""Append-only, hash-chained audit trail.

Each row stores the SHA-256 of its own content plus the previous row's hash, so
editing or deleting any row breaks the chain from that row on; ``verify_chain``
names the first bad row. Writers take the store's write lock (BEGIN IMMEDIATE)
so two sessions cannot both chain onto the same previous row. SQL triggers
also refuse UPDATE and DELETE on the table.

Details must never contain patient identifiers: callers pass pseudonymous ids.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from engine.store import Database, transaction, utcnow
from engine.store.audit_log import insert_audit_row, iter_audit_rows, last_hash

GENESIS_HASH = "0" * 64
_HASHED_FIELDS = ("ts", "username", "action", "target_type", "target_id", "outcome", "details", "prev_hash")


def _row_hash(row: dict[str, Any]) -> str:
    payload = json.dumps({k: row.get(k) for k in _HASHED_FIELDS}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def record(db: Database, *, username: str | None, action: str, outcome: str = "ok",
           target_type: str | None = None, target_id: str | int | None = None,
           details: dict[str, Any] | None = None) -> int:
    """Append one audit row (joins the caller's transaction if one is open)."""
    with transaction(db):
        prev = last_hash(db) or GENESIS_HASH
        row = {
            "ts": utcnow(),
            "username": username,
            "action": action,
            "target_type": target_type,
            "target_id": None if target_id is None else str(target_id),
            "outcome": outcome,
            "details": json.dumps(details, sort_keys=True, default=str) if details else None,
            "prev_hash": prev,
        }
        row["hash"] = _row_hash(row)
        return insert_audit_row(db, row)


@dataclass(frozen=True)
class ChainReport:
    """Result of :func:`verify_chain`: ``ok`` or the first row that does not verify."""

    ok: bool
    rows_checked: int
    first_bad_id: int | None = None
    reason: str | None = None


def verify_chain(db: Database) -> ChainReport:
    """Walk the chain; report the first row whose content or link was altered."""
    expected_prev = GENESIS_HASH
    expected_id: int | None = None
    n = 0
    for row in iter_audit_rows(db):
        n += 1
        if expected_id is not None and row["id"] != expected_id:
            return ChainReport(False, n, expected_id, f"row {expected_id} is missing (deleted)")
        if row["prev_hash"] != expected_prev:
            return ChainReport(False, n, row["id"], f"row {row['id']} does not link to the row before it")
        if _row_hash(row) != row["hash"]:
            return ChainReport(False, n, row["id"], f"row {row['id']} was altered after it was written")
        expected_prev = row["hash"]
        expected_id = row["id"] + 1
    return ChainReport(True, n)
