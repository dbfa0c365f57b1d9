"""The admissions/discharges export: read, check row by row, pseudonymise.

A unit manager's export has one row per stay: the unit, the admit time and the discharge time
(blank while the patient is still in), often a patient number and other columns. Only those four
columns are read; the patient number is replaced by the store's keyed pseudonym as it is read (the
same HMAC as the records import), so no identifier is held, shown or stored. Rows that cannot be a stay
(no admit time, discharge before admit, an overlap with the same patient's other stay, a unit not in the
hospital's list) are left out and reported as problem classes with the file's row numbers, never values.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.ingest.prepare import parse_dates
from engine.ingest.sources import open_source
from engine.privacy import normalise_header
from engine.uploads import check_upload

COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "unit": ("unit", "ward", "care_unit", "careunit", "location", "department", "icu_type", "icutype", "unit_name"),
    "admit": ("admit", "admit_time", "admission_time", "admitted", "admitted_at", "admission", "admit_datetime",
              "admission_datetime", "admit_date", "admission_date", "intime", "in_time", "start"),
    "discharge": ("discharge", "discharge_time", "discharged", "discharged_at", "discharge_datetime",
                  "discharge_date", "outtime", "out_time", "end"),
    "patient": ("patient", "patient_id", "patientid", "mrn", "subject_id", "hospital_number", "medical_record_number",
                "record_number", "pid", "person_id"),
}
PROBLEM_TEXT = {
    "missing_unit": "no unit",
    "unknown_unit": "a unit not in the list of units",
    "bad_admit": "no admit time, or one that is not a date",
    "bad_discharge": "a discharge time that is not a date",
    "discharge_before_admit": "discharge before admit",
    "overlap": "a stay overlapping the same patient's earlier stay",
}


@dataclass
class RowProblem:
    kind: str
    rows: list[int]

    @property
    def message(self) -> str:
        shown = ", ".join(str(r) for r in self.rows[:10])
        more = f" and {len(self.rows) - 10:,} more" if len(self.rows) > 10 else ""
        return f"{len(self.rows):,} row(s) with {PROBLEM_TEXT[self.kind]}: rows {shown}{more} (left out)."

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "n": len(self.rows), "rows": self.rows[:50], "message": self.message}


@dataclass
class Admissions:
    """Checked stays: unit, admit, discharge (NaT while still in), patient pseudonym (or None)."""

    stays: pd.DataFrame
    problems: list[RowProblem] = field(default_factory=list)
    n_rows: int = 0
    columns: dict[str, str | None] = field(default_factory=dict)
    export_end: pd.Timestamp | None = None  # latest time the export knows about
    source: str = "upload"

    @property
    def units(self) -> list[str]:
        return sorted(self.stays["unit"].unique().tolist())

    def summary(self) -> dict[str, Any]:
        s = self.stays
        return {"rows": self.n_rows, "stays_used": int(len(s)), "rows_left_out": self.n_rows - int(len(s)),
                "units": {u: int(n) for u, n in s["unit"].value_counts().sort_index().items()},
                "still_in_unit": int(s["discharge"].isna().sum()),
                "first_admit_date": s["admit"].min().date().isoformat() if len(s) else None,
                "export_end_date": self.export_end.date().isoformat() if self.export_end is not None else None,
                "columns": self.columns, "source": self.source,
                "problems": [p.to_dict() for p in self.problems]}


def _find_column(columns: list[str], role: str, given: str | None) -> str | None:
    if given:
        for col in columns:
            if col == given or normalise_header(col) == normalise_header(given):
                return col
        raise InputError(f"The file has no column named '{given}' for the {role} (column names are case-insensitive).")
    for col in columns:
        if normalise_header(col) in COLUMN_NAMES[role]:
            return col
    return None


def read_admissions(data: bytes, *, units: list[str] | tuple[str, ...] | None, pseudonymise: Callable[[str], str],
                    unit_column: str | None = None, admit_column: str | None = None,
                    discharge_column: str | None = None, patient_column: str | None = None,
                    source: str = "upload") -> Admissions:
    """Read an admissions export (CSV or Excel, sniffed by content) into checked, pseudonymised stays.

    ``units``: the hospital's unit names (case-insensitive); rows naming another unit are reported and
    left out. None accepts every unit named. ``pseudonymise`` maps a patient number to its pseudonym.
    """
    check_upload(data, allowed={"csv", "xlsx"})
    table = open_source(data)
    cols = table.columns
    found = {"unit": _find_column(cols, "unit", unit_column), "admit": _find_column(cols, "admit", admit_column),
             "discharge": _find_column(cols, "discharge", discharge_column),
             "patient": _find_column(cols, "patient", patient_column)}
    missing = [name for name in ("unit", "admit", "discharge") if found[name] is None]
    if missing:
        raise InputError(f"The file needs a unit, an admit time and a discharge time column; no column looks like the "
                         f"{' or '.join(missing)} one (e.g. 'unit', 'admit_time', 'discharge_time'). "
                         f"Columns found: {len(cols)}.")
    frames, rows = [], []
    for chunk in table.iter_chunks():
        keep = [c for c in found.values() if c is not None]
        frames.append(chunk.frame[keep])
        rows.append(chunk.rows)
    if not frames:
        raise InputError("The file has a header but no rows.")
    raw = pd.concat(frames, ignore_index=True)
    row_numbers = np.concatenate(rows)
    problems: dict[str, list[int]] = {}

    def flag(kind: str, mask: np.ndarray) -> None:
        if mask.any():
            problems.setdefault(kind, []).extend(int(r) for r in row_numbers[mask])

    unit_text = raw[found["unit"]].astype(object).where(raw[found["unit"]].notna(), None)
    unit_clean = np.array([str(u).strip() if u is not None else "" for u in unit_text], dtype=object)
    missing_unit = unit_clean == ""
    flag("missing_unit", missing_unit)
    bad = missing_unit.copy()
    if units is not None:
        canonical = {u.strip().lower(): u.strip() for u in units if u.strip()}
        known = np.array([canonical.get(u.lower()) for u in unit_clean], dtype=object)
        unknown = ~missing_unit & np.array([k is None for k in known])
        flag("unknown_unit", unknown)
        bad |= unknown
        unit_clean = np.where(unknown | missing_unit, unit_clean, known)
    admit, _ = parse_dates(raw[found["admit"]])
    bad_admit = np.isnat(admit)
    flag("bad_admit", bad_admit & ~bad)
    bad |= bad_admit
    discharge_text = raw[found["discharge"]]
    discharge, _ = parse_dates(discharge_text)
    bad_discharge = discharge_text.notna().to_numpy() & np.isnat(discharge)
    flag("bad_discharge", bad_discharge & ~bad)
    bad |= bad_discharge
    before = ~np.isnat(discharge) & ~np.isnat(admit) & (discharge < admit)
    flag("discharge_before_admit", before & ~bad)
    bad |= before
    patient = None
    if found["patient"] is not None:
        ids = raw[found["patient"]]
        patient = np.array([pseudonymise(str(v)) if v is not None else None for v in ids], dtype=object)
        del ids
    stays = pd.DataFrame({"unit": unit_clean, "admit": admit, "discharge": discharge,
                          "patient": patient if patient is not None else None, "row": row_numbers})
    stays = stays[~bad]
    if patient is not None:
        overlap_rows = _overlaps(stays)
        if overlap_rows:
            problems.setdefault("overlap", []).extend(overlap_rows)
            stays = stays[~stays["row"].isin(overlap_rows)]
    if stays.empty:
        raise InputError("No row of the file is a usable stay (" + "; ".join(
            RowProblem(k, sorted(v)).message for k, v in problems.items()) + ")")
    known_times = np.concatenate([stays["admit"].to_numpy(), stays["discharge"].dropna().to_numpy()])
    result = Admissions(stays.sort_values("admit").reset_index(drop=True),
                        [RowProblem(k, sorted(v)) for k, v in problems.items()], n_rows=len(raw),
                        columns={k: v for k, v in found.items()}, export_end=pd.Timestamp(known_times.max()),
                        source=source)
    return result


def _overlaps(stays: pd.DataFrame) -> list[int]:
    """Rows whose stay starts before the same patient's previous stay ended (back-to-back transfers are fine)."""
    out: list[int] = []
    with_id = stays[stays["patient"].notna()].sort_values(["patient", "admit", "row"])
    last_patient, last_end = None, None
    for patient, admit, discharge, row in with_id[["patient", "admit", "discharge", "row"]].itertuples(index=False):
        if patient == last_patient and (pd.isna(last_end) or admit < last_end):
            out.append(int(row))
            continue  # the overlapping row is left out; the earlier stay still bounds the next one
        last_patient, last_end = patient, discharge
    return out


# --- daily series ------------------------------------------------------------------------------------------

def daily_arrivals(adm: Admissions, unit: str | None = None, *, end: pd.Timestamp | None = None) -> pd.Series:
    """Admissions per calendar day for ``unit`` (None: every unit), zero-filled, up to the last full day."""
    s = adm.stays if unit is None else adm.stays[adm.stays["unit"] == unit]
    if s.empty:
        raise InputError(f"The export has no stays in unit '{unit}'.")
    end = end if end is not None else adm.export_end
    last_day = (end.normalize() - pd.Timedelta(days=1)) if end is not None else s["admit"].max().normalize()
    days = pd.date_range(s["admit"].min().normalize(), last_day, freq="D")
    counts = s["admit"].dt.normalize().value_counts()
    return counts.reindex(days, fill_value=0).astype(int).rename("arrivals")


def midnight_census(adm: Admissions, days: pd.DatetimeIndex, unit: str | None = None) -> pd.Series:
    """Patients in the unit at the end of each day (24:00), counting stays whose discharge is blank as still in."""
    s = adm.stays if unit is None else adm.stays[adm.stays["unit"] == unit]
    ends = days + pd.Timedelta(days=1)
    admit = s["admit"].to_numpy()
    discharge = s["discharge"].fillna(pd.Timestamp.max).to_numpy()
    admitted = np.searchsorted(np.sort(admit), ends.to_numpy(), side="right")
    gone = np.searchsorted(np.sort(discharge), ends.to_numpy(), side="right")
    return pd.Series(admitted - gone, index=days, name="census")


def stay_lengths(adm: Admissions, unit: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(days, still in) per stay: finished stays' lengths, and for patients still in, the days so far
    (to the export's end), flagged so LOS estimates treat them as censored."""
    s = adm.stays if unit is None else adm.stays[adm.stays["unit"] == unit]
    open_ = s["discharge"].isna().to_numpy()
    end = s["discharge"].fillna(adm.export_end if adm.export_end is not None else s["admit"].max())
    return ((end - s["admit"]).dt.total_seconds() / 86400.0).to_numpy(), open_


def in_unit_at(adm: Admissions, moment: pd.Timestamp, unit: str | None = None) -> np.ndarray:
    """Elapsed days of the patients in the unit at ``moment`` (as known then: later discharges unknown)."""
    s = adm.stays if unit is None else adm.stays[adm.stays["unit"] == unit]
    present = s[(s["admit"] <= moment) & (s["discharge"].isna() | (s["discharge"] > moment))]
    return ((moment - present["admit"]).dt.total_seconds() / 86400.0).to_numpy()


def history_until(adm: Admissions, moment: pd.Timestamp) -> Admissions:
    """The export as it would have looked at ``moment`` (for rolling-origin backtests): later admissions
    dropped and later discharges blanked."""
    s = adm.stays[adm.stays["admit"] < moment].copy()
    s.loc[s["discharge"] > moment, "discharge"] = pd.NaT
    return Admissions(s.reset_index(drop=True), [], n_rows=len(s), columns=adm.columns, export_end=moment,
                      source=adm.source)
