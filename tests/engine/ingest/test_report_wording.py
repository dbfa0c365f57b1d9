"""Walk-through findings on the validation report: distinct problem rows, ragged rows as a problem class,
counts that agree with their noun, numeric type and range for age, values shown as written.

Files are built from the real Framingham rows (tests/engine/records_files.py); the ragged lines are a
synthetic damage, as the builder says.
"""
from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.ingest import import_source, open_source, propose_mapping, validate_source
from engine.ingest.validate import ACTIONS, DEFAULT_DECISIONS
from tests.engine import records_files as rf
from tests.engine.test_ingest import _formula, _ragged, run_import

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)


def _validate(db, data: bytes):
    source = open_source(data)
    mapping = propose_mapping(source.columns, source.preview(200))
    return source, validate_source(db, source, mapping)


def test_revalidating_an_imported_file_counts_each_problem_row_once(fresh_db):
    data = rf.csv_bytes(rf.framingham_frame(300))
    run_import(fresh_db, data)
    _, report = _validate(fresh_db, data)
    # Every row now collides with a stored patient, and some rows are also outliers: a row is one problem row.
    assert report.classes()["id_collision"] == 300
    assert sum(report.classes().values()) > 300
    distinct = set()
    for p in report.problems:
        distinct.update(int(r) for r in p.rows)
    assert report.problem_rows() == len(distinct) == 300
    assert report.to_dict()["problem_rows"] == 300


def test_ragged_rows_are_a_validation_problem_like_formulas(fresh_db):
    # Upload (open + preview) accepts both files; validation reports both with their rows.
    for data in (_ragged(), _formula()):
        source = open_source(data)
        assert len(source.preview(20)) > 0
    _, ragged = _validate(fresh_db, _ragged())
    problem = next(p for p in ragged.problems if p.cls == "ragged")
    assert problem.rows.tolist() == [6, 10]
    assert "lines 6 (18 fields), 10 (4 fields)" in problem.message
    assert ragged.n_rows == 20  # the two ragged rows are rows of the file too
    _, formula = _validate(fresh_db, _formula())
    assert "formula" in formula.classes()
    assert ACTIONS["ragged"] == ("drop", "cancel") and DEFAULT_DECISIONS["ragged"] == "cancel"


def test_ragged_rows_dropped_on_the_users_decision(fresh_db):
    source, report = _validate(fresh_db, _ragged())
    result = import_source(fresh_db, source, report, {**DEFAULT_DECISIONS, "ragged": "drop"}, dataset="r",
                           username="tester")
    assert result.patients_added == 18 and result.rows_dropped == 2


def test_ragged_rows_after_the_last_full_chunk_are_still_reported(fresh_db, monkeypatch):
    lines = rf.csv_bytes(rf.framingham_frame(10)).decode().splitlines()
    lines.append("1,2,3")  # synthetic: a truncated last line
    source = open_source(("\n".join(lines) + "\n").encode())
    chunks = list(source.iter_chunks(5))
    assert [len(c.rows) for c in chunks] == [5, 5]
    assert [r for c in chunks for r in c.ragged] == [(12, 3)]


def test_a_file_where_no_row_fits_the_header_is_refused():
    with pytest.raises(InputError, match="No row has the header's 3 fields"):
        list(open_source(b"a,b,c\n1,2\n3,4\n").iter_chunks(10))


def test_one_row_reads_as_one_row(fresh_db):
    _, report = _validate(fresh_db, _formula())
    formula = next(p for p in report.problems if p.cls == "formula")
    assert formula.message.startswith("Column 'note': 1 value is a spreadsheet formula")
    assert "1 values" not in formula.message


def test_age_is_a_number_with_its_range(fresh_db):
    df = rf.framingham_frame(200)
    _, report = _validate(fresh_db, rf.csv_bytes(df))
    age = next(c for c in report.columns if c.field == "age")
    assert age.type == "number"
    assert age.minimum == df["age"].min() and age.maximum == df["age"].max()


def test_summary_range_is_the_value_as_written_not_float32_noise(fresh_db):
    df = rf.framingham_frame(200)
    df["oldpeak"] = np.round(np.linspace(0.0, 6.2, len(df)), 1)  # synthetic column: ST depression in mm
    _, report = _validate(fresh_db, rf.csv_bytes(df))
    col = next(c for c in report.columns if c.column == "oldpeak")
    assert col.type == "number" and col.maximum == 6.2 and repr(col.maximum) == "6.2"


def test_report_units_read_as_people_write_them(fresh_db):
    df = rf.framingham_frame(60)
    df["sysBP"] = df["sysBP"].astype(float)
    df.loc[4, "sysBP"] = 900.0  # synthetic: an impossible systolic pressure
    _, report = _validate(fresh_db, rf.csv_bytes(df))
    sbp = next(c for c in report.columns if c.column == "sysBP")
    assert sbp.stored_as.endswith("(mmHg)")
    out = next(p for p in report.problems if p.cls == "out_of_range" and p.column == "sysBP")
    assert "50-300 mmHg" in out.message and "mm[Hg]" not in out.message
