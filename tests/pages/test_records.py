"""AppTests for /records: analysts upload, validate, decide and import; clinicians only see the list."""
from __future__ import annotations

import pytest

from tests.engine import records_files as rf
from tests.pages.apptest_helpers import open_page


def frame_with(at, *columns: str):
    """The first st.dataframe or st.table on the page whose table has all ``columns`` (they carry no key here)."""
    for df in [*at.dataframe, *at.table]:
        value = df.value
        if all(c in value.columns for c in columns):
            return value
    raise AssertionError(f"no dataframe with columns {columns}")


def _mixed_csv() -> bytes:
    df = rf.with_mixed_glucose(rf.framingham_frame(120), [3, 40, 77])
    return rf.csv_bytes(df, sep=";", encoding="utf-8-sig")


def test_logged_out_sees_nothing(seeded_db):
    at = open_page("records", role=None)
    assert not at.exception
    assert "Records" not in [t.value for t in at.title]
    assert not at.dataframe and not at.get("file_uploader")


def test_clinician_sees_versions_but_cannot_import(seeded_db):
    at = open_page("records", role="clinician", username="cli")
    assert not at.exception
    assert not at.get("file_uploader")
    versions = frame_with(at, "version_id", "dataset")
    assert set(versions["dataset"]) >= {"uci_heart", "pima"} or len(versions) >= 4
    labels = [b.label for b in at.button]
    assert "Validate" not in labels and "Roll back" not in labels


def test_analyst_uploads_fixes_units_and_imports(seeded_db):
    at = open_page("records", role="analyst", username="ana")
    at.get("file_uploader")[0].set_value(("cohort.csv", _mixed_csv(), "text/csv"))
    at.run()
    assert not at.exception and not at.error
    fmt = next(c.value for c in at.caption if c.value.startswith("Format:"))
    assert "semicolon" in fmt and "BOM" in fmt
    at.button(key="records_validate").click().run()
    assert not at.error
    problems = frame_with(at, "class", "details")
    mix = problems[problems["class"] == "unit_mixup"]
    assert mix["rows"].tolist() == [3]
    at.selectbox(key="records_decide_unit_mixup").set_value("fix")
    at.text_input(key="records_dataset").set_value("framingham-upload")
    at.button(key="records_import").click().run()
    assert not at.error, [e.value for e in at.error]
    assert "3 values converted" in at.success[-1].value
    versions = frame_with(at, "version_id", "dataset")
    row = versions[versions["dataset"] == "framingham-upload"].iloc[0]
    assert row["patients"] == 120 and row["values_converted"] == 3
    n = seeded_db.conn.execute("SELECT COUNT(*) FROM observations WHERE flag = 'converted'").fetchone()[0]
    assert n == 3


@pytest.mark.parametrize("name", ["5,000 columns", "binary garbage", "nested parquet"])
def test_bad_upload_shows_one_clear_error(seeded_db, db_path, name):
    from tests.engine import test_ingest

    build, phrase = test_ingest.BAD_FILES[name]
    before = rf.store_digest(db_path)
    at = open_page("records", role="analyst", username="ana")
    at.get("file_uploader")[0].set_value(("upload.csv", build(), "text/csv"))
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and phrase in at.error[0].value
    assert rf.store_digest(db_path) == before


def test_analyst_rolls_back_a_version(seeded_db):
    at = open_page("records", role="analyst", username="ana")
    at.get("file_uploader")[0].set_value(("cohort.csv", rf.csv_bytes(rf.framingham_frame(30)), "text/csv"))
    at.run()
    at.button(key="records_validate").click().run()
    at.button(key="records_import").click().run()
    version_id = seeded_db.conn.execute("SELECT MAX(id) FROM dataset_versions").fetchone()[0]
    at.selectbox(key="records_rollback_pick").set_value(version_id)
    at.checkbox(key="records_rollback_sure").check().run()
    at.button(key="records_rollback").click().run()
    assert not at.error
    assert "removed 30 patients" in at.success[0].value
    status = seeded_db.conn.execute("SELECT status FROM dataset_versions WHERE id = ?", (version_id,)).fetchone()
    assert status == ("rolled_back",)


def test_analyst_imports_a_fhir_bulk_export_with_the_default_name(seeded_db, tmp_path):
    """Several NDJSON files (one per resource type, one named after the patient) import as one version."""
    from tests.engine.ingest import fhir_examples as ex

    folder = ex.write_bulk_export(tmp_path / "export")
    files = [(p.name, p.read_bytes(), "application/x-ndjson") for p in sorted(folder.iterdir())]
    at = open_page("records", role="analyst", username="ana")
    at.get("file_uploader")[1].set_value(files)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    fmt = next(c.value for c in at.caption if c.value.startswith("Format:"))
    assert "fhir" in fmt and "Claim 1" in fmt  # skipped resources are shown before anything is written
    at.button(key="records_validate").click().run()
    assert at.text_input(key="records_dataset").value.startswith("import-")
    at.button(key="records_import").click().run()
    assert not at.error, [e.value for e in at.error]
    summary = at.success[-1].value
    assert "2 encounters" in summary and "1 ExplanationOfBenefit" in summary
    dump = "\n".join(seeded_db.conn.iterdump()).lower()
    assert ex.FAMILY.lower() not in dump and ex.GIVEN.lower() not in dump
