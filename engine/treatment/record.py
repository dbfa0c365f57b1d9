"""The canonical patient record: validate one (from JSON, the API, the page) or build one from the store.

Shape (documented in the README, section "Treatment options")::

    {"age": 50, "sex": "female",
     "conditions":   [{"code": "E11", "system": "ICD-10-CM"}],
     "observations": [{"code": "4548-4", "value": 7.9, "unit": "%", "time": "2026-10-01"}],
     "medications":  ["metformin", {"display": "lisinopril 10 mg", "drug_class": "ace_inhibitor"}],
     "allergies":    ["penicillin", {"substance": "amoxicillin", "reaction": "rash"}],
     "predictions":  [{"model_name": "...", "model_version": "...", "output": {...}, "created_at": "..."}]}

Validation turns every observation into the concept's canonical UCUM unit (refusing
units that cannot be converted and values outside physiological plausibility, which
are almost always unit or entry errors) and resolves medications and allergies to
drug classes. Anything wrong is an :class:`InputError` with a sentence that names the
field and item, never the patient, and never repeats submitted text (a code, unit or key
can hold anything, an identifier typed into the wrong box included): messages say which
item (by position) and what is expected, using the vocabulary's own names.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from engine.errors import InputError, NotFoundError
from engine.store import Database
from engine.store import patients as patient_rows
from engine.store import treatment as treatment_rows
from engine.terminology import NOT_USED, SNOMED_SYSTEM, rules_code
from engine.treatment import units
from engine.treatment.knowledge import KnowledgeBase
from engine.treatment.valuesets import ValueSet, is_icd10cm_code, normalise_code
from engine.unit_text import with_unit
from engine.vocabulary import concept_for_code

SEXES = ("female", "male", "other", "unknown")
RECORD_FIELDS = ("age", "sex", "conditions", "observations", "medications", "allergies", "predictions", "pseudo_id",
                 "as_of", "confirmed")
# States a clinician can confirm as present (true) or absent (false); not given = unknown ("to confirm").
CONFIRMABLE = ("pregnant", "angioedema_history")
ANGIOEDEMA_WORDS = ("angioedema", "angio-oedema", "angiooedema", "angioneurotic", "angio-edema")
ISO_HINT = "an ISO 8601 date or date-time such as 2026-10-01 or 2026-10-01T08:30"
# ICD-10-CM shape: a letter, a digit, a letter or digit, then optionally up to four more after the dot (E11, I25.10).
ICD10CM_CODE = re.compile(r"[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?")
ICD10CM_HINT = "an ICD-10-CM code such as E11 or I25.10"
INACTIVE_MEDICATION_STATUSES = {"stopped", "completed", "inactive", "entered-in-error", "cancelled"}


@dataclass(frozen=True)
class Observation:
    code: str
    name: str
    value: float          # in the concept's canonical unit
    unit: str             # canonical UCUM unit
    original_value: float
    original_unit: str
    time: str | None
    source: str           # "record", "store", "clinician (this session)"
    when: datetime | None = None   # ``time`` parsed (UTC); None when undated


@dataclass
class PatientRecord:
    """A validated record: what the rule engine reads."""

    age: float | None
    sex: str
    conditions: list[dict[str, Any]]
    observations: dict[str, list[Observation]]
    medications: list[dict[str, Any]]
    allergies: list[dict[str, Any]]
    predictions: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    as_of: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    confirmed: dict[str, bool] = field(default_factory=dict)

    def latest(self, codes: list[str]) -> Observation | None:
        """The most recent observation in time with any of ``codes`` (undated ones count as oldest)."""
        candidates = [(i, o) for code in codes for i, o in enumerate(self.observations.get(code, []))]
        if not candidates:
            return None
        oldest = datetime.min.replace(tzinfo=timezone.utc)
        return max(candidates, key=lambda pair: (pair[1].when or oldest, pair[0]))[1]

    def readings(self, codes: list[str]) -> list[Observation]:
        return [o for code in codes for o in self.observations.get(code, [])]

    def find_condition(self, value_set: ValueSet) -> dict[str, Any] | None:
        """The first recorded condition whose code is in ``value_set`` (membership from the ICD-10-CM hierarchy)."""
        for cond in self.conditions:
            if value_set.contains(cond["code"]):
                return cond
        return None

    def medication_classes(self) -> set[str]:
        return {cls for med in self.medications if med["active"] for cls in med["classes"]}

    def own_medication_classes(self) -> set[str]:
        """Current classes without those only contained in a combination (the ARB inside an ARNi)."""
        return {cls for med in self.medications if med["active"] for cls in med["classes"]
                if cls not in med["contained"]}

    def allergy_classes(self) -> set[str]:
        return {cls for allergy in self.allergies for cls in allergy["classes"]}


def icd10cm_code(value: Any) -> str | None:
    """``value`` as an ICD-10-CM code of the tabular list (dotted, upper case), or None when it is not one."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    if not ICD10CM_CODE.fullmatch(code) or not is_icd10cm_code(code):
        return None
    return normalise_code(code)


def icd10cm_shape(value: Any) -> bool:
    return isinstance(value, str) and ICD10CM_CODE.fullmatch(value.strip().upper()) is not None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 date or date-time as an aware UTC datetime; None when ``value`` is not one.

    Only ISO 8601: "10/01/2026" is October 1st in one country and January 10th in another, so it is
    refused rather than guessed. A date-time without an offset is read as UTC.
    """
    if not isinstance(value, str) or not re.match(r"^\d{4}-?\d{2}-?\d{2}", value.strip()):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def validate_record(record: Any, kb: KnowledgeBase) -> PatientRecord:
    """Check a canonical record and return it normalised; InputError names the first problem."""
    if not isinstance(record, dict):
        raise InputError("The patient record must be a JSON object with age, sex, conditions, observations, "
                         "medications and allergies.")
    unknown = set(record) - set(RECORD_FIELDS)
    age = record.get("age")
    if age is not None and (not _is_number(age) or not 0 <= float(age) <= 130):
        raise InputError("Field 'age' must be a number of years between 0 and 130 (or null when unknown).")
    sex = record.get("sex") or "unknown"
    if sex not in SEXES:
        raise InputError(f"Field 'sex' must be one of {', '.join(SEXES)}.")
    warnings: list[str] = []
    if unknown:
        # Counted, not named: an unknown key is free text (a "patient_name" or "ssn" field, say).
        count = f"{len(unknown)} field{'s' if len(unknown) > 1 else ''}"
        warnings.append(f"{count} not used by the treatment rules {'were' if len(unknown) > 1 else 'was'} ignored; "
                        f"the record's fields are: {', '.join(RECORD_FIELDS)}.")
    as_of = datetime.now(timezone.utc)
    if record.get("as_of") is not None:
        as_of = parse_time(record["as_of"])
        if as_of is None:
            raise InputError(f"Field 'as_of' must be {ISO_HINT}.")
    confirmed = record.get("confirmed") or {}
    if not isinstance(confirmed, dict) or any(k not in CONFIRMABLE or not isinstance(v, bool)
                                              for k, v in confirmed.items()):
        raise InputError(f"Field 'confirmed' must map {' / '.join(CONFIRMABLE)} to true or false.")
    conditions = _conditions(record.get("conditions", []), warnings)
    observations = _observations(record.get("observations", []), warnings, as_of)
    medications = _medications(record.get("medications", []), kb, warnings)
    allergies = _allergies(record.get("allergies", []), kb, warnings)
    predictions = record.get("predictions", [])
    if not isinstance(predictions, list):
        raise InputError("Field 'predictions' must be a list.")
    if age is None:
        warnings.append("Age is not recorded: age criteria are reported as missing.")
    return PatientRecord(None if age is None else float(age), sex, conditions, observations, medications,
                         allergies, predictions, warnings, as_of, dict(confirmed))


def _list_field(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"Field '{name}' must be a list.")
    return value


def _conditions(items: Any, warnings: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(_list_field(items, "conditions"), start=1):
        if isinstance(item, str):
            item = {"code": item}
        if not isinstance(item, dict) or not isinstance(item.get("code"), str) or not item["code"].strip():
            raise InputError(f"Condition {i} must be an object with a 'code' (ICD-10-CM, e.g. E11).")
        system = item.get("system") or "ICD-10-CM"
        icd_system = isinstance(system, str) and \
            system.upper().replace("-", "").replace(" ", "") in {"ICD10CM", "HTTP://HL7.ORG/FHIR/SID/ICD10CM"}
        code = icd10cm_code(item["code"]) if icd_system else None
        mapped_from = None
        if system == SNOMED_SYSTEM and rules_code(item["code"].strip(), system) is not None:
            # A SNOMED CT concept in the curated map reaches the rules as its ICD-10-CM code (issue 18).
            code, icd_system, mapped_from = rules_code(item["code"].strip(), system), True, \
                f"SNOMED CT {item['code'].strip()}"
        if code is None and item.get("source") == "store":
            # Accepted earlier by another path (the import keeps SNOMED CT codes): left out and reported, so the
            # review still opens on the conditions the rules can read.
            warnings.append(f"Stored condition {i} ({_label(item)}) is {NOT_USED}: it has no code of the ICD-10-CM "
                            "tabular list and is not in the SNOMED CT map.")
            continue
        if not icd_system:
            raise InputError(f"Condition {i} uses a code system other than ICD-10-CM; only ICD-10-CM codes "
                             "(and the concepts of ClinSight's curated code map) are supported.")
        if code is None and not icd10cm_shape(item["code"]):
            raise InputError(f"Condition {i} must have {ICD10CM_HINT}; the code given is not in that form.")
        if code is None:
            raise InputError(f"Condition {i} has a code that is not in the ICD-10-CM tabular list (April 2026 "
                             "release); check the code.")
        entry = {"code": code, "system": "ICD-10-CM", "display": item.get("display"),
                 "source": item.get("source", "record")}
        if mapped_from or item.get("mapped_from"):
            entry["mapped_from"] = mapped_from or str(item["mapped_from"])[:40]
        out.append(entry)
    return out


def _label(item: dict[str, Any]) -> str:
    """A stored condition named by its coded display (vocabulary text, not typed input), else its system."""
    display = item.get("display")
    return str(display)[:80] if isinstance(display, str) and display.strip() else str(item.get("system"))[:40]


def _observations(items: Any, warnings: list[str], as_of: datetime) -> dict[str, list[Observation]]:
    out: dict[str, list[Observation]] = {}
    for i, item in enumerate(_list_field(items, "observations"), start=1):
        if not isinstance(item, dict) or not isinstance(item.get("code"), str):
            raise InputError(f"Observation {i} must be an object with 'code' (LOINC), 'value' and 'unit'.")
        code = item["code"].strip()
        concept = concept_for_code(code)
        if concept is None:
            warnings.append(f"Observation {i} has a code that is not in ClinSight's vocabulary (LOINC codes such as "
                            "4548-4 for HbA1c); it was not used.")
            continue
        try:
            value, unit, canonical_value, canonical_unit = _checked_value(i, item, code, concept)
        except InputError as exc:
            if item.get("source") != "store":
                raise
            # Stored data were accepted earlier by another path: a value that fails here is reported and
            # left out (so the criterion reads as missing, never as normal) instead of hiding the review.
            warnings.append(f"A stored {concept.name} value was not used: {exc}")
            continue
        time = item.get("time")
        when = None if time in (None, "") else parse_time(time)
        if time not in (None, "") and when is None:
            if item.get("source") != "store":
                raise InputError(f"Observation {i} ({concept.name}) has a 'time' that is not {ISO_HINT}; dates such "
                                 "as 10/01/2026 are ambiguous and are not accepted.")
            warnings.append(f"A stored {concept.name} value has a date that is not ISO 8601; it was used as undated.")
            time = None
        if when is not None and when > as_of:
            raise InputError(f"Observation {i} ({concept.name}) is dated after the review date.")
        if unit.strip() in units.FRACTION_UNITS and code == "local:ascvd_risk_10y":
            warnings.append(f"Observation {i} (10-year ASCVD risk) was given as a fraction and converted to a "
                            f"percentage ({float(value):g} -> {canonical_value:g}%).")
        elif code == "local:ascvd_risk_10y" and 0 < canonical_value < 1:
            warnings.append(f"Observation {i} (10-year ASCVD risk) is below 1%; if it was meant as a fraction, "
                            "give it with unit '1' so it is converted.")
        out.setdefault(code, []).append(Observation(code, concept.name, canonical_value, canonical_unit, float(value),
                                                    units.normalise_unit(unit), None if time is None else str(time),
                                                    str(item.get("source", "record")), when))
    return out


def _checked_value(i: int, item: dict[str, Any], code: str, concept) -> tuple[float, str, float, str]:
    value = item.get("value")
    if not _is_number(value):
        raise InputError(f"Observation {i} ({concept.name}) needs a numeric 'value'.")
    unit = item.get("unit")
    if not isinstance(unit, str) or not unit.strip():
        raise InputError(f"Observation {i} ({concept.name}) needs a 'unit' (UCUM, e.g. {concept.unit or '1'}).")
    canonical_value, canonical_unit = units.to_canonical(code, float(value), unit,
                                                         label=f"Observation {i} ({concept.name})")
    if concept.plausible is not None:
        low, high = concept.plausible
        if not low <= canonical_value <= high:
            raise InputError(f"Observation {i} ({concept.name}) is outside the plausible range "
                             f"{with_unit(f'{low:g}-{high:g}', concept.unit)}; check the value and its unit.")
    return float(value), unit, canonical_value, canonical_unit


def classes_for_text(text: str, kb: KnowledgeBase) -> list[str]:
    """Drug classes (with parents) named by a medication or substance text: a class key or label, a member,
    a brand or a combination product."""
    needle = text.strip().lower()
    for key, cls in kb.drug_classes.items():
        if needle in {key, key.replace("_", " "), cls["label"].lower()}:
            return kb.drugs.with_parents([key])
    return list(kb.drugs.match(text).classes)


def _unmapped_warning(what: str, i: int) -> str:
    # Position, never the text: a medication box can hold anything, an identifier included.
    return (f"{what} {i} is not in ClinSight's drug vocabulary (or only partly): it was not checked for "
            "allergies, interactions or current therapy. Give a generic name or a drug class.")


def _medications(items: Any, kb: KnowledgeBase, warnings: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(_list_field(items, "medications"), start=1):
        if isinstance(item, str):
            item = {"display": item}
        if not isinstance(item, dict):
            raise InputError(f"Medication {i} must be a name or an object with 'display' and optional 'drug_class'.")
        display = item.get("display") or item.get("name")
        if not isinstance(display, str) or not display.strip():
            raise InputError(f"Medication {i} needs a 'display' name.")
        declared = _declared_classes(item.get("drug_class"), f"Medication {i}", kb)
        match = kb.drugs.match(display)
        classes = declared or list(match.classes)
        if not declared and match.unmapped:
            warnings.append(_unmapped_warning("Medication", i))
        status = str(item.get("status") or "active").lower()
        stopped_raw = item.get("stopped") or item.get("end")
        stopped = None
        if stopped_raw not in (None, ""):
            stopped = parse_time(stopped_raw)
            if stopped is None:
                raise InputError(f"Medication {i} has a 'stopped' time that is not {ISO_HINT}.")
        active = status not in INACTIVE_MEDICATION_STATUSES and stopped is None
        out.append({"display": display.strip(), "classes": classes, "status": status if active else "stopped",
                    "active": active, "stopped": stopped, "contained": sorted(kb.drugs.contained(classes))})
    return out


def _allergies(items: Any, kb: KnowledgeBase, warnings: list[str]) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(_list_field(items, "allergies"), start=1):
        if isinstance(item, str):
            item = {"substance": item}
        if not isinstance(item, dict) or not isinstance(item.get("substance"), str) or not item["substance"].strip():
            raise InputError(f"Allergy {i} must be a substance name or an object with 'substance'.")
        declared = _declared_classes(item.get("drug_class"), f"Allergy {i}", kb, parents=False)
        match = kb.drugs.match(item["substance"], parents=False)
        if not declared and match.unmapped:
            warnings.append(_unmapped_warning("Allergy", i))
        reaction = item.get("reaction")
        angioedema = isinstance(reaction, str) and any(w in reaction.lower() for w in ANGIOEDEMA_WORDS)
        out.append({"substance": item["substance"].strip(), "classes": declared or list(match.classes),
                    "reaction": reaction, "angioedema": angioedema})
    return out


def _declared_classes(value: Any, what: str, kb: KnowledgeBase, *, parents: bool = True) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, str):
        raise InputError(f"{what}: 'drug_class' must be text.")
    key = value.strip().lower()
    if key in kb.drug_classes:
        return kb.drugs.with_parents([key], parents=parents)
    found = classes_for_text(value, kb)
    return found or [key]


def record_from_store(db: Database, pseudo_id: str) -> dict[str, Any]:
    """The canonical record of a stored patient, with every observation's time and the latest predictions."""
    patient = patient_rows.get_patient(db, pseudo_id)
    if patient is None:
        raise NotFoundError("There is no patient with that pseudonymous id.")
    observations = []
    for row in patient_rows.observations_for(db, patient["id"]):
        if row["value_num"] is None or concept_for_code(row["code"]) is None or not row["unit"]:
            continue
        observations.append({"code": row["code"], "value": row["value_num"], "unit": row["unit"],
                             "time": row["time"], "source": "store"})
    medications = [{"display": m["display"], "drug_class": m["drug_class"], "status": m["status"]}
                   for m in patient_rows.medications_for(db, patient["id"])]
    allergies = [{"substance": a["substance"], "drug_class": a["drug_class"], "reaction": a["reaction"]}
                 for a in patient_rows.allergies_for(db, patient["id"])]
    predictions = []
    for p in treatment_rows.latest_predictions_for(db, patient["id"]):
        predictions.append({"model_name": p["model_name"], "model_version": p["model_version"],
                            "output": _json_or_text(p["output"]), "created_at": p["created_at"]})
    return {
        "pseudo_id": patient["pseudo_id"],
        "age": patient["age"],
        "sex": patient["sex"] or "unknown",
        "conditions": [_stored_condition(c) for c in patient_rows.conditions_for(db, patient["id"])],
        "observations": observations,
        "medications": medications,
        "allergies": allergies,
        "predictions": predictions,
    }


def _stored_condition(row: dict[str, Any]) -> dict[str, Any]:
    """A stored condition as the rules and the treatment page read it: a SNOMED CT concept in the curated map
    is given as its ICD-10-CM code (with ``mapped_from``); anything else stays as recorded."""
    item = {"code": row["code"], "system": row["system"] or "ICD-10-CM", "display": row["display"], "source": "store"}
    mapped = rules_code(row["code"], row["system"])
    if mapped is not None and row["system"] == SNOMED_SYSTEM:
        item.update(code=mapped, system="ICD-10-CM", mapped_from=f"SNOMED CT {row['code']}")
    return item


def _json_or_text(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value
