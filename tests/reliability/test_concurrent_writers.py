"""Eight processes write to one store at once: no lost rows, no "database is locked" reaching a caller.

Reduced size for the normal suite (a few seconds, the smallest demo data set
as the seed); ``make soak`` runs the full seed for a minute.
"""
from __future__ import annotations

import os

import pytest

from tests.reliability.soak import run_soak

SECONDS = float(os.environ.get("CLINSIGHT_SOAK_SECONDS", "3"))

# On PostgreSQL the eight writers are eight processes with their own connections: the audit chain and
# "next id" reads must stay correct under the advisory write lock (issue 16).
pytestmark = pytest.mark.both_backends


def test_eight_writers_lose_nothing(tmp_path, store_backend, db_path):
    store = tmp_path / "soak.db" if store_backend == "sqlite" else None  # None: CLINSIGHT_DATABASE_URL's database
    report = run_soak(store, writers=8, seconds=SECONDS, start_ops={0: ["seed_one"]})
    summary = report.summary()
    assert summary["writers_finished"] == 8, summary
    assert summary["locked_errors"] == 0, summary
    assert summary["other_errors"] == 0, summary
    assert summary["lost_rows"] == 0 and summary["extra_rows"] == 0, (summary, report.verification)
    assert summary["store_ok"], summary["problems"]
    # Every kind of write happened while the others were running.
    found = report.verification["found"]
    for key in ("audit_soak", "login_ok", "users_new", "patients_soak", "predictions_soak"):
        assert found[key] > 0, (key, found)
    assert found["patients_seed"] == 299


def test_busy_store_gives_a_sentence_not_sqlite_text(tmp_path, monkeypatch, store_backend, db_path):
    """A writer that cannot get the lock within the configured wait gets StoreBusyError, store unchanged."""
    import pytest

    from engine import audit
    from engine.errors import StoreBusyError
    from engine.store import connect, transaction

    monkeypatch.setenv("CLINSIGHT_WRITE_WAIT_SECONDS", "1")
    path = tmp_path / "busy.db" if store_backend == "sqlite" else None
    holder, waiter = connect(path), connect(path)
    if store_backend == "sqlite":
        waiter.conn.execute("PRAGMA busy_timeout = 100")
    try:
        with transaction(holder):
            audit.record(holder, username="a", action="hold")
            with pytest.raises(StoreBusyError) as caught:
                audit.record(waiter, username="b", action="blocked")
        assert "locked" not in str(caught.value) and "try again" in str(caught.value)
        assert waiter.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'blocked'").fetchone()[0] == 0
        audit.record(waiter, username="b", action="after")  # works once the lock is free
    finally:
        holder.conn.close()
        waiter.conn.close()
