"""Run the real app (app.py: login gate + navigation) in AppTest, signed in as a role, on a given page.

Going through app.py, not the page module alone, tests what a user gets: the
navigation filter and the page's own role check together.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from pages.components.navigation import NAV_PAGES_KEY
from pages.components.session import LAST_SEEN_KEY, USER_KEY

# A deadline for one script run, never the condition waited for: on a loaded 2-core machine a page with a
# model can take a minute, so the failure message is kept for a run that really hangs.
APPTEST_DEADLINE_S = 300

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = str(REPO_ROOT / "app.py")


def sign_in_state(at: AppTest, username: str, role: str) -> None:
    at.session_state[USER_KEY] = {"username": username, "role": role}
    at.session_state[LAST_SEEN_KEY] = datetime.now(timezone.utc)


def registered_url_paths(at: AppTest) -> list[str]:
    """URL paths the last run's navigation offers in its menu (pages the role may open).

    Pages a role may not open are registered too, hidden, to answer a typed URL with a plain refusal;
    they are not offered, so they are not listed here.
    """
    offered = at.session_state[NAV_PAGES_KEY] if NAV_PAGES_KEY in at.session_state else {}
    registered = {info.get("url_pathname", "") for info in at._registered_pages.values()}
    return [path for path in offered if path in registered]


def open_page(url_path: str, role: str | None = "admin", username: str | None = None,
              timeout: float = APPTEST_DEADLINE_S) -> AppTest:
    """Run app.py signed in as ``role`` (None: signed out) and open ``url_path`` ("" = home).

    The page is requested by its URL-path hash whether or not the navigation
    offers it, as a typed-in deep link would be: a role that may not open it
    must get the refusal (or the login form), never the content.
    """
    at = AppTest.from_file(APP, default_timeout=timeout)
    if role is not None:
        sign_in_state(at, username or f"test_{role}", role)
    at.run()
    if url_path:
        at._page_hash = calc_hash(url_path)
        at.run()
    return at


def run_fragment(at: AppTest, key: str, act: Callable[[AppTest], object] | None = None) -> AppTest:
    """Do ``act`` (e.g. click a button) and run only the ``@st.fragment(key=key)`` it sits in.

    What a browser does for a click inside a fragment: a fragment-scoped run, in which app.py, the page
    and other fragments do not run. AppTest's own ``run()`` always runs the whole script, so this asks its
    script runner for the fragment's run the way the browser's rerun request does (the fragment's id,
    looked up by its key in the test's fragment storage).
    """
    import streamlit.testing.v1.local_script_runner as runner

    ids = list(at._fragment_storage._ids_by_target_key.get(key, {}))
    if len(ids) != 1:
        raise AssertionError(f"the last run registered {len(ids)} fragments with key {key!r}, expected 1")
    if act is not None:
        act(at)
    original = runner.RerunData
    runner.RerunData = functools.partial(original, fragment_id_queue=ids, is_fragment_scoped_rerun=True)
    try:
        at.run()
    finally:
        runner.RerunData = original
    return at


WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class StoreCounter:
    """Counts store connections and write statements (INSERT / UPDATE / DELETE) while installed.

    Every store connection is opened through :func:`engine.store.connect`; this wraps it and installs a
    SQLite trace callback on each new connection (SQLite store only), so a test or bench can tell whether a
    script run wrote to the store at all.
    """

    def __init__(self) -> None:
        self.opens = 0
        self.writes = 0
        self.statements: list[str] = []

    def _trace(self, sql: str) -> None:
        words = sql.split(None, 1)
        if words and words[0].upper() in WRITE_VERBS:
            self.writes += 1
            self.statements.append(sql.strip().split("\n", 1)[0][:80])

    def install(self, monkeypatch=None) -> StoreCounter:
        """Wrap ``engine.store.connect`` (through ``monkeypatch`` when given, so a test undoes it)."""
        import engine.store as store

        connect = store.connect

        def counting_connect(*args, **kwargs):
            db = connect(*args, **kwargs)
            self.opens += 1
            db.conn.set_trace_callback(self._trace)
            return db

        if monkeypatch is not None:
            monkeypatch.setattr(store, "connect", counting_connect)
        else:
            store.connect = counting_connect
        return self

    def snapshot(self) -> tuple[int, int]:
        return self.opens, self.writes
