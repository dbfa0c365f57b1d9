from __future__ import annotations

import sqlite3
import subprocess
import sys

import psycopg
import pytest

from engine import audit
from engine.store import is_postgres

pytestmark = pytest.mark.both_backends


def _fill(db, n=5):
    for i in range(n):
        audit.record(db, username="alice", action="patient.view", target_type="patient", target_id=f"UCI-{i:04d}")


def test_chain_verifies_on_fresh_and_filled_store(fresh_db):
    assert audit.verify_chain(fresh_db).ok
    _fill(fresh_db)
    report = audit.verify_chain(fresh_db)
    assert report.ok and report.rows_checked == 5


def test_rows_are_append_only(fresh_db):
    _fill(fresh_db, 2)
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError), match="append-only"):
        fresh_db.conn.execute("UPDATE audit SET username = 'mallory' WHERE id = 1")
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError), match="append-only"):
        fresh_db.conn.execute("DELETE FROM audit WHERE id = 1")


def _tamper(db, sql):
    """Edit by hand as an attacker with file access would: drop the guard triggers first."""
    on = " ON audit" if is_postgres(db) else ""
    db.conn.execute("DROP TRIGGER audit_no_update" + on)
    db.conn.execute("DROP TRIGGER audit_no_delete" + on)
    db.conn.execute(sql)


def test_edited_row_is_named(fresh_db):
    _fill(fresh_db)
    _tamper(fresh_db, "UPDATE audit SET target_id = 'UCI-9999' WHERE id = 3")
    report = audit.verify_chain(fresh_db)
    assert not report.ok and report.first_bad_id == 3


def test_deleted_row_is_named(fresh_db):
    _fill(fresh_db)
    _tamper(fresh_db, "DELETE FROM audit WHERE id = 2")
    report = audit.verify_chain(fresh_db)
    assert not report.ok and report.first_bad_id == 2


def test_cli_verify_exit_codes(fresh_db, db_path):
    _fill(fresh_db)
    ok = subprocess.run([sys.executable, "-m", "engine", "audit", "verify"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    _tamper(fresh_db, "UPDATE audit SET outcome = 'failed' WHERE id = 4")
    bad = subprocess.run([sys.executable, "-m", "engine", "audit", "verify"], capture_output=True, text=True)
    assert bad.returncode != 0
    assert "row 4" in bad.stderr and "Traceback" not in bad.stderr
