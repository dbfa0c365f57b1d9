"""ICU stays, their timed observations and alert acknowledgements (issue 14)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from engine.store import Database, insert_rows, utcnow


def insert_stay(db: Database, patient_id: int, version_id: int, hours_observed: float) -> int:
    cur = db.conn.execute("INSERT INTO icu_stays (patient_id, dataset_version_id, hours_observed, created_at) "
                          "VALUES (?, ?, ?, ?)", (patient_id, version_id, hours_observed, utcnow()))
    return int(cur.lastrowid)


def insert_observations(db: Database, rows: Iterable[Sequence[Any]]) -> int:
    """(stay_id, hours, parameter, code, value, unit) rows in one bulk insert (the caller holds the transaction)."""
    return insert_rows(db, "icu_observations", ("stay_id", "hours", "parameter", "code", "value", "unit"), rows)


def list_stays(db: Database) -> list[dict[str, Any]]:
    """Every stay with its patient's pseudonymous id, sex and age group."""
    cur = db.conn.execute(
        "SELECT s.id AS stay_id, p.pseudo_id, p.sex, p.age, p.age_group, s.hours_observed, d.name AS dataset "
        "FROM icu_stays s JOIN patients p ON p.id = s.patient_id "
        "LEFT JOIN dataset_versions v ON v.id = s.dataset_version_id LEFT JOIN datasets d ON d.id = v.dataset_id "
        "ORDER BY p.pseudo_id")
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def stay_observations(db: Database, stay_ids: Sequence[int]) -> list[tuple[int, float, str, float]]:
    """(stay_id, hours, parameter, value) for the given stays, in time order."""
    if not stay_ids:
        return []
    marks = ",".join("?" * len(stay_ids))
    return db.conn.execute(f"SELECT stay_id, hours, parameter, value FROM icu_observations WHERE stay_id IN ({marks}) "
                           "ORDER BY stay_id, hours", list(stay_ids)).fetchall()


def insert_ack(db: Database, stay_id: int, hours: float, risk: float, model_version: str, reason: str,
               username: str) -> int:
    cur = db.conn.execute("INSERT INTO icu_alert_acks (stay_id, hours, risk, model_version, reason, username, "
                          "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (stay_id, hours, risk, model_version, reason, username, utcnow()))
    return int(cur.lastrowid)


def acks_for(db: Database, stay_id: int) -> list[dict[str, Any]]:
    cur = db.conn.execute("SELECT hours, risk, model_version, reason, username, created_at FROM icu_alert_acks "
                          "WHERE stay_id = ? ORDER BY id", (stay_id,))
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]
