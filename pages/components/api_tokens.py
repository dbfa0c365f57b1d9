"""The admin page's API-token section: create a token for a user (shown once), list tokens, revoke one.

Called by ``pages/admin.py`` (``render_api_tokens_admin()``). The new token is
kept in session state only until the next run displays it, then dropped: it is
never stored in clear anywhere and cannot be shown again.
"""
from __future__ import annotations

import streamlit as st

from engine.api_tokens import create_token, list_tokens, revoke_token
from engine.auth import list_users
from engine.errors import EngineError
from engine.store import open_db
from pages.components.session import current_user, user_can

NEW_TOKEN_KEY = "api_tokens_new"
NOTICE_KEY = "api_tokens_notice"


def _status(row: dict) -> str:
    if row["revoked_at"]:
        return "revoked"
    return "user disabled" if row["disabled"] else "active"


def render_api_tokens_admin() -> None:
    """Create, list and revoke REST API tokens (admins only; anyone else sees a refusal)."""
    user = current_user()
    if user is None or not user_can(user, "api.tokens.manage"):
        st.error("Only an administrator may manage API tokens.")
        return
    st.subheader("API tokens")
    st.caption("A token lets a hospital system call the REST API as its user, with that user's role. "
               "Only a hash is stored: copy a new token when it is shown, it cannot be shown again.")

    new = st.session_state.pop(NEW_TOKEN_KEY, None)
    if new:
        st.success(f"Token created for **{new['username']}**. Copy it now: it is shown only this once.")
        st.code(new["token"], language=None)
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.success(notice)

    with open_db() as db:
        users = [u["username"] for u in list_users(db) if not u["disabled"]]
        tokens = list_tokens(db)

    with st.form("api_token_create", clear_on_submit=True):
        username = st.selectbox("User", users, key="api_token_user")
        label = st.text_input("Label (what will use it, e.g. 'EHR bridge')", max_chars=80, key="api_token_label")
        create = st.form_submit_button("Create token", icon=":material/key:")
    if create and username:
        try:
            with open_db() as db:
                token = create_token(db, username, actor=user.username, label=label)
        except EngineError as exc:
            st.error(str(exc))
        else:
            st.session_state[NEW_TOKEN_KEY] = {"username": username, "token": token}
            st.rerun()

    if not tokens:
        st.info("No API tokens yet.")
        return
    st.dataframe(
        [{"id": t["id"], "user": t["username"], "role": t["role"], "label": t["label"] or "",
          "token starts": t["prefix"] + "…", "created": t["created_at"], "by": t["created_by"] or "",
          "last used": t["last_used_at"] or "never", "status": _status(t)} for t in tokens],
        hide_index=True, width="stretch",
    )
    active = {t["id"]: t for t in tokens if not t["revoked_at"]}
    if not active:
        return
    choice = st.selectbox("Token to revoke", list(active), key="api_token_revoke",
                          format_func=lambda i: f"#{i} {active[i]['username']} {active[i]['label'] or ''} "
                                                f"({active[i]['prefix']}…)")
    if st.button("Revoke token", key="api_token_revoke_button", icon=":material/block:"):
        try:
            with open_db() as db:
                revoke_token(db, choice, actor=user.username)
        except EngineError as exc:
            st.error(str(exc))
        else:
            st.session_state[NOTICE_KEY] = f"Token #{choice} revoked: it stops working at once."
            st.rerun()
