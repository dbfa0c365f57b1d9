"""Keys for ``st.cache_data``: cached results must not outlive a change of store or model folder."""
from __future__ import annotations

from engine.config import get_settings


def settings_cache_key() -> str:
    """The store (path or database URL) and model folder in effect: passed to cached getters so tests and
    servers never share caches."""
    s = get_settings()
    return f"{s.database_url or s.db_path}|{s.models_dir}"
