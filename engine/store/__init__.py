"""The store, on SQLite (embedded default, sqlite-utils) or PostgreSQL: connection, migrations, transactions.

``CLINSIGHT_DATABASE_URL`` chooses: unset or ``sqlite:///path`` is the SQLite file; ``postgresql://...``
moves everything to PostgreSQL through :mod:`engine.store.postgres`, which runs this package's SQL
text unchanged (it translates placeholders and the few dialect bits).

The only place SQL lives is this package: ``engine.store.<domain>`` modules hold
the read/write functions for one kind of record each. Every connection is opened
per use (never shared across threads): WAL mode, a busy timeout so concurrent
writers wait instead of failing, foreign keys on, and explicit transactions
(``BEGIN IMMEDIATE``) for writes so a failed import leaves nothing behind.
"""
from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

from engine.config import get_settings
from engine.errors import StoreBusyError
from engine.store import postgres
from engine.store.schema import MIGRATIONS, POSTGRES_EXTRAS, POSTGRES_MIGRATIONS

SqliteDatabase = sqlite_utils.Database
# What connect() returns: both give ``.conn`` with execute / executemany / in_transaction / close.
Database = SqliteDatabase | postgres.PostgresDatabase
_IDENTITY_TABLES = postgres.identity_tables(MIGRATIONS)


def is_postgres(db: Database) -> bool:
    """Whether ``db`` is on PostgreSQL (the few callers with dialect-specific work ask this)."""
    return isinstance(db, postgres.PostgresDatabase)


def database_url() -> str:
    """The configured store URL (``sqlite:///...`` by default)."""
    return get_settings().database_url


def utcnow() -> str:
    """ISO-8601 UTC timestamp with seconds; the one time format the store uses."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def connect(path: Path | str | None = None, *, migrate: bool = True) -> Database:
    """Open the store at ``path`` (default: settings), creating and migrating it.

    Autocommit mode (``isolation_level=None``): nothing is implicit, writes go
    through :func:`transaction`. An explicit ``path`` is always a SQLite file; without one the
    configured ``database_url`` decides, so a ``postgresql://`` URL moves every default caller.
    """
    settings = get_settings()
    if path is None and postgres.is_postgres_url(settings.database_url):
        pg = postgres.connect(settings.database_url, identity_tables=_IDENTITY_TABLES,
                              write_wait_seconds=settings.write_wait_seconds)
        if migrate:
            try:
                apply_migrations(pg)
            except BaseException:
                pg.conn.close()
                raise
        return pg
    db_path = Path(path) if path is not None else settings.sqlite_path
    is_new = False
    if str(db_path) != ":memory:":
        db_path.parent.mkdir(parents=True, exist_ok=True)
        is_new = not db_path.exists()
    conn = sqlite3.connect(str(db_path), isolation_level=None, timeout=settings.busy_timeout_ms / 1000,
                           check_same_thread=False)
    if is_new:
        # Patient data: only the account running ClinSight may read the file (SQLite gives -wal/-shm the same mode).
        os.chmod(db_path, 0o600)
    conn.execute(f"PRAGMA busy_timeout = {settings.busy_timeout_ms}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    db = SqliteDatabase(conn)
    if migrate:
        apply_migrations(db)
    return db


@contextmanager
def open_db(path: Path | str | None = None) -> Iterator[Database]:
    """Open the store for one unit of work and always close it (pages use this)."""
    db = connect(path)
    try:
        yield db
    finally:
        db.conn.close()


@contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """One write transaction, taken with BEGIN IMMEDIATE so writers queue on the lock.

    Commits on success; rolls back on any exception so nothing is half-written.
    Nested use joins the outer transaction.
    """
    if db.conn.in_transaction:
        yield db
        return
    _begin_immediate(db)
    try:
        yield db
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    else:
        db.conn.execute("COMMIT")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text or "database table is locked" in text


def _begin_immediate(db: Database) -> None:
    """Take the write lock, waiting as long as ``write_wait_seconds`` however many writers queue.

    Why: found by the concurrency soak (8 writer processes on 2 busy cores). One
    ``busy_timeout`` wait is not enough when several writers queue behind long
    transactions (an import, an argon2 hash): "database is locked" reached
    callers. BEGIN IMMEDIATE has done nothing yet, so retrying it is always
    safe; after the overall wait a :class:`StoreBusyError` with a sentence for
    the user replaces SQLite's message.
    """
    settings = get_settings()
    deadline = time.monotonic() + settings.write_wait_seconds
    pause = 0.02
    while True:
        try:
            db.conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            if time.monotonic() >= deadline:
                raise StoreBusyError("The data store is busy with other work right now; nothing was changed. "
                                     "Please try again in a minute.") from exc
            time.sleep(pause * (1 + random.random()))  # jitter so queued writers do not retry in step
            pause = min(pause * 2, 0.5)


def apply_migrations(db: Database) -> list[str]:
    """Apply every migration not yet recorded in ``schema_migrations``; return their names.

    Migrations are named (not numbered) so work landing from parallel branches
    does not collide; each is applied once, in list order, inside one transaction.
    """
    if is_postgres(db):
        return postgres.apply_migrations(db, MIGRATIONS, POSTGRES_MIGRATIONS, POSTGRES_EXTRAS, utcnow())
    db.conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in db.conn.execute("SELECT name FROM schema_migrations")}
    pending = [(name, sql) for name, sql in MIGRATIONS if name not in done]
    if not pending:
        return []
    applied: list[str] = []
    with transaction(db):
        # Re-read inside the lock: another process may have migrated meanwhile.
        done = {row[0] for row in db.conn.execute("SELECT name FROM schema_migrations")}
        for name, sql in pending:
            if name in done:
                continue
            for statement in _split_statements(sql):
                db.conn.execute(statement)
            db.conn.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", (name, utcnow()))
            applied.append(name)
    return applied


def _split_statements(sql: str) -> list[str]:
    """Split a migration script into statements (triggers contain ';' inside BEGIN...END)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.strip().splitlines():
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def insert_rows(db: Database, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Bulk insert ``rows`` (tuples in ``columns`` order) inside the caller's transaction; returns the count.

    COPY on PostgreSQL; one ``executemany`` on SQLite (its fastest path, see DESIGN traps).
    """
    if is_postgres(db):
        return db.conn.copy_rows(table, columns, rows)
    cur = db.conn.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})", rows)
    return cur.rowcount


def where_clause(conditions: list[tuple[str, object]]) -> tuple[str, list[object]]:
    """Build " WHERE a AND b" from (sql fragment with one ?, value) pairs, skipping empty values.

    Search forms pass every filter whether set or not; only the set ones constrain the query.
    """
    used = [(fragment, value) for fragment, value in conditions if value not in (None, "")]
    if not used:
        return "", []
    return " WHERE " + " AND ".join(fragment for fragment, _ in used), [value for _, value in used]


def schema_version(db: Database) -> list[str]:
    """Names of the applied migrations, oldest first."""
    return [row[0] for row in db.conn.execute("SELECT name FROM schema_migrations ORDER BY rowid")]


def count_rows(db: Database) -> dict[str, int]:
    """Row counts of the main tables, for the home page and the seed summary."""
    tables = ["patients", "observations", "conditions", "datasets", "dataset_versions", "predictions",
              "feedback", "users", "audit"]
    return {t: db.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
