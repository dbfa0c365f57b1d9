"""The patient page shows reference ranges and where each value falls; only repeated dated values are
drawn over time (AppTest through app.py on the seeded real data)."""
from __future__ import annotations

import base64
import json

import numpy as np

from tests.pages.apptest_helpers import open_page
from tests.pages.test_records import frame_with


def _open(pseudo_id: str):
    at = open_page("patient", role="clinician", username="doc")
    at.text_input(key="patient_search").set_value(pseudo_id).run()
    at.selectbox(key="patient_pick").set_value(pseudo_id).run()
    assert not at.exception and not at.error
    return at


def test_values_show_reference_range_and_flag(seeded_db):
    # UCI-0001: resting systolic BP 145 mmHg and cholesterol 233 mg/dL in the real Cleveland record.
    at = _open("UCI-0001")
    table = frame_with(at, "reference range", "vs reference")
    sbp = table[table["code"] == "8480-6"].iloc[0]
    assert sbp["value"] == "145" and sbp["unit"] == "mmHg"
    assert sbp["reference range"] == "< 120 mmHg (normal)" and sbp["vs reference"] == "▲ above"
    chol = table[table["code"] == "2093-3"].iloc[0]
    assert chol["reference range"] == "< 200 mg/dL (desirable)" and chol["vs reference"] == "▲ above"
    assert "set by the laboratory" not in set(table.loc[table["code"] == "8480-6", "reference range"])
    assert any("Adult Treatment Panel III" in c.value for c in at.caption)
    assert not at.get("plotly_chart")  # single undated values: no trend line


def test_repeated_dated_values_are_drawn_as_a_trend(seeded_db):
    # Synthetic edge case: two dated HbA1c values added to a real Pima patient (the seed has no dates).
    pid = seeded_db.conn.execute("SELECT id FROM patients WHERE pseudo_id = 'PIMA-0003'").fetchone()[0]
    seeded_db.conn.executemany(
        "INSERT INTO observations (patient_id, code, system, name, value_num, unit, time) VALUES (?, '4548-4', "
        "'http://loinc.org', 'Hemoglobin A1c/Hemoglobin.total in Blood', ?, '%', ?)",
        [(pid, 7.2, "2025-01-10"), (pid, 6.4, "2025-06-10")])
    seeded_db.conn.commit()
    at = _open("PIMA-0003")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    y = spec["data"][0]["y"]  # plotly ships numbers as base64 typed arrays
    values = np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]) if isinstance(y, dict) else np.array(y)
    assert values.round(1).tolist() == [7.2, 6.4]
    assert len(spec["data"]) == 1  # only the repeated dated observation, not the single undated ones
    assert "reference < 5.7 % (normal)" in json.dumps(spec["layout"])
    table = frame_with(at, "reference range", "vs reference")
    assert set(table.loc[table["code"] == "4548-4", "vs reference"]) == {"▲ above"}


def test_patient_list_is_paged_with_a_total(seeded_db):
    at = open_page("patient", role="clinician", username="doc")
    at.text_input(key="patient_search").set_value("uci").run()
    total = seeded_db.conn.execute("SELECT COUNT(*) FROM patients WHERE pseudo_id LIKE '%uci%' OR source LIKE '%uci%'"
                                   ).fetchone()[0]
    caption = next(c.value for c in at.caption if " match; showing " in c.value)
    assert caption == f"{total:,} patients match; showing 1-25."
    at.number_input(key="patient_list_page").set_value(3).run()
    assert next(c.value for c in at.caption if " match; showing " in c.value).endswith("showing 51-75.")
    assert frame_with(at, "pseudo_id", "age_group")["pseudo_id"].tolist()[0] == "UCI-0051"
    at.text_input(key="patient_search").set_value("UCI-000").run()  # a new search starts on page 1
    assert next(c.value for c in at.caption if " match; showing " in c.value) == "9 patients match; showing 1-9."
