"""Turn one chunk of text cells into typed, canonical values plus per-row problem masks.

Validation and import both call :func:`prepare_chunk` with the same plan, so
what the report promised is exactly what the import writes. Nothing here
touches the store.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from engine.ingest.mapping import concept_for
from engine.ingest.sources import Chunk
from engine.ingest.units import alt_unit, ALT_UNITS
from engine.privacy import generalise_zip
from engine.vocabulary import LOCAL

_SEX = {"m": "male", "male": "male", "man": "male", "f": "female", "female": "female", "woman": "female",
        "w": "female", "o": "other", "other": "other", "x": "other", "diverse": "other", "u": "unknown",
        "unknown": "unknown"}
_ICD10 = re.compile(r"^([A-TV-Z][0-9][0-9AB])\.?([0-9A-TV-Z]{1,4})?(?:\s+(.*))?$", re.IGNORECASE)
_SNOMED = re.compile(r"^SNOMED:(\d{6,18})(?:\s+(.*))?$", re.IGNORECASE)
_FORMULA = re.compile(r"^(?:[=+@\t\r]|-[^0-9.\s])")
_DECIMAL_COMMA = re.compile(r"^(-?\d+),(\d+)$")
ZIP3_CODE = "local:zip3"
DATE_FORMATS = ("ISO8601", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y%m%d")


@dataclass
class ObsColumn:
    """One observation column: where it goes and how its values are read."""

    column: str
    code: str
    system: str
    name: str
    unit: str | None
    numeric: bool
    concept_key: str | None
    plausible: tuple[float, float] | None
    written_unit: str | None  # the unit the column is recorded in when it is not the canonical one
    deid: str


@dataclass
class Plan:
    """The mapping resolved against the file: which column plays which part."""

    mapping: dict[str, dict[str, Any]]
    patient_id: str | None = None
    id_deid: str = "pseudonymise"
    age: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    time: str | None = None
    time_deid: str = "shift"
    zip: str | None = None
    zip_deid: str = "generalise"
    conditions: list[str] = field(default_factory=list)
    medications: list[str] = field(default_factory=list)
    observations: list[ObsColumn] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)  # removed or pseudonymised direct identifiers
    date_formats: dict[str, str] = field(default_factory=dict)

    @property
    def hashed_columns(self) -> list[str]:
        return [c for c, e in self.mapping.items() if e["field"] != "ignore"]


def build_plan(mapping: dict[str, dict[str, Any]], numeric_columns: set[str]) -> Plan:
    """Resolve a checked mapping into a :class:`Plan`; ``numeric_columns`` says which local columns are numbers."""
    plan = Plan(mapping)
    for col, entry in mapping.items():
        kind = entry["field"]
        if kind == "patient_id":
            plan.patient_id, plan.id_deid = col, entry["deid"] if entry["deid"] != "generalise" else "pseudonymise"
        elif kind == "age":
            plan.age = col
        elif kind == "birth_date":
            plan.birth_date = col
        elif kind == "sex":
            plan.sex = col
        elif kind == "time":
            plan.time, plan.time_deid = col, entry["deid"]
        elif kind == "zip":
            plan.zip, plan.zip_deid = col, entry["deid"]
            if entry["deid"] != "remove":  # kept only as ZIP3 (Safe Harbor), whatever else was asked
                plan.observations.append(ObsColumn(col, ZIP3_CODE, LOCAL, "ZIP code, first 3 digits", None, False,
                                                   None, None, None, "generalise"))
        elif kind == "condition":
            plan.conditions.append(col)
        elif kind == "medication":
            plan.medications.append(col)
        elif kind == "identifier":
            if entry["deid"] == "pseudonymise":  # kept only as a keyed pseudonym (e.g. a second record number)
                plan.identifiers.append(col)
                concept = concept_for(col, {"concept": None, "unit": None})
                plan.observations.append(ObsColumn(col, concept.code, concept.system, concept.name, None, False,
                                                   None, None, None, "pseudonymise"))
        elif kind == "observation" and entry["deid"] != "remove":
            concept = concept_for(col, entry)
            known = entry.get("concept")
            written = entry.get("unit") if known and entry.get("unit") != concept.unit else None
            plan.observations.append(ObsColumn(
                col, concept.code, concept.system, concept.name, concept.unit or None,
                bool(known) or col in numeric_columns, known, concept.plausible,
                written if known and written and alt_unit(known, written) else None, entry["deid"]))
    return plan


@dataclass
class Prepared:
    """One chunk, typed: values in canonical units and boolean masks of the rows with each problem."""

    rows: np.ndarray
    ids: np.ndarray  # raw patient ids as object (None where missing)
    numeric: dict[str, np.ndarray]  # canonical numeric values (NaN when missing or unreadable)
    mixup_values: dict[str, np.ndarray]  # values converted from the other unit (only meaningful under the mask)
    text: dict[str, np.ndarray]  # raw text per column (object)
    masks: dict[tuple[str, str], np.ndarray]  # (problem class, column) -> rows with that problem
    age: np.ndarray
    sex: np.ndarray
    birth: np.ndarray  # datetime64[ns]
    times: np.ndarray  # datetime64[ns]
    zip3: np.ndarray
    conditions: dict[int, list[tuple[str, str, str | None]]]  # chunk row index -> conditions
    medications: dict[int, list[str]]
    row_hash: np.ndarray


def parse_dates(series: pd.Series, fmt: str | None = None) -> tuple[np.ndarray, str]:
    """Parse a text column as dates, trying the usual export formats; returns (datetime64 values, format)."""
    s = series.astype(object)
    present = s.notna()
    best: tuple[int, pd.Series, str] | None = None
    for candidate in ([fmt] if fmt else DATE_FORMATS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # mixed offsets: handled just below
            parsed = pd.to_datetime(s, errors="coerce", format=candidate)
        if not pd.api.types.is_datetime64_any_dtype(parsed):
            # Mixed UTC offsets (FHIR times across a daylight-saving change, or with and without a zone):
            # pandas gives objects; read them all as instants in UTC instead.
            parsed = pd.to_datetime(s, errors="coerce", format=candidate, utc=True)
        ok = int(parsed.notna().sum())
        if best is None or ok > best[0]:
            best = (ok, parsed, candidate)
        if ok == int(present.sum()):
            break
    assert best is not None
    values = best[1]
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert(None)
    return values.to_numpy(dtype="datetime64[ns]"), best[2]


def _numeric(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values, bad mask): numbers parsed, decimal commas accepted; bad = present but not a number."""
    num = pd.to_numeric(series, errors="coerce")
    bad = series.notna().to_numpy() & num.isna().to_numpy()
    if bad.any():
        fixed = pd.to_numeric(series[bad].astype(str).str.replace(_DECIMAL_COMMA, r"\1.\2", regex=True),
                              errors="coerce")
        num = num.astype(float)
        num[bad] = fixed.to_numpy()
        bad = series.notna().to_numpy() & num.isna().to_numpy()
    return num.to_numpy(dtype=float), bad


def _parse_conditions(cell: str | None) -> tuple[list[tuple[str, str, str | None]], bool]:
    if not cell:
        return [], False
    items, bad = [], False
    for part in re.split(r"[|;]", cell):
        part = part.strip()
        if not part:
            continue
        m = _ICD10.match(part)
        if m:
            code = m.group(1).upper() + ("." + m.group(2).upper() if m.group(2) else "")
            items.append((code, "ICD-10-CM", (m.group(3) or "").strip() or None))
            continue
        m = _SNOMED.match(part)
        if m:
            items.append((m.group(1), "http://snomed.info/sct", (m.group(2) or "").strip() or None))
            continue
        bad = True
    return items, bad


def prepare_chunk(chunk: Chunk, plan: Plan, reference: date) -> Prepared:
    """Type one chunk according to ``plan``; ``reference`` is the date ages are computed at without a time."""
    frame, n = chunk.frame, len(chunk.frame)
    masks: dict[tuple[str, str], np.ndarray] = {}

    def add(cls: str, col: str, mask: np.ndarray) -> None:
        if mask.any():
            masks[(cls, col)] = masks.get((cls, col), np.zeros(n, bool)) | mask

    empty_obj = np.full(n, None, dtype=object)
    nat = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    ids = frame[plan.patient_id].to_numpy(dtype=object) if plan.patient_id else empty_obj
    numeric: dict[str, np.ndarray] = {}
    mixup_values: dict[str, np.ndarray] = {}
    text: dict[str, np.ndarray] = {}
    zip3 = empty_obj
    if plan.zip:
        zip3 = frame[plan.zip].map(lambda v: generalise_zip(v) if v else None).to_numpy(dtype=object)
    for obs in plan.observations:
        series = frame[obs.column]
        if obs.code == ZIP3_CODE:
            text[obs.column] = zip3
            continue
        if not obs.numeric:
            values = series.to_numpy(dtype=object)
            text[obs.column] = values
            present = series.notna()
            if present.any():
                add("formula", obs.column, (present & series.astype(str).str.match(_FORMULA)).to_numpy())
            continue
        values, bad = _numeric(series)
        if bad.any():
            raw = series.to_numpy(dtype=object)
            text[obs.column] = raw
            formula = bad & np.array([bool(_FORMULA.match(str(v))) if b else False for v, b in zip(raw, bad)])
            add("formula", obs.column, formula)
            add("bad_value", obs.column, bad & ~formula)
        if obs.written_unit:
            alt = alt_unit(obs.concept_key, obs.written_unit)
            values = alt.to_canonical(values)
        elif obs.concept_key:
            for alt in ALT_UNITS.get(obs.concept_key, ()):
                if alt.suspect is None or obs.plausible is None:
                    continue
                converted = alt.to_canonical(values)
                with np.errstate(invalid="ignore"):
                    mix = ((values >= alt.suspect[0]) & (values <= alt.suspect[1])
                           & (converted >= obs.plausible[0]) & (converted <= obs.plausible[1]))
                if mix.any():
                    add("unit_mixup", obs.column, mix)
                    mixup_values[obs.column] = np.where(mix, converted, np.nan)
                break
        if obs.plausible is not None:
            mix = masks.get(("unit_mixup", obs.column), np.zeros(n, bool))
            with np.errstate(invalid="ignore"):
                out = ((values < obs.plausible[0]) | (values > obs.plausible[1])) & ~mix
            add("out_of_range", obs.column, out)
        numeric[obs.column] = values
    age = np.full(n, np.nan)
    if plan.age:
        age, bad = _numeric(frame[plan.age])
        add("bad_value", plan.age, bad)
        with np.errstate(invalid="ignore"):
            add("out_of_range", plan.age, (age < 0) | (age > 120))
    birth = nat
    times = nat
    if plan.time:
        times, fmt = parse_dates(frame[plan.time], plan.date_formats.get(plan.time))
        plan.date_formats.setdefault(plan.time, fmt)
        add("bad_value", plan.time, frame[plan.time].notna().to_numpy() & np.isnat(times))
    if plan.birth_date:
        birth, fmt = parse_dates(frame[plan.birth_date], plan.date_formats.get(plan.birth_date))
        plan.date_formats.setdefault(plan.birth_date, fmt)
        add("bad_value", plan.birth_date, frame[plan.birth_date].notna().to_numpy() & np.isnat(birth))
        ref = np.where(np.isnat(times), np.datetime64(reference, "ns"), times)
        with np.errstate(invalid="ignore"):
            from_birth = (ref - birth).astype("timedelta64[D]").astype(float) / 365.2425
        from_birth[np.isnat(birth)] = np.nan
        add("out_of_range", plan.birth_date, (from_birth < 0) | (from_birth > 120))
        age = np.where(np.isnan(age), np.floor(from_birth), age)
    sex = np.full(n, "unknown", dtype=object)
    if plan.sex:
        raw = frame[plan.sex]
        lowered = raw.str.strip().str.lower() if raw.notna().any() else raw
        sex = lowered.map(_SEX).fillna("unknown").to_numpy(dtype=object)
        add("bad_value", plan.sex, (raw.notna() & lowered.map(_SEX).isna()).to_numpy())
    conditions: dict[int, list[tuple[str, str, str | None]]] = {}
    for col in plan.conditions:
        bad = np.zeros(n, bool)
        for i, cell in enumerate(frame[col].to_numpy(dtype=object)):
            items, is_bad = _parse_conditions(cell)
            if items:
                conditions.setdefault(i, []).extend(items)
            bad[i] = is_bad
        add("bad_value", col, bad)
    medications: dict[int, list[str]] = {}
    for col in plan.medications:
        for i, cell in enumerate(frame[col].to_numpy(dtype=object)):
            if cell:
                medications.setdefault(i, []).extend(p.strip() for p in str(cell).split("|") if p.strip())
    cols = plan.hashed_columns
    row_hash = (pd.util.hash_pandas_object(frame[cols], index=False).to_numpy() if cols
                else np.arange(n, dtype=np.uint64))
    return Prepared(chunk.rows, ids, numeric, mixup_values, text, masks, age, sex, birth, times, zip3, conditions,
                    medications, row_hash)
