"""ClinSight entry point: page config, login gate, role-filtered navigation. Nothing else."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.components.login import render_login
from pages.components.navigation import build_login_pages, build_pages
from pages.components.session import current_user, render_cookie_handover, render_refusal, sign_out

LOGO = str(Path(__file__).resolve().parent / "assets" / "logo.png")
st.set_page_config(page_title="ClinSight", page_icon=LOGO, layout="wide")
st.logo(LOGO)

user = current_user()
render_cookie_handover()
if user is None:
    # Signed out: the login form answers at every page's URL, so a deep link lands there after log-in.
    st.navigation(build_login_pages(render_login), position="hidden").run()
    st.stop()

navigation = st.navigation(build_pages(user.role, render_refusal))

with st.sidebar:
    st.caption(f"Signed in as **{user.username}** ({user.role})")
    if st.button("Log out", icon=":material/logout:"):
        sign_out("You are logged out.")
        st.rerun()

navigation.run()
