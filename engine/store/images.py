"""Stored images (de-identified bytes, keyed by content hash, per patient) and their reads and feedback.

Why by content hash: the same film uploaded twice for a patient is stored once,
and the hash, not a file name, identifies what the model read.
"""
from __future__ import annotations

from typing import Any

from engine.store import Database, utcnow


def _rows(db: Database, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    cur = db.conn.execute(sql, params)
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def upsert_image(db: Database, *, patient_id: int, sha256: str, kind: str, width: int, height: int,
                 header: str | None, content: bytes, username: str, file_name: str | None = None) -> tuple[int, bool]:
    """Insert an image for a patient unless that content is already stored; returns (id, created)."""
    row = db.conn.execute("SELECT id FROM images WHERE patient_id = ? AND sha256 = ?", (patient_id, sha256)).fetchone()
    if row:
        return int(row[0]), False
    cur = db.conn.execute(
        "INSERT INTO images (patient_id, sha256, kind, width, height, header, content, username, created_at, "
        "file_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (patient_id, sha256, kind, width, height, header, content, username, utcnow(), file_name))
    return int(cur.lastrowid), True


def images_for(db: Database, patient_id: int, *, with_content: bool = False) -> list[dict[str, Any]]:
    """Images of a patient, newest first, each with its latest stored result (``output`` JSON, or None);
    the bytes only when ``with_content`` (thumbnails)."""
    content = ", i.content" if with_content else ""
    return _rows(db, "SELECT i.id, i.sha256, i.kind, i.width, i.height, i.header, i.username, i.created_at, "
                     f"i.file_name{content}, (SELECT p.output FROM predictions p WHERE p.patient_id = i.patient_id "
                     "AND json_valid(p.inputs) AND json_extract(p.inputs, '$.image_sha256') = i.sha256 "
                     "ORDER BY p.id DESC LIMIT 1) AS output FROM images i WHERE i.patient_id = ? ORDER BY i.id DESC",
                 (patient_id,))


def get_image(db: Database, image_id: int) -> dict[str, Any] | None:
    rows = _rows(db, "SELECT * FROM images WHERE id = ?", (image_id,))
    return rows[0] if rows else None


def count_images(db: Database) -> int:
    return int(db.conn.execute("SELECT COUNT(*) FROM images").fetchone()[0])


def insert_prediction(db: Database, *, patient_id: int, model_name: str, model_version: str, inputs: str,
                      output: str, explanation: str | None, username: str) -> int:
    cur = db.conn.execute(
        "INSERT INTO predictions (patient_id, model_name, model_version, inputs, output, explanation, username, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (patient_id, model_name, model_version, inputs, output, explanation, username, utcnow()))
    return int(cur.lastrowid)


def latest_image_prediction(db: Database, *, patient_id: int, model_name: str, model_version: str,
                            inputs: str) -> dict[str, Any] | None:
    rows = _rows(db, "SELECT * FROM predictions WHERE patient_id = ? AND model_name = ? AND model_version = ? "
                     "AND inputs = ? ORDER BY id DESC LIMIT 1", (patient_id, model_name, model_version, inputs))
    return rows[0] if rows else None





