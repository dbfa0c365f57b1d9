"""Bearer-token authentication and the role check, as FastAPI dependencies.

A route declares the action it performs (``Depends(require("predict.run"))``);
the token is resolved to its user with the user's *current* role and checked
against :data:`engine.roles.ACTION_ROLES`, the same table the app uses. The
audit middleware reads who and what from ``request.state``.
"""
from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engine.api_tokens import authenticate_token
from engine.auth import User
from engine.errors import AuthError
from engine.roles import can
from engine.store import open_db

bearer_scheme = HTTPBearer(auto_error=False, bearerFormat="cst_...",
                           description="A per-user API token created by an administrator on the admin page.")

_ACTION_WORDS: dict[str, str] = {
    "predict.run": "run predictions",
    "api.models.read": "read model cards",
    "api.imaging.run": "read chest X-rays",
    "treatment.view": "review treatment options",
}


def _unauthenticated(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def require(action: str) -> Callable[..., User]:
    """Dependency factory: the signed-in API user, if their role may perform ``action``."""

    def dependency(request: Request,
                   credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)) -> User:
        request.state.action = action
        if credentials is None:
            raise _unauthenticated("Send an API token in the header 'Authorization: Bearer <token>'.")
        try:
            with open_db() as db:
                identity = authenticate_token(db, credentials.credentials)
        except AuthError as exc:
            raise _unauthenticated(str(exc)) from None
        request.state.username = identity.user.username
        request.state.token_id = identity.token_id
        if not can(identity.user.role, action):
            words = _ACTION_WORDS.get(action, action)
            raise HTTPException(status_code=403, detail=f"The role '{identity.user.role}' may not {words}.")
        return identity.user

    return dependency
