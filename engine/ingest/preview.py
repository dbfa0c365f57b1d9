"""The upload preview with identifiers hidden: what the Records page shows before anything is stored.

Why: the preview showed the raw file (names, record numbers, phone numbers, birth dates) to whoever
uploaded it, and kept it on screen after the import had de-identified the stored rows. A column is
hidden when the proposed mapping or the user's mapping treats it as an identifier (a Safe Harbor name,
a value pattern, a patient id that is pseudonymised, a date that is shifted or generalised), and every
other text cell has identifier-looking fragments (e-mail, phone, SSN, URL, street address) redacted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from engine.ingest.mapping import propose_mapping
from engine.ingest.sources import Source
from engine.privacy import scrub_text

# Fields whose values identify a person whatever de-identification the user picked.
IDENTIFYING_FIELDS = frozenset({"identifier", "patient_id", "birth_date", "zip"})
HIDDEN = "[hidden]"


@dataclass
class MaskedPreview:
    """The first rows with identifier columns hidden; ``hidden`` maps a column to why it is hidden."""

    frame: pd.DataFrame
    hidden: dict[str, str] = field(default_factory=dict)
    redacted_cells: int = 0


def _reason(entry: dict[str, Any]) -> str | None:
    if entry.get("identifier"):
        return str(entry["identifier"])
    if entry.get("field") in IDENTIFYING_FIELDS:
        return str(entry["field"]).replace("_", " ")
    if (entry.get("deid") or "keep") != "keep":
        return f"{entry['deid']} on import"
    return None


def identifier_columns(source: Source, mapping: dict[str, Any] | None = None,
                       sample_rows: int = 200) -> dict[str, str]:
    """Columns to hide, with the reason: detected from names and values, plus any the user's mapping marks."""
    proposed = propose_mapping(source.columns, source.preview(sample_rows))["columns"]
    given = (mapping or {}).get("columns", {})
    hidden: dict[str, str] = {}
    for column in source.columns:
        reason = _reason(proposed.get(column, {})) or _reason(given.get(column, {}))
        if reason:
            hidden[column] = reason
    return hidden


def masked_preview(source: Source, n: int = 20, mapping: dict[str, Any] | None = None) -> MaskedPreview:
    """The first ``n`` rows for display: identifier columns replaced by "[hidden]", free text scrubbed."""
    hidden = identifier_columns(source, mapping)
    frame = source.preview(n).copy()
    redacted = 0
    for column in frame.columns:
        if column in hidden:
            frame[column] = [None if pd.isna(v) else HIDDEN for v in frame[column]]
        elif frame[column].dtype == object:
            cleaned = []
            for value in frame[column]:
                if isinstance(value, str):
                    value, count = scrub_text(value)
                    redacted += count
                cleaned.append(value)
            frame[column] = cleaned
    return MaskedPreview(frame, hidden, redacted)
