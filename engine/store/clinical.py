"""Encounters, immunizations, procedures and allergies: bulk writes (one executemany) and reads.

Why their own module: they arrive with FHIR bundles and NDJSON bulk exports (issue 18) beside the
observations and conditions in :mod:`engine.store.patients`, and other features (the patient timeline,
capacity planning, the treatment checks) read them. Every row carries its dataset version, so a
rollback removes it with the rest of the import.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from engine.store import Database
from engine.store import insert_rows as _bulk_insert

ENCOUNTER_COLUMNS = ("patient_id", "dataset_version_id", "class_code", "type_code", "type_system", "type_display",
                     "status", "period_start", "period_end", "discharge_disposition")
IMMUNIZATION_COLUMNS = ("patient_id", "dataset_version_id", "code", "system", "display", "status", "occurrence")
PROCEDURE_COLUMNS = ("patient_id", "dataset_version_id", "code", "system", "display", "status", "performed_start",
                     "performed_end")
ALLERGY_COLUMNS = ("patient_id", "dataset_version_id", "substance", "code", "system", "drug_class", "reaction",
                   "criticality", "clinical_status")
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {"encounters": ENCOUNTER_COLUMNS, "immunizations": IMMUNIZATION_COLUMNS,
                                             "procedures": PROCEDURE_COLUMNS, "allergies": ALLERGY_COLUMNS}
VERSIONED_TABLES = tuple(TABLE_COLUMNS)


def _rows(db: Database, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cur = db.conn.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def insert_rows(db: Database, table: str, rows: Iterable[Sequence[Any]]) -> int:
    """Bulk insert tuples in ``TABLE_COLUMNS[table]`` order; returns the number written."""
    columns = TABLE_COLUMNS[table]  # KeyError for anything else: table names never come from input
    return _bulk_insert(db, table, columns, rows)


def encounters_for(db: Database, patient_id: int) -> list[dict[str, Any]]:
    """One patient's encounters, oldest first (dates as stored: shifted or generalised at import)."""
    return _rows(db, "SELECT class_code, type_code, type_system, type_display, status, period_start, period_end, "
                     "discharge_disposition FROM encounters WHERE patient_id = ? ORDER BY period_start, id",
                 (patient_id,))


def list_encounters(db: Database, *, class_codes: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Every encounter with its patient's pseudonymous id, oldest first (for capacity planning).

    ``class_codes`` filters on the FHIR v3 ActCode class (``IMP`` inpatient, ``EMER``, ``AMB`` ...).
    """
    sql = ("SELECT p.pseudo_id, e.class_code, e.type_code, e.type_display, e.status, e.period_start, e.period_end, "
           "e.discharge_disposition FROM encounters e JOIN patients p ON p.id = e.patient_id")
    params: list[Any] = []
    if class_codes:
        sql += f" WHERE e.class_code IN ({', '.join('?' for _ in class_codes)})"
        params.extend(class_codes)
    return _rows(db, sql + " ORDER BY e.period_start, e.id", params)


def immunizations_for(db: Database, patient_id: int) -> list[dict[str, Any]]:
    return _rows(db, "SELECT code, system, display, status, occurrence FROM immunizations WHERE patient_id = ? "
                     "ORDER BY occurrence, id", (patient_id,))


def procedures_for(db: Database, patient_id: int) -> list[dict[str, Any]]:
    return _rows(db, "SELECT code, system, display, status, performed_start, performed_end FROM procedures "
                     "WHERE patient_id = ? ORDER BY performed_start, id", (patient_id,))
