from __future__ import annotations

import pytest

from engine.store import apply_migrations, connect, schema_version, transaction
from engine.store.schema import MIGRATIONS


def test_fresh_store_is_migrated_with_wal_and_foreign_keys(fresh_db):
    assert schema_version(fresh_db) == [name for name, _ in MIGRATIONS]
    assert fresh_db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert fresh_db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert fresh_db.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    for table in ["users", "patients", "observations", "conditions", "datasets", "dataset_versions",
                  "predictions", "feedback", "audit"]:
        assert table in fresh_db.table_names()


def test_migrations_apply_once(db_path):
    db = connect(db_path)
    assert apply_migrations(db) == []
    db.conn.close()
    db = connect(db_path)
    assert apply_migrations(db) == []


def test_transaction_rolls_back_everything_on_error(fresh_db):
    with pytest.raises(RuntimeError):
        with transaction(fresh_db):
            fresh_db.conn.execute("INSERT INTO datasets (name, created_at) VALUES ('a', 'now')")
            raise RuntimeError("boom")
    assert fresh_db.conn.execute("SELECT COUNT(*) FROM datasets").fetchone()[0] == 0


def test_foreign_keys_are_enforced(fresh_db):
    import sqlite3

    with pytest.raises(sqlite3.IntegrityError):
        fresh_db.conn.execute("INSERT INTO observations (patient_id, code, name) VALUES (999, 'x', 'x')")
