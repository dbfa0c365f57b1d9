"""Every page of the app, in navigation order, with its fixed URL path.

A page is listed here once; it appears in the navigation only when its module
exists (features land page by page; there are no placeholder pages) and the
signed-in role may open it (``engine.roles.PAGE_ROLES``).
"""
from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from engine.roles import can_open_page


@dataclass(frozen=True)
class PageSpec:
    url_path: str  # "" for home
    title: str
    icon: str
    module: str
    section: str


PAGE_SPECS: tuple[PageSpec, ...] = (
    PageSpec("", "Home", ":material/home:", "pages.home", "ClinSight"),
    PageSpec("records", "Records", ":material/upload_file:", "pages.records", "Data"),
    PageSpec("patient", "Patient", ":material/person:", "pages.patient", "Care"),
    PageSpec("predict", "Predict", ":material/monitor_heart:", "pages.predict", "Care"),
    PageSpec("imaging", "Imaging", ":material/radiology:", "pages.imaging", "Care"),
    PageSpec("treatment", "Treatment", ":material/medication:", "pages.treatment", "Care"),
    PageSpec("explore", "Explore", ":material/query_stats:", "pages.explore", "Data"),
    PageSpec("models", "Models", ":material/model_training:", "pages.models", "Data"),
    PageSpec("capacity", "Capacity", ":material/bed:", "pages.capacity", "Operations"),
    PageSpec("admin", "Admin", ":material/admin_panel_settings:", "pages.admin", "Admin"),
)


def available_specs() -> list[PageSpec]:
    """Specs whose page module exists in this build."""
    return [spec for spec in PAGE_SPECS if importlib.util.find_spec(spec.module) is not None]


def specs_for_role(role: str) -> list[PageSpec]:
    return [spec for spec in available_specs() if can_open_page(role, spec.url_path)]


NAV_PAGES_KEY = "nav_pages"


def build_pages(role: str) -> dict[str, list]:
    """``st.Page`` objects for ``role``, grouped by section; also kept in session state for page links."""
    import streamlit as st

    sections: dict[str, list] = {}
    by_path = {}
    for spec in specs_for_role(role):
        page = st.Page(render_function(spec), title=spec.title, icon=spec.icon, url_path=spec.url_path or None,
                       default=spec.url_path == "")
        sections.setdefault(spec.section, []).append(page)
        by_path[spec.url_path] = page
    st.session_state[NAV_PAGES_KEY] = by_path
    return sections


def render_page_link(url_path: str, label: str | None = None) -> None:
    """A link to another page that keeps the session (a plain href would start a new, signed-out one)."""
    import streamlit as st

    page = st.session_state.get(NAV_PAGES_KEY, {}).get(url_path)
    if page is not None:
        st.page_link(page, label=label or page.title, icon=page.icon)


def render_function(spec: PageSpec) -> Callable[[], None]:
    """The page module's ``render`` (imported lazily so one broken page cannot hide the others)."""
    return importlib.import_module(spec.module).render
