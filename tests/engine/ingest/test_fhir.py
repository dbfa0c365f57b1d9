"""FHIR R4 as hospitals send it: every bundle type, NDJSON bulk files, each resource kind ClinSight uses,
the skipped-resource report, dates de-identified, and no name from the file name or the resource in the store.

Inputs are built from the R4 example shapes in ``fhir_examples`` (synthetic, made up for these tests).
"""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest

from engine.errors import InputError
from engine.ingest import DEFAULT_DECISIONS, import_source, open_source, propose_mapping, validate_source
from engine.ingest.records import default_dataset_name
from engine.ingest.resources import deid_datetime
from engine.ingest.sources import fhir_files_in, open_fhir_files
from tests.engine.ingest import fhir_examples as ex

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)

SKIPPED = {"Claim": 1, "ExplanationOfBenefit": 1, "Organization": 1}


def _import(db, source, file_name):
    report = validate_source(db, source, propose_mapping(source.columns, source.preview(200)))
    return import_source(db, source, report, dict(DEFAULT_DECISIONS), dataset=default_dataset_name(db),
                         username="tester", file_name=file_name)


def _store_text(db) -> str:
    return "\n".join(db.conn.iterdump()).lower()


def _assert_whole_record(db, result, skipped=SKIPPED):
    assert result.patients_added == 1
    obs = dict(db.conn.execute("SELECT code, value_num FROM observations WHERE value_num IS NOT NULL"))
    assert obs["8480-6"] == 107 and obs["8462-4"] == 60 and obs["4548-4"] == pytest.approx(7.9)
    conditions = {r[0]: r[1:] for r in db.conn.execute("SELECT code, system, clinical_status, abatement "
                                                       "FROM conditions")}
    assert set(conditions) == {"44054006", "59621000", "444814009"}
    assert conditions["444814009"][1] == "resolved" and conditions["444814009"][2] is not None
    assert result.conditions == 3 and result.conditions_not_used == 1  # sinusitis is outside the map
    meds = {r[0]: r[1:] for r in db.conn.execute("SELECT code, system, display, status FROM medications")}
    assert meds["314076"][0] == ex.RXNORM and meds["314076"][1] == "lisinopril 10 MG Oral Tablet"
    assert meds["860975"][1].startswith("24 HR metformin")  # through the medicationReference
    assert meds["617312"][1:] == ("atorvastatin 10 MG Oral Tablet", "stopped")  # a contained Medication
    allergies = {r[0]: r[1:] for r in db.conn.execute("SELECT substance, reaction, criticality, dataset_version_id "
                                                      "FROM allergies")}
    assert allergies["Cashew nuts"][:2] == ("Anaphylactic reaction", "high")
    assert allergies["penicillin"][:2] == ("Hives", "low")
    assert all(a[2] == result.version_id for a in allergies.values())
    encounters = db.conn.execute("SELECT class_code, type_code, type_display, status, period_start, period_end, "
                                 "discharge_disposition FROM encounters ORDER BY period_start").fetchall()
    assert [e[0] for e in encounters] == ["IMP", "AMB"]
    stay = encounters[0]
    assert stay[1] == "183452005" and stay[3] == "finished" and stay[6] == "Home"
    start, end = (datetime.fromisoformat(v) for v in stay[4:6])
    assert (end - start).total_seconds() == pytest.approx((2 * 24 + 13.5) * 3600)  # length of stay survives
    assert db.conn.execute("SELECT code, display, status FROM immunizations").fetchall() == [
        ("140", "Influenza, seasonal, injectable, preservative free", "completed")]
    proc = db.conn.execute("SELECT code, performed_start, performed_end FROM procedures").fetchone()
    assert proc[0] == "80146002" and proc[1] < proc[2]
    assert (result.encounters, result.allergies, result.immunizations, result.procedures) == (2, 2, 1, 1)
    assert result.skipped == skipped
    summary = result.summary()
    for kind, n in skipped.items():
        assert f"{n:,} {kind}" in summary
    assert "not used by the rules" in summary
    text = _store_text(db)
    for needle in ex.NEEDLES:
        assert needle.lower() not in text, needle
    # Dates are shifted by one whole number of days per patient: every interval survives, across tables.
    shift = start - datetime(2012, 9, 15, 20, 10)  # the stay's start in UTC
    assert shift.seconds == 0 and abs(shift.days) <= 182
    assert datetime.fromisoformat(proc[1]) - datetime(2012, 9, 16, 6, 0) == shift
    flu = db.conn.execute("SELECT occurrence FROM immunizations").fetchone()[0]
    assert datetime.fromisoformat(flu) - datetime(2012, 10, 1, 10, 15) == shift
    bp_day = db.conn.execute("SELECT time FROM observations WHERE code = '8480-6'").fetchone()[0]
    assert datetime.fromisoformat(bp_day) - datetime(2012, 9, 17) == shift


@pytest.mark.parametrize("kind", ["transaction", "batch", "collection", "searchset"])
def test_every_bundle_type_imports_the_whole_record(fresh_db, tmp_path, kind):
    path = ex.write_bundle(tmp_path, kind)
    source = open_source(path)
    assert source.format == "fhir"
    result = _import(fresh_db, source, path.name)
    skipped = {**SKIPPED, "OperationOutcome": 1} if kind == "searchset" else SKIPPED
    _assert_whole_record(fresh_db, result, skipped)
    version = fresh_db.conn.execute("SELECT file_name, report FROM dataset_versions").fetchone()
    assert version[0] == "[name].json"
    assert json.loads(version[1])["fhir"]["skipped"] == skipped


def test_ndjson_bulk_export_folder_imports_like_a_bundle(fresh_db, tmp_path):
    folder = ex.write_bulk_export(tmp_path / "export")
    files = fhir_files_in(folder)
    assert len(files) == 13
    source = open_fhir_files(files)
    assert source.details["files"] == 13
    result = _import(fresh_db, source, ", ".join(p.name for p in files))
    _assert_whole_record(fresh_db, result)
    # The version's hash does not depend on the order the files come in.
    assert open_fhir_files(list(reversed(files))).sha256 == source.sha256


def test_single_ndjson_file_is_read_line_by_line(fresh_db, tmp_path):
    lines = [json.dumps(r) for r in ex.resources(f"Patient/{ex.PATIENT_ID}")]
    source = open_source("\n".join(lines).encode())
    result = _import(fresh_db, source, "Patient.ndjson")
    _assert_whole_record(fresh_db, result)


def test_cli_imports_a_bulk_folder_with_defaults(db_path, tmp_path, store_backend):
    from engine.store import open_db

    folder = ex.write_bulk_export(tmp_path / f"{ex.FAMILY}_{ex.GIVEN}")
    done = subprocess.run([sys.executable, "-m", "engine", "ingest", str(folder), "--user", "tester"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "2 encounters" in done.stdout and "1 Claim" in done.stdout
    assert ex.FAMILY not in done.stdout + done.stderr
    with open_db(db_path if store_backend == "sqlite" else None) as db:  # the store the CLI wrote to
        conn = db.conn
        assert conn.execute("SELECT COUNT(*) FROM encounters").fetchone()[0] == 2
        file_name = conn.execute("SELECT file_name FROM dataset_versions").fetchone()[0]
        text = "\n".join(conn.iterdump()).lower()
    assert "[name]_observation.ndjson" in file_name and "patient.ndjson" in file_name
    for needle in ex.NEEDLES:
        assert needle.lower() not in text, needle


def test_rollback_removes_every_resource(fresh_db, tmp_path):
    from engine.ingest import rollback_version

    result = _import(fresh_db, open_source(ex.write_bundle(tmp_path)), ex.FILE_NAME)
    counts = rollback_version(fresh_db, result.version_id, username="tester")
    assert counts["encounters"] == 2 and counts["allergies"] == 2
    for table in ("encounters", "immunizations", "procedures", "allergies", "conditions", "medications"):
        assert fresh_db.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table


def test_dates_follow_the_import_rules():
    assert deid_datetime("2012-09-15T22:10:00+02:00", "shift", 3) == "2012-09-18T20:10"
    assert deid_datetime("2012-09-15", "shift", -20) == "2012-08-26"
    assert deid_datetime("2012-09-15T22:10:00Z", "generalise", 3) == "2012"
    assert deid_datetime("2012", "shift", 100) == "2012"
    assert deid_datetime("2012-09-15", "remove", 0) is None
    assert deid_datetime("not a date", "shift", 1) is None


@pytest.mark.parametrize("data, phrase", [
    (b'{"resourceType": "Bundle", "type": "history", "entry": [{"resource": {"resourceType": "Patient"}}]}',
     "of type 'history'"),
    (b'{"resourceType": "Patient", "id": "a"}\n{"resourceType": "Observation", "status": ', "Line 2 of"),
    (b'{"resourceType": "Patient", "id": "a"}\n[1, 2]\n', "Line 2 of the JSON file is not a FHIR resource"),
    (b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Claim"}}]}',
     "holds no Patient"),
])
def test_bad_fhir_is_refused_with_where(data, phrase):
    with pytest.raises(InputError, match=phrase):
        open_source(data)


def test_one_bad_file_among_several_is_named_by_position(tmp_path):
    good = ex.write_bulk_export(tmp_path / "export")
    bad = tmp_path / f"{ex.FAMILY}.ndjson"
    bad.write_text("name,age\n")
    with pytest.raises(InputError) as err:
        open_fhir_files([*fhir_files_in(good), bad])
    assert "File 14 of 14" in str(err.value) and ex.FAMILY not in str(err.value)


def test_imported_snomed_conditions_reach_the_rules_and_the_patient_page(fresh_db, tmp_path):
    from engine.patient_record import find_patients, view_patient
    from engine.treatment import record_from_store, suggest

    _import(fresh_db, open_source(ex.write_bundle(tmp_path)), ex.FILE_NAME)
    pseudo_id = fresh_db.conn.execute("SELECT pseudo_id FROM patients").fetchone()[0]
    assert [p["pseudo_id"] for p in find_patients(fresh_db, None, condition_code="E11").rows] == [pseudo_id]
    assert [p["pseudo_id"] for p in find_patients(fresh_db, None, condition_code="I10").rows] == [pseudo_id]
    assert [p["pseudo_id"] for p in find_patients(fresh_db, "e11").rows] == [pseudo_id]  # typed in the picker
    result = suggest(record_from_store(fresh_db, pseudo_id))
    assert sorted(c["code"] for c in result["inputs"]["conditions"]) == ["E11.9", "I10"]
    assert any("not used by the rules" in w for w in result["warnings"])  # the sinusitis
    fired = {o["id"] for o in result["options"]} | {o["id"] for o in result["blocked"]}
    assert any(i.startswith("ada2020.t2d") for i in fired) and any(i.startswith("acc2017.htn") for i in fired)
    view = view_patient(fresh_db, pseudo_id, username="tester", role="clinician")
    notes = {c["code"]: c["rules"] for c in view["conditions"]}
    assert notes == {"44054006": "ICD-10-CM E11.9 (mapped from SNOMED CT 44054006)",
                     "59621000": "ICD-10-CM I10 (mapped from SNOMED CT 59621000)",
                     "444814009": "not used by the rules"}
    assert [e["class_code"] for e in view["encounters"]] == ["IMP", "AMB"]
    assert [i["code"] for i in view["immunizations"]] == ["140"] and len(view["procedures"]) == 1
    assert {a["substance"] for a in view["allergies"]} == {"Cashew nuts", "penicillin"}
    penicillin = next(a for a in record_from_store(fresh_db, pseudo_id)["allergies"] if a["substance"] == "penicillin")
    assert penicillin["reaction"] == "Hives"


def test_encounters_are_listed_for_capacity_planning(fresh_db, tmp_path):
    from engine.store.clinical import list_encounters

    _import(fresh_db, open_source(ex.write_bundle(tmp_path)), ex.FILE_NAME)
    inpatient = list_encounters(fresh_db, class_codes=["IMP"])
    assert len(inpatient) == 1 and inpatient[0]["period_end"] > inpatient[0]["period_start"]


def test_treatment_page_reads_mapped_conditions_as_icd10cm(fresh_db, tmp_path):
    from engine.treatment import record_from_store, suggest

    _import(fresh_db, open_source(ex.write_bundle(tmp_path)), ex.FILE_NAME)
    pseudo_id = fresh_db.conn.execute("SELECT pseudo_id FROM patients").fetchone()[0]
    stored = record_from_store(fresh_db, pseudo_id)
    codes = {c["code"]: c.get("mapped_from") for c in stored["conditions"]}
    assert codes == {"E11.9": "SNOMED CT 44054006", "I10": "SNOMED CT 59621000", "444814009": None}
    reviewed = suggest(stored, condition="E11.9")  # the page offers recorded codes as the condition to review
    ids = [o["id"] for o in reviewed["options"]]
    assert any(i.startswith("ada2020.t2d") for i in ids) and not any(i.startswith("acc2017.htn") for i in ids)


def test_malformed_resources_end_in_a_result_or_a_clear_refusal(tmp_path):
    """Values replaced by the wrong JSON type anywhere in the bundle (seeded, 60 cases): never a crash."""
    import copy
    import random

    from engine.store import connect

    rng = random.Random(18)
    junk = [None, {}, [], {"a": 1}, [1, "x"], 0, -1, 1e308, True, "", "2012-13-45", "=cmd()", "Patient/"]
    base = ex.bundle("transaction")

    def paths(obj, prefix=()):
        items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
        for key, value in items:
            yield prefix + (key,)
            yield from paths(value, prefix + (key,))

    every = list(paths(base))
    for case in range(60):
        doc = copy.deepcopy(base)
        for path in rng.sample(every, rng.randint(1, 4)):
            target = doc
            try:
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = copy.deepcopy(rng.choice(junk))
            except (KeyError, IndexError, TypeError):
                continue  # an earlier replacement removed this path
        db = connect(tmp_path / f"case{case}.db")
        try:
            _import(db, open_source(json.dumps(doc).encode()), "x.json")
        except InputError:
            pass
        finally:
            db.conn.close()
