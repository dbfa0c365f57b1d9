"""Prediction and feedback rows shared by every model kind (records-based and imaging)."""
from __future__ import annotations

from typing import Any

from engine.store import Database, utcnow


def get_prediction(db: Database, prediction_id: int) -> dict[str, Any] | None:
    """One stored prediction with its patient's pseudonymous id (None when there is no patient)."""
    cur = db.conn.execute("SELECT p.*, pt.pseudo_id FROM predictions p LEFT JOIN patients pt ON pt.id = p.patient_id "
                          "WHERE p.id = ?", (prediction_id,))
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else None


def insert_feedback(db: Database, *, prediction_id: int, username: str, verdict: str, reason: str | None) -> int:
    cur = db.conn.execute(
        "INSERT INTO feedback (prediction_id, username, verdict, reason, created_at) VALUES (?, ?, ?, ?, ?)",
        (prediction_id, username, verdict, reason, utcnow()))
    return int(cur.lastrowid)


def feedback_for(db: Database, prediction_id: int) -> list[dict[str, Any]]:
    cur = db.conn.execute("SELECT * FROM feedback WHERE prediction_id = ? ORDER BY id", (prediction_id,))
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]
