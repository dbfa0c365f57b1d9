"""Browser sessions that survive a reload: a signed, expiring, HttpOnly cookie bound to a server-side row.

See :mod:`engine.websession.service` for the session rules and :mod:`engine.websession.routes` for the one
HTTP route (served beside Streamlit by ``serve.py``) that sets and clears the cookie.
"""
from engine.websession.service import (ROUTE_PATH, WebSession, check_session, end_session, redeem_ticket,
                                       resume_from_cookie, revoke_user_sessions, start_session)

__all__ = ["ROUTE_PATH", "WebSession", "check_session", "end_session", "redeem_ticket", "resume_from_cookie",
           "revoke_user_sessions", "start_session"]
