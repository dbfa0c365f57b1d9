"""De-identification with planted identifiers (synthetic, made up for this test) in realistic notes:
none may reach the store file, the audit trail or what the import returns."""
from __future__ import annotations

import base64
import json
import sqlite3

import pytest

from engine.errors import InputError
from engine.notes.deid import deidentify
from engine.notes.service import import_notes, patient_notes
from engine.privacy import pseudonymise
from engine.store import patients as patient_rows
from engine.store import records as record_rows

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)

PLANTED = {
    "name": "Zebulon Quixotewright", "surname": "Quixotewright", "doctor": "Henrietta Valdespino",
    "mrn": "MRN88412077", "mrn_digits": "88412077", "ssn": "512-48-9173", "phone": "(555) 014-2389",
    "phone_digits": "014-2389", "email": "zebulon.q@example.org", "street": "4821 Juniper Hollow Road",
    "zip": "15213", "birth_date": "03/14/1957", "visit_date": "March 3, 2024", "iso_date": "2024-03-05",
    "old_age": "93-year-old", "account": "ACCT 7731-5521",
}

NOTE = f"""DISCHARGE SUMMARY
Patient: {PLANTED['name']}    MRN: {PLANTED['mrn']}    DOB: {PLANTED['birth_date']}
Address: {PLANTED['street']}, Pittsburgh, PA {PLANTED['zip']}. Phone {PLANTED['phone']}. E-mail {PLANTED['email']}.
SSN {PLANTED['ssn']}. Account: {PLANTED['account']}.

HISTORY OF PRESENT ILLNESS:
Mr. {PLANTED['surname']} is a {PLANTED['old_age']} man admitted on {PLANTED['visit_date']} with a two-day history
of fever and productive cough. He denies chest pain.

PAST MEDICAL HISTORY:
Hypertension.
Type 2 diabetes.

FAMILY HISTORY:
Mother had heart failure.

IMPRESSION:
Right lower lobe pneumonia. No pleural effusion. Repeat chest film on {PLANTED['iso_date']}.
Electronically signed by: Dr. {PLANTED['doctor']}
"""

NEEDLES = [v for k, v in PLANTED.items() if k not in ("zip",)] + ["Henrietta", "Valdespino", "Zebulon",
                                                                  "1957-03-14", "2024-03-03"]


def test_every_planted_identifier_is_replaced():
    out = deidentify(NOTE, shift_days=17, known_names=())
    for needle in NEEDLES:
        assert needle not in out.text, needle
    assert "90+-year-old" in out.text
    assert "pneumonia" in out.text and "Hypertension" in out.text  # clinical content survives
    assert out.counts["date"] >= 3 and out.counts["name"] >= 3


def test_dates_are_shifted_by_the_patients_offset_keeping_intervals():
    out = deidentify("Admitted 2024-03-05, discharged 2024-03-09.", shift_days=-10)
    assert out.text == "Admitted 2024-02-24, discharged 2024-02-28."
    assert deidentify("In 2019 she had a stroke.", shift_days=30).text == "In 2019 she had a stroke."


def test_ages_up_to_89_are_kept():
    assert deidentify("An 89-year-old woman.", shift_days=0).text == "An 89-year-old woman."


@pytest.fixture
def patient_db(fresh_db):
    """A store with one patient whose source id is 'src-42' (pseudonymised as the records import does)."""
    key = record_rows.read_secret(fresh_db, record_rows.PSEUDONYM_KEY_NAME)
    if key is None:
        from engine.ingest.importer import ensure_pseudonym_key
        from engine.store import transaction
        with transaction(fresh_db):
            key = ensure_pseudonym_key(fresh_db)
    pseudo = pseudonymise(key, "src-42")
    patient_rows.insert_patient(fresh_db, {"pseudo_id": pseudo, "source": "test", "sex": "male"})
    fresh_db.conn.commit()
    return fresh_db, pseudo


def _scan_store(db_path, needles):
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    raw = db_path.read_bytes()
    wal = db_path.with_name(db_path.name + "-wal")
    raw += wal.read_bytes() if wal.exists() else b""
    return [n for n in needles if n.encode() in raw]


def test_text_import_stores_no_identifier(patient_db, db_path):
    db, pseudo = patient_db
    result = import_notes(db, NOTE.encode(), username="cleo", patient=pseudo)
    assert result.notes == 1 and result.findings >= 5
    assert _scan_store(db_path, NEEDLES) == []
    view = patient_notes(db, pseudo)
    text = view["notes"][0]["text"]
    assert "[NAME]" in text and "pneumonia" in text
    styles = {(f["code"], f["negation"], f["temporality"], f["experiencer"]) for f in view["notes"][0]["findings"]}
    assert ("J18.9", "Affirmed", "Recent", "Patient") in styles
    assert ("J90", "Negated", "Recent", "Patient") in styles
    assert ("I10", "Affirmed", "Historical", "Patient") in styles
    assert ("I50.9", "Affirmed", "Recent", "Family member") in styles
    assert {s["code"] for s in view["suggestions"]} >= {"J18.9", "R50.9"}
    assert "I10" not in {s["code"] for s in view["suggestions"]}  # historical: not suggested


def test_csv_and_fhir_imports_store_no_identifier(patient_db, db_path):
    db, pseudo = patient_db
    csv_bytes = ("patient_id,name,date,note\n"
                 f"src-42,{PLANTED['name']},{PLANTED['iso_date']},\"{NOTE.replace(chr(34), '')}\"\n").encode()
    assert import_notes(db, csv_bytes, username="cleo").notes == 1
    bundle = {"resourceType": "Bundle", "entry": [
        {"resource": {"resourceType": "Patient", "id": "src-42",
                      "name": [{"given": ["Zebulon"], "family": "Quixotewright"}]}},
        {"resource": {"resourceType": "DocumentReference", "subject": {"reference": "Patient/src-42"},
                      "date": PLANTED["iso_date"], "type": {"text": "Radiology report"},
                      "content": [{"attachment": {"contentType": "text/plain",
                                                  "data": base64.b64encode(
                                                      f"Zebulon has no pneumothorax. {NOTE}".encode()).decode()}}]}}]}
    assert import_notes(db, json.dumps(bundle).encode(), username="cleo").version == 2
    assert _scan_store(db_path, NEEDLES) == []
    notes = patient_notes(db, pseudo)["notes"]
    assert len(notes) == 2 and notes[1]["kind"] == "Radiology report"
    audit = " ".join(r[0] or "" for r in db.conn.execute("SELECT details FROM audit"))
    assert all(n not in audit for n in NEEDLES)


def test_refused_import_writes_nothing(patient_db):
    db, _ = patient_db
    csv_bytes = b"patient_id,note\nsrc-42,Fever.\nunknown-7,No fever.\n"
    with pytest.raises(InputError, match="row 3"):
        import_notes(db, csv_bytes, username="cleo")
    assert db.conn.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0
    assert db.conn.execute("SELECT COUNT(*) FROM note_imports").fetchone()[0] == 0


def test_store_check_covers_note_imports(patient_db):
    from engine.integrity import check_store

    db, pseudo = patient_db
    import_notes(db, b"Right lower lobe pneumonia.", username="cleo", patient=pseudo)
    assert check_store(db).problems == []
    db.conn.execute("DELETE FROM notes")
    db.conn.commit()
    assert any("Notes import" in p for p in check_store(db).problems)


def _hidden(value: str) -> str:
    """``value`` with a zero-width space after its first two characters: invisible on screen."""
    return value[:2] + "\u200b" + value[2:]


def test_identifiers_split_by_invisible_characters_are_still_replaced(patient_db, db_path):
    """A zero-width space inside a name, record number, phone or e-mail split it past every pattern, and the
    stored text (with such characters removed) then showed it whole. Synthetic, planted identifiers."""
    note = (f"\ufeffPatient: {_hidden(PLANTED['name'])}    MRN: {_hidden(PLANTED['mrn'])}\n"
            f"Phone {PLANTED['phone'][:6]}\u200b{PLANTED['phone'][6:]}. E-mail {_hidden(PLANTED['email'])}.\n"
            "IMPRESSION:\nRight lower lobe pneumonia.\n")
    out = deidentify(note, shift_days=5)
    assert all(needle not in out.text for needle in NEEDLES) and "\u200b" not in out.text
    db, pseudo = patient_db
    assert import_notes(db, note.encode(), username="cleo", patient=pseudo).notes == 1
    assert _scan_store(db_path, NEEDLES) == []
