"""Online backup and checked restore (engine.backup), including while another process writes."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import audit
from engine.audit import verify_chain
from engine.backup import backup_store, restore_store, verify_backup
from engine.config import REPO_ROOT
from engine.errors import InputError, IntegrityError
from engine.store import connect, count_rows

# A second process that keeps writing (audit rows + small all-or-nothing imports) until a stop file appears.
WRITER = r"""
import sys, time
from pathlib import Path
from engine import audit
from engine.store import open_db, transaction
from engine.store import datasets as d, patients as p
stop = Path(sys.argv[1]); n = 0
while not stop.exists():
    with open_db() as db, transaction(db):
        ds = d.get_or_create_dataset(db, "writer")
        v, _ = d.add_version(db, ds, file_name=None, file_sha256=None, mapping=None, report=None, n_rows=5,
                             created_by="writer")
        for j in range(5):
            p.insert_patient(db, {"pseudo_id": f"W-{n}-{j}", "dataset_version_id": v, "source": "writer"})
        audit.record(db, username="writer", action="writer.import", target_id=n)
    n += 1
    Path(sys.argv[1] + ".count").write_text(str(n))
"""


def _start_writer(db_path: Path, tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    stop = tmp_path / "stop"
    env = dict(os.environ, CLINSIGHT_DB=str(db_path), PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(stop)], env=env, cwd=REPO_ROOT,
                            stderr=subprocess.PIPE, text=True)
    _wait_for_writes(proc, stop, 3)
    return proc, stop


def _writes(stop: Path) -> int:
    counter = Path(f"{stop}.count")
    try:
        return int(counter.read_text() or 0)
    except (FileNotFoundError, ValueError):  # not written yet, or caught mid-write
        return 0


def _wait_for_writes(proc: subprocess.Popen, stop: Path, at_least: int) -> int:
    """Wait until the writer has committed ``at_least`` batches in all (a state, not a time: a busy
    machine may not schedule the writer for a while). 120 s is only the deadline for the message."""
    deadline = time.monotonic() + 120
    while (n := _writes(stop)) < at_least:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, f"writer stopped writing at {n} batches"
        time.sleep(0.05)  # poll interval
    return n


def _stop_writer(proc: subprocess.Popen, stop: Path) -> None:
    stop.touch()
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read()


def _audit_count(path: Path) -> int:
    conn = sqlite3.connect(str(path))
    try:
        return conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    finally:
        conn.close()


def test_backup_is_consistent_while_another_process_writes(seeded_db, db_path, tmp_path):
    seeded_db.conn.close()
    proc, stop = _start_writer(db_path, tmp_path)
    try:
        sizes = []
        for i in range(3):
            result = backup_store(tmp_path / f"b{i}.db", source=db_path, actor="admin")
            report = verify_backup(result.path)
            assert report.ok, report.problems  # integrity, schema, every version complete, audit chain
            sizes.append(_audit_count(result.path))
            _wait_for_writes(proc, stop, _writes(stop) + 2)  # the writer commits more before the next backup
        assert sizes == sorted(sizes) and sizes[-1] > sizes[0]  # the writer kept going between backups
    finally:
        _stop_writer(proc, stop)
    # A backup is one self-contained file (not WAL): copying it anywhere keeps everything.
    conn = sqlite3.connect(str(tmp_path / "b2.db"))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_restore_round_trip_keeps_previous_store(seeded_db, db_path, tmp_path):
    before = count_rows(seeded_db)
    backup_store(tmp_path / "b.db", source=db_path)
    audit.record(seeded_db, username="x", action="after.backup")
    seeded_db.conn.close()
    result = restore_store(tmp_path / "b.db", target=db_path, actor="admin")
    db = connect(db_path)
    try:
        after = count_rows(db)
        assert {k: v for k, v in after.items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}
        actions = [r[0] for r in db.conn.execute("SELECT action FROM audit ORDER BY id")]
        assert "after.backup" not in actions and actions[-2:] == ["store.backup", "store.restore"]
        assert verify_chain(db).ok
    finally:
        db.conn.close()
    assert result.previous_copy is not None and "after.backup" in {
        r[0] for r in sqlite3.connect(str(result.previous_copy)).execute("SELECT action FROM audit")}


def test_restore_while_another_process_writes(fresh_db, db_path, tmp_path):
    audit.record(fresh_db, username="x", action="first")
    backup_store(tmp_path / "b.db", source=db_path)
    fresh_db.conn.close()
    proc, stop = _start_writer(db_path, tmp_path)
    try:
        restore_store(tmp_path / "b.db", target=db_path, keep_previous=False)
        _wait_for_writes(proc, stop, _writes(stop) + 3)  # the writer goes on appending to the restored chain
    finally:
        _stop_writer(proc, stop)
    db = connect(db_path)
    try:
        from engine.integrity import check_store

        assert check_store(db).ok, check_store(db).problems
    finally:
        db.conn.close()


def _fingerprint(path: Path) -> tuple:
    conn = sqlite3.connect(str(path))
    try:
        return tuple(conn.execute("SELECT (SELECT COUNT(*) FROM audit), (SELECT MAX(hash) FROM audit), "
                                  "(SELECT COUNT(*) FROM users)").fetchone())
    finally:
        conn.close()


def _bad_backup(tmp_path: Path, db_path: Path, how: str) -> Path:
    bad = tmp_path / f"bad-{how}.db"
    backup_store(bad, source=db_path)
    if how == "tampered":
        conn = sqlite3.connect(str(bad))
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET details = '{\"role\": \"admin\"}' WHERE id = 1")
        conn.commit()
        conn.close()
    elif how == "newer":
        conn = sqlite3.connect(str(bad))
        conn.execute("INSERT INTO schema_migrations VALUES ('9999_from_the_future', '2030-01-01')")
        conn.commit()
        conn.close()
    elif how == "truncated":
        data = bad.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif how == "foreign":
        bad.unlink()
        conn = sqlite3.connect(str(bad))
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
        conn.close()
    elif how == "not_sqlite":
        bad.write_bytes(b"PK\x03\x04 this is a zip, not a store" * 50)
    return bad


@pytest.mark.parametrize("how, message", [
    ("tampered", "audit chain does not verify"),
    ("newer", "newer ClinSight"),
    ("truncated", "refused"),
    ("foreign", "not a ClinSight store"),
    ("not_sqlite", "not a SQLite database"),
])
def test_restore_refuses_a_bad_backup_and_changes_nothing(fresh_db, db_path, tmp_path, how, message):
    audit.record(fresh_db, username="x", action="something")
    bad = _bad_backup(tmp_path, db_path, how)
    audit.record(fresh_db, username="x", action="after")
    fresh_db.conn.close()
    before = _fingerprint(db_path)
    with pytest.raises(IntegrityError, match=message):
        restore_store(bad, target=db_path)
    assert _fingerprint(db_path) == before
    assert not list(tmp_path.glob("*.pre-restore-*"))


def test_bad_paths_are_input_errors(fresh_db, db_path, tmp_path):
    with pytest.raises(InputError, match="no backup file"):
        restore_store(tmp_path / "missing.db", target=db_path)
    with pytest.raises(InputError, match="is a folder"):
        backup_store(tmp_path, source=db_path)
    with pytest.raises(InputError, match="does not exist"):
        backup_store(tmp_path / "nope" / "b.db", source=db_path)
    with pytest.raises(InputError, match="store itself"):
        backup_store(db_path, source=db_path)


def test_cli_backup_and_restore(fresh_db, db_path, tmp_path, capsys):
    from engine.__main__ import main

    fresh_db.conn.close()
    assert main(["backup", str(tmp_path / "cli.db")]) == 0
    assert '"audit_rows": 1' in capsys.readouterr().out
    assert main(["restore", "--check-only", str(tmp_path / "cli.db")]) == 0
    assert main(["restore", str(tmp_path / "cli.db")]) == 0
    (tmp_path / "junk.db").write_bytes(b"junk" * 100)
    assert main(["restore", str(tmp_path / "junk.db")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
