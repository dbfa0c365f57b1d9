"""FHIR R4 as hospitals send it -> the table a CSV export gives, plus the resources a table cannot hold.

Inputs: a Bundle of type transaction, batch, collection, searchset or document (as EHR exports and the
synthetic-patient generators write them), or FHIR Bulk Data NDJSON (one resource per line, one file per
resource type, as ``$export`` writes it), alone or several files together.

Why a table: one mapping, validation and import path for every format. Each row is one patient at one
observation time; each Observation code (and unit) gets a column named ``<display> [LOINC <code>] (<unit>)``
so the mapping step finds the concept by its code; panels (blood pressure 85354-9) contribute one column
per component (systolic 8480-6, diastolic 8462-4). Identifiers (name, MRN, postal code) are carried as
columns so the de-identification step sees and removes them.

Everything else ClinSight uses (Condition, Encounter, MedicationRequest/Statement, AllergyIntolerance,
Immunization, Procedure) goes into :attr:`FhirContent.extras`, one list of rows per store table keyed by
the patient's raw id; the importer links them to the pseudonymised patients and shifts or generalises their
dates like every other date. Resources ClinSight does not use (Claim, ExplanationOfBenefit, ...) are
counted by type in :attr:`FhirContent.skipped`, never dropped silently.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from engine.errors import InputError

ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")
SNOMED_SYSTEM = "http://snomed.info/sct"
LOINC_SYSTEM = "http://loinc.org"
RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
BUNDLE_TYPES = ("transaction", "batch", "collection", "searchset", "document")
USED = ("Patient", "Observation", "Condition", "Encounter", "MedicationRequest", "MedicationStatement",
        "Medication", "AllergyIntolerance", "Immunization", "Procedure")
# Fields of the extras rows that hold dates: the importer shifts or generalises exactly these.
DATE_FIELDS = frozenset({"onset", "abatement", "period_start", "period_end", "occurrence", "performed_start",
                         "performed_end"})
# Fields that may hold free text typed by a person (CodeableConcept.text): scrubbed like any free text.
TEXT_FIELDS = frozenset({"display", "substance", "reaction", "type_display", "discharge_disposition"})
EXTRA_TABLES = ("conditions", "medications", "allergies", "encounters", "immunizations", "procedures")


@dataclass
class FhirContent:
    """What a FHIR input holds, in ClinSight's terms."""

    frame: pd.DataFrame
    extras: dict[str, list[dict[str, Any]]]
    resources: Counter = field(default_factory=Counter)  # used resources by type
    skipped: Counter = field(default_factory=Counter)  # resources ClinSight does not use, by type

    def summary(self) -> dict[str, Any]:
        return {"resources": dict(sorted(self.resources.items())), "skipped": dict(sorted(self.skipped.items()))}


# --- reading -------------------------------------------------------------------------------------------

def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None
    except RecursionError:
        raise InputError(f"{where} is nested too deeply to be FHIR.") from None


def read_fhir_json(raw: bytes, *, where: str = "The file", single_resource_ok: bool = False) -> list[dict]:
    """The entries of one FHIR JSON file: a Bundle, NDJSON (one resource per line) or, when allowed, one resource.

    Entries are ``{"resource": ..., "fullUrl": ...}`` dicts, in file order.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{where} is not UTF-8 encoded, as FHIR requires.") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise InputError(f"{where} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None
        return _ndjson_entries(text, where)
    except RecursionError:
        raise InputError(f"{where} is nested too deeply to be FHIR.") from None
    if isinstance(doc, dict) and doc.get("resourceType") == "Bundle":
        return _bundle_entries(doc, where)
    if single_resource_ok and isinstance(doc, dict) and isinstance(doc.get("resourceType"), str):
        return [{"resource": doc}]
    raise InputError(f"{where} is not a FHIR Bundle (its resourceType must be 'Bundle') nor NDJSON with one "
                     "resource per line.")


def _bundle_entries(doc: dict, where: str) -> list[dict]:
    kind = doc.get("type")
    if kind is not None and kind not in BUNDLE_TYPES:
        raise InputError(f"{where} is a FHIR Bundle of type '{str(kind)[:40]}'; ClinSight imports bundles of type "
                         f"{', '.join(BUNDLE_TYPES)}.")
    entries = doc.get("entry")
    if not isinstance(entries, list) or not entries:
        raise InputError("The FHIR bundle has no entries.")
    out = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            resource = entry["resource"]
            if resource.get("resourceType") == "Bundle":  # a document's or message's nested bundle
                out.extend(_bundle_entries(resource, where))
            else:
                out.append(entry)
    return out


def _ndjson_entries(text: str, where: str) -> list[dict]:
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        doc = _json(line, f"Line {number} of {where[0].lower() + where[1:]}")
        if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
            raise InputError(f"Line {number} of {where[0].lower() + where[1:]} is not a FHIR resource "
                             "(NDJSON bulk files hold one resource with a resourceType per line).")
        out.extend(_bundle_entries(doc, where) if doc["resourceType"] == "Bundle" else [{"resource": doc}])
    return out


# --- small readers of FHIR datatypes -------------------------------------------------------------------

def _list(value: Any) -> list:
    """A FHIR array as a list (anything else, from a malformed resource, as empty)."""
    return value if isinstance(value, list) else []


def _coding(concept: Any, systems: tuple[str, ...]) -> tuple[str | None, str | None, str | None]:
    """(system, code, display) of the first coding in one of ``systems`` (or the first coding at all).

    Only text (or a number, for a code) is taken: a malformed resource's objects read as missing.
    """
    if not isinstance(concept, dict):
        return None, None, None
    text = concept.get("text") if isinstance(concept.get("text"), str) else None
    codings = [c for c in _list(concept.get("coding"))
               if isinstance(c, dict) and isinstance(c.get("code"), (str, int)) and not isinstance(c["code"], bool)
               and str(c["code"]).strip()]

    def parts(c: dict) -> tuple[str | None, str | None, str | None]:
        system = c.get("system") if isinstance(c.get("system"), str) else None
        display = c.get("display") if isinstance(c.get("display"), str) and c["display"] else text
        return system, str(c["code"]).strip(), display

    for wanted in systems:
        for coding in codings:
            if coding.get("system") == wanted:
                return parts(coding)
    if codings:
        return parts(codings[0])
    return None, None, text


def _text(concept: Any) -> str | None:
    """A CodeableConcept (or Coding) as readable text: its text, else the first display, else the first code."""
    if not isinstance(concept, dict):
        return None
    if concept.get("text"):
        return str(concept["text"])
    if concept.get("display"):
        return str(concept["display"])
    system, code, display = _coding(concept, ())
    return display or code or (concept.get("code") if isinstance(concept.get("code"), str) else None)


def _status(concept: Any) -> str | None:
    _, code, _ = _coding(concept, ())
    return code


def _name(resource: dict) -> str | None:
    for name in _list(resource.get("name")):
        if not isinstance(name, dict):
            continue
        if name.get("text"):
            return str(name["text"])
        parts = [*(_list(name.get("given"))), name.get("family") or ""]
        text = " ".join(str(p) for p in parts if p)
        if text:
            return text
    return None


def _period(resource: dict, prefix: str) -> tuple[str | None, str | None]:
    """(start, end) of ``<prefix>DateTime`` / ``<prefix>Period`` / ``<prefix>Instant``."""
    if isinstance(resource.get(f"{prefix}DateTime"), str):
        return resource[f"{prefix}DateTime"], None
    if isinstance(resource.get(f"{prefix}Instant"), str):
        return resource[f"{prefix}Instant"], None
    period = resource.get(f"{prefix}Period")
    if isinstance(period, dict):
        return period.get("start"), period.get("end")
    return None, None


class _References:
    """Resolves subject/patient references (``urn:uuid:..``, ``Patient/id``, absolute URLs) to patient ids."""

    def __init__(self, entries: list[dict]) -> None:
        self.patients: dict[str, str] = {}
        self.medications: dict[str, dict] = {}
        for i, entry in enumerate(entries, start=1):
            res = entry["resource"]
            kind, rid = res.get("resourceType"), res.get("id")
            full = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
            if kind == "Patient":
                pid = str(rid or full or f"patient-{i}")
                res.setdefault("id", pid)
                for key in filter(None, (full, f"Patient/{pid}")):
                    self.patients[key] = pid
            elif kind == "Medication":
                for key in filter(None, (full, rid and f"Medication/{rid}")):
                    self.medications[key] = res

    def patient(self, reference: Any) -> str | None:
        ref = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(ref, str) or not ref:
            return None
        if ref in self.patients:
            return self.patients[ref]
        if "/Patient/" in ref:  # an absolute URL to a patient in this export
            return ref.rsplit("/Patient/", 1)[1].split("/")[0]
        return ref.split("/")[-1] if ref.startswith("Patient/") else ref

    def medication(self, reference: Any) -> dict | None:
        ref = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(ref, str):
            return None
        return self.medications.get(ref) or self.medications.get("Medication/" + ref.rsplit("/", 1)[-1])


def _contained(resource: dict, reference: Any) -> dict | None:
    """A resource contained in ``resource`` and referenced as ``#id``."""
    ref = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    return next((c for c in _list(resource.get("contained")) if isinstance(c, dict) and c.get("id") == ref[1:]), None)


# --- flattening ----------------------------------------------------------------------------------------

def _observation_values(res: dict) -> list[tuple[str, str | None, Any, str]]:
    """(LOINC code, display, value, unit) of an Observation and of each of its components."""
    out = []
    for part in [res, *[c for c in _list(res.get("component")) if isinstance(c, dict)]]:
        _, code, display = _coding(part.get("code"), (LOINC_SYSTEM,))
        if code is None:
            continue
        quantity = part.get("valueQuantity")
        if isinstance(quantity, dict) and quantity.get("value") is not None:
            out.append((code, display, quantity.get("value"), str(quantity.get("code") or quantity.get("unit") or "")))
        elif part.get("valueString") is not None:
            out.append((code, display, part.get("valueString"), ""))
        elif isinstance(part.get("valueCodeableConcept"), dict):
            out.append((code, display, _text(part["valueCodeableConcept"]), ""))
        elif isinstance(part.get("valueInteger"), int) and not isinstance(part.get("valueInteger"), bool):
            out.append((code, display, part["valueInteger"], ""))
    return out


def fhir_content(entries: list[dict]) -> FhirContent:
    """Flatten FHIR entries into the wide frame plus per-table extras; count what is used and skipped."""
    refs = _References(entries)
    used: Counter = Counter()
    skipped: Counter = Counter()
    patients: dict[str, dict[str, Any]] = {}
    obs: dict[tuple[str, str | None], dict[str, Any]] = defaultdict(dict)
    obs_columns: dict[tuple[str, str], str] = {}
    extras: dict[str, list[dict[str, Any]]] = {t: [] for t in EXTRA_TABLES}
    for i, entry in enumerate(entries, start=1):
        res = entry["resource"]
        kind = res.get("resourceType")
        if kind not in USED:
            skipped[str(kind)[:60] if kind else "(no resourceType)"] += 1
            continue
        used[kind] += 1
        if kind == "Medication":
            continue  # read through the MedicationRequest/Statement that references it
        if kind == "Patient":
            pid = str(res["id"])
            address = next((a for a in _list(res.get("address")) if isinstance(a, dict)), {})
            identifier = next((x for x in _list(res.get("identifier")) if isinstance(x, dict)), {})
            patients[pid] = {"patient_id": pid, "name": _name(res), "mrn": identifier.get("value"),
                             "sex": res.get("gender"), "birth_date": res.get("birthDate"),
                             "postal_code": address.get("postalCode")}
            continue
        pid = refs.patient(res.get("subject") or res.get("patient"))
        if pid is None:
            raise InputError(f"FHIR {kind} resource number {i} has no subject (Patient reference).")
        patients.setdefault(pid, {"patient_id": pid})
        row: dict[str, Any] = {"patient": pid}
        if kind == "Observation":
            when = _period(res, "effective")[0] or res.get("issued")
            for code, display, value, unit in _observation_values(res):
                key = (code, unit)
                if key not in obs_columns:
                    obs_columns[key] = f"{display or code} [LOINC {code}]" + (f" ({unit})" if unit else "")
                obs[(pid, when)][obs_columns[key]] = value
            continue
        if kind == "Condition":
            system, code, display = _coding(res.get("code"), ICD10_SYSTEMS + (SNOMED_SYSTEM,))
            if code is None:
                skipped["Condition without a code"] += 1
                continue
            onset = _period(res, "onset")[0] or res.get("recordedDate")
            abatement = _period(res, "abatement")
            row.update(code=code, system="ICD-10-CM" if system in ICD10_SYSTEMS else system or "unknown",
                       display=display, onset=onset, clinical_status=_status(res.get("clinicalStatus")),
                       abatement=abatement[0] or abatement[1])
            extras["conditions"].append(row)
        elif kind in ("MedicationRequest", "MedicationStatement"):
            concept = res.get("medicationCodeableConcept")
            if concept is None:
                medication = refs.medication(res.get("medicationReference")) or _contained(
                    res, res.get("medicationReference"))
                concept = medication.get("code") if medication else None
                if concept is None and isinstance(res.get("medicationReference"), dict):
                    concept = {"text": res["medicationReference"].get("display")}
            system, code, display = _coding(concept, (RXNORM_SYSTEM,))
            text = display or code
            if not text:
                skipped[f"{kind} without a medication"] += 1
                continue
            row.update(code=code, system=system, display=str(text), status=res.get("status"))
            extras["medications"].append(row)
        elif kind == "AllergyIntolerance":
            system, code, display = _coding(res.get("code"), (SNOMED_SYSTEM, RXNORM_SYSTEM))
            substance = display or code
            reactions = []
            for reaction in _list(res.get("reaction")):
                if isinstance(reaction, dict):
                    reactions.extend(filter(None, (_text(m) for m in _list(reaction.get("manifestation")))))
            if not substance:
                skipped["AllergyIntolerance without a substance"] += 1
                continue
            row.update(substance=str(substance), code=code, system=system,
                       reaction="; ".join(dict.fromkeys(reactions)) or None, criticality=res.get("criticality"),
                       clinical_status=_status(res.get("clinicalStatus")))
            extras["allergies"].append(row)
        elif kind == "Encounter":
            klass = res.get("class")
            class_code = klass.get("code") if isinstance(klass, dict) else None
            types = [t for t in _list(res.get("type")) if isinstance(t, dict)]
            type_system, type_code, type_display = _coding(types[0], (SNOMED_SYSTEM,)) if types else (None,) * 3
            period = res.get("period") if isinstance(res.get("period"), dict) else {}
            hospitalization = res.get("hospitalization") if isinstance(res.get("hospitalization"), dict) else {}
            row.update(class_code=class_code, type_code=type_code, type_system=type_system, type_display=type_display,
                       status=res.get("status"), period_start=period.get("start"), period_end=period.get("end"),
                       discharge_disposition=_text(hospitalization.get("dischargeDisposition")))
            extras["encounters"].append(row)
        elif kind == "Immunization":
            system, code, display = _coding(res.get("vaccineCode"), ())
            row.update(code=code, system=system, display=display, status=res.get("status"),
                       occurrence=_period(res, "occurrence")[0] or res.get("recorded"))
            extras["immunizations"].append(row)
        elif kind == "Procedure":
            system, code, display = _coding(res.get("code"), (SNOMED_SYSTEM,))
            start, end = _period(res, "performed")
            row.update(code=code, system=system, display=display, status=res.get("status"), performed_start=start,
                       performed_end=end)
            extras["procedures"].append(row)
    frame = _wide_frame(patients, obs, obs_columns)
    if frame.empty and not any(extras.values()):
        raise InputError("The FHIR input holds no Patient, Observation, Condition, Encounter, Medication, "
                         "AllergyIntolerance, Immunization or Procedure resources.")
    return FhirContent(frame, extras, used, skipped)


def _wide_frame(patients: dict[str, dict[str, Any]], obs: dict[tuple[str, str | None], dict[str, Any]],
                obs_columns: dict[tuple[str, str], str]) -> pd.DataFrame:
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    order = {pid: i for i, pid in enumerate(patients)}  # bundle order, then time
    for (pid, when), values in sorted(obs.items(), key=lambda kv: (order[kv[0][0]], kv[0][1] or "")):
        patient = patients[pid] if pid not in seen else {**patients[pid], "postal_code": None}  # ZIP3 once
        records.append({**patient, "effective_time": when, **values})
        seen.add(pid)
    records.extend(patient for pid, patient in patients.items() if pid not in seen)
    base = ["patient_id", "name", "mrn", "sex", "birth_date", "postal_code", "effective_time"]
    frame = pd.DataFrame.from_records(records, columns=base + sorted(obs_columns.values())).astype(object)
    frame = frame.where(frame.notna(), None)
    from engine.ingest.sources import cell_text
    frame = frame.apply(lambda s: s.map(cell_text))
    frame = frame.loc[:, [c for c in frame.columns if frame[c].notna().any()]]
    return frame

