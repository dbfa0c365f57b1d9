"""Signed-in user state and the per-page role check.

Every page's ``render()`` starts with ``user = require_page("<url path>")``:
besides the navigation filter in app.py, the page itself refuses a user whose
role may not open it, so no route to a page (deep link, legacy multipage run,
test harness) shows content to the wrong person.
"""
from __future__ import annotations

from datetime import datetime, timezone

import streamlit as st

from engine.auth import User, is_session_expired
from engine.roles import can, can_open_page

USER_KEY = "auth_user"
LAST_SEEN_KEY = "auth_last_seen"
NOTICE_KEY = "auth_notice"
# The patient another page was working on; the patient page opens it (e.g. "Open this patient's record").
SELECTED_PATIENT_KEY = "selected_patient"


def sign_in(user: User) -> None:
    st.session_state[USER_KEY] = {"username": user.username, "role": user.role}
    st.session_state[LAST_SEEN_KEY] = datetime.now(timezone.utc)


def sign_out(notice: str | None = None) -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if notice:
        st.session_state[NOTICE_KEY] = notice


def current_user() -> User | None:
    """The signed-in user, or None (also when the session has been idle too long)."""
    data = st.session_state.get(USER_KEY)
    if not data:
        return None
    last_seen = st.session_state.get(LAST_SEEN_KEY)
    if last_seen is None or is_session_expired(last_seen):
        sign_out("Your session expired after a period of inactivity; please log in again.")
        return None
    st.session_state[LAST_SEEN_KEY] = datetime.now(timezone.utc)
    return User(data["username"], data["role"])


def require_page(page: str) -> User:
    """Return the signed-in user if their role may open ``page``; otherwise refuse and stop."""
    user = current_user()
    if user is None:
        st.warning("Please log in.")
        st.stop()
    if not can_open_page(user.role, page):
        st.error("Your role does not give access to this page.")
        st.stop()
    return user


def user_can(user: User, action: str) -> bool:
    return can(user.role, action)
