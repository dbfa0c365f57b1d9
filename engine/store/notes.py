"""SQL for clinical notes: import versions, de-identified notes, findings, problem reviews."""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from engine.store import Database, insert_rows, utcnow

FINDING_COLUMNS = ("note_id", "patient_id", "code", "label", "start", "end", "sentence", "section", "negation",
                   "temporality", "experiencer", "certainty")
# What "mentioned in notes" means everywhere (suggestions, cohorts): affirmed, current, about the patient, and
# asserted, not only raised as possible (certainty NULL: stored before it was read, counted as before).
ASSERTED_NOW_SQL = ("f.negation = 'Affirmed' AND f.temporality = 'Recent' AND f.experiencer = 'Patient' "
                    "AND COALESCE(f.certainty, 'Certain') <> 'Uncertain'")


def _rows(db: Database, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cur = db.conn.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def add_import(db: Database, *, fmt: str, sha256: str, username: str) -> tuple[int, int]:
    """Next import version (caller holds the write transaction); returns (id, version)."""
    version = int(db.conn.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM note_imports").fetchone()[0])
    cur = db.conn.execute(
        "INSERT INTO note_imports (version, format, sha256, n_notes, created_by, created_at) VALUES (?, ?, ?, 0, ?, ?)",
        (version, fmt, sha256, username, utcnow()))
    return int(cur.lastrowid), version


def set_import_count(db: Database, import_id: int, n_notes: int) -> None:
    db.conn.execute("UPDATE note_imports SET n_notes = ? WHERE id = ?", (n_notes, import_id))


def insert_note(db: Database, *, import_id: int, patient_id: int, kind: str | None, note_date: str | None,
                text: str, sha256: str, redactions: dict[str, int]) -> int:
    cur = db.conn.execute(
        "INSERT INTO notes (import_id, patient_id, kind, note_date, text, sha256, redactions, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (import_id, patient_id, kind, note_date, text, sha256, json.dumps(redactions, sort_keys=True), utcnow()))
    return int(cur.lastrowid)


def insert_findings(db: Database, rows: Iterable[Sequence[Any]]) -> int:
    return insert_rows(db, "note_findings", FINDING_COLUMNS, rows)


def list_imports(db: Database) -> list[dict[str, Any]]:
    return _rows(db, "SELECT id, version, format, sha256, n_notes, status, created_by, created_at FROM note_imports "
                     "ORDER BY version")


def import_note_counts(db: Database) -> list[tuple[int, int, int]]:
    """(import id, notes recorded, notes present) for every active import: they must agree."""
    return [tuple(r) for r in db.conn.execute(
        "SELECT i.id, i.n_notes, (SELECT COUNT(*) FROM notes n WHERE n.import_id = i.id) FROM note_imports i "
        "WHERE i.status = 'active'")]


def patient_notes(db: Database, patient_id: int) -> list[dict[str, Any]]:
    return _rows(db, "SELECT n.id, n.kind, n.note_date, n.text, n.redactions, i.version AS import_version "
                     "FROM notes n JOIN note_imports i ON i.id = n.import_id "
                     "WHERE n.patient_id = ? AND i.status = 'active' ORDER BY n.note_date, n.id", (patient_id,))


def note_findings(db: Database, note_ids: Sequence[int]) -> list[dict[str, Any]]:
    if not note_ids:
        return []
    marks = ", ".join("?" for _ in note_ids)
    return _rows(db, f"SELECT {', '.join(FINDING_COLUMNS)} FROM note_findings WHERE note_id IN ({marks}) "
                     "ORDER BY note_id, start", list(note_ids))


def reviews(db: Database, patient_id: int) -> dict[str, str]:
    return {r[0]: r[1] for r in db.conn.execute(
        "SELECT code, decision FROM note_problem_reviews WHERE patient_id = ?", (patient_id,))}


def record_review(db: Database, *, patient_id: int, code: str, decision: str, condition_id: int | None,
                  username: str) -> None:
    db.conn.execute(
        "INSERT INTO note_problem_reviews (patient_id, code, decision, condition_id, username, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)", (patient_id, code, decision, condition_id, username, utcnow()))


def insert_condition(db: Database, *, patient_id: int, code: str, display: str) -> int:
    """A confirmed problem joins the record as an ICD-10-CM condition (no dataset version: a clinician's entry)."""
    cur = db.conn.execute(
        "INSERT INTO conditions (patient_id, dataset_version_id, code, system, display, onset) "
        "VALUES (?, NULL, ?, 'ICD-10-CM', ?, NULL)", (patient_id, code, display))
    return int(cur.lastrowid)


def condition_codes(db: Database, patient_id: int) -> set[str]:
    return {r[0] for r in db.conn.execute("SELECT code FROM conditions WHERE patient_id = ?", (patient_id,))}


def patients_mentioning(db: Database, code_prefixes: Sequence[str]) -> set[int]:
    """Patients with an affirmed, recent, own mention of a code starting with one of ``code_prefixes``."""
    if not code_prefixes:
        return set()
    clause = " OR ".join("f.code LIKE ? ESCAPE '\\'" for _ in code_prefixes)
    params = [p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for p in code_prefixes]
    return {int(r[0]) for r in db.conn.execute(
        "SELECT DISTINCT f.patient_id FROM note_findings f JOIN notes n ON n.id = f.note_id "
        f"JOIN note_imports i ON i.id = n.import_id WHERE i.status = 'active' AND {ASSERTED_NOW_SQL} AND ({clause})",
        params)}


def patient_row(db: Database, pseudo_id: str) -> int | None:
    row = db.conn.execute("SELECT id FROM patients WHERE pseudo_id = ?", (pseudo_id,)).fetchone()
    return int(row[0]) if row else None


def mention_rows(db: Database) -> tuple[set[int], list[tuple[int, str]]]:
    """(patients with at least one active note, (patient, code) pairs with an affirmed, recent, own mention)."""
    with_notes = {int(r[0]) for r in db.conn.execute(
        "SELECT DISTINCT n.patient_id FROM notes n JOIN note_imports i ON i.id = n.import_id WHERE i.status = 'active'")}
    pairs = [(int(r[0]), str(r[1])) for r in db.conn.execute(
        "SELECT DISTINCT f.patient_id, f.code FROM note_findings f JOIN notes n ON n.id = f.note_id "
        f"JOIN note_imports i ON i.id = n.import_id WHERE i.status = 'active' AND {ASSERTED_NOW_SQL}")]
    return with_notes, pairs
