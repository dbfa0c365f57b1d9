"""Saved cohorts: a named, re-runnable filter definition over one dataset.

Only the definition (dataset + filters as JSON) and the size at save time are
stored, never patient rows: re-running the definition on the current data is
what the analyst wants, and the table holds no identifiers.
"""
from __future__ import annotations

import json
from typing import Any

from engine.errors import InputError, NotFoundError
from engine.store import Database, transaction, utcnow


def save_cohort(db: Database, *, name: str, dataset: str, spec: dict[str, Any], n: int,
                created_by: str | None, replace: bool = False) -> int:
    """Insert (or with ``replace`` overwrite) the cohort called ``name``; returns its id."""
    name = name.strip()
    if not name:
        raise InputError("A cohort needs a name.")
    with transaction(db):
        row = db.conn.execute("SELECT id FROM cohorts WHERE name = ?", (name,)).fetchone()
        if row and not replace:
            raise InputError(f"A cohort named '{name}' already exists; choose another name or replace it.")
        payload = json.dumps(spec, sort_keys=True, default=str)
        if row:
            db.conn.execute("UPDATE cohorts SET dataset = ?, spec = ?, n = ?, created_by = ?, created_at = ? "
                            "WHERE id = ?", (dataset, payload, n, created_by, utcnow(), row[0]))
            return int(row[0])
        cur = db.conn.execute(
            "INSERT INTO cohorts (name, dataset, spec, n, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (name, dataset, payload, n, created_by, utcnow()))
        return int(cur.lastrowid)


def list_cohorts(db: Database, dataset: str | None = None) -> list[dict[str, Any]]:
    """Saved cohorts (newest first), optionally for one dataset; ``spec`` decoded."""
    sql = "SELECT id, name, dataset, spec, n, created_by, created_at FROM cohorts"
    params: tuple[Any, ...] = ()
    if dataset is not None:
        sql += " WHERE dataset = ?"
        params = (dataset,)
    cur = db.conn.execute(sql + " ORDER BY created_at DESC, id DESC", params)
    cols = [c[0] for c in cur.description]
    rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    for row in rows:
        row["spec"] = json.loads(row["spec"])
    return rows


def get_cohort(db: Database, name: str) -> dict[str, Any]:
    for row in list_cohorts(db):
        if row["name"].lower() == name.lower():
            return row
    raise NotFoundError(f"There is no saved cohort named '{name}'.")


def delete_cohort(db: Database, name: str) -> None:
    with transaction(db):
        cur = db.conn.execute("DELETE FROM cohorts WHERE name = ?", (name,))
    if cur.rowcount == 0:
        raise NotFoundError(f"There is no saved cohort named '{name}'.")
