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

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
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
    password_hash = hash_password(password)  # before the write lock: argon2 is slow by design
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
    with transaction(db):
        if has_users(db):
            raise AuthError("An administrator already exists; sign in instead.")
        user_rows.insert_user(db, username, hash_password(password), "admin")
        audit.record(db, username=username, action="user.create_first_admin", target_type="user",
                     target_id=username, details={"role": "admin"})
    return User(username, "admin")


def _parse(ts: str | None) -> datetime | None:
    return datetime.fromisoformat(ts) if ts else None


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


_DUMMY_HASH: list[str] = []


def _dummy_verify(password: str) -> None:
    """Spend the same argon2 time for an unknown user, so response time does not reveal which names exist."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(_hasher.hash("not-a-real-password-for-timing-only"))
    _verify(_DUMMY_HASH[0], password)


def authenticate(db: Database, username: str, password: str, *, now: datetime | None = None) -> User:
    """Check a password; count failures, lock after too many, audit every attempt.

    The same message is given for an unknown user and a wrong password so that
    usernames cannot be enumerated.

    Two fixes found by the reliability tests: the refusal is raised *after* the
    transaction commits (raising inside it rolled back the failure counter and
    the audit row, so lockout never triggered and failed logins went
    unaudited); and the slow argon2 check runs *before* the write lock is taken
    (under the lock every other writer queued behind it).
    """
    settings = get_settings()
    now = now or datetime.now(timezone.utc)
    failure = "Wrong username or password."
    candidate = user_rows.get_user(db, username)
    if candidate is None:
        _dummy_verify(password)
        verified = False
    else:
        verified = _verify(candidate["password_hash"], password)
    new_hash = hash_password(password) if verified and _hasher.check_needs_rehash(candidate["password_hash"]) else None
    error: AuthError | None = None
    with transaction(db):
        row = user_rows.get_user(db, username)
        if row is not None and (candidate is None or row["password_hash"] != candidate["password_hash"]):
            verified = _verify(row["password_hash"], password)  # the password changed meanwhile: check again
            new_hash = None
        if row is None:
            audit.record(db, username=None, action="login", outcome="failed", details={"reason": "unknown user"})
            error = AuthError(failure)
        elif (locked_until := _parse(row["locked_until"])) and locked_until > now:
            audit.record(db, username=row["username"], action="login", outcome="locked")
            minutes = max(1, int((locked_until - now).total_seconds() // 60) + 1)
            error = AuthError(f"This account is locked after repeated failed attempts; try again in {minutes} minutes "
                              "or ask an administrator.")
        elif row["disabled"]:
            audit.record(db, username=row["username"], action="login", outcome="disabled")
            error = AuthError("This account is disabled; ask an administrator.")
        elif not verified:
            attempts = row["failed_attempts"] + 1
            fields: dict[str, object] = {"failed_attempts": attempts}
            outcome = "failed"
            if attempts >= settings.lockout_attempts:
                fields = {"failed_attempts": 0,
                          "locked_until": (now + timedelta(minutes=settings.lockout_minutes)).isoformat()}
                outcome = "failed_and_locked"
            user_rows.update_user(db, row["username"], **fields)
            audit.record(db, username=row["username"], action="login", outcome=outcome,
                         details={"attempt": attempts})
            if outcome == "failed_and_locked":
                error = AuthError(f"Too many failed attempts: this account is locked for {settings.lockout_minutes} "
                                  "minutes.")
            else:
                error = AuthError(failure)
        else:
            fields = {"failed_attempts": 0, "locked_until": None, "last_login_at": utcnow()}
            if new_hash is not None:
                fields["password_hash"] = new_hash
            user_rows.update_user(db, row["username"], **fields)
            audit.record(db, username=row["username"], action="login", outcome="ok")
    if error is not None:
        raise error  # after the commit, so the counter and the audit row are kept
    return User(row["username"], row["role"])


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
        audit.record(db, username=actor, action="user.disable" if disabled else "user.enable",
                     target_type="user", target_id=row["username"])


def reset_password(db: Database, username: str, new_password: str, *, actor: str | None) -> None:
    """Set a new password and clear any lockout (an admin unlocking a user does this)."""
    validate_new_password(new_password)
    with transaction(db):
        row = _require_existing(db, username)
        user_rows.update_user(db, row["username"], password_hash=hash_password(new_password), failed_attempts=0,
                              locked_until=None)
        audit.record(db, username=actor, action="user.reset_password", target_type="user",
                     target_id=row["username"])


def _refuse_last_admin_loss(db: Database, row: dict, *, new_role: str, disabled: bool) -> None:
    """Never let the last active admin be demoted or disabled: nobody could manage users after."""
    if row["role"] != "admin" or row["disabled"] or (new_role == "admin" and not disabled):
        return
    active_admins = [u for u in user_rows.list_users(db) if u["role"] == "admin" and not u["disabled"]]
    if len(active_admins) <= 1:
        raise InputError("This is the last active administrator; add another admin first.")


def list_users(db: Database) -> list[dict]:
    return user_rows.list_users(db)


def is_session_expired(last_seen: datetime, *, now: datetime | None = None) -> bool:
    """True when a session idle since ``last_seen`` has passed the idle limit."""
    now = now or datetime.now(timezone.utc)
    return now - last_seen > timedelta(minutes=get_settings().session_idle_minutes)
