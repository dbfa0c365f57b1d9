"""Privacy scan: plant patient identifiers in every input, then look for them everywhere output goes.

Identifiers (HIPAA Safe Harbor kinds: a name, an SSN, an e-mail address, a
phone number, a full birth date, a record number) are planted in what users
send through each scenario in :data:`SCENARIOS`. Afterwards the harness scans
error messages, log records, printed output, the audit log and its CSV export,
a backup, and the raw bytes of the store file and its WAL. None may appear.

After merging, the lead adds scenarios for the features that take patient data:

    def scenario_ingest(db, tmp):
        csv = planted_csv()                    # identifiers in name/ssn/email/phone/dob columns
        ingest_bytes(db, csv, file_name="planted.csv", user="privacy")   # must drop or generalise them
        return [export_dataset_csv(db, ...)]   # analyst exports to scan as well
    SCENARIOS["records.ingest"] = scenario_ingest

(DICOM uploads: set PatientName/PatientBirthDate tags to the planted values.)
"""
from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import EngineError

# Synthetic identifiers, made up for this test (none belongs to a real person).
PLANTED: dict[str, str] = {
    "name": "Zebulon Quixotewright",
    "ssn": "512-48-9173",
    "email": "zebulon.quixotewright@example.org",
    "phone": "(555) 014-2389",
    "birth_date": "1957-03-14",
    "mrn": "MRN88412077",
}


def needles() -> dict[str, str]:
    """Each identifier and its tell-tale fragments (surname alone, SSN digits without dashes...)."""
    found = dict(PLANTED)
    found["surname"] = "Quixotewright"
    found["ssn_digits"] = PLANTED["ssn"].replace("-", "")
    found["phone_digits"] = "5550142389"
    found["birth_date_compact"] = PLANTED["birth_date"].replace("-", "")
    return found


def planted_csv() -> bytes:
    p = PLANTED
    return (f"name,ssn,email,phone,birth_date,mrn,age,glucose\n"
            f"{p['name']},{p['ssn']},{p['email']},\"{p['phone']}\",{p['birth_date']},{p['mrn']},67,7.2\n").encode()


class Collector:
    """What came out: exception messages and return values turned to text."""

    def __init__(self) -> None:
        self.outputs: list[str] = []

    def attempt(self, func: Callable[[], Any]) -> None:
        try:
            self.outputs.append(repr(func()))
        except EngineError as exc:
            self.outputs.append(str(exc))


def scenario_uploads(db, tmp: Path, out: Collector) -> None:
    from engine.uploads import check_upload

    out.attempt(lambda: check_upload(planted_csv(), {"png", "jpeg", "dicom"}))
    out.attempt(lambda: check_upload(planted_csv() * 100_000, {"csv"}, limit_mb=1))


def scenario_login(db, tmp: Path, out: Collector) -> None:
    from engine import auth

    out.attempt(lambda: auth.authenticate(db, PLANTED["email"], PLANTED["ssn"]))
    out.attempt(lambda: auth.authenticate(db, PLANTED["mrn"], PLANTED["birth_date"]))
    out.attempt(lambda: auth.authenticate(db, "privacyadmin", PLANTED["phone"]))  # a wrong password


def scenario_user_forms(db, tmp: Path, out: Collector) -> None:
    from engine import auth

    out.attempt(lambda: auth.create_user(db, PLANTED["name"], PLANTED["ssn"], "clinician", actor="privacyadmin"))
    out.attempt(lambda: auth.create_user(db, PLANTED["email"], "long-enough-password", "clinician",
                                         actor="privacyadmin"))


def scenario_search(db, tmp: Path, out: Collector) -> None:
    from engine.store.patients import search_patients

    for value in PLANTED.values():
        out.attempt(lambda value=value: search_patients(db, text=value))


def scenario_restore(db, tmp: Path, out: Collector) -> None:
    from engine.backup import restore_store

    bad = tmp / "planted-backup.db"
    bad.write_bytes(planted_csv())
    out.attempt(lambda: restore_store(bad))
    named = tmp / f"{PLANTED['mrn']}.db"  # an identifier in a file name
    out.attempt(lambda: restore_store(named))


def scenario_cli(db, tmp: Path, out: Collector) -> None:
    from tests.reliability.doors import _run_cli

    for argv, stdin in ((["users", "add", PLANTED["name"], "--role", "clinician"], PLANTED["ssn"]),
                        (["users", "add", "valid.name", "--role", PLANTED["email"]], "long-enough-password"),
                        (["users", "reset-password", PLANTED["mrn"]], PLANTED["phone"] + "xxxxxx")):
        code, stdout, stderr = _run_cli(argv, stdin + "\n")
        out.outputs.extend([stdout, stderr])


def scenario_treatment(db, tmp: Path, out: Collector) -> None:
    """The treatment record (JSON from a form, file or the API) with identifiers in every free-text slot."""
    from engine.treatment import suggest

    p = PLANTED
    base = {"age": 50, "sex": "female", "conditions": [{"code": "E11"}]}
    variants = [
        {"conditions": [{"code": p["ssn"]}]},
        {"conditions": [{"code": "E11", "display": p["name"]}]},
        {"observations": [{"code": "4548-4", "value": p["phone"], "unit": "%"}]},
        {"observations": [{"code": p["mrn"], "value": 7.0, "unit": "%"}]},
        {"observations": [{"code": "4548-4", "value": 7.0, "unit": p["email"], "time": p["birth_date"]}]},
        {"medications": [p["name"], {"display": p["email"], "drug_class": p["mrn"]}]},
        {"allergies": [{"substance": p["name"], "reaction": p["ssn"]}]},
        {"sex": p["name"]},
        {"age": p["birth_date"]},
        {"patient_name": p["name"], "ssn": p["ssn"]},
    ]
    for variant in variants:
        out.attempt(lambda variant=variant: suggest({**base, **variant}).get("warnings"))
    out.attempt(lambda: suggest(base, condition=p["ssn"]))


def scenario_predict(db, tmp: Path, out: Collector) -> None:
    """The prediction form / API record with identifiers typed into its fields (and as extra keys)."""
    from engine.models.predict import run_prediction

    p = PLANTED
    for record in ({"age": p["birth_date"], "bmi": 31.0}, {"age": 50, "bmi": p["ssn"]},
                   {"age": 50, "glucose_ogtt_2h": p["phone"]}, {"age": 50, p["name"]: 1},
                   {"age": 50, "pregnancies": p["mrn"]}):
        out.attempt(lambda record=record: run_prediction(db, username="privacyadmin", name="diabetes_pima",
                                                         record=record)[0])
    out.attempt(lambda: run_prediction(db, username="privacyadmin", name="diabetes_pima", record={"age": 50},
                                       pseudo_id=p["mrn"]))


def planted_file_names() -> list[str]:
    """File names that carry identifiers, as ward exports and FHIR generators name them."""
    p = PLANTED
    given, family = p["name"].split()
    return [f"{family.lower()}_{given.lower()}_labs.csv",
            f"{given}123_{family}456_0b2c7c5e-1f3a-4c1e-9d59-7b2e1c2f0a11.json",
            f"{p['mrn']}_{p['birth_date']}_{p['ssn'].replace('-', '')}.csv",
            f"{p['email']}.csv", f"{p['phone']} vitals.csv"]


def scenario_ingest(db, tmp: Path, out: Collector) -> None:
    """A records export carrying every identifier kind, imported as the page and the CLI do.

    The import must drop or pseudonymise them (names, SSN, e-mail, phone, record number) and keep only the
    year of the birth date; the store file is scanned afterwards. The files are named after the patient
    too (issue 18), and imported under the default dataset name.
    """
    from engine.ingest import DEFAULT_DECISIONS, import_source, open_source, propose_mapping, validate_source
    from engine.ingest.records import default_dataset_name

    names = planted_file_names()
    for i, data in enumerate((planted_csv(), planted_csv().replace(b",", b";"))):
        def run(data=data, file_name=names[i % len(names)]):
            source = open_source(data, file_name=file_name)
            mapping = propose_mapping(source.columns, source.preview(200))
            report = validate_source(db, source, mapping)
            return import_source(db, source, report, dict(DEFAULT_DECISIONS), dataset=default_dataset_name(db),
                                 username="privacyadmin", file_name=file_name).summary()
        out.attempt(run)
    for file_name in names:  # every name, on a file that imports (its first row's id differs per file)
        data = f"patient_id,age,glucose\nF-{len(file_name)}-{file_name.count('_')},40,5.1\n".encode()
        out.attempt(lambda data=data, file_name=file_name: _import_with_defaults(db, data, file_name))
    for file_name in names:  # and a file that does not exist, named after the patient
        out.attempt(lambda file_name=file_name: open_source(tmp / file_name))


def scenario_fhir(db, tmp: Path, out: Collector) -> None:
    """A FHIR bundle and a Bulk Data NDJSON export of a patient carrying the planted identifiers in the
    resources and in the file names (issue 18), imported with the defaults."""
    import json

    from engine.ingest import open_fhir_files
    from tests.engine.ingest import fhir_examples as ex

    p = PLANTED
    given, family = p["name"].split()
    text = json.dumps(ex.bundle("transaction"))
    for old, new in ((ex.GIVEN, given), (ex.FAMILY, family), (ex.MRN, p["mrn"]), (ex.BIRTH_DATE, p["birth_date"]),
                     (ex.PHONE, p["phone"]), (ex.PATIENT_ID, p["ssn"])):
        text = text.replace(old, new)
    bundle = json.loads(text)
    bundle["entry"][0]["resource"]["telecom"].append({"system": "email", "value": p["email"]})
    names = planted_file_names()
    out.attempt(lambda: _import_with_defaults(db, json.dumps(bundle).encode(), names[1]))
    entries = [e["resource"] for e in bundle["entry"]]
    for e in entries:  # bulk files refer to the patient as Patient/<id>, with another id than the bundle's
        if e["resourceType"] != "Patient":
            for key in ("subject", "patient"):
                if key in e:
                    e[key] = {"reference": f"Patient/{p['ssn']}-bulk"}
    entries[0]["id"] = f"{p['ssn']}-bulk"
    files = [(f"{family}_{given}_{e['resourceType']}.ndjson", json.dumps(e).encode()) for e in entries]

    out.attempt(lambda: _import_with_defaults(db, open_fhir_files(files), ", ".join(n for n, _ in files)))
    out.attempt(lambda: open_fhir_files([*files, (names[0], b"name,ssn\n" + p["name"].encode())]))


def _import_with_defaults(db, data, file_name: str) -> str:
    """Import ``data`` (bytes, or an opened Source) as the CLI does with its defaults; the summary."""
    from engine.ingest import DEFAULT_DECISIONS, import_source, open_source, propose_mapping, validate_source
    from engine.ingest.records import default_dataset_name

    source = open_source(data, file_name=file_name) if isinstance(data, bytes) else data
    report = validate_source(db, source, propose_mapping(source.columns, source.preview(200)))
    return import_source(db, source, report, dict(DEFAULT_DECISIONS), dataset=default_dataset_name(db),
                         username="privacyadmin", file_name=file_name).summary()


def scenario_imaging_file_name(db, tmp: Path, out: Collector) -> None:
    """A chest film uploaded under a file name that carries the patient's identifiers (issue 18): the image is
    stored without its name (only the de-identified bytes, their hash, kind and size)."""
    import io

    import numpy as np
    from PIL import Image

    from engine.config import get_settings

    root = get_settings().models_dir / "chest_xray_pneumonia"
    if not (root.is_dir() and any((p / "card.json").exists() for p in root.iterdir())):
        return  # no model bundle installed: nothing stores images
    from engine.imaging.records import analyse_and_store

    rng = np.random.default_rng(0)
    film = (rng.random((256, 256)) * 255).astype(np.uint8)  # synthetic pixels, made up for this test
    buf = io.BytesIO()
    Image.fromarray(film).save(buf, format="PNG")
    pseudo_id = db.conn.execute("SELECT pseudo_id FROM patients ORDER BY id LIMIT 1").fetchone()
    if pseudo_id is None:
        return
    for name in planted_file_names():
        out.attempt(lambda name=name: {k: v for k, v in analyse_and_store(
            db, pseudo_id=pseudo_id[0], data=buf.getvalue(), filename=name.replace(".csv", ".png"),
            username="privacyadmin").items() if k != "analysis"})


def scenario_capacity(db, tmp: Path, out: Collector) -> None:
    """An admissions export whose patient column holds the MRN (and name, SSN... in other columns), with bad
    rows among good ones: the forecast, the bed answer, the roster CSV, a saved scenario and every message
    must carry none of them (only pseudonyms, row numbers and staff labels)."""
    from engine.capacity import scenarios, service
    from engine.capacity.roster import roster_csv

    p = PLANTED
    rows = [f"{p['mrn']}{i % 9},ICU,2026-0{1 + i // 28}-{1 + i % 28:02d} 08:00,2026-0{1 + i // 28}-{1 + i % 28:02d} 20:00,"
            f"{p['name']},{p['ssn']},{p['email']},\"{p['phone']}\",{p['birth_date']}" for i in range(70)]
    rows += [f"{p['mrn']},Maternity,2026-01-05 08:00,2026-01-06 08:00,{p['name']},{p['ssn']},x,y,{p['birth_date']}",
             f"{p['mrn']},ICU,{p['birth_date']} 08:00,1950-01-01 00:00,{p['name']},{p['ssn']},x,y,{p['birth_date']}"]
    data = ("mrn,unit,admit_time,discharge_time,name,ssn,email,phone,birth_date\n" + "\n".join(rows) + "\n").encode()

    def run():
        adm = service.import_admissions(db, data, units=["ICU"])
        forecasts = service.forecast_units(adm, ["ICU"], weeks=4, reps=20)
        beds = {"ICU": service.beds_for_forecast(forecasts["ICU"], service.los_for_unit(adm, "ICU"), target=0.05,
                                                 simulate=False)}
        roster = service.plan_roster(forecasts, {"ICU": 4}, n_nurses=12, time_limit_s=3)
        scenarios.save(db, "privacy", inputs={"rows": adm.n_rows}, forecasts=forecasts, beds=beds, roster=roster,
                       username="privacyadmin", replace=True)
        csv_text = roster_csv(roster).decode() if roster["status"] in ("optimal", "feasible") else ""
        return adm.summary(), forecasts, beds, roster, csv_text, repr(adm.stays.to_dict())
    out.attempt(run)


def scenario_notes(db, tmp: Path, out: Collector) -> None:
    """A clinical note carrying every identifier kind in its text, imported as text (for a patient already
    in the store), as CSV with name and patient id columns, and as a FHIR DocumentReference."""
    import base64
    import json

    from engine.notes.service import import_notes
    from engine.store import patients as patient_rows

    p = PLANTED
    note = (f"Patient: {p['name']}  {p['mrn']}  SSN {p['ssn']}  DOB {p['birth_date']}\n"
            f"Phone {p['phone']}, e-mail {p['email']}.\nMr. Quixotewright has fever and cough. No pneumonia.\n")
    row = db.conn.execute("SELECT pseudo_id FROM patients LIMIT 1").fetchone()
    pseudo = row[0] if row else None
    if pseudo is None:
        patient_rows.insert_patient(db, {"pseudo_id": "PRIV-NOTES-1", "source": "privacy"})
        db.conn.commit()
        pseudo = "PRIV-NOTES-1"
    out.attempt(lambda: import_notes(db, note.encode(), username="privacyadmin", patient=pseudo))
    csv_note = note.replace("\n", " ").replace(",", ";")
    out.attempt(lambda: import_notes(db, f"patient_id,name,note\n{pseudo},{p['name']},{csv_note}\n".encode(),
                                     username="privacyadmin"))
    doc = {"resourceType": "DocumentReference", "subject": {"reference": f"Patient/{pseudo}"},
           "content": [{"attachment": {"contentType": "text/plain",
                                       "data": base64.b64encode(note.encode()).decode()}}]}
    out.attempt(lambda: import_notes(db, json.dumps(doc).encode(), username="privacyadmin"))
    out.attempt(lambda: import_notes(db, note.encode(), username="privacyadmin", patient=p["mrn"]))


SCENARIOS: dict[str, Callable[[Any, Path, Collector], None]] = {
    "ingest": scenario_ingest,
    "fhir": scenario_fhir,
    "imaging_file_name": scenario_imaging_file_name,
    "capacity": scenario_capacity,
    "notes": scenario_notes,
    "predict": scenario_predict,
    "treatment": scenario_treatment,
    "uploads": scenario_uploads, "login": scenario_login, "user_forms": scenario_user_forms,
    "search": scenario_search, "restore": scenario_restore, "cli": scenario_cli,
}

# Where a message may repeat the operator's own typed argument back to the same terminal: a file path
# ("There is no backup file at ...") and the command line's account names and options ("There is no user
# named ...", argparse's "invalid choice: ..."): staff input about staff accounts, shown only to its typist.
# Those scenarios still feed the identifiers in, so logs, audit, exports and the store are scanned for them.
ALLOWED_ECHO: dict[str, set[str]] = {"restore": {"mrn"}, "cli": set(needles())}


# Leaks found and reported to the feature's owner, not fixed here (not this feature's code). A strict xfail
# test keeps each one visible and fails once it is fixed, so it can be taken off this list.
# (The predict and treatment leaks reported here were fixed: their scenarios are in the main scan now.)
KNOWN_LEAKS: dict[str, str] = {}


def run_privacy_scan(db_path: Path, tmp: Path, *, scenarios: list[str] | None = None) -> dict[str, list[str]]:
    """Run every scenario against the store at ``db_path``; return {where: [identifier kinds found]}."""
    from engine import auth
    from engine.activity import audit_rows_to_csv
    from engine.backup import backup_store
    from engine.store import connect
    from engine.store.audit_log import query_audit

    log_stream = io.StringIO()
    handler = logging.StreamHandler(log_stream)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    found: dict[str, list[str]] = {}
    printed_out, printed_err = io.StringIO(), io.StringIO()
    try:
        db = connect(db_path)
        try:
            auth.create_user(db, "privacyadmin", "privacy-password-9", "admin", actor=None)
            for name, scenario in SCENARIOS.items():
                if scenarios is not None and name not in scenarios:
                    continue
                out = Collector()
                with contextlib.redirect_stdout(printed_out), contextlib.redirect_stderr(printed_err):
                    scenario(db, tmp, out)
                allowed = ALLOWED_ECHO.get(name, set())
                hits = [kind for kind, value in needles().items() if kind not in allowed
                        and any(value.lower() in text.lower() for text in out.outputs)]
                if hits:
                    found[f"messages:{name}"] = hits
            export = audit_rows_to_csv(query_audit(db, limit=100_000)).decode("utf-8-sig")
            backup = backup_store(tmp / "privacy-backup.db", source=db_path)
        finally:
            db.conn.close()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    texts = {"logs": log_stream.getvalue(), "printed": printed_out.getvalue() + printed_err.getvalue(),
             "audit_export": export}
    blobs = {"store_file": _read_all(db_path), "backup_file": backup.path.read_bytes()}
    for where, text in texts.items():
        hits = [kind for kind, value in needles().items() if value.lower() in text.lower()]
        if hits:
            found[where] = hits
    for where, blob in blobs.items():
        hits = [kind for kind, value in needles().items() if value.lower().encode() in blob.lower()]
        if hits:
            found[where] = hits
    return found


def _read_all(db_path: Path) -> bytes:
    data = b""
    for suffix in ("", "-wal", "-journal"):
        path = Path(f"{db_path}{suffix}")
        if path.exists():
            data += path.read_bytes()
    return data
