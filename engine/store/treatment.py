"""Treatment decisions (accept / decline an option, with a reason) and the reads the treatment engine needs."""
from __future__ import annotations

import json
from typing import Any

from engine.store import Database, utcnow

DECISIONS = ("accept", "decline")


def _rows(db: Database, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    cur = db.conn.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def insert_decision(db: Database, *, patient_id: int, rule_id: str, option: str, decision: str, reason: str | None,
                    condition_code: str | None, knowledge_base: str, knowledge_base_version: int,
                    inputs: dict[str, Any], username: str, override: bool = False) -> int:
    cur = db.conn.execute(
        "INSERT INTO treatment_decisions (patient_id, rule_id, option, decision, reason, condition_code, "
        "knowledge_base, knowledge_base_version, inputs, username, created_at, override) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (patient_id, rule_id, option, decision, reason, condition_code, knowledge_base, knowledge_base_version,
         json.dumps(inputs, sort_keys=True, default=str), username, utcnow(), int(bool(override))),
    )
    return int(cur.lastrowid)


def decisions_for(db: Database, patient_id: int) -> list[dict[str, Any]]:
    """Every decision recorded for one patient, newest first."""
    return _rows(db, "SELECT id, rule_id, option, decision, reason, condition_code, knowledge_base, "
                     "knowledge_base_version, username, created_at, override FROM treatment_decisions "
                     "WHERE patient_id = ? ORDER BY id DESC", (patient_id,))


def accepted_options_for(db: Database, patient_ids: list[int]) -> dict[int, list[str]]:
    """patient id -> options accepted for that patient (the treatments ClinSight knows were chosen)."""
    out: dict[int, list[str]] = {}
    for start in range(0, len(patient_ids), 900):
        chunk = patient_ids[start:start + 900]
        if not chunk:
            continue
        rows = db.conn.execute(
            f"SELECT patient_id, option FROM treatment_decisions WHERE decision = 'accept' AND patient_id IN "
            f"({', '.join('?' for _ in chunk)}) ORDER BY id", chunk)
        for patient_id, option in rows:
            out.setdefault(patient_id, []).append(option)
    return out


def latest_predictions_for(db: Database, patient_id: int) -> list[dict[str, Any]]:
    """The most recent prediction per model for one patient."""
    return _rows(db, "SELECT p.model_name, p.model_version, p.output, p.created_at FROM predictions p "
                     "WHERE p.patient_id = ? AND p.id = (SELECT MAX(q.id) FROM predictions q "
                     "WHERE q.patient_id = p.patient_id AND q.model_name = p.model_name) ORDER BY p.model_name",
                 (patient_id,))


def patient_ids_for(db: Database, pseudo_ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(pseudo_ids), 900):
        chunk = pseudo_ids[start:start + 900]
        if chunk:
            out.update(db.conn.execute(f"SELECT pseudo_id, id FROM patients WHERE pseudo_id IN "
                                       f"({', '.join('?' for _ in chunk)})", chunk).fetchall())
    return out


def medications_by_patient(db: Database, patient_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for start in range(0, len(patient_ids), 900):
        chunk = patient_ids[start:start + 900]
        if chunk:
            for patient_id, display in db.conn.execute(
                    f"SELECT patient_id, display FROM medications WHERE patient_id IN "
                    f"({', '.join('?' for _ in chunk)}) ORDER BY id", chunk):
                out.setdefault(patient_id, []).append(display)
    return out
