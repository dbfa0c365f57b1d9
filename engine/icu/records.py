"""Read ICU stays (PhysioNet 2012 files, a long CSV, or FHIR Observation series) and clean them.

Why cleaning is rule-based and counted: the challenge files use ``-1`` and ``0``
for "not measured", a few temperatures are in Fahrenheit, FiO2 is sometimes a
percentage and pH sometimes lost its decimal point. Each rule below turns such a
value into what it means (or drops it) and is counted in the import report, so
nobody has to trust a silent fix. The rules, in order:

1. ``-1`` anywhere means missing (the challenge's marker): dropped, counted as ``missing_marker``.
2. A temperature between 77 and 113 is Fahrenheit: converted to Celsius (``temp_fahrenheit``).
3. An FiO2 between 21 and 100 is a percentage: divided by 100 (``fio2_percent``).
4. A pH between 650 and 800 lost its decimal point: divided by 100 (``ph_decimal``).
5. A zero for a quantity that cannot be zero (heart rate, pressures, temperature, saturation,
   respiratory rate, weight, labs) stands for "not measured": dropped (``zero_as_missing``).
6. Anything still outside the parameter's plausible range is a recording error: dropped (``implausible``).
7. An age above 89 (the files use 200-202 as an "over 89" marker) becomes 90, shown as "90+"
   (HIPAA Safe Harbor), counted as ``age_over_89``.
8. A descriptor recorded more than once with different values (several ages in one file) takes
   the median of its values, counted as ``conflicting_descriptor``.
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.icu.parameters import DESCRIPTORS, PARAMETERS

ProgressFn = Callable[[int, int], None]
CLEANING_RULES = ("missing_marker", "temp_fahrenheit", "fio2_percent", "ph_decimal", "zero_as_missing", "implausible",
                  "age_over_89", "conflicting_descriptor")
ZERO_ALLOWED = frozenset({"MechVent", "Urine", "Gender", "TroponinI", "TroponinT"})
LOINC_TO_PARAMETER = {p.loinc: p.name for p in PARAMETERS.values()}


@dataclass
class Stay:
    """One ICU stay: descriptors and a long table of (hours since admission, parameter, value)."""

    record_id: str
    descriptors: dict[str, float]
    series: pd.DataFrame  # columns: hours (float), parameter (str), value (float); sorted by hours

    def values(self, parameter: str) -> pd.DataFrame:
        """Rows of one parameter (hours, value), in time order."""
        return self.series.loc[self.series["parameter"] == parameter, ["hours", "value"]]


@dataclass
class CleaningReport:
    """What the cleaning rules changed or dropped, by rule; shown in the import report."""

    counts: Counter = field(default_factory=Counter)
    unknown_parameters: Counter = field(default_factory=Counter)
    stays: int = 0
    values_kept: int = 0

    def add(self, other: "CleaningReport") -> None:
        self.counts.update(other.counts)
        self.unknown_parameters.update(other.unknown_parameters)
        self.stays += other.stays
        self.values_kept += other.values_kept

    def as_dict(self) -> dict[str, Any]:
        return {"stays": self.stays, "values_kept": self.values_kept,
                "cleaned": {rule: int(self.counts.get(rule, 0)) for rule in CLEANING_RULES},
                "unknown_parameters": dict(self.unknown_parameters)}


def clean_values(parameter: np.ndarray, value: np.ndarray, report: CleaningReport) -> tuple[np.ndarray, np.ndarray]:
    """Apply the documented rules to parallel arrays; return (kept mask, cleaned values)."""
    value = value.astype(float).copy()
    keep = np.isfinite(value)
    missing = keep & (value == -1)
    report.counts["missing_marker"] += int(missing.sum())
    keep &= ~missing
    temp = keep & (parameter == "Temp") & (value >= 77) & (value <= 113)
    value[temp] = (value[temp] - 32.0) * 5.0 / 9.0
    report.counts["temp_fahrenheit"] += int(temp.sum())
    fio2 = keep & (parameter == "FiO2") & (value >= 21) & (value <= 100)
    value[fio2] = value[fio2] / 100.0
    report.counts["fio2_percent"] += int(fio2.sum())
    ph = keep & (parameter == "pH") & (value >= 650) & (value <= 800)
    value[ph] = value[ph] / 100.0
    report.counts["ph_decimal"] += int(ph.sum())
    old = keep & (parameter == "Age") & (value > 89)
    value[old] = 90.0
    report.counts["age_over_89"] += int(old.sum())
    zero_ok = np.isin(parameter, list(ZERO_ALLOWED))
    zero = keep & (value == 0) & ~zero_ok
    report.counts["zero_as_missing"] += int(zero.sum())
    keep &= ~zero
    low = np.array([PARAMETERS[p].low if p in PARAMETERS else -np.inf for p in parameter])
    high = np.array([PARAMETERS[p].high if p in PARAMETERS else np.inf for p in parameter])
    bad = keep & ((value < low) | (value > high))
    report.counts["implausible"] += int(bad.sum())
    keep &= ~bad
    return keep, value


def _hours(text: str) -> float:
    """``hh:mm`` since admission (the challenge format) or plain hours, as float hours."""
    text = text.strip()
    if ":" in text:
        hh, mm = text.split(":", 1)
        return int(hh) + int(mm) / 60.0
    return float(text)


def build_stay(record_id: str, rows: Iterable[tuple[float, str, float]], report: CleaningReport) -> Stay:
    """Clean one stay's (hours, parameter, value) rows; descriptors at time 0 are split out."""
    frame = pd.DataFrame(list(rows), columns=["hours", "parameter", "value"])
    return build_stays(frame.assign(record_id=str(record_id)), report)[0]


def build_stays(frame: pd.DataFrame, report: CleaningReport) -> list[Stay]:
    """Clean a long frame (record_id, hours, parameter, value) of many stays in one vectorised pass."""
    known = frame["parameter"].isin(list(PARAMETERS))
    report.unknown_parameters.update(frame.loc[~known & (frame["parameter"] != "RecordID"), "parameter"].tolist())
    order = frame["record_id"].drop_duplicates().tolist()
    frame = frame[known]
    keep, values = clean_values(frame["parameter"].to_numpy(dtype=object), frame["value"].to_numpy(), report)
    frame = frame.assign(value=values)[keep]
    is_desc = frame["parameter"].isin(DESCRIPTORS)
    descriptors: dict[str, dict[str, float]] = {}
    grouped = frame[is_desc].groupby(["record_id", "parameter"], sort=False)["value"]
    report.counts["conflicting_descriptor"] += int((grouped.nunique() > 1).sum())
    for (rid, name), value in grouped.median().items():
        descriptors.setdefault(str(rid), {})[str(name)] = float(value)
    series = frame[~is_desc].sort_values(["record_id", "hours"], kind="stable")
    groups = {str(rid): g[["hours", "parameter", "value"]].reset_index(drop=True)
              for rid, g in series.groupby("record_id", sort=False)}
    empty = pd.DataFrame({"hours": pd.Series(dtype=float), "parameter": pd.Series(dtype=object),
                          "value": pd.Series(dtype=float)})
    stays = [Stay(record_id=str(rid), descriptors=descriptors.get(str(rid), {}), series=groups.get(str(rid), empty))
             for rid in order]
    report.stays += len(stays)
    report.values_kept += len(series)
    return stays


def _parse_challenge_text(text: str, name: str) -> tuple[str, list[tuple[float, str, float]]]:
    lines = text.splitlines()
    if not lines or lines[0].strip().replace(" ", "") != "Time,Parameter,Value":
        raise InputError(f"File '{name}' does not start with the header 'Time,Parameter,Value'.")
    record_id = Path(name).stem
    rows: list[tuple[float, str, float]] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != 3:
            raise InputError(f"File '{name}' line {number} has {len(parts)} fields; expected 3 (Time,Parameter,Value).")
        time_text, parameter, value_text = parts
        try:
            hours, value = _hours(time_text), float(value_text)
        except ValueError as exc:
            raise InputError(f"File '{name}' line {number} has a time or value that is not a number.") from exc
        if parameter == "RecordID":
            record_id = str(int(value))
            continue
        rows.append((hours, parameter, value))
    return record_id, rows


def _read_text(path: Path) -> str:
    """A record file's text; a UTF-8 byte-order mark (written by some editors and exports) is dropped, so the
    header still reads ``Time,Parameter,Value``."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"File '{Path(path).name}' is not text.") from exc


def read_challenge_file(path: Path, report: CleaningReport) -> Stay:
    """One PhysioNet 2012 record file (``Time,Parameter,Value``)."""
    record_id, rows = _parse_challenge_text(_read_text(path), Path(path).name)
    return build_stay(record_id, rows, report)


def read_challenge_dir(directory: Path, *, progress: ProgressFn | None = None,
                       limit: int | None = None) -> tuple[list[Stay], CleaningReport]:
    """Every ``<RecordID>.txt`` record in a folder, sorted by name, with one merged cleaning report."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"'{directory}' is not a folder of ICU records.")
    files = sorted(p for p in directory.glob("*.txt") if p.name[0].isdigit())[:limit]
    if not files:
        raise InputError(f"Folder '{directory.name}' has no record files (<RecordID>.txt).")
    ids: list[str] = []
    hours: list[float] = []
    params: list[str] = []
    values: list[float] = []
    for i, path in enumerate(files):
        record_id, rows = _parse_challenge_text(_read_text(path), path.name)
        ids.extend([record_id] * len(rows) if rows else [record_id])
        if rows:
            h, p, v = zip(*rows)
            hours.extend(h), params.extend(p), values.extend(v)
        else:  # a stay with no rows at all still counts, as an empty stay
            hours.append(0.0), params.append("RecordID"), values.append(float("nan"))
        if progress and (i % 200 == 0 or i == len(files) - 1):
            progress(i + 1, len(files))
    frame = pd.DataFrame({"record_id": ids, "hours": hours, "parameter": params, "value": values})
    report = CleaningReport()
    return build_stays(frame, report), report


def read_outcomes(path: Path) -> pd.DataFrame:
    """The challenge's ``Outcomes-*.txt``: RecordID -> In-hospital_death (and the rest)."""
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"Could not read the outcomes file '{Path(path).name}'.") from exc
    needed = {"RecordID", "In-hospital_death"}
    missing = needed - set(frame.columns)
    if missing:
        raise InputError(f"The outcomes file lacks the column(s) {', '.join(sorted(missing))}.")
    frame["RecordID"] = frame["RecordID"].astype(int).astype(str)
    return frame.set_index("RecordID")


_TEMP_F = {"degf", "[degf]", "f", "°f", "fahrenheit"}


def read_long_csv(data: bytes | str, report: CleaningReport) -> list[Stay]:
    """CSV ``patient, time, parameter, value, unit``: time as hours, ``hh:mm`` or ISO date-time.

    ISO date-times are turned into hours since each patient's first row. The unit column
    may be empty; a Fahrenheit temperature is converted; a unit other than the parameter's
    stored UCUM unit (or its plain spelling) is refused with the row numbers.
    """
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip().lower() for c in (reader.fieldnames or [])]
    needed = ["patient", "time", "parameter", "value"]
    if not set(needed) <= set(columns):
        raise InputError("The time-series CSV needs the columns patient, time, parameter, value (and optionally unit); "
                         f"it has {', '.join(columns) or 'none'}.")
    by_patient: dict[str, list[tuple[Any, str, float]]] = {}
    bad_rows: list[int] = []
    unit_rows: list[int] = []
    for number, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        parameter = row["parameter"]
        try:
            value = float(row["value"])
        except ValueError:
            bad_rows.append(number)
            continue
        unit = row.get("unit", "").lower()
        if parameter == "Temp" and unit in _TEMP_F:
            value = (value - 32.0) * 5.0 / 9.0
            report.counts["temp_fahrenheit"] += 1
        elif unit and parameter in PARAMETERS and unit not in {PARAMETERS[parameter].unit.lower(), _plain(PARAMETERS[parameter].unit)}:
            unit_rows.append(number)
            continue
        by_patient.setdefault(row["patient"], []).append((row["time"], parameter, value))
    if bad_rows:
        raise InputError(f"The value is not a number in row(s) {_rows(bad_rows)}.")
    if unit_rows:
        raise InputError(f"The unit is not the parameter's unit in row(s) {_rows(unit_rows)}; "
                         "give values in the units listed in the README's ICU section.")
    stays = []
    for patient, rows in by_patient.items():
        stays.append(build_stay(patient, to_hours(rows, patient), report))
    return stays


def _plain(unit: str) -> str:
    return {"mm[Hg]": "mmhg", "Cel": "degc", "/min": "/min", "10*3/uL": "10^3/ul"}.get(unit, unit.lower())


def _rows(numbers: list[int], limit: int = 8) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def to_hours(rows: list[tuple[Any, str, float]], patient: str) -> list[tuple[float, str, float]]:
    if rows and all(_ISO.match(str(t)) for t, _, _ in rows):
        stamps = [datetime.fromisoformat(str(t).replace("Z", "+00:00")) for t, _, _ in rows]
        start = min(stamps)
        return [((s - start).total_seconds() / 3600.0, p, v) for s, (_, p, v) in zip(stamps, rows)]
    out = []
    for t, p, v in rows:
        try:
            out.append((_hours(str(t)), p, v))
        except ValueError as exc:
            raise InputError("A time is neither hours, hh:mm nor an ISO 8601 date-time; "
                             "every row of one patient must use the same form.") from exc
    return out


def read_fhir_observations(doc: dict[str, Any], report: CleaningReport) -> list[Stay]:
    """A FHIR R4 Bundle of Observations (LOINC-coded, valueQuantity, effectiveDateTime) as stays."""
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        raise InputError("The FHIR file is not a Bundle.")
    rows: dict[str, list[tuple[Any, str, float]]] = {}
    for entry in doc.get("entry") or []:
        res = (entry or {}).get("resource") or {}
        if res.get("resourceType") != "Observation":
            continue
        subject = ((res.get("subject") or {}).get("reference") or "").split("/")[-1] or "unknown"
        when = res.get("effectiveDateTime")
        codings = (res.get("code") or {}).get("coding") or []
        parameter = next((LOINC_TO_PARAMETER[c.get("code")] for c in codings if c.get("code") in LOINC_TO_PARAMETER), None)
        quantity = res.get("valueQuantity") or {}
        if parameter is None or when is None or "value" not in quantity:
            report.unknown_parameters["fhir:" + (codings[0].get("code", "?") if codings else "?")] += 1
            continue
        rows.setdefault(subject, []).append((when, parameter, float(quantity["value"])))
    return [build_stay(pid, to_hours(r, pid), report) for pid, r in rows.items()]


def load_fhir(path: Path, report: CleaningReport) -> list[Stay]:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"'{Path(path).name}' is not readable FHIR JSON.") from exc
    return read_fhir_observations(doc, report)


def read_any(path: Path, *, limit: int | None = None, progress: ProgressFn | None = None) -> tuple[list[Stay], CleaningReport]:
    """A folder of challenge records, a long CSV (``.csv``) or a FHIR Observation bundle (``.json``)."""
    path = Path(path)
    report = CleaningReport()
    if path.is_dir():
        return read_challenge_dir(path, progress=progress, limit=limit)
    if path.suffix.lower() == ".csv":
        stays = read_long_csv(path.read_bytes(), report)
    elif path.suffix.lower() == ".json":
        stays = load_fhir(path, report)
    else:
        raise InputError("An ICU import is a folder of <RecordID>.txt records, a .csv (patient, time, parameter, "
                         "value, unit) or a .json FHIR bundle of Observations.")
    return (stays[:limit] if limit else stays), report


MAX_ZIP_MEMBERS = 20_000
MAX_ZIP_UNCOMPRESSED_MB = 1024


def read_upload(data: bytes, *, limit: int | None = None) -> tuple[list[Stay], CleaningReport]:
    """An uploaded ICU file, recognised by its content (never its name): a .zip of ``<RecordID>.txt``
    challenge records, a FHIR R4 bundle of Observations (JSON), or a long CSV."""
    import zipfile

    report = CleaningReport()
    if data[:4] == b"PK\x03\x04":
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise InputError("The .zip file is damaged and cannot be opened.") from exc
        members = sorted((m for m in archive.infolist() if not m.is_dir() and m.filename.endswith(".txt")
                          and Path(m.filename).name[:1].isdigit()), key=lambda m: m.filename)[:limit]
        if not members:
            raise InputError("The .zip holds no ICU record files (<RecordID>.txt, 'Time,Parameter,Value').")
        if len(members) > MAX_ZIP_MEMBERS or sum(m.file_size for m in members) > MAX_ZIP_UNCOMPRESSED_MB * 2**20:
            raise InputError(f"The .zip is too large: at most {MAX_ZIP_MEMBERS:,} records and "
                             f"{MAX_ZIP_UNCOMPRESSED_MB:,} MB unpacked.")
        frames = []
        for number, member in enumerate(members, start=1):
            try:
                text = archive.read(member).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"Record file {number} in the .zip is not text.") from exc
            record_id, rows = _parse_challenge_text(text, f"record {number}")
            frame = pd.DataFrame(rows, columns=["hours", "parameter", "value"]) if rows else \
                pd.DataFrame({"hours": [0.0], "parameter": ["RecordID"], "value": [float("nan")]})
            frames.append(frame.assign(record_id=record_id))
        return build_stays(pd.concat(frames, ignore_index=True), report), report
    head = data.lstrip()[:1]
    if head == b"{":
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError("The JSON file is not valid FHIR JSON.") from exc
        stays = read_fhir_observations(doc, report)
    else:
        stays = read_long_csv(data, report)
    if not stays:
        raise InputError("The file holds no ICU values.")
    return (stays[:limit] if limit else stays), report
