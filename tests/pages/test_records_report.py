"""AppTests for the Records validation report as a user reads it: distinct problem rows, "1 row",
ragged rows decided at Validate (not refused at upload), age as a number with its range."""
from __future__ import annotations

from tests.engine import records_files as rf
from tests.engine.test_ingest import _ragged
from tests.pages.apptest_helpers import open_page


def _validated(data: bytes):
    at = open_page("records", role="analyst", username="ana")
    at.get("file_uploader")[0].set_value(("cohort.csv", data, "text/csv"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.button(key="records_validate").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def test_ragged_file_is_uploaded_then_reported_with_a_decision(seeded_db):
    at = _validated(_ragged())
    decide = at.selectbox(key="records_decide_ragged")
    assert decide.label == "Rows with the wrong number of fields (2 rows)"
    assert decide.options[0].startswith("drop")
    labels = [s.label for s in at.selectbox if s.key and s.key.startswith("records_decide_")]
    assert not any("(1 rows)" in label for label in labels)


def test_one_problem_row_is_labelled_in_the_singular(seeded_db):
    df = rf.framingham_frame(60)
    df["sysBP"] = df["sysBP"].astype(object)
    df.loc[5, "sysBP"] = "12O"  # synthetic typo: the letter O for a zero
    at = _validated(rf.csv_bytes(df))
    label = at.selectbox(key="records_decide_bad_value").label
    assert label == "Unreadable values (1 row)"


def test_revalidation_counts_distinct_problem_rows_and_types_age(seeded_db):
    df = rf.framingham_frame(300)
    data = rf.csv_bytes(df)
    at = _validated(data)
    at.text_input(key="records_dataset").set_value("frm")
    at.button(key="records_import").click().run()
    assert not at.error
    at.button(key="records_validate").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows"] == "300" and metrics["Problem rows"] == "300"
    columns = next(d.value for d in at.dataframe if "stored_as" in d.value.columns)
    age = columns[columns["column"] == "age"].iloc[0]
    assert age["type"] == "number" and age["minimum"] == df["age"].min() and age["maximum"] == df["age"].max()
