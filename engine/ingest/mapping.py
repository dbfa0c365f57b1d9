"""Proposed column -> canonical field mapping, which the user confirms or corrects.

A mapping is plain JSON (saved by name in the store and reused for the next
file of the same layout): ``{"columns": {header: {"field", "concept", "unit",
"deid"}}}``. Fields: ``patient_id``, ``age``, ``birth_date``, ``sex``, ``time``
(when the row's observations were taken), ``condition`` (ICD-10-CM codes),
``medication``, ``observation`` (a vocabulary concept, or a local one so no
column is lost), ``identifier`` (a direct identifier: removed), ``zip``
(generalised to ZIP3) and ``ignore``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from engine.errors import InputError
from engine.ingest.units import resolve_unit, unit_in_header
from engine.privacy import detect_identifier_values, identifier_kind_from_name, normalise_header
from engine.vocabulary import CONCEPTS, concept_for_code, local_concept

FIELDS = ("patient_id", "age", "birth_date", "sex", "time", "condition", "medication", "observation", "identifier",
          "zip", "ignore")
DEID_ACTIONS = ("keep", "remove", "pseudonymise", "generalise", "shift")
SINGLE_FIELDS = ("patient_id", "age", "birth_date", "sex", "time")

_NAMES: dict[str, tuple[str, ...]] = {
    "patient_id": ("id", "patient_id", "patientid", "patient", "subject_id", "subject", "record_id", "pid",
                   "participant_id", "study_id", "patient_number", "mrn", "medical_record_number", "case_id"),
    "birth_date": ("dob", "birth_date", "date_of_birth", "birthdate", "birthday", "born"),
    "sex": ("sex", "gender", "sex_at_birth", "administrative_gender"),
    "time": ("date", "visit_date", "encounter_date", "effective_time", "observation_date", "time", "datetime",
             "timestamp", "sample_date", "collection_date", "measured_at", "exam_date"),
    "condition": ("diagnosis", "diagnoses", "conditions", "condition", "icd10", "icd_10", "icd10_code",
                  "icd_10_cm", "dx", "diagnosis_code", "diagnosis_codes", "problem_list"),
    "medication": ("medications", "medication", "drugs", "drug", "meds", "medication_list"),
}
_LOINC_IN_HEADER = re.compile(r"LOINC\s+([0-9]{1,7}-[0-9])", re.IGNORECASE)
_SYNONYMS: dict[str, str] = {}
for _c in CONCEPTS.values():
    for _s in (_c.key, *_c.synonyms, normalise_header(_c.name)):
        _SYNONYMS.setdefault(normalise_header(_s), _c.key)
        _SYNONYMS.setdefault(normalise_header(_s).replace("_", ""), _c.key)
# Common spellings in hospital exports that the vocabulary's synonyms do not carry.
for _extra, _key in {"blood_glucose": "glucose", "glucose_level": "glucose", "fasting_glucose": "glucose",
                     "body_temperature": "body_temperature", "temp_c": "body_temperature", "body_temp": "body_temperature",
                     "systolic_blood_pressure": "systolic_bp", "diastolic_blood_pressure": "diastolic_bp",
                     "heart_rate": "heart_rate", "pulse_rate": "heart_rate", "oxygen_saturation": "spo2",
                     "respiratory_rate": "respiratory_rate", "body_weight": "weight", "body_height": "height",
                     "hemoglobin_a1c": "hba1c", "haemoglobin_a1c": "hba1c", "total_cholesterol": "total_cholesterol",
                     "serum_creatinine": "creatinine"}.items():
    _SYNONYMS.setdefault(_extra, _key)
    _SYNONYMS.setdefault(_extra.replace("_", ""), _key)


@dataclass(frozen=True)
class ColumnMapping:
    """Where one column goes, in which unit, and what de-identification does to it."""

    column: str
    field: str
    concept: str | None = None
    unit: str | None = None
    deid: str = "keep"
    identifier: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "concept": self.concept, "unit": self.unit, "deid": self.deid,
                "identifier": self.identifier}


def _slug(text: str) -> str:
    return normalise_header(text)[:48] or "column"


def _propose_one(column: str, sample: pd.Series) -> ColumnMapping:
    norm = normalise_header(column)
    compact = norm.replace("_", "")
    for field, names in _NAMES.items():
        if norm in names or compact in {n.replace("_", "") for n in names}:
            if field == "patient_id":
                return ColumnMapping(column, "patient_id", deid="pseudonymise",
                                     identifier="mrn" if identifier_kind_from_name(column) == "mrn" else None)
            if field == "birth_date":
                return ColumnMapping(column, field, deid="generalise", identifier="date")
            if field == "time":
                return ColumnMapping(column, field, deid="shift", identifier="date")
            return ColumnMapping(column, field)
    kind = identifier_kind_from_name(column)
    if kind == "zip":
        return ColumnMapping(column, "zip", deid="generalise", identifier="zip")
    if kind is not None:
        return ColumnMapping(column, "identifier", deid="remove", identifier=kind)
    loinc = _LOINC_IN_HEADER.search(column)
    concept = concept_for_code(loinc.group(1)) if loinc else None
    key = concept.key if concept else _SYNONYMS.get(norm) or _SYNONYMS.get(compact)
    if key == "age":
        return ColumnMapping(column, "age", unit="a")
    if key is not None:
        canonical = CONCEPTS[key].unit
        return ColumnMapping(column, "observation", key, resolve_unit(key, canonical, unit_in_header(column)))
    values = [str(v) for v in sample.dropna().head(50)]
    found = detect_identifier_values(values)
    if found is not None:
        kind, _ = found
        if kind == "date":
            return ColumnMapping(column, "observation", None, None, deid="generalise", identifier="date")
        return ColumnMapping(column, "identifier", deid="remove", identifier=kind)
    if loinc:
        return ColumnMapping(column, "observation", None, unit_in_header(column))
    return ColumnMapping(column, "observation", None, unit_in_header(column))


def propose_mapping(columns: list[str], sample: pd.DataFrame) -> dict[str, Any]:
    """A mapping for every column, from its name (synonyms, LOINC codes, units) and a sample of values."""
    proposed = [_propose_one(col, sample[col] if col in sample else pd.Series(dtype=object)) for col in columns]
    taken: set[str] = set()
    result: dict[str, dict[str, Any]] = {}
    for item in proposed:
        entry = item.to_dict()
        # Only one column can be the patient id, age, sex...: later candidates become plain observations.
        if item.field in SINGLE_FIELDS:
            if item.field in taken:
                if item.field == "patient_id":  # a second record number (e.g. an MRN beside the id) is removed
                    entry.update(field="identifier", concept=None, deid="remove", identifier="mrn")
                else:
                    entry.update(field="observation", concept=None,
                                 deid="generalise" if item.field in ("birth_date", "time") else "keep")
            taken.add(item.field)
        result[item.column] = entry
    return {"columns": result}


def concept_for(column: str, entry: dict[str, Any]):
    """The vocabulary concept an observation column is stored as (a local one when none was chosen)."""
    key = entry.get("concept")
    if key and key in CONCEPTS:
        return CONCEPTS[key]
    slug = _slug(column)
    return local_concept(slug, column.strip()[:80], CONCEPTS[key].unit if key in CONCEPTS else entry.get("unit"))


def check_mapping(mapping: dict[str, Any], columns: list[str]) -> dict[str, dict[str, Any]]:
    """The mapping's entries for ``columns``, checked; columns the mapping does not name are proposed fresh."""
    if not isinstance(mapping, dict) or not isinstance(mapping.get("columns"), dict):
        raise InputError("The mapping is not in the expected form ({'columns': {column: {...}}}).")
    entries = mapping["columns"]
    checked: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for col in columns:
        entry = dict(entries.get(col) or _propose_one(col, pd.Series(dtype=object)).to_dict())
        field = entry.get("field")
        if field not in FIELDS:
            raise InputError(f"Column '{col}' is mapped to '{field}', which is not one of {', '.join(FIELDS)}.")
        if entry.get("concept") and entry["concept"] not in CONCEPTS:
            raise InputError(f"Column '{col}' is mapped to concept '{entry['concept']}', which the vocabulary "
                             "does not know.")
        deid = entry.get("deid") or "keep"
        if deid not in DEID_ACTIONS:
            raise InputError(f"Column '{col}' has de-identification action '{deid}'; choose one of "
                             f"{', '.join(DEID_ACTIONS)}.")
        if field == "identifier" and deid == "keep":
            raise InputError(f"Column '{col}' is a direct identifier; it must be removed or pseudonymised, "
                             "not kept.")
        entry["deid"] = deid
        if field in SINGLE_FIELDS:
            counts[field] = counts.get(field, 0) + 1
            if counts[field] > 1:
                raise InputError(f"More than one column is mapped to '{field}'; map exactly one.")
        checked[col] = entry
    missing = [c for c in entries if c not in columns and entries[c].get("field") in ("patient_id",)]
    if missing:
        raise InputError(f"The mapping expects a patient id column '{missing[0]}' that this file does not have.")
    return checked
