"""Per-user API tokens: created by an admin, shown once, stored hashed, revocable.

Why sha256 and not argon2: a token is 256 random bits, so it cannot be guessed
or brute-forced from its hash; a fast hash lets every API call be checked in
microseconds with a unique index lookup. A token acts as its user: the user's
role is read at each call, so a role change, a disabled account or a revoked
token takes effect on the very next request.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from engine import audit
from engine.auth import User
from engine.errors import AuthError, InputError, NotFoundError
from engine.roles import can
from engine.store import Database, transaction
from engine.store import api_tokens as token_rows
from engine.store import users as user_rows

TOKEN_PREFIX = "cst_"
# The last-used time is written at most this often per token, so a busy client
# does not turn every read into a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)
MAX_LABEL_LENGTH = 80
_BAD_TOKEN = "The API token is not valid (unknown or revoked); ask an administrator for a new one."


@dataclass(frozen=True)
class TokenIdentity:
    """Who a presented token belongs to: the user (with their current role) and the token id."""

    user: User
    token_id: int


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _require_manager(db: Database, actor: str | None) -> None:
    """Only an active admin may manage tokens (``actor`` None is the local command line)."""
    if actor is None:
        return
    row = user_rows.get_user(db, actor)
    if row is None or row["disabled"] or not can(row["role"], "api.tokens.manage"):
        raise AuthError("Only an administrator may manage API tokens.")


def create_token(db: Database, username: str, *, actor: str | None, label: str | None = None) -> str:
    """Create a token for ``username`` and return it; it is never retrievable again."""
    label = (label or "").strip() or None
    if label is not None and len(label) > MAX_LABEL_LENGTH:
        raise InputError(f"A token label may have at most {MAX_LABEL_LENGTH} characters.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction(db):
        _require_manager(db, actor)
        row = user_rows.get_user(db, username)
        if row is None:
            raise InputError(f"There is no user named '{username}'.")
        if row["disabled"]:
            raise InputError(f"The user '{row['username']}' is disabled; enable the account first.")
        prefix = token[: len(TOKEN_PREFIX) + 6]
        token_id = token_rows.insert_token(db, user_id=row["id"], token_hash=hash_token(token), prefix=prefix,
                                           label=label, created_by=actor)
        audit.record(db, username=actor, action="api_token.create", target_type="user", target_id=row["username"],
                     details={"token_id": token_id, "prefix": prefix})
    return token


def list_tokens(db: Database) -> list[dict[str, Any]]:
    """Every token's metadata (never the token or its hash), with an ``active`` flag."""
    rows = token_rows.list_tokens(db)
    for row in rows:
        row["disabled"] = bool(row["disabled"])
        row["active"] = row["revoked_at"] is None and not row["disabled"]
    return rows


def revoke_token(db: Database, token_id: int, *, actor: str | None) -> None:
    """Revoke a token at once; the row stays so the audit trail can still name it."""
    with transaction(db):
        _require_manager(db, actor)
        row = token_rows.get_token(db, int(token_id))
        if row is None:
            raise NotFoundError(f"There is no API token with id {token_id}.")
        if row["revoked_at"] is not None:
            raise InputError(f"API token {token_id} was already revoked on {row['revoked_at']}.")
        token_rows.mark_revoked(db, int(token_id), revoked_by=actor)
        audit.record(db, username=actor, action="api_token.revoke", target_type="user", target_id=row["username"],
                     details={"token_id": int(token_id), "prefix": row["prefix"]})


def authenticate_token(db: Database, token: str, *, now: datetime | None = None) -> TokenIdentity:
    """Return who ``token`` belongs to, or raise :class:`AuthError` (unknown, revoked, disabled user).

    The caller audits the outcome (the API audits every call, success or not).
    """
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise AuthError(_BAD_TOKEN)
    row = token_rows.find_by_hash(db, hash_token(token))
    if row is None or row["revoked_at"] is not None:
        raise AuthError(_BAD_TOKEN)
    if row["disabled"]:
        raise AuthError("The account this API token belongs to is disabled; ask an administrator.")
    now = now or datetime.now(timezone.utc)
    last = datetime.fromisoformat(row["last_used_at"]) if row["last_used_at"] else None
    if last is None or now - last >= LAST_USED_RESOLUTION:
        with transaction(db):
            token_rows.touch(db, row["id"], now.replace(microsecond=0).isoformat())
    return TokenIdentity(User(row["username"], row["role"]), row["id"])


__all__ = ["TOKEN_PREFIX", "TokenIdentity", "authenticate_token", "create_token", "hash_token", "list_tokens",
           "revoke_token"]
