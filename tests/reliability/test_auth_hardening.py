"""Passwords, lockout, the command line's access matrix and secrets in the repository."""
from __future__ import annotations

import os
import re
import stat
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from argon2 import Type, extract_parameters

from engine import auth
from engine.config import REPO_ROOT
from engine.errors import AuthError
from engine.roles import ACTION_ROLES, ROLES, can
from engine.store import is_postgres

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)

PASSWORD = "hardening-password-7"  # test-only credential for a throwaway temp store


def test_password_hashes_are_argon2id_and_salted(fresh_db):
    auth.create_user(fresh_db, "alice", PASSWORD, "clinician", actor=None)
    auth.create_user(fresh_db, "bob", PASSWORD, "clinician", actor=None)
    hashes = [r[0] for r in fresh_db.conn.execute("SELECT password_hash FROM users ORDER BY username")]
    for value in hashes:
        assert extract_parameters(value).type is Type.ID
        assert PASSWORD not in value
    assert hashes[0] != hashes[1]  # same password, different salt
    if is_postgres(fresh_db):
        assert PASSWORD not in "\n".join(fresh_db.conn.iterdump())
    else:
        assert PASSWORD.encode() not in Path(fresh_db.conn.execute("PRAGMA database_list").fetchone()[2]).read_bytes()


def test_lockout_after_repeated_failures_then_unlock(fresh_db, monkeypatch):
    from argon2 import PasswordHasher

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))  # same algorithm, quick
    monkeypatch.setenv("CLINSIGHT_LOCKOUT_ATTEMPTS", "5")
    monkeypatch.setenv("CLINSIGHT_LOCKOUT_MINUTES", "15")
    auth.create_user(fresh_db, "carol", PASSWORD, "clinician", actor=None)
    now = datetime.now(timezone.utc)
    for _ in range(4):
        with pytest.raises(AuthError, match="Wrong username or password"):
            auth.authenticate(fresh_db, "carol", "wrong-password", now=now)
    with pytest.raises(AuthError, match="locked for 15 minutes"):
        auth.authenticate(fresh_db, "carol", "wrong-password", now=now)
    # The right password does not get in while locked (the lock is checked first: no probing).
    with pytest.raises(AuthError, match="locked"):
        auth.authenticate(fresh_db, "carol", PASSWORD, now=now + timedelta(minutes=14))
    assert auth.authenticate(fresh_db, "carol", PASSWORD, now=now + timedelta(minutes=16)).role == "clinician"
    outcomes = [r[0] for r in fresh_db.conn.execute("SELECT outcome FROM audit WHERE action = 'login' ORDER BY id")]
    assert outcomes == ["failed"] * 4 + ["failed_and_locked", "locked", "ok"]


def test_unknown_user_and_wrong_password_look_the_same(fresh_db):
    auth.create_user(fresh_db, "dave", PASSWORD, "analyst", actor=None)
    with pytest.raises(AuthError) as unknown:
        auth.authenticate(fresh_db, "nobody", PASSWORD)
    with pytest.raises(AuthError) as wrong:
        auth.authenticate(fresh_db, "dave", "not-the-password")
    assert str(unknown.value) == str(wrong.value)


@pytest.mark.sqlite_only  # the SQLite file's mode; a PostgreSQL cluster's files belong to its server
def test_store_file_is_private_to_its_owner(fresh_db, db_path):
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600


# Every command-line action, classified. The command line has no login: whoever runs it has the store file
# (owner-only, see above), i.e. the operator of the installation. Each command maps onto the role action it
# corresponds to in the app, so the matrix below says which app roles may do the same thing on the web.
CLI_ACTIONS: dict[tuple[str, ...], str] = {
    ("seed",): "records.import",
    ("users", "add"): "users.manage",
    ("users", "list"): "users.manage",
    ("users", "reset-password"): "users.manage",
    ("audit", "verify"): "audit.read",
    ("backup",): "store.backup",
    ("restore",): "store.restore",
    ("treatment", "suggest"): "treatment.view",
    ("treatment", "rules"): "treatment.view",
    ("tokens", "create"): "users.manage",  # an API token acts as its user: issuing one is user management
    ("tokens", "list"): "users.manage",
    ("tokens", "revoke"): "users.manage",
    ("models", "list"): "models.view",
    ("models", "train"): "models.train",
    ("predict",): "predict.run",
    ("ingest",): "records.import",
    ("records", "versions"): "records.view",
    ("records", "rollback"): "records.import",
    ("records", "mappings"): "records.view",
    ("imaging", "train"): "models.train",
    ("imaging", "fit-gate"): "models.train",  # writes a bundle's gate file and card, as training does
    ("imaging", "evaluate"): "models.view",
    ("capacity", "forecast"): "capacity.plan",
    ("capacity", "beds"): "capacity.plan",
    ("capacity", "roster"): "capacity.plan",
    ("capacity", "sample"): "capacity.plan",
    ("notes", "context"): "models.view",  # labels sentences of an annotation file; no store access
    ("notes", "evaluate"): "models.view",
    ("notes", "tune"): "models.train",
    ("notes", "extract"): "notes.import",  # reads a patient's note
    ("notes", "import"): "notes.import",
    ("imaging", "pairs"): "models.view",  # reads image folders, no store access
    ("imaging", "stress"): "models.view",
    ("imaging", "shortcut"): "models.view",
    ("imaging", "promote"): "models.promote",  # reads image folders; --record-in writes a bundle's card only
    ("icu", "import"): "records.import",  # writes ICU stays into the store
    ("icu", "train"): "models.train",
    ("icu", "predict"): "icu.predict",  # scores a folder of records; no store access
    ("icu", "evaluate"): "models.view",
    ("icu", "horizons"): "models.view",  # prints a model's figures by hour; writes nothing
    ("icu", "recalibrate-hours"): "models.train",  # writes a new model version, as training does
}


def _leaf_commands() -> set[tuple[str, ...]]:
    import argparse

    from engine.__main__ import build_parser

    def walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...]):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield prefix
            return
        for name, child in subs[0].choices.items():
            yield from walk(child, prefix + (name,))

    return set(walk(build_parser(), ()))


def test_every_cli_command_is_classified():
    """A new command must be added to CLI_ACTIONS (and so to the matrix) before it ships."""
    assert _leaf_commands() == set(CLI_ACTIONS), _leaf_commands() ^ set(CLI_ACTIONS)
    assert set(CLI_ACTIONS.values()) <= set(ACTION_ROLES)


@pytest.mark.parametrize("command", sorted(CLI_ACTIONS), ids=" ".join)
def test_cli_action_matrix(command):
    action = CLI_ACTIONS[command]
    allowed = {role for role in ROLES if can(role, action)}
    assert allowed == set(ACTION_ROLES[action])
    assert not can(None, action)  # anonymous: never
    if action in ("users.manage", "audit.read", "store.backup", "store.restore"):
        assert allowed == {"admin"}


# ---------------------------------------------------------------- secrets in the tracked tree

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP )?PRIVATE KEY-----"),
    "AWS key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "GitHub token": re.compile(r"gh[pousr]_[A-Za-z0-9]{36}"),
    "Slack token": re.compile(r"xox[baprs]-[A-Za-z0-9-]{10,}"),
    "API key": re.compile(r"sk-[A-Za-z0-9]{32,}"),
    "argon2 hash": re.compile(r"\$argon2(?:id|i|d)\$v=\d+\$m=\d+"),
    "cookie secret": re.compile(r"cookieSecret\s*=\s*['\"][^'\"]+['\"]"),
    "password in URL": re.compile(r"://[^/\s:@]+:[^/\s@]+@"),
}
# Outside tests/, a literal assigned to a password-ish name is a committed credential.
PASSWORD_ASSIGNMENT = re.compile(r"(?i)\b\w*(?:password|passwd|pwd|secret|api_key|token)\w*\s*[:=]\s*['\"][^'\"\s]{6,}['\"]")


def _is_state_key(assignment: str) -> bool:
    """``NEW_TOKEN_KEY = "api_tokens_new"``: a session-state key constant naming a slot, not a secret."""
    name, value = re.split(r"\s*[:=]\s*", assignment, maxsplit=1)
    return name.endswith("_KEY") and re.fullmatch(r"['\"][a-z0-9_]+['\"]", value) is not None


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
        return [REPO_ROOT / name for name in out.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: scan the tree
        return [p for p in REPO_ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts and ".git" not in p.parts]


def find_secrets(files: list[Path]) -> list[str]:
    hits = []
    for path in files:
        if not path.is_file() or path.suffix in {".png", ".jpg", ".jpeg", ".dcm", ".pt", ".parquet", ".xlsx"}:
            continue
        if path.stat().st_size > 2_000_000:
            continue
        text = path.read_text(errors="ignore")
        rel = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
        for label, pattern in SECRET_PATTERNS.items():
            if pattern.search(text):
                hits.append(f"{rel}: {label}")
        if "tests" not in Path(rel).parts and any(not _is_state_key(m.group(0))
                                                  for m in PASSWORD_ASSIGNMENT.finditer(text)):
            hits.append(f"{rel}: password literal")
    return hits


def test_no_secrets_in_the_tracked_tree():
    files = _tracked_files()
    assert files
    assert not any(p.name == "secrets.toml" for p in files), "a Streamlit secrets file is committed"
    assert find_secrets(files) == []


def test_secret_scan_catches_planted_secrets(tmp_path):
    """The scanner itself, on planted (fake) secrets: each pattern must fire."""
    planted = tmp_path / "config.py"
    planted.write_text("ADMIN_PASSWORD = 'hunter2hunter2'\n" + "-----BEGIN " + "PRIVATE KEY-----\n"
                       + "url = 'postgres://admin" + ":pw@db'\n" + "AKIA" + "ABCDEFGHIJKLMNOP\n")
    labels = {hit.split(": ", 1)[1] for hit in find_secrets([planted])}
    assert labels == {"password literal", "private key", "password in URL", "AWS key"}
