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


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp store path, also exported as CLINSIGHT_DB so engine defaults follow it."""
    path = tmp_path / "clinsight.db"
    monkeypatch.setenv("CLINSIGHT_DB", str(path))
    return path


@pytest.fixture
def fresh_db(db_path: Path):
    """An open, migrated, empty store."""
    from engine.store import connect

    db = connect(db_path)
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


@pytest.fixture
def seeded_db(seeded_db_template: Path, db_path: Path):
    """An open store holding the seeded demo patients (a private copy per test)."""
    import shutil

    from engine.store import connect

    shutil.copy(seeded_db_template, db_path)
    db = connect(db_path)
    yield db
    db.conn.close()


ROLE_USERS_PASSWORD = "correct horse battery"  # test-only password for users created in temp stores


@pytest.fixture(scope="session")
def role_users_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Users ada (admin), cleo (clinician), ana (analyst), made once: argon2 is slow on purpose."""
    from engine import auth
    from engine.store import connect

    path = tmp_path_factory.mktemp("role-users") / "users.db"
    db = connect(path)
    auth.create_user(db, "ada", ROLE_USERS_PASSWORD, "admin", actor=None)
    auth.create_user(db, "cleo", ROLE_USERS_PASSWORD, "clinician", actor="ada")
    auth.create_user(db, "ana", ROLE_USERS_PASSWORD, "analyst", actor="ada")
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return path


@pytest.fixture
def role_users_db(role_users_template: Path, db_path: Path):
    """A private copy of the three-role users store at CLINSIGHT_DB, open."""
    import shutil

    from engine.store import connect

    shutil.copy(role_users_template, db_path)
    db = connect(db_path)
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
