"""API tokens: shown once, stored as a sha256 only, revocable, last-used time, admin-only management."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from engine import api_tokens, audit, auth
from engine.errors import AuthError, InputError, NotFoundError

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)



@pytest.fixture
def people(role_users_db):
    """ada (admin), cleo (clinician), ana (analyst): the shared three-role store."""
    return role_users_db


def test_token_is_shown_once_and_only_its_hash_is_stored(people):
    token = api_tokens.create_token(people, "cleo", actor="ada", label="EHR bridge")
    assert token.startswith(api_tokens.TOKEN_PREFIX) and len(token) >= 40
    stored = people.conn.execute("SELECT token_hash, prefix, label FROM api_tokens").fetchall()
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(), token[:10], "EHR bridge")]
    dump = "\n".join(str(row) for row in people.conn.iterdump())
    assert token not in dump  # nowhere in the store, audit details included
    listed = api_tokens.list_tokens(people)
    assert [(t["username"], t["role"], t["active"]) for t in listed] == [("cleo", "clinician", True)]
    assert "token_hash" not in listed[0]


def test_tokens_are_unique_and_identify_their_user(people):
    a = api_tokens.create_token(people, "cleo", actor="ada")
    b = api_tokens.create_token(people, "ana", actor="ada")
    assert a != b
    assert api_tokens.authenticate_token(people, a).user == auth.User("cleo", "clinician")
    assert api_tokens.authenticate_token(people, b).user == auth.User("ana", "analyst")


@pytest.mark.parametrize("bad", ["", "cst_", "cst_not-a-real-token", "Bearer x", "x" * 500])
def test_unknown_tokens_are_refused(people, bad):
    api_tokens.create_token(people, "cleo", actor="ada")
    with pytest.raises(AuthError, match="not valid"):
        api_tokens.authenticate_token(people, bad)


def test_revoked_token_stops_working_and_stays_listed(people):
    token = api_tokens.create_token(people, "cleo", actor="ada")
    token_id = api_tokens.list_tokens(people)[0]["id"]
    api_tokens.revoke_token(people, token_id, actor="ada")
    with pytest.raises(AuthError):
        api_tokens.authenticate_token(people, token)
    row = api_tokens.list_tokens(people)[0]
    assert row["active"] is False and row["revoked_by"] == "ada" and row["revoked_at"]
    with pytest.raises(InputError, match="already revoked"):
        api_tokens.revoke_token(people, token_id, actor="ada")
    with pytest.raises(NotFoundError):
        api_tokens.revoke_token(people, 999, actor="ada")


def test_role_is_read_at_each_call_and_disabled_users_are_refused(people):
    token = api_tokens.create_token(people, "ana", actor="ada")
    auth.set_role(people, "ana", "clinician", actor="ada")
    assert api_tokens.authenticate_token(people, token).user.role == "clinician"
    auth.set_disabled(people, "ana", True, actor="ada")
    with pytest.raises(AuthError, match="disabled"):
        api_tokens.authenticate_token(people, token)
    assert api_tokens.list_tokens(people)[0]["active"] is False


def test_only_admins_manage_tokens(people):
    with pytest.raises(AuthError, match="administrator"):
        api_tokens.create_token(people, "cleo", actor="cleo")
    token = api_tokens.create_token(people, "cleo", actor="ada")
    with pytest.raises(AuthError):
        api_tokens.revoke_token(people, api_tokens.list_tokens(people)[0]["id"], actor="ana")
    assert api_tokens.authenticate_token(people, token).user.username == "cleo"


def test_bad_requests_for_tokens(people):
    with pytest.raises(InputError, match="no user"):
        api_tokens.create_token(people, "nobody", actor="ada")
    with pytest.raises(InputError, match="at most"):
        api_tokens.create_token(people, "cleo", actor="ada", label="x" * 81)
    auth.set_disabled(people, "cleo", True, actor="ada")
    with pytest.raises(InputError, match="disabled"):
        api_tokens.create_token(people, "cleo", actor="ada")


def test_last_used_is_recorded_at_minute_resolution(people):
    token = api_tokens.create_token(people, "cleo", actor="ada")
    t0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    api_tokens.authenticate_token(people, token, now=t0)
    assert api_tokens.list_tokens(people)[0]["last_used_at"] == t0.isoformat()
    api_tokens.authenticate_token(people, token, now=t0 + timedelta(seconds=30))  # within the resolution
    assert api_tokens.list_tokens(people)[0]["last_used_at"] == t0.isoformat()
    api_tokens.authenticate_token(people, token, now=t0 + timedelta(minutes=2))
    assert api_tokens.list_tokens(people)[0]["last_used_at"] == (t0 + timedelta(minutes=2)).isoformat()


def test_token_admin_actions_are_audited(people):
    api_tokens.create_token(people, "cleo", actor="ada")
    api_tokens.revoke_token(people, api_tokens.list_tokens(people)[0]["id"], actor="ada")
    rows = people.conn.execute(
        "SELECT username, action, target_id FROM audit WHERE action LIKE 'api_token.%' ORDER BY id").fetchall()
    assert rows == [("ada", "api_token.create", "cleo"), ("ada", "api_token.revoke", "cleo")]
    assert audit.verify_chain(people).ok


def test_tokens_command_line(people, capsys):
    """`python -m engine tokens create NAME` prints the token once; list shows no secret; revoke stops it.
    (In-process through engine.__main__.main: the same parser and error handling, without interpreter start-ups.)"""
    import json

    from engine.__main__ import main

    def run(*args):
        code = main(["tokens", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, _ = run("create", "cleo", "--label", "EHR bridge")
    assert code == 0
    token = out.strip()
    _, listed, _ = run("list")
    rows = json.loads(listed)
    assert [(r["username"], r["label"], r["active"]) for r in rows] == [("cleo", "EHR bridge", True)]
    assert token not in listed
    assert run("revoke", str(rows[0]["id"]))[0] == 0
    code, _, err = run("revoke", str(rows[0]["id"]))
    assert code == 2 and "already revoked" in err
    code, _, err = run("create", "nobody")
    assert code == 2 and err.strip() == "error: There is no user named 'nobody'."
