"""The records list and saved mappings: what the records page and ``records`` command show.

Why here and not in the page: the quality summary (rows dropped, flagged,
problem counts) is read from each version's stored report, the same for the
page and the command line.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

from engine import audit
from engine.errors import InputError
from engine.store import Database, transaction
from engine.store import records as record_rows
from engine.store.patients import list_dataset_names


def list_versions(db: Database) -> list[dict[str, Any]]:
    """Every dataset version, newest first, with live patient counts and a quality summary."""
    out = []
    for row in record_rows.list_versions_detailed(db):
        report = json.loads(row.pop("report") or "null") or {}
        result = report.get("result") or {}
        out.append({
            **row,
            "rows_in_file": report.get("n_rows"),
            "rows_dropped": result.get("dropped"),
            "values_flagged": result.get("flagged"),
            "values_converted": result.get("converted"),
            "problems": ", ".join(f"{k}: {v}" for k, v in (report.get("classes") or {}).items()) or "none",
            "k_anonymity": (report.get("k_anonymity") or {}).get("k"),
        })
    return out


def save_named_mapping(db: Database, name: str, mapping: dict[str, Any], *, username: str) -> None:
    """Save (or replace) a mapping under ``name`` for the next file of the same layout."""
    name = (name or "").strip()
    if not name:
        raise InputError("Give the mapping a name to save it.")
    if not isinstance(mapping, dict) or "columns" not in mapping:
        raise InputError("The mapping is not in the expected form.")
    with transaction(db):
        record_rows.save_mapping(db, name, mapping, username)
        audit.record(db, username=username, action="records.mapping_save", target_type="mapping", target_id=name,
                     details={"columns": len(mapping["columns"])})


def load_named_mapping(db: Database, name: str) -> dict[str, Any]:
    mapping = record_rows.load_mapping(db, name)
    if mapping is None:
        raise InputError(f"There is no saved mapping named '{name}'.")
    return mapping


def mapping_names(db: Database) -> list[str]:
    return [m["name"] for m in record_rows.list_mappings(db)]


def default_dataset_name(db: Database, today: date | None = None) -> str:
    """A neutral name for an import (``import-2026-11-30-1``): never the file name, which may name the patient."""
    today = today or datetime.now(timezone.utc).date()
    prefix = f"import-{today.isoformat()}-"
    taken = {n for n in list_dataset_names(db) if n.startswith(prefix)}
    n = 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"
