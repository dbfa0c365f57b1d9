"""SQL behind :mod:`engine.integrity` and :mod:`engine.backup` (read-only checks, page copies)."""
from __future__ import annotations

import sqlite3

from engine.store import Database, is_postgres


def integrity_check(db: Database) -> list[str]:
    """``PRAGMA integrity_check`` messages (``['ok']`` when sound).

    PostgreSQL has no such statement: the server guards its own pages (WAL, checksums where the
    cluster enables them; ``amcheck`` is the DBA's tool), so this page-level check is SQLite's only and
    the logical checks in :mod:`engine.integrity` (schema, versions, audit chain) run on both.
    """
    if is_postgres(db):
        return ["ok"]
    return [row[0] for row in db.conn.execute("PRAGMA integrity_check")]


def table_names(db: Database) -> list[str]:
    if is_postgres(db):
        return [r[0] for r in db.conn.execute("SELECT table_name FROM information_schema.tables WHERE "
                                              "table_schema = current_schema() ORDER BY table_name")]
    return [r[0] for r in db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]


def migration_names(db: Database) -> list[str]:
    return [r[0] for r in db.conn.execute("SELECT name FROM schema_migrations ORDER BY rowid")]


def dataset_version_counts(db: Database) -> list[tuple[int, str, int, int, int]]:
    """(version id, dataset name, version, n_rows recorded, patients present) for every active version."""
    return [tuple(r) for r in db.conn.execute(
        "SELECT v.id, d.name, v.version, v.n_rows, "
        "(SELECT COUNT(*) FROM patients p WHERE p.dataset_version_id = v.id) "
        "FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id WHERE v.status = 'active' ORDER BY v.id")]


def copy_pages(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
    """Copy the whole database with SQLite's online backup API in one step.

    One step (``pages=-1``) means one read snapshot of the source (WAL readers do
    not block writers) and one write transaction on the target, so the copy is
    consistent even while other processes write, and a restore into a live store
    is atomic for its other users.
    """
    source.backup(target, pages=-1)


def set_journal_mode(conn: sqlite3.Connection, mode: str) -> None:
    if mode not in {"delete", "wal"}:
        raise ValueError(mode)
    conn.execute(f"PRAGMA journal_mode = {mode}")


def count_audit_rows(db: Database) -> int:
    return db.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
