"""Run one page's ``render()`` as a signed-in role under AppTest (local stand-in until the lead's helper lands)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from pages.{module} import render
render()
"""


def page_as(module: str, username: str | None, role: str | None) -> AppTest:
    at = AppTest.from_string(SCRIPT.format(root=str(ROOT), module=module), default_timeout=60)
    if username is not None:
        at.session_state["auth_user"] = {"username": username, "role": role}
        at.session_state["auth_last_seen"] = datetime.now(timezone.utc)
    return at


def frame_with(at: AppTest, *columns: str):
    """The first st.dataframe on the page whose table has all ``columns`` (dataframes carry no key here)."""
    for df in at.dataframe:
        value = df.value
        if all(c in value.columns for c in columns):
            return value
    raise AssertionError(f"no dataframe with columns {columns}")
