"""Shared fixtures: a fresh store per test, built from code (never the real data/ store)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# Tests must never touch the developer's store.
os.environ.setdefault("CLINSIGHT_DB", str(Path(os.environ.get("TMPDIR", "/tmp")) / f"clinsight-test-{os.getpid()}.db"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: real browser tests against a running Streamlit server")
    config.addinivalue_line("markers", "slow: longer tests (model reproduction, fuzz, soak)")
    config.addinivalue_line("markers", "both_backends: store tests run on SQLite and on PostgreSQL (issue 16)")
    config.addinivalue_line("markers", "sqlite_only: a test of a SQLite-only property inside a both_backends module")


# --- the order test files run in (make test: two processes, one file at a time each) -----------------------
# Whole files are handed to whichever process is free, in collection order. Browser and AppTest files are
# the longest (15-75 s each); run first, they overlap one another and the many short engine files fill
# the end evenly, instead of one process finishing a long browser file alone while the other idles.
# Order within a file is kept.
FILE_ORDER = ("tests/e2e/", "tests/pages/", "tests/reliability/", "tests/api/")


def _file_rank(item: pytest.Item) -> int:
    path = Path(str(item.fspath)).relative_to(REPO_ROOT).as_posix()
    return next((rank for rank, prefix in enumerate(FILE_ORDER) if path.startswith(prefix)), len(FILE_ORDER))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_file_rank)  # stable: files keep their order within a rank, tests theirs within a file


# --- the store backend (issue 16) ------------------------------------------------------------------------
# Modules marked ``pytest.mark.both_backends`` run every test that uses a store fixture twice: on SQLite
# and on PostgreSQL (a throwaway cluster for the session, a fresh database per test, copied from a migrated
# or seeded template). Unmarked tests use SQLite only. The PostgreSQL leg fails, never skips, when the
# cluster cannot start: CI must not pass without it.
STORE_BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends") \
            and not metafunc.definition.get_closest_marker("sqlite_only"):
        metafunc.parametrize("store_backend", STORE_BACKENDS, indirect=True)


@pytest.fixture
def store_backend(request: pytest.FixtureRequest) -> str:
    """'sqlite' or 'postgresql' (see :data:`STORE_BACKENDS`)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway PostgreSQL server for the session (tests/pg_cluster.py); stopped and deleted at the end."""
    from tests.pg_cluster import Cluster

    cluster = Cluster().start()
    try:
        yield cluster
    finally:
        from engine.store.postgres import dispose_engines

        dispose_engines()
        cluster.stop()


class _PgTemplates:
    """Databases built once per session and copied per test (CREATE DATABASE ... TEMPLATE: ~0.1 s)."""

    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.made: set[str] = set()
        self.counter = 0

    def build(self, name: str, fill) -> str:
        from engine.store import connect
        from engine.store.postgres import dispose_engines

        if name not in self.made:
            url = self.cluster.create_database(name)
            with _env("CLINSIGHT_DATABASE_URL", url):
                db = connect()
                try:
                    fill(db)
                finally:
                    db.conn.close()
            dispose_engines(url)  # a template may have no open connections
            self.made.add(name)
        return name

    def fresh(self, template: str) -> tuple[str, str]:
        self.counter += 1
        name = f"test_{os.getpid()}_{self.counter}"
        return name, self.cluster.create_database(name, template=template)


class _env:
    """Set one environment variable for a block (session fixtures cannot use monkeypatch)."""

    def __init__(self, name: str, value: str) -> None:
        self.name, self.value, self.old = name, value, None

    def __enter__(self):
        self.old = os.environ.get(self.name)
        os.environ[self.name] = self.value

    def __exit__(self, *exc):
        if self.old is None:
            os.environ.pop(self.name, None)
        else:
            os.environ[self.name] = self.old


@pytest.fixture(scope="session")
def pg_templates(pg_cluster) -> _PgTemplates:
    return _PgTemplates(pg_cluster)


def _pg_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, template: str, fill) -> None:
    """Point CLINSIGHT_DATABASE_URL at a private copy of ``template`` for this test; dropped afterwards."""
    from engine.store.postgres import dispose_engines

    templates: _PgTemplates = request.getfixturevalue("pg_templates")
    name, url = templates.fresh(templates.build(template, fill))
    monkeypatch.setenv("CLINSIGHT_DATABASE_URL", url)

    def drop() -> None:
        dispose_engines(url)
        templates.cluster.drop_database(name)

    request.addfinalizer(drop)


def _open_store(store_backend: str, path: Path):
    """The test's store: the SQLite file at ``path``, or the PostgreSQL database CLINSIGHT_DATABASE_URL names."""
    from engine.store import connect

    return connect(path if store_backend == "sqlite" else None)


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_backend: str, request: pytest.FixtureRequest) -> Path:
    """A temp store path, also exported as CLINSIGHT_DB so engine defaults follow it.

    On the PostgreSQL leg CLINSIGHT_DATABASE_URL names a fresh, migrated, empty database as well
    (unless a fixture that copies a template already set one up).
    """
    path = tmp_path / "clinsight.db"
    monkeypatch.setenv("CLINSIGHT_DB", str(path))
    if store_backend == "postgresql" and "seeded_db" not in request.fixturenames \
            and "role_users_db" not in request.fixturenames:
        _pg_store(request, monkeypatch, "tmpl_empty", lambda db: None)
    return path


@pytest.fixture
def fresh_db(db_path: Path, store_backend: str):
    """An open, migrated, empty store."""
    db = _open_store(store_backend, db_path)
    yield db
    db.conn.close()


@pytest.fixture(scope="session")
def seeded_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo data seeded once per session; copy it with :func:`seeded_db`."""
    from engine.seed import seed_all
    from engine.store import connect

    path = tmp_path_factory.mktemp("seed") / "seeded.db"
    db = connect(path)
    seed_all(db)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return path


def _seed(db) -> None:
    from engine.seed import seed_all

    seed_all(db)


@pytest.fixture
def seeded_db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, store_backend: str, db_path: Path):
    """An open store holding the seeded demo patients (a private copy per test)."""
    import shutil

    if store_backend == "postgresql":
        _pg_store(request, monkeypatch, "tmpl_seeded", _seed)
    else:
        shutil.copy(request.getfixturevalue("seeded_db_template"), db_path)
    db = _open_store(store_backend, db_path)
    yield db
    db.conn.close()


ROLE_USERS_PASSWORD = "correct horse battery"  # test-only password for users created in temp stores


def _add_role_users(db) -> None:
    from engine import auth

    auth.create_user(db, "ada", ROLE_USERS_PASSWORD, "admin", actor=None)
    auth.create_user(db, "cleo", ROLE_USERS_PASSWORD, "clinician", actor="ada")
    auth.create_user(db, "ana", ROLE_USERS_PASSWORD, "analyst", actor="ada")


@pytest.fixture(scope="session")
def role_users_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Users ada (admin), cleo (clinician), ana (analyst), made once: argon2 is slow on purpose."""
    from engine.store import connect

    path = tmp_path_factory.mktemp("role-users") / "users.db"
    db = connect(path)
    _add_role_users(db)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return path


@pytest.fixture
def role_users_db(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, store_backend: str,
                  db_path: Path):
    """A private copy of the three-role users store at CLINSIGHT_DB (or CLINSIGHT_DATABASE_URL), open."""
    import shutil

    if store_backend == "postgresql":
        _pg_store(request, monkeypatch, "tmpl_role_users", _add_role_users)
    else:
        shutil.copy(request.getfixturevalue("role_users_template"), db_path)
    db = _open_store(store_backend, db_path)
    yield db
    db.conn.close()


@pytest.fixture
def models_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A private copy of assets/models at CLINSIGHT_MODELS, for tests that promote, retire or tamper."""
    import shutil

    from engine.models import registry

    root = tmp_path / "models"
    shutil.copytree(registry.models_dir(), root)
    monkeypatch.setenv("CLINSIGHT_MODELS", str(root))
    registry.clear_cache()
    yield root
    registry.clear_cache()
