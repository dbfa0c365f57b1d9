"""The Records upload preview hides identifiers (issue 12): real Framingham rows with synthetic, planted
identifiers (names, e-mail, phone, SSN, ZIP, visit dates, a record number and birth dates)."""
from __future__ import annotations

from engine.ingest import open_source
from engine.ingest.preview import HIDDEN, masked_preview
from tests.engine import records_files as rf

PLANTED = ("Anna", "Smith", "@example.org", "555-", "FRM000", "1950-", "2021-")


def planted_frame(n: int = 30):
    df = rf.with_identifiers(rf.framingham_frame(n))
    df.insert(0, "mrn", [f"FRM000{i:03d}" for i in range(n)])
    df["dob"] = [f"1950-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n)]
    df["notes"] = [f"call back on 555-{200 + i:03d}-7000 or mail nurse{i}@example.org" if i % 3 == 0
                   else "stable, review in clinic" for i in range(n)]
    return df


def test_preview_hides_every_planted_identifier_and_keeps_clinical_values():
    df = planted_frame()
    source = open_source(rf.csv_bytes(df), file_name="export.csv")
    preview = masked_preview(source, 20)
    text = preview.frame.astype(str).to_string()
    for raw in PLANTED:
        assert raw not in text, raw
    assert {"mrn", "patient_name", "email", "phone", "ssn", "zip", "visit_date", "dob"} <= set(preview.hidden)
    assert set(preview.frame["patient_name"]) == {HIDDEN}
    assert preview.redacted_cells == 2 * 7  # the phone and e-mail inside 7 of the 20 free-text notes
    assert "notes" not in preview.hidden and "stable, review in clinic" in set(preview.frame["notes"])
    # clinical columns are shown as they are
    assert [float(v) for v in preview.frame["glucose"].head(5)] == list(df["glucose"].head(5))


def test_a_column_the_user_maps_as_identifier_is_hidden_too():
    df = rf.framingham_frame(10).assign(ward_code=[f"W{i}" for i in range(10)])
    source = open_source(rf.csv_bytes(df), file_name="export.csv")
    assert "ward_code" not in masked_preview(source).hidden
    mapping = {"columns": {"ward_code": {"field": "identifier", "deid": "remove"}}}
    assert set(masked_preview(source, mapping=mapping).frame["ward_code"]) == {HIDDEN}
