"""Driving Streamlit widgets the way a user does, each step waiting for the rerun it causes (waits.py)."""
from __future__ import annotations

from tests.e2e.waits import rerun


def choose(page, label: str, option: str, *, kind: str = "stSelectbox", exact: bool = True) -> None:
    """Pick ``option`` in the selectbox (or ``kind="stMultiSelect"``) labelled ``label``.

    ``exact=False`` picks the first option whose text contains ``option``. The list is filtered by typing
    first (long lists are virtualised). A selectbox already showing the option is left alone: choosing
    the current value again does not rerun the app, so there would be no run to wait for.
    """
    widget = page.locator(f'[data-testid="{kind}"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=label)).first
    if kind == "stSelectbox":
        current = widget.locator("input").first.input_value().strip()  # the combobox shows its value here
        if current == option or (not exact and option in current):
            return
    widget.locator('[role="combobox"], input').first.click()
    page.keyboard.type(option)
    choice = (page.get_by_role("option", name=option, exact=True) if exact
              else page.get_by_role("option").filter(has_text=option).first)
    with rerun(page):
        choice.click()
        page.keyboard.press("Escape")
