"""Online backup and checked restore of the store.

Why the SQLite backup API and not a file copy: the store runs in WAL mode, so
the main file alone can miss committed transactions, and copying while another
process writes can tear a page. The backup API copies from one read snapshot
(WAL readers never block writers), so a backup taken during writes is a
consistent past state. The copy is checked (integrity, schema, dataset
versions, audit chain) and moved into place atomically, so PATH is either the
old file or a complete new backup.

Restore never trusts the file it is given: it copies it aside, runs every
check in :mod:`engine.integrity`, and only then writes it into the live store,
again with the backup API, which is one transaction there: other sessions see
either the old store or the restored one. The store it replaces is kept as a
pre-restore backup next to it.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from engine import audit
from engine.config import get_settings
from engine.errors import InputError, IntegrityError
from engine.integrity import StoreReport, check_store
from engine.store import SqliteDatabase as Database
from engine.store import connect, postgres
from engine.store.integrity import copy_pages, count_audit_rows, set_journal_mode

SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    audit_rows: int


@dataclass(frozen=True)
class RestoreResult:
    store: Path
    previous_copy: Path | None
    audit_rows: int


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(*paths: Path) -> None:
    for path in paths:
        for candidate in (path, Path(f"{path}-journal"), Path(f"{path}-wal"), Path(f"{path}-shm")):
            try:
                candidate.unlink()
            except FileNotFoundError:
                pass


def _check_copy(conn: sqlite3.Connection) -> StoreReport:
    """Run every store check on a plain connection, turning SQLite's own errors into a report."""
    try:
        return check_store(Database(conn))
    except sqlite3.DatabaseError as exc:
        return StoreReport(False, [f"SQLite could not read it ({exc})."])


def _refuse_postgres(path: Path | str | None) -> None:
    """These commands copy SQLite files; a PostgreSQL store is backed up with PostgreSQL's own tools."""
    if path is None and postgres.is_postgres_url(get_settings().database_url):
        raise InputError("The store is on PostgreSQL: back it up with pg_dump and restore with pg_restore "
                         "(see the README, 'Running for a whole hospital'); this command copies SQLite files only.")


def backup_store(dest: Path | str, *, source: Path | str | None = None, actor: str | None = None,
                 record: bool = True) -> BackupResult:
    """Write a consistent, checked copy of the store to ``dest`` (replaced atomically if it exists)."""
    _refuse_postgres(source)
    source_path = Path(source) if source is not None else get_settings().sqlite_path
    dest = Path(dest).expanduser()
    if dest.is_dir():
        raise InputError(f"'{dest}' is a folder; give the backup a file name, e.g. {dest / 'clinsight-backup.db'}.")
    if not dest.parent.is_dir():
        raise InputError(f"The folder '{dest.parent}' does not exist; create it first.")
    if dest.resolve() == source_path.resolve():
        raise InputError("The backup path is the store itself; choose another file.")
    tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    _remove_quietly(tmp)
    db = connect(source_path)
    try:
        if record:
            audit.record(db, username=actor, action="store.backup", target_type="store",
                         details={"file": dest.name})
        target = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            copy_pages(db.conn, target)
            set_journal_mode(target, "delete")  # a backup is one self-contained file
            report = _check_copy(target)
            audit_rows = count_audit_rows(Database(target)) if report.ok else 0
        finally:
            target.close()
    finally:
        db.conn.close()
    if not report.ok:
        _remove_quietly(tmp)
        raise IntegrityError("The store failed its check while being backed up, so no backup was written: "
                             + " ".join(report.problems))
    os.chmod(tmp, 0o600)  # a backup holds the same patient data as the store
    _fsync(tmp)
    os.replace(tmp, dest)
    return BackupResult(dest, dest.stat().st_size, audit_rows)


def verify_backup(path: Path | str) -> StoreReport:
    """Check a backup file without touching the store (works on a private copy of it)."""
    path = Path(path).expanduser()
    with tempfile.TemporaryDirectory(prefix="clinsight-restore-") as tmpdir:
        staging = _stage(path, Path(tmpdir))
        conn = sqlite3.connect(str(staging), isolation_level=None)
        try:
            return _check_copy(conn)
        finally:
            conn.close()


def _stage(path: Path, tmpdir: Path) -> Path:
    """Copy the candidate file aside so checks never modify the user's file; refuse non-SQLite files early."""
    if not path.is_file():
        raise InputError(f"There is no backup file at '{path}'.")
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise IntegrityError("This file is not a SQLite database, so it cannot be a ClinSight backup; "
                             "the store was left unchanged.")
    staging = tmpdir / "candidate.db"
    shutil.copyfile(path, staging)
    return staging


def restore_store(path: Path | str, *, target: Path | str | None = None, actor: str | None = None,
                  keep_previous: bool = True) -> RestoreResult:
    """Replace the store's content with a checked backup; refuse (store unchanged) if any check fails."""
    _refuse_postgres(target)
    path = Path(path).expanduser()
    target_path = Path(target) if target is not None else get_settings().sqlite_path
    if target_path.exists() and path.resolve() == target_path.resolve():
        raise InputError("The backup path is the store itself; choose a backup file.")
    with tempfile.TemporaryDirectory(prefix="clinsight-restore-") as tmpdir:
        staging = _stage(path, Path(tmpdir))
        candidate = sqlite3.connect(str(staging), isolation_level=None)
        try:
            report = _check_copy(candidate)
            if not report.ok:
                raise IntegrityError("The backup was refused and the store left unchanged: "
                                     + " ".join(report.problems))
            previous = None
            if keep_previous and target_path.exists():
                stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
                previous = target_path.with_name(f"{target_path.stem}.pre-restore-{stamp}{target_path.suffix}")
                backup_store(previous, source=target_path, actor=actor, record=False)
            live = connect(target_path)
            try:
                copy_pages(candidate, live.conn)
                # connect() applies migrations a restored older backup lacks; do it now, then re-check.
                live.conn.close()
                live = connect(target_path)
                audit.record(live, username=actor, action="store.restore", target_type="store",
                             details={"file": path.name})
                after = check_store(live)
                if not after.ok:  # pragma: no cover - a checked copy that fails after copying is a bug
                    raise IntegrityError("The restored store failed its check: " + " ".join(after.problems))
                rows = count_audit_rows(live)
            finally:
                live.conn.close()
        finally:
            candidate.close()
    return RestoreResult(target_path, previous, rows)
