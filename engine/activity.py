"""What the home page and the admin audit viewer show: counts, recent activity, CSV export."""
from __future__ import annotations

import csv
import io
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from engine.roles import can
from engine.store import Database, count_rows
from engine.store.audit_log import distinct_audit_values, query_audit

PAGE_DESCRIPTIONS: dict[str, str] = {
    "": "Overview: what you can do, store counts and recent activity.",
    "records": "Upload patient records (CSV, Excel, Parquet, FHIR), validate, de-identify and import them.",
    "patient": "Find a patient and review demographics, observations over time, conditions and past predictions.",
    "predict": "Calibrated risk predictions with their reasons, uncertainty and basis; record agree/disagree.",
    "imaging": "Upload a chest X-ray (PNG, JPEG or DICOM) and see the model's read with a heat-map.",
    "treatment": "Guideline-cited treatment options, contraindication checks and similar patients.",
    "explore": "Cohorts, Table 1, hypothesis tests, regression, survival, clustering and data quality.",
    "models": "Model versions, model cards, validation, training and promotion.",
    "admin": "Users and roles, the audit trail, and its export.",
    "capacity": "Census forecast, bed sizing and the nurse roster, from your unit's admissions.",
}


def summarise_home(db: Database, username: str, role: str, *, recent: int = 10) -> dict[str, Any]:
    """Counts of stored records and the most recent audit events visible to this user.

    Admins see everyone's recent activity; others see their own.
    """
    rows = query_audit(db, username=None if can(role, "audit.read") else username, limit=recent)
    return {
        "counts": count_rows(db),
        "recent": [{k: r[k] for k in ("ts", "username", "action", "target_type", "target_id", "outcome")}
                   for r in rows],
    }


def build_counts_figure(counts: dict[str, int]) -> go.Figure:
    """Rows per table on a log scale (Home).

    Built with graph_objects, not plotly.express: Home draws it on every rerun, and px.bar cost about 21 ms
    of CPU against 0.7 ms here for the same five bars (measured, bench/rerun.py)."""
    figure = go.Figure(go.Bar(x=list(counts), y=list(counts.values()),
                              hovertemplate="table=%{x}<br>rows=%{y}<extra></extra>"))
    figure.update_layout(title="Rows per table (log scale)", xaxis_title="table", yaxis_title="rows",
                         yaxis_type="log")
    return figure


def search_audit(db: Database, **filters: Any) -> list[dict[str, Any]]:
    """Audit rows newest first; filters as in :func:`engine.store.audit_log.query_audit`."""
    return query_audit(db, **filters)


def audit_filter_values(db: Database) -> dict[str, list[str]]:
    return {col: distinct_audit_values(db, col) for col in ("username", "action", "target_type")}


def audit_rows_to_csv(rows: list[dict[str, Any]]) -> bytes:
    """CSV of audit rows (UTF-8 with BOM so spreadsheet programs open it correctly)."""
    buffer = io.StringIO()
    columns = ["id", "ts", "username", "action", "target_type", "target_id", "outcome", "details", "prev_hash",
               "hash"]
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _neutralise_formula(row.get(k)) for k in columns})
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _neutralise_formula(value: Any) -> Any:
    """Prefix cells a spreadsheet would run as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# Fixed colours per audit outcome: success reads green and failures red whatever outcomes a period holds
# (plotly's default palette gave "ok" red and "failed" blue). Outcomes not listed here are grey.
OUTCOME_COLORS: dict[str, str] = {
    "ok": "#2e7d32",                 # green
    "failed": "#c62828",             # red
    "failed_and_locked": "#7f0000",  # dark red
    "locked": "#ef6c00",             # orange
    "disabled": "#6d4c41",           # brown
    "denied": "#ad1457",             # crimson-pink
    "unauthenticated": "#f9a825",    # amber
    "rejected": "#ff8f00",           # dark amber
    "not_found": "#78909c",          # blue-grey
    "error": "#4a148c",              # purple
}
OTHER_OUTCOME_COLOR = "#9e9e9e"


def build_audit_per_day_figure(rows: list[dict[str, Any]]) -> go.Figure:
    """Bar chart of audit events per day, stacked by outcome (days as categories: one day is one bar)."""
    frame = pd.DataFrame(rows, columns=["ts", "outcome"])
    per_day = (frame.assign(day=frame["ts"].str[:10]).groupby(["day", "outcome"]).size()
               .reset_index(name="events"))
    colors = {o: OUTCOME_COLORS.get(o, OTHER_OUTCOME_COLOR) for o in per_day["outcome"].unique()}
    figure = px.bar(per_day, x="day", y="events", color="outcome", title="Events per day",
                    color_discrete_map=colors)
    figure.update_xaxes(type="category")
    return figure
