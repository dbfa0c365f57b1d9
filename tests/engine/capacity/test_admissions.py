"""The admissions export: bad rows by row number, pseudonymised ids, CSV and Excel, daily series."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from engine.capacity.admissions import daily_arrivals, midnight_census, read_admissions, stay_lengths
from engine.errors import InputError
from engine.privacy import pseudonymiser

KEY = "11" * 32
PSEUDO = pseudonymiser(KEY, prefix="P-")

# Synthetic edge cases (hand-written rows; file row numbers start at 2 below the header).
CSV = """MRN,Ward,Admission Time,Discharge Time,Name
A100,ICU,2026-01-05 08:00,2026-01-07 08:00,Jane Roe
A101,icu,2026-01-05 12:00,2026-01-04 12:00,John Doe
A102,Maternity,2026-01-06 09:00,2026-01-08 09:00,Ann Lee
A100,ICU,2026-01-06 10:00,2026-01-09 10:00,Jane Roe
A103,ICU,,2026-01-09 10:00,Bob Ray
A104,HDU,2026-01-07 10:00,,Sam Poe
A105,ICU,2026-01-07 10:00,soon,Kim Wu
A100,ICU,2026-01-07 08:00,2026-01-08 08:00,Jane Roe
"""


def _read(data: bytes, **kw):
    return read_admissions(data, units=["ICU", "HDU"], pseudonymise=PSEUDO, **kw)


def test_bad_rows_are_reported_by_row_number_and_left_out():
    adm = _read(CSV.encode())
    problems = {p.kind: p.rows for p in adm.problems}
    assert problems == {"discharge_before_admit": [3], "unknown_unit": [4], "overlap": [5], "bad_admit": [6],
                        "bad_discharge": [8]}
    # Row 9 starts exactly when row 2's stay ends: a back-to-back transfer, not an overlap.
    assert sorted(adm.stays["row"]) == [2, 7, 9]
    assert adm.stays["unit"].tolist().count("ICU") == 2  # 'icu' spelling maps to the canonical unit name
    for p in adm.problems:
        assert "A10" not in p.message and "Roe" not in p.message


def test_patient_numbers_are_pseudonymised_and_other_columns_never_read():
    adm = _read(CSV.encode())
    assert set(adm.stays.columns) == {"unit", "admit", "discharge", "patient", "row"}
    assert all(str(p).startswith("P-") for p in adm.stays["patient"])
    assert "A100" not in adm.stays.to_csv() and "Jane" not in adm.stays.to_csv()
    assert adm.stays["patient"].nunique() == 2
    assert adm.summary()["columns"]["patient"] == "MRN"


def test_excel_export_reads_like_csv():
    frame = pd.read_csv(io.StringIO(CSV))
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False)
    adm = _read(buffer.getvalue())
    assert sorted(adm.stays["row"]) == [2, 7, 9]


def test_missing_columns_and_non_tables_are_refused():
    with pytest.raises(InputError, match="discharge"):
        _read(b"unit,admit_time\nICU,2026-01-01\n")
    with pytest.raises(InputError):
        _read(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(InputError, match="usable stay"):
        _read(b"unit,admit,discharge\nXX,2026-01-01,2026-01-02\n")


def test_daily_series_and_census_count_by_hand():
    adm = _read(CSV.encode())
    arrivals = daily_arrivals(adm, "ICU", end=pd.Timestamp("2026-01-09"))
    assert arrivals.to_dict() == {pd.Timestamp("2026-01-05"): 1, pd.Timestamp("2026-01-06"): 0,
                                  pd.Timestamp("2026-01-07"): 1, pd.Timestamp("2026-01-08"): 0}
    census = midnight_census(adm, pd.date_range("2026-01-05", "2026-01-08"), None)
    # Jan 5 24:00: row 2 in. Jan 6: row 2. Jan 7: row 2 ended 08:00 Jan 7, row 9 (ICU) + row 7 (HDU, open) in.
    # Jan 8: row 9 left 08:00 Jan 8; row 7 still in.
    assert census.tolist() == [1, 1, 2, 1]
    days, still_in = stay_lengths(adm, "HDU")
    assert still_in.tolist() == [True] and days[0] > 0
