from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine import auth
from engine.errors import AuthError, InputError
from engine.store.users import get_user

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)

PASSWORD = "correct horse battery"


def test_password_is_stored_as_argon2id(fresh_db):
    auth.create_user(fresh_db, "alice", PASSWORD, "clinician", actor=None)
    stored = get_user(fresh_db, "alice")["password_hash"]
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_login_succeeds_and_wrong_password_fails_with_same_message_as_unknown_user(fresh_db):
    auth.create_user(fresh_db, "alice", PASSWORD, "analyst", actor=None)
    assert auth.authenticate(fresh_db, "alice", PASSWORD) == auth.User("alice", "analyst")
    with pytest.raises(AuthError) as wrong:
        auth.authenticate(fresh_db, "alice", "nope nope nope")
    with pytest.raises(AuthError) as unknown:
        auth.authenticate(fresh_db, "mallory", "nope nope nope")
    assert str(wrong.value) == str(unknown.value)


def test_five_failures_lock_the_account_for_fifteen_minutes(fresh_db):
    auth.create_user(fresh_db, "bob", PASSWORD, "clinician", actor=None)
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    for _ in range(4):
        with pytest.raises(AuthError, match="Wrong"):
            auth.authenticate(fresh_db, "bob", "bad password!", now=now)
    with pytest.raises(AuthError, match="locked"):
        auth.authenticate(fresh_db, "bob", "bad password!", now=now)
    # Even the right password is refused while locked ...
    with pytest.raises(AuthError, match="locked"):
        auth.authenticate(fresh_db, "bob", PASSWORD, now=now + timedelta(minutes=14))
    # ... and accepted after the lock expires.
    assert auth.authenticate(fresh_db, "bob", PASSWORD, now=now + timedelta(minutes=16)).role == "clinician"


def test_admin_reset_unlocks(fresh_db):
    auth.create_user(fresh_db, "bob", PASSWORD, "clinician", actor=None)
    for _ in range(5):
        with pytest.raises(AuthError):
            auth.authenticate(fresh_db, "bob", "bad password!")
    auth.reset_password(fresh_db, "bob", "a brand new password", actor="admin")
    assert auth.authenticate(fresh_db, "bob", "a brand new password").username == "bob"


def test_disabled_user_cannot_log_in(fresh_db):
    auth.create_user(fresh_db, "root", PASSWORD, "admin", actor=None)
    auth.create_user(fresh_db, "carol", PASSWORD, "clinician", actor=None)
    auth.set_disabled(fresh_db, "carol", True, actor="root")
    with pytest.raises(AuthError, match="disabled"):
        auth.authenticate(fresh_db, "carol", PASSWORD)


def test_first_admin_only_while_no_users(fresh_db):
    auth.create_first_admin(fresh_db, "root", PASSWORD)
    with pytest.raises(AuthError):
        auth.create_first_admin(fresh_db, "other", PASSWORD)


def test_last_admin_cannot_be_demoted_or_disabled(fresh_db):
    auth.create_first_admin(fresh_db, "root", PASSWORD)
    with pytest.raises(InputError, match="last active administrator"):
        auth.set_role(fresh_db, "root", "clinician", actor="root")
    with pytest.raises(InputError, match="last active administrator"):
        auth.set_disabled(fresh_db, "root", True, actor="root")


@pytest.mark.parametrize("username,password,role,message", [
    ("alice", "short", "clinician", "at least 10"),
    ("1alice", PASSWORD, "clinician", "username"),
    ("alice", PASSWORD, "surgeon", "Unknown role"),
])
def test_bad_new_users_are_refused_with_a_clear_message(fresh_db, username, password, role, message):
    with pytest.raises(InputError, match=message):
        auth.create_user(fresh_db, username, password, role, actor=None)


def test_session_expiry():
    now = datetime.now(timezone.utc)
    assert not auth.is_session_expired(now - timedelta(minutes=5), now=now)
    assert auth.is_session_expired(now - timedelta(minutes=31), now=now)


def test_locked_real_user_and_unknown_user_get_the_same_message(fresh_db):
    """No account enumeration: a locked account's refusal reads exactly like an unknown user's."""
    auth.create_user(fresh_db, "erin", PASSWORD, "clinician", actor=None)
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    messages = set()
    for _ in range(5):  # the fifth failure locks
        with pytest.raises(AuthError) as failed:
            auth.authenticate(fresh_db, "erin", "bad password!", now=now)
        messages.add(str(failed.value))
    with pytest.raises(AuthError) as locked_right_password:
        auth.authenticate(fresh_db, "erin", PASSWORD, now=now + timedelta(minutes=1))
    with pytest.raises(AuthError) as locked_wrong_password:
        auth.authenticate(fresh_db, "erin", "bad password!", now=now + timedelta(minutes=1))
    with pytest.raises(AuthError) as unknown:
        auth.authenticate(fresh_db, "nobody_here", "bad password!", now=now)
    messages |= {str(locked_right_password.value), str(locked_wrong_password.value), str(unknown.value)}
    assert messages == {auth.login_refusal()}
    assert "locked" in auth.login_refusal()  # a real locked-out user still learns the rule


def test_disabled_account_is_only_named_to_someone_with_its_password(fresh_db):
    auth.create_user(fresh_db, "root", PASSWORD, "admin", actor=None)
    auth.create_user(fresh_db, "fred", PASSWORD, "clinician", actor=None)
    auth.set_disabled(fresh_db, "fred", True, actor="root")
    with pytest.raises(AuthError) as wrong:
        auth.authenticate(fresh_db, "fred", "bad password!")
    assert str(wrong.value) == auth.login_refusal()
