"""Dataset and dataset-version rows (each import or seed is a version)."""
from __future__ import annotations

import json
from typing import Any

from engine.store import Database, utcnow


def dataset_exists(db: Database, name: str) -> bool:
    return db.conn.execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone() is not None


def get_or_create_dataset(db: Database, name: str, *, source: str | None = None, licence: str | None = None,
                          citation: str | None = None, created_by: str | None = None) -> int:
    row = db.conn.execute("SELECT id FROM datasets WHERE name = ?", (name,)).fetchone()
    if row:
        return int(row[0])
    cur = db.conn.execute(
        "INSERT INTO datasets (name, source, licence, citation, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (name, source, licence, citation, created_by, utcnow()),
    )
    return int(cur.lastrowid)


def add_version(db: Database, dataset_id: int, *, file_name: str | None, file_sha256: str | None,
                mapping: dict | None, report: dict | None, n_rows: int, created_by: str | None) -> tuple[int, int]:
    """Insert the next version of a dataset; returns (version id, version number)."""
    last = db.conn.execute("SELECT COALESCE(MAX(version), 0) FROM dataset_versions WHERE dataset_id = ?",
                           (dataset_id,)).fetchone()[0]
    cur = db.conn.execute(
        "INSERT INTO dataset_versions (dataset_id, version, file_name, file_sha256, mapping, report, n_rows, "
        "created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (dataset_id, last + 1, file_name, file_sha256, json.dumps(mapping) if mapping is not None else None,
         json.dumps(report, default=str) if report is not None else None, n_rows, created_by, utcnow()),
    )
    return int(cur.lastrowid), last + 1


def set_version_rows(db: Database, version_id: int, n_rows: int) -> None:
    db.conn.execute("UPDATE dataset_versions SET n_rows = ? WHERE id = ?", (n_rows, version_id))


def list_versions(db: Database) -> list[dict[str, Any]]:
    cur = db.conn.execute(
        "SELECT d.name AS dataset, d.source, d.licence, v.id AS version_id, v.version, v.file_name, v.n_rows, "
        "v.status, v.created_by, v.created_at FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
        "ORDER BY d.name, v.version"
    )
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]
