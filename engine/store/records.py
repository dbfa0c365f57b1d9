"""SQL for the records feature: saved column mappings, the pseudonymisation key,
bulk import with explicit row ids, dataset-version rollback, and the patient
page's reads of predictions and feedback.

Bulk paths use one ``executemany`` per table and chunk inside the caller's
single transaction (sqlite-utils' ``insert_all`` commits per batch and runs at
about a fifth of the speed; see DESIGN traps).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from engine.store import Database, insert_rows, utcnow
from engine.store.clinical import VERSIONED_TABLES

PSEUDONYM_KEY_NAME = "records.pseudonym_key"


def _rows(db: Database, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cur = db.conn.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


# --- secrets -----------------------------------------------------------------------------------------

def read_secret(db: Database, name: str) -> str | None:
    row = db.conn.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def insert_secret(db: Database, name: str, value: str) -> None:
    db.conn.execute("INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?)", (name, value, utcnow()))


# --- saved mappings ----------------------------------------------------------------------------------

def save_mapping(db: Database, name: str, mapping: dict[str, Any], created_by: str | None) -> None:
    now = utcnow()
    db.conn.execute(
        "INSERT INTO column_mappings (name, mapping, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET mapping = excluded.mapping, updated_at = excluded.updated_at",
        (name, json.dumps(mapping, sort_keys=True), created_by, now, now),
    )


def load_mapping(db: Database, name: str) -> dict[str, Any] | None:
    row = db.conn.execute("SELECT mapping FROM column_mappings WHERE name = ?", (name,)).fetchone()
    return json.loads(row[0]) if row else None


def list_mappings(db: Database) -> list[dict[str, Any]]:
    return _rows(db, "SELECT name, created_by, created_at, updated_at FROM column_mappings ORDER BY name")


# --- bulk import -------------------------------------------------------------------------------------

def next_patient_id(db: Database) -> int:
    """First free patient row id; valid while the caller holds the write lock (BEGIN IMMEDIATE)."""
    return int(db.conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM patients").fetchone()[0])


def any_patients(db: Database) -> bool:
    return db.conn.execute("SELECT 1 FROM patients LIMIT 1").fetchone() is not None


def patient_ids_by_pseudo(db: Database, pseudo_ids: Sequence[str]) -> dict[str, int]:
    """Row ids of the patients among ``pseudo_ids`` that already exist."""
    found: dict[str, int] = {}
    ids = list(pseudo_ids)
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        found.update((r[0], int(r[1])) for r in db.conn.execute(
            f"SELECT pseudo_id, id FROM patients WHERE pseudo_id IN ({', '.join('?' for _ in chunk)})", chunk))
    return found


PATIENT_IMPORT_COLUMNS = ("id", "pseudo_id", "dataset_version_id", "source", "licence", "sex", "age", "age_group",
                          "birth_year", "created_at")


def insert_patients_with_ids(db: Database, rows: Iterable[Sequence[Any]]) -> None:
    """Bulk insert patients in :data:`PATIENT_IMPORT_COLUMNS` order (ids chosen by the caller)."""
    insert_rows(db, "patients", PATIENT_IMPORT_COLUMNS, rows)


def set_version_report(db: Database, version_id: int, report: dict[str, Any], n_rows: int) -> None:
    db.conn.execute("UPDATE dataset_versions SET report = ?, n_rows = ? WHERE id = ?",
                    (json.dumps(report, default=str), n_rows, version_id))


# --- versions and rollback ---------------------------------------------------------------------------

def get_version(db: Database, version_id: int) -> dict[str, Any] | None:
    rows = _rows(db, "SELECT v.*, d.name AS dataset FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
                     "WHERE v.id = ?", (version_id,))
    return rows[0] if rows else None


def list_versions_detailed(db: Database) -> list[dict[str, Any]]:
    """Every dataset version with its stored report and live row counts."""
    return _rows(db, """
        SELECT d.name AS dataset, v.id AS version_id, v.version, v.file_name, v.file_sha256, v.n_rows, v.status,
               v.created_by, v.created_at, v.report,
               (SELECT COUNT(*) FROM patients p WHERE p.dataset_version_id = v.id) AS patients
        FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
        ORDER BY v.id DESC""")


def patients_with_predictions(db: Database, version_id: int) -> int:
    return int(db.conn.execute(
        "SELECT COUNT(*) FROM predictions WHERE patient_id IN (SELECT id FROM patients WHERE dataset_version_id = ?)",
        (version_id,)).fetchone()[0])


def delete_version_rows(db: Database, version_id: int) -> dict[str, int]:
    """Delete every row a version wrote (caller holds the transaction); returns counts per table."""
    counts: dict[str, int] = {}
    for table in ("observations", "conditions", "medications", *VERSIONED_TABLES):
        counts[table] = db.conn.execute(f"DELETE FROM {table} WHERE dataset_version_id = ?", (version_id,)).rowcount
    counts["patients"] = db.conn.execute("DELETE FROM patients WHERE dataset_version_id = ?", (version_id,)).rowcount
    db.conn.execute("UPDATE dataset_versions SET status = 'rolled_back' WHERE id = ?", (version_id,))
    return counts


# --- patient page reads ------------------------------------------------------------------------------

def predictions_with_feedback(db: Database, patient_id: int) -> list[dict[str, Any]]:
    """Past predictions for a patient, newest first, each with its feedback (verdict, reason, who) if any."""
    preds = _rows(db, "SELECT id, model_name, model_version, output, username, created_at FROM predictions "
                      "WHERE patient_id = ? ORDER BY created_at DESC, id DESC", (patient_id,))
    for pred in preds:
        pred["feedback"] = _rows(db, "SELECT verdict, reason, username, created_at FROM feedback "
                                     "WHERE prediction_id = ? ORDER BY id", (pred["id"],))
    return preds
