"""FHIR R4 bundle -> the same table shape a CSV export has.

Why a table: one mapping, validation and import path for every format. Each row
is one patient at one observation time; each Observation code (and unit) gets a
column named ``<display> [LOINC <code>] (<unit>)`` so the mapping step finds the
concept by its code; Conditions (ICD-10-CM or SNOMED CT) and medications are
``|``-joined on the patient's first row. Identifiers (name, MRN, postal code)
are carried as columns so the de-identification step sees and removes them.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd

from engine.errors import InputError

ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")
SNOMED_SYSTEM = "http://snomed.info/sct"
LOINC_SYSTEM = "http://loinc.org"
SUPPORTED = {"Patient", "Observation", "Condition", "MedicationStatement", "MedicationRequest"}


def _ref_id(reference: Any, full_urls: dict[str, str]) -> str | None:
    if not isinstance(reference, dict):
        return None
    ref = reference.get("reference")
    if not isinstance(ref, str):
        return None
    if ref in full_urls:
        return full_urls[ref]
    return ref.split("/")[-1] if ref.startswith("Patient/") else ref


def _coding(concept: Any, systems: tuple[str, ...]) -> tuple[str | None, str | None, str | None]:
    """(system, code, display) of the first coding in one of ``systems`` (or the first coding at all)."""
    if not isinstance(concept, dict):
        return None, None, None
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    for coding in codings:
        if coding.get("system") in systems and coding.get("code"):
            return coding.get("system"), str(coding["code"]), coding.get("display") or concept.get("text")
    if codings and codings[0].get("code"):
        return codings[0].get("system"), str(codings[0]["code"]), codings[0].get("display") or concept.get("text")
    return None, None, concept.get("text")


def _name(resource: dict) -> str | None:
    for name in resource.get("name") or []:
        if not isinstance(name, dict):
            continue
        if name.get("text"):
            return str(name["text"])
        parts = [*(name.get("given") or []), name.get("family") or ""]
        text = " ".join(str(p) for p in parts if p)
        if text:
            return text
    return None


def bundle_to_frame(doc: Any) -> pd.DataFrame:
    """Flatten a FHIR R4 Bundle (Patient, Observation, Condition, Medication*) into a wide frame."""
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        raise InputError("The JSON file is not a FHIR Bundle (its resourceType must be 'Bundle').")
    entries = doc.get("entry")
    if not isinstance(entries, list) or not entries:
        raise InputError("The FHIR bundle has no entries.")
    full_urls: dict[str, str] = {}
    resources: list[dict] = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") not in SUPPORTED:
            continue
        resources.append(resource)
        if resource["resourceType"] == "Patient" and isinstance(entry.get("fullUrl"), str):
            full_urls[entry["fullUrl"]] = str(resource.get("id") or entry["fullUrl"])
    patients: dict[str, dict[str, Any]] = {}
    obs: dict[tuple[str, str | None], dict[str, Any]] = defaultdict(dict)
    conditions: dict[str, list[str]] = defaultdict(list)
    medications: dict[str, list[str]] = defaultdict(list)
    obs_columns: dict[tuple[str, str], str] = {}
    for i, res in enumerate(resources, start=1):
        kind = res["resourceType"]
        if kind == "Patient":
            pid = str(res.get("id") or f"patient-{i}")
            address = next((a for a in res.get("address") or [] if isinstance(a, dict)), {})
            identifier = next((x for x in res.get("identifier") or [] if isinstance(x, dict)), {})
            patients[pid] = {"patient_id": pid, "name": _name(res), "mrn": identifier.get("value"),
                             "sex": res.get("gender"), "birth_date": res.get("birthDate"),
                             "postal_code": address.get("postalCode")}
            continue
        pid = _ref_id(res.get("subject") or res.get("patient"), full_urls)
        if pid is None:
            raise InputError(f"FHIR {kind} resource number {i} has no subject (Patient reference).")
        patients.setdefault(pid, {"patient_id": pid})
        if kind == "Observation":
            _, code, display = _coding(res.get("code"), (LOINC_SYSTEM,))
            if code is None:
                continue
            quantity = res.get("valueQuantity")
            if isinstance(quantity, dict) and quantity.get("value") is not None:
                value, unit = quantity.get("value"), quantity.get("code") or quantity.get("unit") or ""
            elif res.get("valueString") is not None:
                value, unit = res.get("valueString"), ""
            elif isinstance(res.get("valueCodeableConcept"), dict):
                value, unit = res["valueCodeableConcept"].get("text") or _coding(res["valueCodeableConcept"], ())[1], ""
            else:
                continue
            key = (code, str(unit))
            if key not in obs_columns:
                label = f"{display or code} [LOINC {code}]" + (f" ({unit})" if unit else "")
                obs_columns[key] = label
            when = res.get("effectiveDateTime") or (res.get("effectivePeriod") or {}).get("start")
            obs[(pid, when)][obs_columns[key]] = value
        elif kind == "Condition":
            system, code, display = _coding(res.get("code"), ICD10_SYSTEMS + (SNOMED_SYSTEM,))
            if code is None:
                continue
            prefix = "SNOMED:" if system == SNOMED_SYSTEM else ""
            conditions[pid].append(f"{prefix}{code} {display or ''}".strip())
        else:
            concept = res.get("medicationCodeableConcept")
            _, code, display = _coding(concept, ())
            text = display or code
            if text:
                status = res.get("status")
                medications[pid].append(f"{text}" + (f" ({status})" if status else ""))
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    order = {pid: i for i, pid in enumerate(patients)}  # bundle order, then time
    for (pid, when), values in sorted(obs.items(), key=lambda kv: (order[kv[0][0]], kv[0][1] or "")):
        row = dict(patients[pid])
        row["effective_time"] = when
        row.update(values)
        if pid not in seen:
            row["conditions"] = "|".join(conditions.get(pid, [])) or None
            row["medications"] = "|".join(medications.get(pid, [])) or None
            seen.add(pid)
        records.append(row)
    for pid, patient in patients.items():
        if pid not in seen:
            records.append({**patient, "conditions": "|".join(conditions.get(pid, [])) or None,
                            "medications": "|".join(medications.get(pid, [])) or None})
    if not records:
        raise InputError("The FHIR bundle holds no Patient, Observation, Condition or Medication resources.")
    base = ["patient_id", "name", "mrn", "sex", "birth_date", "postal_code", "effective_time"]
    columns = base + sorted(obs_columns.values()) + ["conditions", "medications"]
    frame = pd.DataFrame.from_records(records, columns=columns).astype(object)
    frame = frame.where(frame.notna(), None)
    from engine.ingest.sources import cell_text
    frame = frame.apply(lambda s: s.map(cell_text))
    frame = frame.loc[:, [c for c in frame.columns if frame[c].notna().any()]]
    frame.attrs["resources"] = len(resources)
    return frame
