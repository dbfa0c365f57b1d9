"""FHIR R4 test inputs built from the specification's example shapes (synthetic, made up for these tests).

The resources follow the R4 examples: Patient (example), Observation blood-pressure (the 85354-9 panel
with 8480-6 / 8462-4 components), Condition, Encounter (inpatient, with hospitalization
.dischargeDisposition), MedicationRequest (RxNorm) and MedicationStatement with a medicationReference,
AllergyIntolerance (example: substance, criticality, reaction manifestation), Immunization (CVX),
Procedure, plus Claim / ExplanationOfBenefit / Organization that ClinSight does not use. The patient's
name, record number, birth date and phone are planted so tests can search the store for them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Made up; no real person.
GIVEN, FAMILY = "Zebulon", "Quixotewright"
MRN = "MRN88412077"
BIRTH_DATE = "1957-03-14"
PHONE = "(555) 014-2389"
PATIENT_ID = "0b2c7c5e-1f3a-4c1e-9d59-7b2e1c2f0a11"
FILE_NAME = f"{GIVEN}123_{FAMILY}456_{PATIENT_ID}.json"
NEEDLES = (GIVEN, FAMILY, MRN, BIRTH_DATE, "5550142389", "014-2389", PATIENT_ID)

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"


def _cc(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


def resources(patient_ref: str) -> list[dict[str, Any]]:
    """Every resource kind once (conditions three times), referring to the patient as ``patient_ref``."""
    subject = {"reference": patient_ref}
    return [
        {"resourceType": "Patient", "id": PATIENT_ID, "gender": "male", "birthDate": BIRTH_DATE,
         "name": [{"use": "official", "family": FAMILY, "given": [GIVEN]}],
         "identifier": [{"system": "http://hospital.example.org/mrn", "value": MRN}],
         "telecom": [{"system": "phone", "value": PHONE}],
         "address": [{"line": ["534 Erewhon St"], "city": "PleasantVille", "postalCode": "02139"}]},
        {"resourceType": "Observation", "id": "blood-pressure", "status": "final", "subject": subject,
         "category": [_cc("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs",
                          "Vital Signs")],
         "code": _cc(LOINC, "85354-9", "Blood pressure panel with all children optional"),
         "effectiveDateTime": "2012-09-17T09:30:00+02:00",
         "component": [
             {"code": _cc(LOINC, "8480-6", "Systolic blood pressure"),
              "valueQuantity": {"value": 107, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}},
             {"code": _cc(LOINC, "8462-4", "Diastolic blood pressure"),
              "valueQuantity": {"value": 60, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}}]},
        {"resourceType": "Observation", "id": "hba1c", "status": "final", "subject": subject,
         "code": _cc(LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
         "effectiveDateTime": "2012-09-17", "valueQuantity": {"value": 7.9, "unit": "%", "system": UCUM,
                                                              "code": "%"}},
        {"resourceType": "Condition", "id": "dm2", "subject": subject,
         "clinicalStatus": _cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
         "code": _cc(SNOMED, "44054006", "Diabetes mellitus type 2 (disorder)"), "onsetDateTime": "2010-03-01"},
        {"resourceType": "Condition", "id": "htn", "subject": subject,
         "code": _cc(SNOMED, "59621000", "Essential hypertension (disorder)"), "onsetDateTime": "2011-05-20"},
        {"resourceType": "Condition", "id": "sinusitis", "subject": subject,
         "clinicalStatus": _cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved", "Resolved"),
         "code": _cc(SNOMED, "444814009", "Viral sinusitis (disorder)"), "onsetDateTime": "2012-01-03",
         "abatementDateTime": "2012-01-17"},
        {"resourceType": "Encounter", "id": "stay", "status": "finished", "subject": subject,
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP",
                   "display": "inpatient encounter"},
         "type": [_cc(SNOMED, "183452005", "Emergency hospital admission (procedure)")],
         "period": {"start": "2012-09-15T22:10:00+02:00", "end": "2012-09-18T11:40:00+02:00"},
         "hospitalization": {"dischargeDisposition": _cc(
             "http://terminology.hl7.org/CodeSystem/discharge-disposition", "home", "Home")}},
        {"resourceType": "Encounter", "id": "visit", "status": "finished", "subject": subject,
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
         "period": {"start": "2012-10-01T10:00:00Z", "end": "2012-10-01T10:30:00Z"}},
        {"resourceType": "Medication", "id": "med-metformin",
         "code": _cc(RXNORM, "860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet")},
        {"resourceType": "MedicationRequest", "id": "lisinopril", "status": "active", "intent": "order",
         "subject": subject, "medicationCodeableConcept": _cc(RXNORM, "314076", "lisinopril 10 MG Oral Tablet"),
         "authoredOn": "2012-09-18"},
        {"resourceType": "MedicationStatement", "id": "metformin", "status": "active", "subject": subject,
         "medicationReference": {"reference": "Medication/med-metformin"}},
        {"resourceType": "MedicationRequest", "id": "atorvastatin", "status": "stopped", "intent": "order",
         "subject": subject, "contained": [{"resourceType": "Medication", "id": "m1",
                                            "code": _cc(RXNORM, "617312", "atorvastatin 10 MG Oral Tablet")}],
         "medicationReference": {"reference": "#m1"}},
        {"resourceType": "AllergyIntolerance", "id": "cashew", "patient": subject, "criticality": "high",
         "clinicalStatus": _cc("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active",
                               "Active"),
         "code": _cc(SNOMED, "227493005", "Cashew nuts"),
         "reaction": [{"manifestation": [_cc(SNOMED, "39579001", "Anaphylactic reaction")]}]},
        {"resourceType": "AllergyIntolerance", "id": "penicillin", "patient": subject, "criticality": "low",
         "code": {"text": "penicillin"},
         "reaction": [{"manifestation": [{"text": "Hives"}]}]},
        {"resourceType": "Immunization", "id": "flu", "status": "completed", "patient": subject,
         "vaccineCode": _cc("http://hl7.org/fhir/sid/cvx", "140",
                            "Influenza, seasonal, injectable, preservative free"),
         "occurrenceDateTime": "2012-10-01T10:15:00Z"},
        {"resourceType": "Procedure", "id": "appendectomy", "status": "completed", "subject": subject,
         "code": _cc(SNOMED, "80146002", "Appendectomy"),
         "performedPeriod": {"start": "2012-09-16T08:00:00+02:00", "end": "2012-09-16T09:10:00+02:00"}},
        {"resourceType": "Claim", "id": "claim-1", "status": "active", "patient": subject},
        {"resourceType": "ExplanationOfBenefit", "id": "eob-1", "status": "active", "patient": subject},
        {"resourceType": "Organization", "id": "org-1", "name": "Burgers University Medical Center"},
    ]


def bundle(kind: str = "transaction") -> dict[str, Any]:
    """The resources as a Bundle of ``kind``, referenced the way such bundles do it.

    transaction / batch (as the synthetic-patient generator writes them): ``urn:uuid`` full URLs and
    references plus a ``request``; collection: ``Patient/<id>``; searchset: absolute URLs, a search mode per
    entry and an OperationOutcome, as a FHIR server answers a search.
    """
    if kind in ("transaction", "batch"):
        ref = f"urn:uuid:{PATIENT_ID}"
        entries = [{"fullUrl": f"urn:uuid:{r.get('id')}" if r["resourceType"] != "Patient" else ref, "resource": r,
                    "request": {"method": "POST", "url": r["resourceType"]}} for r in resources(ref)]
    elif kind == "searchset":
        base = "https://fhir.example.org/r4"
        entries = [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
                    "search": {"mode": "match" if r["resourceType"] == "Patient" else "include"}}
                   for r in resources(f"{base}/Patient/{PATIENT_ID}")]
        entries.append({"resource": {"resourceType": "OperationOutcome", "issue": [
            {"severity": "information", "code": "informational"}]}, "search": {"mode": "outcome"}})
    else:
        entries = [{"resource": r} for r in resources(f"Patient/{PATIENT_ID}")]
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def write_bundle(folder: Path, kind: str = "transaction") -> Path:
    path = folder / FILE_NAME
    path.write_text(json.dumps(bundle(kind)), encoding="utf-8")
    return path


def write_bulk_export(folder: Path) -> Path:
    """FHIR Bulk Data output: one NDJSON file per resource type, references as ``Patient/<id>``.

    One file carries the patient's name, as hand-renamed exports do.
    """
    folder.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[dict]] = {}
    for r in resources(f"Patient/{PATIENT_ID}"):
        by_type.setdefault(r["resourceType"], []).append(r)
    for kind, items in by_type.items():
        name = f"{FAMILY}_{GIVEN}_{kind}.ndjson" if kind == "Observation" else f"{kind}.ndjson"
        (folder / name).write_text("\n".join(json.dumps(r) for r in items) + "\n", encoding="utf-8")
    return folder
