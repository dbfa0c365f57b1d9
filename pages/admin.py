"""Admin: users and roles, the audit trail with filters and CSV export, and the chain check."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from engine import audit, auth
from engine.activity import audit_filter_values, audit_rows_to_csv, build_audit_per_day_figure, search_audit
from engine.errors import EngineError
from engine.roles import ROLES
from engine.store import open_db
from pages.components.api_tokens import render_api_tokens_admin
from pages.components.session import require_page


def render() -> None:
    user = require_page("admin")
    st.title("Administration")
    users_tab, audit_tab, tokens_tab = st.tabs(["Users", "Audit trail", "API tokens"])
    with users_tab:
        _render_users(user.username)
    with audit_tab:
        _render_audit(user.username)
    with tokens_tab:
        render_api_tokens_admin()


FLASH_KEY = "admin_flash"


def _run(action, success: str) -> None:
    """Run one engine write; on success rerun so the users table above shows the new state.

    The table is drawn before the buttons that change it, so without the rerun a reset (unlock) or a
    role change would show the old status until the page was left. The message survives the rerun.
    """
    try:
        with open_db() as db:
            action(db)
    except EngineError as exc:
        st.error(str(exc))
    else:
        st.session_state[FLASH_KEY] = success
        st.rerun()


def _render_users(actor: str) -> None:
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.success(flash)
    with open_db() as db:
        users = auth.list_users(db)
    frame = pd.DataFrame(users)
    if not frame.empty:
        st.dataframe(frame[["username", "role", "status", "locked_until", "created_at", "last_login_at"]],
                     hide_index=True, key="admin_users_table")

    st.subheader("Add a user")
    with st.form("add_user", clear_on_submit=True):
        col1, col2 = st.columns(2)
        username = col1.text_input("New username")
        role = col2.selectbox("Role", ROLES, key="add_user_role")
        password = st.text_input("Initial password", type="password",
                                 help="At least 10 characters; tell the user through a safe channel.")
        if st.form_submit_button("Add user", type="primary"):
            _run(lambda db: auth.create_user(db, username.strip(), password, role, actor=actor),
                 f"Added {username.strip()} as {role}.")

    names = [u["username"] for u in users]
    if not names:
        return
    st.subheader("Change a user")
    target = st.selectbox("User", names, key="admin_target_user")
    col1, col2, col3 = st.columns(3)
    with col1:
        new_role = st.selectbox("New role", ROLES, key="admin_new_role")
        if st.button("Change role", key="admin_change_role"):
            _run(lambda db: auth.set_role(db, target, new_role, actor=actor), f"{target} is now {new_role}.")
    with col2:
        current = next(u for u in users if u["username"] == target)
        label = "Enable" if current["disabled"] else "Disable"
        st.write("")
        if st.button(f"{label} account", key="admin_toggle_disabled"):
            _run(lambda db: auth.set_disabled(db, target, not current["disabled"], actor=actor),
                 f"{target} {'enabled' if current['disabled'] else 'disabled'}.")
    with col3:
        new_password = st.text_input("New password", type="password", key="admin_new_password")
        if st.button("Reset password (also unlocks)", key="admin_reset_password"):
            _run(lambda db: auth.reset_password(db, target, new_password, actor=actor),
                 f"Password reset for {target}.")


def _render_audit(actor: str) -> None:
    with open_db() as db:
        values = audit_filter_values(db)
        chain = audit.verify_chain(db)
    if chain.ok:
        st.success(f"Audit chain verified: {chain.rows_checked} rows, no row altered or removed.")
    else:
        st.error(f"Audit chain broken at row {chain.first_bad_id}: {chain.reason}")

    col1, col2, col3, col4 = st.columns(4)
    username = col1.selectbox("User", ["(all)"] + values["username"], key="audit_user")
    action = col2.selectbox("Action", ["(all)"] + values["action"], key="audit_action")
    since = col3.date_input("From", value=date.today() - timedelta(days=30), key="audit_since")
    until = col4.date_input("To", value=date.today(), key="audit_until")
    filters = {
        "username": None if username == "(all)" else username,
        "action": None if action == "(all)" else action,
        "since": since.isoformat() if since else None,
        "until": (until + timedelta(days=1)).isoformat() if until else None,
        "limit": 5000,
    }
    with open_db() as db:
        rows = search_audit(db, **filters)
    st.caption(f"{len(rows)} events (newest first, at most 5,000).")
    if not rows:
        st.info("No audit events match these filters.")
        return
    st.plotly_chart(build_audit_per_day_figure(rows), key="audit_per_day")
    st.dataframe(pd.DataFrame(rows).drop(columns=["prev_hash", "hash"]), hide_index=True, key="audit_table")
    if st.download_button("Export CSV", data=audit_rows_to_csv(rows), file_name="clinsight-audit.csv",
                          mime="text/csv", key="audit_export", on_click="rerun"):
        with open_db() as db:
            audit.record(db, username=actor, action="audit.export", target_type="audit",
                         details={"rows": len(rows), **{k: v for k, v in filters.items() if v}})


if __name__ == "__main__":
    from pages.components.standalone import run_app_instead

    run_app_instead()
