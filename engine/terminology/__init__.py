"""Code systems the rules can read: a curated SNOMED CT -> ICD-10-CM map for the concepts rules use.

Why a map and not a terminology server: ClinSight runs offline, and the treatment rules (and the
patient search) read ICD-10-CM. Hospitals' FHIR exports code conditions in SNOMED CT. The map in
``snomed_icd10cm.csv`` holds one row per SNOMED CT concept that a rule reads, with the ICD-10-CM code
and where it comes from (the ICD-10-CM Index/Tabular entry or the Official Guidelines); a concept is
added only when its target is certain. Anything outside the map is stored and shown as recorded and
reported as "not used by the rules": a missing map entry must never read as "absent".
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SNOMED_SYSTEM = "http://snomed.info/sct"
ICD10CM_SYSTEMS = frozenset({"ICD-10-CM", "http://hl7.org/fhir/sid/icd-10-cm"})
MAP_FILE = Path(__file__).with_name("snomed_icd10cm.csv")
NOT_USED = "not used by the rules"


@dataclass(frozen=True)
class MapEntry:
    """One curated SNOMED CT concept and the ICD-10-CM code the rules read for it."""

    snomed_code: str
    snomed_display: str
    icd10cm_code: str
    icd10cm_display: str
    read_by: str
    source: str


@lru_cache(maxsize=1)
def snomed_map() -> dict[str, MapEntry]:
    """The curated map, keyed by SNOMED CT concept id (read once)."""
    with MAP_FILE.open(newline="", encoding="utf-8") as fh:
        return {row["snomed_code"]: MapEntry(**row) for row in csv.DictReader(fh)}


def is_icd10cm(system: str | None) -> bool:
    return system is None or system in ICD10CM_SYSTEMS


def rules_code(code: str | None, system: str | None) -> str | None:
    """The ICD-10-CM code the rules read for a stored condition, or None when they cannot read it."""
    if not code:
        return None
    if is_icd10cm(system):
        return code
    if system == SNOMED_SYSTEM:
        entry = snomed_map().get(str(code).strip())
        return entry.icd10cm_code if entry else None
    return None


def rules_note(code: str | None, system: str | None) -> str:
    """What the rules make of a condition, for the patient page and the import report."""
    mapped = rules_code(code, system)
    if mapped is None:
        return NOT_USED
    if is_icd10cm(system):
        return f"ICD-10-CM {mapped}"
    return f"ICD-10-CM {mapped} (mapped from SNOMED CT {code})"


def snomed_codes_for_icd_prefix(prefix: str) -> list[str]:
    """SNOMED CT concepts in the map whose ICD-10-CM code starts with ``prefix`` (for patient search)."""
    wanted = prefix.replace(".", "").upper()
    return sorted(s for s, e in snomed_map().items() if e.icd10cm_code.replace(".", "").startswith(wanted))
