"""Model version state (status, promoted version, operating threshold), predictions and feedback rows.

Bundles live on disk; what an admin decides about them (retire, promote, re-set
the threshold) lives here so it is transactional and audited with the rest.
"""
from __future__ import annotations

import json
from typing import Any

from engine.store import Database, utcnow


def _rows(db: Database, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    cur = db.conn.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def model_states(db: Database) -> dict[tuple[str, str], dict[str, Any]]:
    """(name, version) -> {status, promoted, threshold, origin, updated_by, updated_at} for versions with a row."""
    return {(r["name"], r["version"]): r for r in _rows(
        db, "SELECT name, version, status, promoted, threshold, origin, updated_by, updated_at FROM model_versions")}


def mark_trained(db: Database, name: str, version: str) -> None:
    """Record that a version was trained in the app (it then waits for an admin's promotion)."""
    db.conn.execute("UPDATE model_versions SET origin = 'trained' WHERE name = ? AND version = ?", (name, version))


def upsert_model_state(db: Database, name: str, version: str, *, username: str, status: str | None = None,
                       threshold: float | None = None) -> None:
    db.conn.execute(
        "INSERT INTO model_versions (name, version, status, promoted, threshold, updated_by, updated_at) "
        "VALUES (?, ?, COALESCE(?, 'active'), 0, ?, ?, ?) "
        "ON CONFLICT (name, version) DO UPDATE SET status = COALESCE(excluded.status, model_versions.status), "
        "threshold = COALESCE(excluded.threshold, model_versions.threshold), updated_by = excluded.updated_by, "
        "updated_at = excluded.updated_at",
        (name, version, status, threshold, username, utcnow()))


def set_promoted(db: Database, name: str, version: str, *, username: str) -> None:
    """Make ``version`` the one predictions use for ``name`` (exactly one promoted per name)."""
    upsert_model_state(db, name, version, username=username)
    db.conn.execute("UPDATE model_versions SET promoted = 0 WHERE name = ?", (name,))
    db.conn.execute("UPDATE model_versions SET promoted = 1 WHERE name = ? AND version = ?", (name, version))


def clear_promoted(db: Database, name: str, version: str) -> None:
    db.conn.execute("UPDATE model_versions SET promoted = 0 WHERE name = ? AND version = ?", (name, version))


def insert_prediction(db: Database, *, patient_id: int | None, model_name: str, model_version: str,
                      inputs: dict, output: dict, explanation: dict, username: str) -> int:
    cur = db.conn.execute(
        "INSERT INTO predictions (patient_id, model_name, model_version, inputs, output, explanation, username, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (patient_id, model_name, model_version, json.dumps(inputs, default=str), json.dumps(output, default=str),
         json.dumps(explanation, default=str), username, utcnow()))
    return int(cur.lastrowid)






def predictions_for_patient(db: Database, patient_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """A patient's predictions, newest first, each with its latest feedback (verdict, reason, by whom)."""
    return _rows(db, "SELECT p.id, p.model_name, p.model_version, p.output, p.username, p.created_at, "
                     "f.verdict, f.reason, f.username AS feedback_by, f.created_at AS feedback_at "
                     "FROM predictions p LEFT JOIN feedback f ON f.id = (SELECT MAX(id) FROM feedback "
                     "WHERE prediction_id = p.id) WHERE p.patient_id = ? ORDER BY p.id DESC LIMIT ?",
                 (patient_id, limit))
