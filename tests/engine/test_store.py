from __future__ import annotations

import pytest

import psycopg

from engine.store import apply_migrations, connect, is_postgres, schema_version, transaction
from engine.store.integrity import table_names
from engine.store.schema import MIGRATIONS

pytestmark = pytest.mark.both_backends


def test_fresh_store_is_migrated_with_wal_and_foreign_keys(fresh_db):
    assert schema_version(fresh_db) == [name for name, _ in MIGRATIONS]
    if not is_postgres(fresh_db):
        assert fresh_db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert fresh_db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert fresh_db.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    for table in ["users", "patients", "observations", "conditions", "datasets", "dataset_versions",
                  "predictions", "feedback", "audit"]:
        assert table in table_names(fresh_db)


def test_migrations_apply_once(db_path, store_backend):
    db = connect(db_path if store_backend == "sqlite" else None)
    assert apply_migrations(db) == []
    db.conn.close()
    db = connect(db_path if store_backend == "sqlite" else None)
    assert apply_migrations(db) == []


def test_transaction_rolls_back_everything_on_error(fresh_db):
    with pytest.raises(RuntimeError):
        with transaction(fresh_db):
            fresh_db.conn.execute("INSERT INTO datasets (name, created_at) VALUES ('a', 'now')")
            raise RuntimeError("boom")
    assert fresh_db.conn.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 0


def test_foreign_keys_are_enforced(fresh_db):
    import sqlite3

    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        fresh_db.conn.execute("INSERT INTO observations (patient_id, code, name) VALUES (999, 'x', 'x')")
