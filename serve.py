"""The server `make run` starts: the Streamlit app (app.py) plus the session-cookie route.

`streamlit run serve.py` finds the ``st.App`` below and serves app.py exactly as `streamlit run app.py`
would, with one extra HTTP route (engine/websession/routes.py) that sets the HttpOnly session cookie a
reload needs. Nothing else belongs here.
"""
import streamlit as st

from engine.websession.routes import session_routes

app = st.App("app.py", routes=session_routes())
