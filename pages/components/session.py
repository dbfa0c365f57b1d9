"""Signed-in user state and the per-page role check.

Every page's ``render()`` starts with ``user = require_page("<url path>")``:
besides the navigation filter in app.py, the page itself refuses a user whose
role may not open it, so no route to a page (deep link, legacy multipage run,
test harness) shows content to the wrong person.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import streamlit as st

from engine.auth import User, is_session_expired
from engine.config import get_settings
from engine.roles import can, can_open_page
from engine.store import open_db
from engine.websession import ROUTE_PATH, check_session, end_session, resume_from_cookie

USER_KEY = "auth_user"
LAST_SEEN_KEY = "auth_last_seen"
NOTICE_KEY = "auth_notice"
SESSION_ID_KEY = "auth_session_id"  # the web_sessions row this browser session is bound to
TICKET_KEY = "auth_cookie_ticket"  # one-time ticket the browser trades for the HttpOnly cookie
CLEAR_COOKIE_KEY = "auth_clear_cookie"
REFUSAL = "This page is not available for your role."
# The patient another page was working on; the patient page opens it (e.g. "Open this patient's record").
SELECTED_PATIENT_KEY = "selected_patient"


def sign_in(user: User, session_id: int | None = None, ticket: str | None = None) -> None:
    """Remember the user for this connection; ``ticket`` (fresh log-in) is handed to the browser once."""
    st.session_state[USER_KEY] = {"username": user.username, "role": user.role}
    st.session_state[LAST_SEEN_KEY] = datetime.now(timezone.utc)
    if session_id is not None:
        st.session_state[SESSION_ID_KEY] = session_id
    if ticket is not None:
        st.session_state[TICKET_KEY] = ticket


def sign_out(notice: str | None = None, reason: str = "logout") -> None:
    """Forget the user here and revoke the server-side session, so the browser's cookie opens nothing."""
    session_id = st.session_state.get(SESSION_ID_KEY)
    username = (st.session_state.get(USER_KEY) or {}).get("username")
    if session_id is not None:
        with open_db() as db:
            end_session(db, session_id, reason, username=username)
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state[CLEAR_COOKIE_KEY] = True
    if notice:
        st.session_state[NOTICE_KEY] = notice


def _cookie() -> str | None:
    try:
        return st.context.cookies.get(get_settings().session_cookie_name)
    except Exception:  # no request context (e.g. a bare script run): no cookie
        return None


def current_user() -> User | None:
    """The signed-in user, or None (also when the session has been idle too long or was revoked).

    A new connection (reload, deep link, new tab) has an empty session state: the browser's session
    cookie, checked against its server-side row, signs the user back in. A connection that is signed in
    re-checks its row on every run, so log-out elsewhere, disabling and expiry take effect at once.
    """
    data = st.session_state.get(USER_KEY)
    if not data and not st.session_state.get(CLEAR_COOKIE_KEY):
        cookie = _cookie()
        if cookie:
            with open_db() as db:
                resumed = resume_from_cookie(db, cookie)
            if resumed is not None:
                sign_in(resumed.user, resumed.id)
                data = st.session_state[USER_KEY]
    if not data:
        return None
    last_seen = st.session_state.get(LAST_SEEN_KEY)
    if last_seen is None or is_session_expired(last_seen):
        sign_out("Your session expired after a period of inactivity; please log in again.", reason="idle")
        return None
    session_id = st.session_state.get(SESSION_ID_KEY)
    if session_id is not None:
        with open_db() as db:
            live = check_session(db, session_id)
        if live is None:
            sign_out("Your session has ended; please log in again.", reason="revoked")
            return None
        data = {"username": live.username, "role": live.role}  # the role as the store has it now
        st.session_state[USER_KEY] = data
    st.session_state[LAST_SEEN_KEY] = datetime.now(timezone.utc)
    return User(data["username"], data["role"])


def render_cookie_handover() -> None:
    """Hand a fresh log-in's ticket to the browser, or clear the cookie after log-out (invisible script).

    The browser posts the ticket to the session route, whose answer sets the HttpOnly cookie; the
    ticket is single-use and expires within a minute, and the cookie never passes through page scripts.
    """
    ticket = st.session_state.pop(TICKET_KEY, None)
    if ticket:
        body = json.dumps({"ticket": ticket})
        st.html(f"<script>fetch({json.dumps(ROUTE_PATH)}, {{method: 'POST', credentials: 'same-origin', "
                f"headers: {{'Content-Type': 'application/json'}}, body: {json.dumps(body)}}});</script>",
                unsafe_allow_javascript=True)
    elif st.session_state.pop(CLEAR_COOKIE_KEY, None):
        st.html(f"<script>fetch({json.dumps(ROUTE_PATH)}, {{method: 'DELETE', credentials: 'same-origin'}});"
                "</script>", unsafe_allow_javascript=True)


def render_refusal() -> None:
    """What a signed-in user sees on a page their role may not open (a typed URL or an old link)."""
    st.error(REFUSAL)


def require_page(page: str) -> User:
    """Return the signed-in user if their role may open ``page``; otherwise refuse and stop."""
    user = current_user()
    if user is None:
        st.warning("Please log in.")
        st.stop()
    if not can_open_page(user.role, page):
        render_refusal()
        st.stop()
    return user


def user_can(user: User, action: str) -> bool:
    return can(user.role, action)


def require_page_in_fragment(page: str) -> User:
    """The signed-in user, re-checked at the start of a fragment's own run.

    A click inside an ``st.fragment`` reruns only that function: app.py and the page's ``require_page`` do
    not run, so the fragment makes the same check itself (idle expiry, revoked session, role), keeping the
    security of a full run. A failed check reruns the whole app, which then shows the log-in page or the
    refusal.
    """
    user = checked_user(page)
    if user is None:
        st.rerun(scope="app")
    return user


def checked_user(page: str, action: str | None = None) -> User | None:
    """The signed-in user, re-checked now, or None when they may not act on ``page`` (or do ``action``).

    For code that runs without app.py's gate and the page's ``require_page``: a button's ``on_click`` (it runs
    before the script) and a fragment's own run. Without it an open tab whose session has expired, been revoked
    or lost the role could still write once. Same checks as a full run (idle expiry, revoked session, page and action allowed); on failure
    the run that follows shows the log-in page or the refusal, and nothing is written.
    """
    user = current_user()
    if user is None or not can_open_page(user.role, page) or (action is not None and not can(user.role, action)):
        return None
    return user


def start_visit(page_widget_key: str, viewed_key: str) -> None:
    """Call first thing in a page's run: forgets what the previous visit to the page audited.

    Streamlit drops a page's widget state when another page runs, so ``page_widget_key`` (a widget the page
    always draws before its record) is absent exactly when the user has just come (back) to the page.
    """
    if page_widget_key not in st.session_state:
        st.session_state.pop(viewed_key, None)


def viewed_this_visit(viewed_key: str, target: object) -> bool:
    """Whether ``target`` was already shown (and audited) in this visit: redrawing it after a widget changed
    on the same page is the same view, so no second audit row and no store write on a pure read."""
    return st.session_state.get(viewed_key) == target


def mark_viewed(viewed_key: str, target: object) -> None:
    """Remember that this visit's view of ``target`` has been audited."""
    st.session_state[viewed_key] = target
