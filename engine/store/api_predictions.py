"""Stored predictions made through the API: the SQL behind :mod:`engine.api.service`.

Rows go into the core ``predictions`` table (no patient link: API records arrive
without one), many at a time with ``executemany`` inside the caller's transaction.
"""
from __future__ import annotations

from engine.store import Database


def insert_predictions(db: Database, rows: list[tuple]) -> list[int]:
    """Insert (model_name, model_version, inputs, output, explanation, username, created_at) rows; return ids.

    Ids are contiguous because the caller holds the write lock (BEGIN IMMEDIATE) and they are chosen
    here (a PostgreSQL sequence need not hand out the numbers after MAX(id)).
    """
    if not rows:
        return []
    before = db.conn.execute("SELECT COALESCE(MAX(id), 0) FROM predictions").fetchone()[0]
    db.conn.executemany(
        "INSERT INTO predictions (id, patient_id, model_name, model_version, inputs, output, explanation, username, "
        "created_at) VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?)",
        [(before + 1 + i, *row) for i, row in enumerate(rows)],
    )
    return list(range(before + 1, before + 1 + len(rows)))
