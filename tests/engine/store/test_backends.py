"""The store behaves the same on SQLite and PostgreSQL (issue 16): the connection layer's promises.

Each test runs on both backends (``both_backends``); a few check the PostgreSQL translation itself.
"""
from __future__ import annotations

import os

import pytest

from engine import audit
from engine.store import insert_rows, is_postgres, transaction
from engine.store.audit_log import insert_audit_row
from engine.store.postgres import migration_ddl, translate
from engine.store.records import PATIENT_IMPORT_COLUMNS, insert_patients_with_ids, next_patient_id
from engine.store.schema import MIGRATIONS, POSTGRES_EXTRAS, POSTGRES_MIGRATIONS

pytestmark = pytest.mark.both_backends


def _patient(pid: int, pseudo: str) -> tuple:
    return (pid, pseudo, None, "test", None, "female", 50.0, "50-59", None, "2026-01-01T00:00:00+00:00")


def test_ids_chosen_by_an_import_do_not_collide_with_later_inserts(fresh_db):
    """Bulk import picks its own patient ids; a later insert without an id must take the next free one."""
    with transaction(fresh_db):
        first = next_patient_id(fresh_db)
        insert_patients_with_ids(fresh_db, [_patient(first + i, f"P{i}") for i in range(3)])
    cur = fresh_db.conn.execute("INSERT INTO patients (pseudo_id, created_at) VALUES (?, ?)", ("P9", "2026"))
    assert cur.lastrowid == first + 3
    assert next_patient_id(fresh_db) == first + 4


def test_lastrowid_names_the_inserted_row(fresh_db):
    cur = fresh_db.conn.execute("INSERT INTO datasets (name, created_at) VALUES (?, ?)", ("d1", "2026"))
    assert fresh_db.conn.execute("SELECT name FROM datasets WHERE id = ?", (cur.lastrowid,)).fetchone() == ("d1",)


def test_audit_ids_stay_gapless_after_a_rolled_back_write(fresh_db):
    """A PostgreSQL sequence skips numbers on rollback; the chain check would read that gap as a deletion."""
    audit.record(fresh_db, username="a", action="one")
    with pytest.raises(RuntimeError):
        with transaction(fresh_db):
            audit.record(fresh_db, username="a", action="rolled back")
            raise RuntimeError("boom")
    audit.record(fresh_db, username="a", action="two")
    assert [r[0] for r in fresh_db.conn.execute("SELECT id FROM audit ORDER BY id")] == [1, 2]
    assert audit.verify_chain(fresh_db).ok


def test_like_ignores_case_and_percent_in_text_is_literal(fresh_db):
    fresh_db.conn.execute("INSERT INTO datasets (name, source, created_at) VALUES (?, ?, ?)",
                          ("Heart", "100% real", "2026"))
    assert fresh_db.conn.execute("SELECT COUNT(*) FROM datasets WHERE name LIKE ?", ("hea%",)).fetchone()[0] == 1
    assert fresh_db.conn.execute("SELECT COUNT(*) FROM datasets WHERE source LIKE '%100%'").fetchone()[0] == 1


def test_usernames_are_unique_and_found_whatever_their_case(fresh_db):
    fresh_db.conn.execute("INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
                          ("Alice", "x", "admin", "2026"))
    assert fresh_db.conn.execute("SELECT username FROM users WHERE username = ?", ("ALICE",)).fetchone() == ("Alice",)
    with pytest.raises(Exception, match="(?i)unique"):
        fresh_db.conn.execute("INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
                              ("alice", "x", "admin", "2026"))


def test_numbers_come_back_as_python_numbers_not_decimal(fresh_db):
    """AVG and SUM are numeric on PostgreSQL; the store hands back int/float as SQLite does."""
    fresh_db.conn.execute("INSERT INTO datasets (name, created_at) VALUES ('a', 'x')")
    fresh_db.conn.execute("INSERT INTO datasets (name, created_at) VALUES ('b', 'x')")
    total, mean = fresh_db.conn.execute("SELECT SUM(id), AVG(id) FROM datasets").fetchone()
    assert (total, type(total)) == (3, int)
    assert (mean, type(mean)) == (1.5, float)


def test_text_column_compares_with_an_int_parameter(fresh_db):
    """SQLite lets ``target_id = 5`` match the text '5'; parameters go untyped so PostgreSQL does too."""
    audit.record(fresh_db, username="a", action="x", target_id=5)
    assert fresh_db.conn.execute("SELECT COUNT(*) FROM audit WHERE target_id = ?", (5,)).fetchone()[0] == 1


def test_bulk_insert_writes_every_row_in_the_callers_transaction(fresh_db):
    with pytest.raises(RuntimeError):
        with transaction(fresh_db):
            insert_rows(fresh_db, "patients", PATIENT_IMPORT_COLUMNS, [_patient(i, f"B{i}") for i in range(1, 51)])
            assert fresh_db.conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 50
            raise RuntimeError("boom")
    assert fresh_db.conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 0  # nothing half-written
    with transaction(fresh_db):
        assert insert_rows(fresh_db, "patients", PATIENT_IMPORT_COLUMNS,
                           [_patient(i, f"B{i}") for i in range(1, 51)]) == 50
    assert fresh_db.conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 50


def test_audit_rows_cannot_be_changed_or_truncated(fresh_db):
    audit.record(fresh_db, username="a", action="x")
    statements = ["UPDATE audit SET action = 'y'", "DELETE FROM audit"]
    if is_postgres(fresh_db):
        statements.append("TRUNCATE audit")
    for sql in statements:
        with pytest.raises(Exception, match="append-only"):
            fresh_db.conn.execute(sql)
    assert audit.verify_chain(fresh_db).ok


def test_insert_audit_row_takes_the_next_id_under_the_write_lock(fresh_db):
    row = {"ts": "t", "username": None, "action": "a", "target_type": None, "target_id": None, "outcome": "ok",
           "details": None, "prev_hash": "0", "hash": "1"}
    with transaction(fresh_db):
        assert insert_audit_row(fresh_db, row) == 1
        assert insert_audit_row(fresh_db, row) == 2


# --- the PostgreSQL translation itself (no server needed) ----------------------------------------------

def test_translation_leaves_quoted_text_alone_and_maps_dialect_bits():
    assert translate("SELECT * FROM t WHERE a = ? AND b LIKE ? ESCAPE '\\'") == \
        "SELECT * FROM t WHERE a = %s AND b ILIKE %s ESCAPE '\\'"
    assert translate("SELECT 'what?' || \"end\", x FROM t WHERE v LIKE '%a%'") == \
        "SELECT 'what?' || \"end\", x FROM t WHERE v ILIKE '%%a%%'"
    assert translate("SELECT group_concat(code, '; ') FROM c WHERE start < end") == \
        "SELECT string_agg(code, '; ') FROM c WHERE start < \"end\""


def test_every_migration_has_a_postgresql_form():
    """A new migration with SQLite-only statements must come with its PostgreSQL text (schema.py)."""
    for name, sql in MIGRATIONS:
        ddl = migration_ddl(name, sql, POSTGRES_MIGRATIONS, POSTGRES_EXTRAS)
        assert "PRAGMA" not in ddl and "INTEGER PRIMARY KEY" not in ddl and "COLLATE NOCASE" not in ddl, name


def test_postgresql_down_gives_a_sentence_and_service_resumes_when_it_is_back(tmp_path, monkeypatch, caplog):
    """Issue 16's fault: the server stops. Callers get StoreUnavailableError (a sentence, nothing saved),
    not a driver traceback; once the server is back the pool hands out working connections again."""
    from engine.errors import StoreUnavailableError
    from engine.store import connect, open_db
    from engine.store.postgres import dispose_engines
    from tests.pg_cluster import Cluster

    cluster = Cluster().start()  # its own server: stopping the session's would break other tests
    try:
        url = cluster.create_database("fault")
        monkeypatch.setenv("CLINSIGHT_DATABASE_URL", url)
        with open_db() as db:
            audit.record(db, username="a", action="before")
        held = connect()  # a connection open while the server goes away
        cluster.stop_server()
        with pytest.raises(StoreUnavailableError, match="cannot be reached"):
            audit.record(held, username="a", action="lost")
        with caplog.at_level("WARNING"):
            held.conn.close()
        # The lost connection is thrown away, not reset: no driver traceback under the sentence.
        assert not [r for r in caplog.records if r.name.startswith(("sqlalchemy", "psycopg"))]
        with pytest.raises(StoreUnavailableError, match="cannot be reached"):
            connect()
        cluster.start_server()
        with open_db() as db:
            audit.record(db, username="a", action="after")
            assert [r[0] for r in db.conn.execute("SELECT action FROM audit ORDER BY id")] == ["before", "after"]
            assert audit.verify_chain(db).ok
    finally:
        dispose_engines(os.environ.get("CLINSIGHT_DATABASE_URL"))
        cluster.stop()


def test_a_write_outside_a_transaction_waits_for_the_writer_holding_the_lock(fresh_db, store_backend, db_path):
    """As on SQLite, a single autocommit insert cannot slip in while an import holds the write lock
    between reading the next free id and writing it (it would take that id)."""
    from engine.errors import StoreBusyError
    from engine.store import connect

    other = connect(db_path if store_backend == "sqlite" else None)
    try:
        if store_backend == "sqlite":
            other.conn.execute("PRAGMA busy_timeout = 200")
        else:
            other.conn._write_wait_seconds = 1
        with transaction(fresh_db):
            first = next_patient_id(fresh_db)
            with pytest.raises((StoreBusyError, Exception), match="(?i)busy|locked"):
                other.conn.execute("INSERT INTO patients (pseudo_id, created_at) VALUES ('X', 'now')")
            insert_patients_with_ids(fresh_db, [_patient(first, "P1")])
        assert other.conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 1
    finally:
        other.conn.close()
