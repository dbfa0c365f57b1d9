"""One Settings object: every path, limit and default, each overridable by env var.

Why: magic paths scattered through modules make tests touch the real store.
Tests point ``CLINSIGHT_DB`` at a temp file and everything follows.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


def _shared_data(name: str) -> Path:
    """The shared data folder ``name``: beside the repository, or beside the folder of worktrees."""
    for base in (REPO_ROOT.parent, REPO_ROOT.parent.parent):
        if (base / "shared" / "data" / name).is_dir():
            return base / "shared" / "data" / name
    return REPO_ROOT.parent / "shared" / "data" / name


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build with :func:`get_settings` so env vars apply."""

    db_path: Path = field(default_factory=lambda: _env_path("CLINSIGHT_DB", REPO_ROOT / "data" / "clinsight.db"))
    models_dir: Path = field(default_factory=lambda: _env_path("CLINSIGHT_MODELS", REPO_ROOT / "assets" / "models"))
    xray_data_dir: Path = field(
        default_factory=lambda: _env_path("CLINSIGHT_XRAY_DATA", REPO_ROOT.parent / "shared" / "data" / "chest_xray")
    )
    icu_data_dir: Path = field(
        default_factory=lambda: _env_path("CLINSIGHT_ICU_DATA", REPO_ROOT.parent / "shared" / "data" / "physionet2012")
    )
    # Authentication
    lockout_attempts: int = field(default_factory=lambda: _env_int("CLINSIGHT_LOCKOUT_ATTEMPTS", 5))
    lockout_minutes: int = field(default_factory=lambda: _env_int("CLINSIGHT_LOCKOUT_MINUTES", 15))
    session_idle_minutes: int = field(default_factory=lambda: _env_int("CLINSIGHT_SESSION_IDLE_MINUTES", 30))
    min_password_length: int = 10
    # Browser sessions (issue 12): the signed cookie outlives a reload, never the idle limit above nor this
    # absolute limit; the one-time ticket that hands the cookie to the browser lives for seconds.
    session_absolute_hours: int = field(default_factory=lambda: _env_int("CLINSIGHT_SESSION_ABSOLUTE_HOURS", 12))
    session_ticket_seconds: int = 60
    session_cookie_name: str = "clinsight_session"
    # Store. CLINSIGHT_DATABASE_URL: unset -> the SQLite file above (embedded default); sqlite:///path -> that
    # file; postgresql://user@host/db (or ?host=/socket/dir) -> PostgreSQL (issue 16, engine/store/postgres.py).
    database_url: str = field(default_factory=lambda: os.environ.get("CLINSIGHT_DATABASE_URL", ""))
    busy_timeout_ms: int = 10_000
    # How long a writer keeps retrying BEGIN IMMEDIATE before telling the user the store is busy.
    write_wait_seconds: int = field(default_factory=lambda: _env_int("CLINSIGHT_WRITE_WAIT_SECONDS", 120))
    # Uploads (Streamlit's own limit is in .streamlit/config.toml; this is the engine's)
    upload_limit_mb: int = field(default_factory=lambda: _env_int("CLINSIGHT_UPLOAD_LIMIT_MB", 200))
    # Explore: the report's PDF is printed by headless Chromium (offline); absent -> HTML only.
    chromium_path: Path = field(default_factory=lambda: _env_path("CLINSIGHT_CHROMIUM", Path("/usr/bin/chromium")))
    report_pdf_timeout_s: int = 90
    # REST API (issue 9): request size limits, checked before a body is parsed.
    api_max_json_kb: int = field(default_factory=lambda: _env_int("CLINSIGHT_API_MAX_JSON_KB", 64))
    api_max_batch_mb: int = field(default_factory=lambda: _env_int("CLINSIGHT_API_MAX_BATCH_MB", 16))
    api_max_upload_mb: int = field(default_factory=lambda: _env_int("CLINSIGHT_API_MAX_UPLOAD_MB", 25))
    api_max_batch_records: int = 10_000
    # Records import (engine/ingest): limits that turn hostile or broken files into clear refusals
    ingest_max_columns: int = field(default_factory=lambda: _env_int("CLINSIGHT_INGEST_MAX_COLUMNS", 2000))
    ingest_chunk_rows: int = field(default_factory=lambda: _env_int("CLINSIGHT_INGEST_CHUNK_ROWS", 50_000))
    xlsx_max_uncompressed_mb: int = 1024
    xlsx_max_ratio: int = 200  # a sheet's XML compresses ~10-50x; far beyond that is a zip bomb
    fhir_max_mb: int = 200
    outlier_z: float = 3.0
    outlier_iqr_k: float = 3.0  # Tukey's "far out" fence; 1.5 flags too much of real clinical data
    k_anonymity_target: int = 5
    # Imaging: torch intra-op threads for single-image inference. One thread is as fast as two for a
    # 128 px image on an idle machine and over 10x faster when the cores are shared (measured here).
    imaging_threads: int = field(default_factory=lambda: _env_int("CLINSIGHT_IMAGING_THREADS", 1))
    # Capacity planning (issue 17): the real ICU length-of-stay default, the units an export may name,
    # simulation sizes and the roster solver's limits.
    capacity_physionet_dir: Path = field(
        default_factory=lambda: _env_path("CLINSIGHT_PHYSIONET2012", _shared_data("physionet2012")))
    capacity_units: tuple[str, ...] = ("ICU", "CCU", "CSRU", "MICU", "SICU", "HDU")
    capacity_forecast_reps: int = field(default_factory=lambda: _env_int("CLINSIGHT_CAPACITY_REPS", 300))
    capacity_bed_sim_arrivals: int = 40_000  # per simulated bed count on the page (CI shown)
    capacity_roster_seconds: int = field(default_factory=lambda: _env_int("CLINSIGHT_ROSTER_SECONDS", 20))
    capacity_roster_workers: int = 2

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file: from a ``sqlite:///path`` database URL, else ``db_path`` (CLINSIGHT_DB)."""
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url[len("sqlite:///"):]).expanduser()
        return self.db_path


def get_settings() -> Settings:
    """Return settings read from the environment now (cheap; not cached so tests can vary env)."""
    return Settings()
