"""The login gate: first-admin form (only while no user exists) or the login form."""
from __future__ import annotations

import streamlit as st

from engine import auth
from engine.errors import EngineError
from engine.store import open_db
from engine.websession import start_session
from pages.components.session import NOTICE_KEY, sign_in


def render_login() -> None:
    """The only page a signed-out visitor can reach."""
    st.title("ClinSight")
    st.caption("Clinical decision support: options and evidence for clinicians, never a directive.")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.info(notice)
    with open_db() as db:
        first_run = not auth.has_users(db)
    if first_run:
        _render_first_admin_form()
    else:
        _render_login_form()


def _render_login_form() -> None:
    with st.form("login"):
        username = st.text_input("Username")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        try:
            with open_db() as db:
                user = auth.authenticate(db, username.strip(), password)
                session_id, ticket = start_session(db, user.username)
        except EngineError as exc:
            st.error(str(exc))
            return
        sign_in(user, session_id, ticket)
        st.rerun()


def _render_first_admin_form() -> None:
    st.subheader("Create the first administrator")
    st.write("No user exists yet. The account created here is an administrator; it can add clinicians "
             "and analysts afterwards. This form disappears once a user exists.")
    with st.form("first_admin"):
        username = st.text_input("Admin username")
        password = st.text_input("Admin password", type="password")
        confirm = st.text_input("Repeat password", type="password")
        submitted = st.form_submit_button("Create administrator", type="primary")
    if submitted:
        if password != confirm:
            st.error("The two passwords differ.")
            return
        try:
            with open_db() as db:
                user = auth.create_first_admin(db, username.strip(), password)
                session_id, ticket = start_session(db, user.username)
        except EngineError as exc:
            st.error(str(exc))
            return
        sign_in(user, session_id, ticket)
        st.rerun()
