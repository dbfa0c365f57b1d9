"""Make a page file opened on its own run the whole app instead.

Streamlit's legacy multipage mode (triggered by the ``pages/`` folder next to
app.py) runs ``pages/<name>.py`` directly for the first request to a deep link
such as ``/admin``, skipping app.py's login gate; AppTest does the same for a
page hash. Every page module therefore ends with::

    if __name__ == "__main__":
        run_app_instead()

so such a run executes app.py, whose ``st.navigation`` then serves the
requested page (its URL-path hash is the same) behind the login gate and the
role filter, exactly as a normal visit would.
"""
from __future__ import annotations

import runpy
from pathlib import Path

APP_PATH = Path(__file__).resolve().parents[2] / "app.py"


def run_app_instead() -> None:
    runpy.run_path(str(APP_PATH), run_name="__main__")
