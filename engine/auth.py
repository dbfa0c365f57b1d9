"""Users, passwords (argon2id), lockout and session expiry.

No default password exists anywhere: the first admin is created by the person
installing the app (web form on first start, or ``python -m engine users add``).
After ``lockout_attempts`` consecutive failures an account is locked for
``lockout_minutes``; the lock is checked before the password so a locked
account cannot be probed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from engine import audit
from engine.config import get_settings
from engine.errors import AuthError, InputError
from engine.roles import ROLES
from engine.store import Database, transaction, utcnow
from engine.store import users as user_rows
from engine.store import web_sessions as session_rows

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the username is unknown, so that case costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("no user has this password")
_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{1,39}$")


@dataclass(frozen=True)
class User:
    """A signed-in user as the app sees it (no hash, no counters)."""

    username: str
    role: str


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def validate_new_password(password: str) -> None:
    """Refuse passwords too short to resist guessing; the message says the rule."""
    minimum = get_settings().min_password_length
    if len(password) < minimum:
        raise InputError(f"The password must be at least {minimum} characters long.")


def _validate_username(username: str) -> None:
    if not _USERNAME.match(username or ""):
        raise InputError(
            "A username must start with a letter and use 2-40 letters, digits, '.', '_' or '-'."
        )


def _validate_role(role: str) -> None:
    if role not in ROLES:
        raise InputError(f"Unknown role '{role}'; choose one of {', '.join(ROLES)}.")


def has_users(db: Database) -> bool:
    return user_rows.count_users(db) > 0


def create_user(db: Database, username: str, password: str, role: str, *, actor: str | None) -> User:
    """Add a user; ``actor`` is the admin doing it (None for the command line / first admin)."""
    _validate_username(username)
    _validate_role(role)
    validate_new_password(password)
    password_hash = hash_password(password)  # slow on purpose: done before taking the write lock
    with transaction(db):
        if user_rows.get_user(db, username) is not None:
            raise InputError(f"A user named '{username}' already exists.")
        user_rows.insert_user(db, username, password_hash, role)
        audit.record(db, username=actor, action="user.create", target_type="user", target_id=username,
                     details={"role": role})
    return User(username, role)


def create_first_admin(db: Database, username: str, password: str) -> User:
    """Create the first admin, only while the store has no users at all (checked under the lock)."""
    _validate_username(username)
    validate_new_password(password)
    password_hash = hash_password(password)
    with transaction(db):
        if has_users(db):
            raise AuthError("An administrator already exists; sign in instead.")
        user_rows.insert_user(db, username, password_hash, "admin")
        audit.record(db, username=username, action="user.create_first_admin", target_type="user",
                     target_id=username, details={"role": "admin"})
    return User(username, "admin")


def _parse(ts: str | None) -> datetime | None:
    return datetime.fromisoformat(ts) if ts else None


def authenticate(db: Database, username: str, password: str, *, now: datetime | None = None) -> User:
    """Check a password; count failures, lock after too many, audit every attempt.

    The same message is given for an unknown user and a wrong password so that
    usernames cannot be enumerated. The argon2 check (deliberately slow) runs
    before the write lock is taken, so other writers do not queue behind it;
    the decision is then recorded under the lock. The failure counter and the
    audit row are committed before the refusal is raised (raising inside the
    transaction would roll them back and make lockout impossible).
    """
    now = now or datetime.now(timezone.utc)
    before = user_rows.get_user(db, username)
    checked_hash = before["password_hash"] if before else _DUMMY_HASH
    password_ok = _verify(checked_hash, password) and before is not None
    with transaction(db):
        row = user_rows.get_user(db, username)
        if row is not None and row["password_hash"] != checked_hash:  # changed meanwhile: check again
            password_ok = _verify(row["password_hash"], password)
        user, refusal = _record_login(db, row, password_ok, password, now)
    if refusal:
        raise AuthError(refusal)
    assert user is not None
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def login_refusal() -> str:
    """The one refusal for an unknown user, a wrong password and a locked account.

    Why one sentence: a different message for a locked (or disabled) account
    tells a stranger that the username exists. It names the lockout rule so a
    real user who is locked out still knows what happened and what to do.
    """
    settings = get_settings()
    return (f"Wrong username or password. After {settings.lockout_attempts} failed attempts an account is locked "
            f"for {settings.lockout_minutes} minutes; an administrator can unlock it sooner.")


def _record_login(db: Database, row: dict | None, password_ok: bool, password: str,
                  now: datetime) -> tuple[User | None, str | None]:
    """Record one decided login attempt; returns (user, None) or (None, refusal message)."""
    settings = get_settings()
    failure = login_refusal()
    if row is None:
        audit.record(db, username=None, action="login", outcome="failed", details={"reason": "unknown user"})
        return None, failure
    locked_until = _parse(row["locked_until"])
    if locked_until and locked_until > now:
        audit.record(db, username=row["username"], action="login", outcome="locked")
        return None, failure
    if row["disabled"]:
        audit.record(db, username=row["username"], action="login", outcome="disabled")
        # Only someone who knows the password learns that the account is disabled.
        return None, ("This account is disabled; ask an administrator." if password_ok else failure)
    if not password_ok:
        attempts = row["failed_attempts"] + 1
        if attempts >= settings.lockout_attempts:
            user_rows.update_user(db, row["username"], failed_attempts=0,
                                  locked_until=(now + timedelta(minutes=settings.lockout_minutes)).isoformat())
            audit.record(db, username=row["username"], action="login", outcome="failed_and_locked",
                         details={"attempt": attempts})
            return None, failure
        user_rows.update_user(db, row["username"], failed_attempts=attempts)
        audit.record(db, username=row["username"], action="login", outcome="failed", details={"attempt": attempts})
        return None, failure
    fields: dict[str, object] = {"failed_attempts": 0, "locked_until": None, "last_login_at": utcnow()}
    if _hasher.check_needs_rehash(row["password_hash"]):
        fields["password_hash"] = hash_password(password)
    user_rows.update_user(db, row["username"], **fields)
    audit.record(db, username=row["username"], action="login", outcome="ok")
    return User(row["username"], row["role"]), None


def _require_existing(db: Database, username: str) -> dict:
    row = user_rows.get_user(db, username)
    if row is None:
        raise InputError(f"There is no user named '{username}'.")
    return row


def set_role(db: Database, username: str, role: str, *, actor: str) -> None:
    _validate_role(role)
    with transaction(db):
        row = _require_existing(db, username)
        _refuse_last_admin_loss(db, row, new_role=role, disabled=bool(row["disabled"]))
        user_rows.update_user(db, row["username"], role=role)
        audit.record(db, username=actor, action="user.set_role", target_type="user", target_id=row["username"],
                     details={"from": row["role"], "to": role})


def set_disabled(db: Database, username: str, disabled: bool, *, actor: str) -> None:
    with transaction(db):
        row = _require_existing(db, username)
        _refuse_last_admin_loss(db, row, new_role=row["role"], disabled=disabled)
        user_rows.update_user(db, row["username"], disabled=int(disabled))
        if disabled:  # an open browser session of a disabled user ends at its next page run
            session_rows.revoke_for_user(db, row["username"], utcnow(), "user disabled")
        audit.record(db, username=actor, action="user.disable" if disabled else "user.enable",
                     target_type="user", target_id=row["username"])


def reset_password(db: Database, username: str, new_password: str, *, actor: str | None) -> None:
    """Set a new password and clear any lockout (an admin unlocking a user does this)."""
    validate_new_password(new_password)
    password_hash = hash_password(new_password)
    with transaction(db):
        row = _require_existing(db, username)
        user_rows.update_user(db, row["username"], password_hash=password_hash, failed_attempts=0,
                              locked_until=None)
        # A reset often follows a suspected compromise: sessions opened with the old password end.
        session_rows.revoke_for_user(db, row["username"], utcnow(), "password reset")
        audit.record(db, username=actor, action="user.reset_password", target_type="user",
                     target_id=row["username"])


def _refuse_last_admin_loss(db: Database, row: dict, *, new_role: str, disabled: bool) -> None:
    """Never let the last active admin be demoted or disabled: nobody could manage users after."""
    if row["role"] != "admin" or row["disabled"] or (new_role == "admin" and not disabled):
        return
    active_admins = [u for u in user_rows.list_users(db) if u["role"] == "admin" and not u["disabled"]]
    if len(active_admins) <= 1:
        raise InputError("This is the last active administrator; add another admin first.")


def list_users(db: Database, *, now: datetime | None = None) -> list[dict]:
    """Users with a ``status``: disabled, locked (only while the lock lasts) or active."""
    now = now or datetime.now(timezone.utc)
    rows = user_rows.list_users(db)
    for row in rows:
        locked_until = _parse(row["locked_until"])
        row["status"] = ("disabled" if row["disabled"] else
                         "locked" if locked_until and locked_until > now else "active")
    return rows


def is_session_expired(last_seen: datetime, *, now: datetime | None = None) -> bool:
    """True when a session idle since ``last_seen`` has passed the idle limit."""
    now = now or datetime.now(timezone.utc)
    return now - last_seen > timedelta(minutes=get_settings().session_idle_minutes)
