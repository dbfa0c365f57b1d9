"""Write the FHIR resources a table cannot hold (conditions, medications, allergies, encounters,
immunizations, procedures) inside the import's transaction.

Why a separate step: these rows hang off patients, not off observation times. They are linked to the
patients the same import just wrote (raw FHIR patient id -> store row id, never stored itself), and their
dates get the same treatment as the observations' (the patient's own date shift, the year only, or
removal), so intervals between an encounter and a lab value survive and calendar dates do not.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

from engine.ingest.fhir import DATE_FIELDS, TEXT_FIELDS, FhirContent
from engine.ingest.sources import cell_text
from engine.privacy import date_shift_days, scrub_text
from engine.store import Database
from engine.store import clinical as clinical_rows
from engine.store import patients as patient_rows
from engine.terminology import rules_code

_COLUMNS: dict[str, tuple[str, ...]] = {
    "conditions": patient_rows.FHIR_CONDITION_COLUMNS,
    "medications": patient_rows.MEDICATION_COLUMNS,
    **clinical_rows.TABLE_COLUMNS,
}


def deid_datetime(value: Any, mode: str, shift_days: int) -> str | None:
    """One FHIR date/dateTime de-identified: shifted by whole days, cut to the year, kept or removed.

    A year-only value stays a year (it carries nothing more to hide); times keep minute precision (lengths
    of stay need hours) and are converted to UTC first.
    """
    if not isinstance(value, str) or not value.strip() or mode == "remove":
        return None
    text = value.strip()
    if len(text) == 4 and text.isdigit():
        return text
    if len(text) == 7:  # FHIR's year-month ("2012-09"): read as its first day
        text += "-01"
    try:
        stamp = datetime.fromisoformat(text)  # FHIR dateTime is ISO 8601; Python 3.11 reads offsets and "Z"
    except ValueError:
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(timezone.utc).replace(tzinfo=None)
    if mode == "generalise":
        return f"{stamp.year:04d}"
    if mode == "shift":
        try:
            stamp = stamp + timedelta(days=shift_days)
        except OverflowError:
            return None
    elif mode != "keep":
        return None
    return stamp.strftime("%Y-%m-%dT%H:%M" if "T" in text else "%Y-%m-%d")


def write_resources(db: Database, content: FhirContent, patient_rowids: dict[str, int], *, version_id: int,
                    key: str, date_mode: str) -> Counter:
    """Insert every extras row whose patient this import wrote; returns counts per table plus
    ``not_linked`` (rows whose patient is not in the import) and ``conditions_not_used`` (conditions the
    rules cannot read: neither ICD-10-CM nor in the SNOMED CT map)."""
    counts: Counter = Counter()
    shifts: dict[str, int] = {}
    for table, items in content.extras.items():
        columns = _COLUMNS[table]
        rows = []
        for item in items:
            raw = cell_text(item["patient"])
            rowid = patient_rowids.get(raw) if raw is not None else None
            if rowid is None:
                counts["not_linked"] += 1
                continue
            shift = shifts.get(raw)
            if shift is None:
                shift = shifts[raw] = date_shift_days(key, raw) if date_mode == "shift" else 0
            values = []
            for column in columns[2:]:
                value = item.get(column)
                if column in DATE_FIELDS:
                    value = deid_datetime(value, date_mode, shift)
                elif not isinstance(value, (str, int, float)) or isinstance(value, bool):
                    value = None  # a malformed resource (an object where FHIR has a code): not stored
                elif column in TEXT_FIELDS:
                    value = scrub_text(str(value))[0][:500]
                values.append(value)
            rows.append((rowid, version_id, *values))
            if table == "conditions" and rules_code(item.get("code"), item.get("system")) is None:
                counts["conditions_not_used"] += 1
        if not rows:
            continue
        if table == "conditions":
            counts[table] += patient_rows.insert_conditions(db, rows, with_status=True)
        elif table == "medications":
            counts[table] += patient_rows.insert_medications(db, rows)
        else:
            counts[table] += clinical_rows.insert_rows(db, table, rows)
    return counts
