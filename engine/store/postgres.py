"""The PostgreSQL backend: a thin connection layer so the store's SQL text stays shared with SQLite.

Why a layer and not SQLAlchemy expressions everywhere: every query in ``engine.store`` is plain SQL
written for SQLite (``?`` placeholders, ``lastrowid``, ``BEGIN IMMEDIATE``). Rewriting about 120
queries would touch every feature at once; instead this module gives PostgreSQL connections the
small part of the ``sqlite3.Connection`` interface the store uses and translates the few dialect
bits on the way (cached per SQL text):

- ``?`` becomes ``%s`` (and a literal ``%`` becomes ``%%``), outside quoted strings.
- ``LIKE`` becomes ``ILIKE``: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
- ``group_concat(`` becomes ``string_agg(``; a column named ``end`` (reserved in PostgreSQL) is quoted.
- ``INSERT`` into a table with an ``id`` key gets ``RETURNING id`` so ``cursor.lastrowid`` works; an
  insert that chooses its ids (bulk import) moves the id sequence past them afterwards.
- ``BEGIN IMMEDIATE`` (SQLite's one-writer lock) becomes ``BEGIN`` plus a transaction-scoped
  advisory lock, so writers queue exactly as on SQLite: "next id" / "next version" reads and the
  audit hash chain stay correct with writers in several processes, while readers never wait (MVCC).

Parameters are sent untyped (as SQLite would take them) so ``text_column = 5`` keeps working, and
``numeric`` results (``AVG``, ``SUM``) come back as ``int``/``float`` like SQLite's, never ``Decimal``.
Connections come from SQLAlchemy's pool (one engine per URL and process), so opening the store per
use, as pages do, costs a pool checkout rather than a new server connection.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
import sqlalchemy
import sqlalchemy.exc
from psycopg.adapt import Dumper, Loader
from psycopg.pq import TransactionStatus
from sqlalchemy.engine import make_url

from engine.errors import StoreBusyError, StoreUnavailableError

# psycopg's warnings go to the application's logging set-up, as a library's should; with none (the command line)
# Python's last-resort handler printed "error ignored terminating Copy ... the connection is lost" beside the
# StoreUnavailableError sentence when the server went away during an import.
logging.getLogger("psycopg").addHandler(logging.NullHandler())

UNAVAILABLE = ("The data store cannot be reached right now; the change in progress was not saved. "
               "Please try again in a minute, and tell the administrator if this lasts.")

# Any constant shared by every ClinSight process: the key of the one write lock (cf. BEGIN IMMEDIATE).
WRITE_LOCK_KEY = 0x436C696E53  # "ClinS"

# Case-insensitive text. Columns SQLite declares ``TEXT ... COLLATE NOCASE`` (usernames, cohort and scenario
# names) become ``citext`` (equality, UNIQUE and LIKE ignore case, as on SQLite; a trusted extension, so the
# database's owner may create it). ``COLLATE NOCASE`` written in a query uses an ICU collation of that name
# (equality only: PostgreSQL 15 refuses LIKE under a nondeterministic collation).
# SQLite's JSON functions the store's SQL uses (``json_valid``, ``json_extract`` with a '$.a.b' path), so
# that SQL stays shared; NULL in, NULL out, and bad JSON gives NULL rather than an error (PostgreSQL does
# not promise to evaluate ``json_valid(x) AND json_extract(x, ...)`` left to right).
# Applied (CREATE OR REPLACE) with every pending migration, under the write lock.
BOOTSTRAP = (
    "CREATE EXTENSION IF NOT EXISTS citext",
    "CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
    """CREATE OR REPLACE FUNCTION json_valid(value text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE STRICT AS $$
       BEGIN PERFORM value::jsonb; RETURN true; EXCEPTION WHEN others THEN RETURN false; END $$""",
    """CREATE OR REPLACE FUNCTION json_extract(value text, path text) RETURNS text LANGUAGE plpgsql IMMUTABLE
       STRICT AS $$ BEGIN RETURN value::jsonb #>> string_to_array(substr(path, 3), '.');
       EXCEPTION WHEN others THEN RETURN NULL; END $$""",
)


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and url.split(":", 1)[0].split("+", 1)[0] in {"postgresql", "postgres"}


def sqlalchemy_url(url: str) -> sqlalchemy.URL:
    """The URL with psycopg 3 as the driver (``postgresql://`` alone would mean psycopg2 to SQLAlchemy)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg")


def conninfo(url: str) -> str:
    """A libpq connection string for ``url`` (bench and tools that talk to psycopg directly)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --- adaptation: SQLite-like parameters and results -----------------------------------------------

class _UntypedIntDumper(Dumper):
    """Send ints untyped (oid 0) so the server infers the type from the context, as SQLite does."""

    oid = 0

    def dump(self, obj: int) -> bytes:
        return str(int(obj)).encode()


class _UntypedFloatDumper(Dumper):
    oid = 0

    def dump(self, obj: float) -> bytes:
        return repr(float(obj)).encode()  # PostgreSQL reads nan, inf and -inf as SQLite stores them


class _NumberLoader(Loader):
    """``numeric`` results as int when whole, else float (SQLite has no Decimal)."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        if text.lstrip("-").isdigit():
            return int(text)
        return float(text)


def _configure(conn: psycopg.Connection) -> None:
    conn.autocommit = True
    conn.adapters.register_dumper(int, _UntypedIntDumper)
    conn.adapters.register_dumper(float, _UntypedFloatDumper)
    conn.adapters.register_loader("numeric", _NumberLoader)


def _param(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


def _params(params: Sequence[Any] | None) -> tuple[Any, ...]:
    return tuple(_param(v) for v in params) if params else ()


# --- SQL translation --------------------------------------------------------------------------------

_TOKENS = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\?|%|(?i:\bI?LIKE\b)|(?i:\bgroup_concat\s*\()|\bend\b)""")
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)\s*\(([^)]*)\)", re.IGNORECASE)


def _token(match: re.Match[str]) -> str:
    token = match.group(0)
    if token[0] in "'\"-":
        return token.replace("%", "%%")
    if token == "?":
        return "%s"
    if token == "%":
        return "%%"
    if token.upper() == "LIKE":
        return "ILIKE"
    if token.upper() == "ILIKE":
        return token
    if token == "end":
        return '"end"'
    return "string_agg("


@lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """SQLite-flavoured store SQL as PostgreSQL runs it (see the module docstring)."""
    return _TOKENS.sub(_token, sql)


@lru_cache(maxsize=4096)
def _insert_target(sql: str) -> tuple[str | None, bool]:
    """(table, whether the statement names ``id`` itself) for an INSERT with a column list."""
    match = _INSERT.match(sql)
    if not match:
        return None, False
    columns = {c.strip().strip('"').lower() for c in match.group(2).split(",")}
    return match.group(1).lower(), "id" in columns


# --- the connection ---------------------------------------------------------------------------------

class Cursor:
    """The part of ``sqlite3.Cursor`` the store uses, over a psycopg cursor."""

    def __init__(self, cursor: psycopg.Cursor, lastrowid: int | None = None, rows: list | None = None) -> None:
        self._cursor = cursor
        self.lastrowid = lastrowid
        self._rows = rows

    @property
    def description(self):
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def fetchone(self):
        if self._rows is not None:
            return self._rows.pop(0) if self._rows else None
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list:
        if self._rows is not None:
            rows, self._rows = self._rows, []
            return rows
        return self._cursor.fetchall() if self._cursor.description else []

    def fetchmany(self, size: int = 1) -> list:
        return [row for row in (self.fetchone() for _ in range(size)) if row is not None]

    def __iter__(self) -> Iterator[tuple]:
        while (row := self.fetchone()) is not None:
            yield row


class Connection:
    """A pooled PostgreSQL connection with the ``sqlite3.Connection`` methods the store calls."""

    dialect = "postgresql"

    def __init__(self, pooled: Any, *, identity_tables: frozenset[str], write_wait_seconds: int) -> None:
        self._pooled = pooled
        self.raw: psycopg.Connection = pooled.driver_connection
        self._identity_tables = identity_tables
        self._write_wait_seconds = write_wait_seconds

    # transactions -----------------------------------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def _begin_write(self) -> None:
        """BEGIN plus the store-wide write lock, waiting at most ``write_wait_seconds``."""
        self.raw.execute("BEGIN")
        try:
            self.raw.execute(f"SET LOCAL lock_timeout = '{int(self._write_wait_seconds)}s'")
            self.raw.execute("SELECT pg_advisory_xact_lock(%s::bigint)", (WRITE_LOCK_KEY,))
        except psycopg.errors.LockNotAvailable as exc:
            self.raw.execute("ROLLBACK")
            raise StoreBusyError("The data store is busy with other work right now; nothing was changed. "
                                 "Please try again in a minute.") from exc
        except BaseException:
            self.raw.execute("ROLLBACK")
            raise

    @contextmanager
    def _write(self, sql: str) -> Iterator[None]:
        """A write outside a transaction takes the write lock for itself, as SQLite's autocommit does: it must
        not slip between another writer's "next id" read and its insert."""
        if self.in_transaction or not _WRITE.match(sql):
            yield
            return
        self._begin_write()
        try:
            yield
        except BaseException:
            if not (self.raw.broken or self.raw.closed):
                self.raw.execute("ROLLBACK")
            raise
        self.raw.execute("COMMIT")

    def commit(self) -> None:
        if self.in_transaction:
            self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.raw.execute("ROLLBACK")

    # statements -------------------------------------------------------------------------------------
    def _lost(self, exc: psycopg.OperationalError) -> BaseException:
        """A lost server connection becomes a sentence for the user; other operational errors stay as they are."""
        if self.raw.broken or self.raw.closed:
            return StoreUnavailableError(UNAVAILABLE)
        return exc

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Cursor:
        try:
            return self._execute(sql, params)
        except psycopg.OperationalError as exc:
            raise self._lost(exc) from exc

    def _execute(self, sql: str, params: Sequence[Any] | None = None) -> Cursor:
        statement = sql.strip().rstrip(";").upper()
        if statement in {"BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"}:
            self._begin_write()
            return Cursor(self.raw.cursor())
        table, names_id = _insert_target(sql)
        returning = table in self._identity_tables and "RETURNING" not in statement
        text = translate(sql) + (" RETURNING id" if returning else "")
        cursor = self.raw.cursor()
        lastrowid = None
        with self._write(sql):
            cursor.execute(text, _params(params))
            if returning:
                rows = cursor.fetchall()
                lastrowid = int(rows[-1][0]) if rows else None
            if names_id and table in self._identity_tables:
                self.sync_id_sequence(table)
        return Cursor(cursor, lastrowid, [] if returning else None)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        cursor = self.raw.cursor()
        table, names_id = _insert_target(sql)
        try:
            with self._write(sql):
                cursor.executemany(translate(sql), [_params(r) for r in rows])
                if names_id and table in self._identity_tables:
                    self.sync_id_sequence(table)
        except psycopg.OperationalError as exc:
            raise self._lost(exc) from exc
        return Cursor(cursor)

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Bulk insert with COPY (the fast path for imports); returns the number of rows."""
        quoted = ", ".join(f'"{c}"' for c in columns)
        n = 0
        try:
            with self._write("INSERT"), self.raw.cursor() as cursor:
                with cursor.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(_params(row))
                        n += 1
                if "id" in columns and table in self._identity_tables:
                    self.sync_id_sequence(table)
        except psycopg.OperationalError as exc:
            raise self._lost(exc) from exc
        return n

    def sync_id_sequence(self, table: str) -> None:
        """Move ``table``'s id sequence past ids a caller chose itself, so later inserts do not collide."""
        self.raw.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"GREATEST((SELECT MAX(id) FROM \"{table}\"), 1))")

    def iterdump(self) -> Iterator[str]:
        """Every row of every table as a line of text: what sqlite3's ``iterdump`` gives the privacy checks
        that scan a whole store for identifiers (not a restorable dump: that is pg_dump's job)."""
        tables = [r[0] for r in self.raw.execute("SELECT table_name FROM information_schema.tables "
                                                 "WHERE table_schema = current_schema() ORDER BY table_name")]
        for table in tables:
            yield f'-- "{table}"'
            for row in self.raw.execute(f'SELECT * FROM "{table}"'):
                yield f'INSERT INTO "{table}" VALUES{row!r};'

    def execute_script(self, sql: str) -> None:
        """Run a DDL script as it is (no placeholder translation); used by migrations."""
        self.raw.execute(sql)

    def close(self) -> None:
        if self._pooled is not None:
            if self.raw.broken or self.raw.closed:
                # A lost connection is thrown away, not handed back: the pool's reset (a rollback) would fail
                # on it and print a driver traceback under the user's clear StoreUnavailableError.
                self._pooled.invalidate()
                self._pooled = None
                return
            try:
                self.rollback()
            finally:
                self._pooled.close()  # back to the pool
                self._pooled = None


class PostgresDatabase:
    """What ``engine.store.connect`` returns for a PostgreSQL URL: ``.conn`` as on SQLite."""

    dialect = "postgresql"

    def __init__(self, conn: Connection, url: str) -> None:
        self.conn = conn
        self.url = url


# --- engines, one per URL and process ---------------------------------------------------------------

_ENGINES: dict[tuple[int, str], sqlalchemy.Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(url: str) -> sqlalchemy.Engine:
    """The process's SQLAlchemy engine (and so connection pool) for ``url``; new after a fork."""
    key = (os.getpid(), url)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = sqlalchemy.create_engine(sqlalchemy_url(url), pool_pre_ping=True, pool_size=5,
                                              max_overflow=20, pool_reset_on_return="rollback")
            sqlalchemy.event.listen(engine, "connect", lambda dbapi_conn, _record: _configure(dbapi_conn))
            sqlalchemy.event.listen(engine, "checkout", _on_checkout)
            _ENGINES[key] = engine
        return engine


def _on_checkout(dbapi_conn: psycopg.Connection, _record: Any, _proxy: Any) -> None:
    if not dbapi_conn.autocommit:
        dbapi_conn.rollback()
        dbapi_conn.autocommit = True


def dispose_engines(url: str | None = None) -> None:
    """Close pooled connections (all, or those for ``url``): needed before dropping or copying a database."""
    with _ENGINES_LOCK:
        for key in [k for k in _ENGINES if url is None or k[1] == url]:
            _ENGINES.pop(key).dispose()


def connect(url: str, *, identity_tables: frozenset[str], write_wait_seconds: int) -> PostgresDatabase:
    try:
        pooled = get_engine(url).raw_connection()
    except (sqlalchemy.exc.OperationalError, psycopg.OperationalError) as exc:  # server down or unreachable
        raise StoreUnavailableError(UNAVAILABLE) from exc
    conn = Connection(pooled, identity_tables=identity_tables, write_wait_seconds=write_wait_seconds)
    return PostgresDatabase(conn, url)


# --- migrations -------------------------------------------------------------------------------------

_TRIGGER = re.compile(r"CREATE TRIGGER .*?\bEND;", re.IGNORECASE | re.DOTALL)
_DDL_RULES = [
    (re.compile(r"\bid INTEGER PRIMARY KEY\b"), "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),  # SQLite integers are 64-bit
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b"), "BYTEA"),
    (re.compile(r"^(\s*)end\b", re.MULTILINE), r'\1"end"'),
    (re.compile(r"\bTEXT\b(.*) COLLATE NOCASE"), r"CITEXT\1"),
]


def migration_ddl(name: str, sql: str, overrides: dict[str, str], extras: dict[str, str]) -> str:
    """A named SQLite migration as PostgreSQL DDL: the same text with types mapped, or the written
    PostgreSQL version where SQLite-only statements (triggers, ``writable_schema``) make one necessary."""
    if name in overrides:
        return overrides[name]
    ddl = _TRIGGER.sub("", sql)
    if "PRAGMA" in ddl.upper() or re.search(r"CREATE\s+TRIGGER", ddl, re.IGNORECASE):
        raise ValueError(f"Migration {name} uses SQLite-only statements: add its PostgreSQL version to "
                         "POSTGRES_MIGRATIONS in engine/store/schema.py")
    for pattern, replacement in _DDL_RULES:
        ddl = pattern.sub(replacement, ddl)
    return ddl + "\n" + extras.get(name, "")


def identity_tables(migrations: Sequence[tuple[str, str]]) -> frozenset[str]:
    """Tables whose ``id INTEGER PRIMARY KEY`` becomes an identity column (read from the migrations)."""
    found = re.findall(r"CREATE TABLE (\w+) \(\s*id INTEGER PRIMARY KEY", "\n".join(sql for _, sql in migrations))
    return frozenset(name.lower() for name in found)


def apply_migrations(db: PostgresDatabase, migrations: Sequence[tuple[str, str]], overrides: dict[str, str],
                     extras: dict[str, str], now: str) -> list[str]:
    """Apply pending named migrations under the write lock (several processes may start at once)."""
    conn = db.conn
    exists = conn.raw.execute("SELECT to_regclass('schema_migrations')").fetchone()[0]
    if exists:
        done = {row[0] for row in conn.raw.execute("SELECT name FROM schema_migrations")}
        if all(name in done for name, _ in migrations):
            return []
    applied: list[str] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in BOOTSTRAP:
            conn.raw.execute(statement)
        # rowid: the order migrations were applied in, as SQLite's implicit rowid gives it.
        conn.raw.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, "
                         "applied_at TEXT NOT NULL, rowid BIGINT GENERATED ALWAYS AS IDENTITY)")
        done = {row[0] for row in conn.raw.execute("SELECT name FROM schema_migrations")}
        for name, sql in migrations:
            if name in done:
                continue
            conn.execute_script(migration_ddl(name, sql, overrides, extras))
            conn.raw.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (%s, %s)", (name, now))
            applied.append(name)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return applied
