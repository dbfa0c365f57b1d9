"""Predict's manual entry shows units as people write them and takes common alternative units
(AppTest through app.py, seeded real Pima patient PIMA-0001)."""
from __future__ import annotations

import pytest

from tests.pages.apptest_helpers import open_page

KEY = "pin_diabetes_pima_PIMA-0001_"


@pytest.fixture
def pima_page(seeded_db, models_copy):
    at = open_page("predict", role="clinician", username="doc")
    at.selectbox(key="predict_model").select("diabetes_pima").run()
    at.text_input(key="predict_patient").input("PIMA-0001").run()
    assert not at.exception and at.selectbox(key="predict_patient_pick").value == "PIMA-0001"
    return at


def test_labels_use_readable_units_and_whole_numbers(pima_page):
    labels = {n.key: n.label for n in pima_page.number_input}
    assert labels[KEY + "age"] == "Age (years)"
    assert labels[KEY + "diastolic_bp"] == "Diastolic blood pressure (mmHg)"
    assert labels[KEY + "pregnancies"] == "Number of pregnancies"  # {count}: a plain number, no unit
    assert not any("[" in label or "{" in label for label in labels.values())
    assert all(n.proto.format == "%g" for n in pima_page.number_input)  # 148, not 148.00


def test_glucose_in_mmol_per_litre_is_converted_for_the_model(pima_page, seeded_db):
    at = pima_page
    stored = at.number_input(key=KEY + "glucose_ogtt_2h").value
    at.radio(key=KEY + "glucose_ogtt_2h_unit").set_value("mmol/L").run()
    box = at.number_input(key=KEY + "glucose_ogtt_2h_mmol/L")
    assert box.label.endswith("(mmol/L)") and box.value == pytest.approx(stored / 18.016)
    box.set_value(7.8).run()
    at.button(key="predict_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    import json

    inputs = json.loads(seeded_db.conn.execute("SELECT inputs FROM predictions ORDER BY id DESC LIMIT 1").fetchone()[0])
    flat = inputs.get("record", inputs) if isinstance(inputs, dict) else inputs
    assert flat["glucose_ogtt_2h"] == pytest.approx(7.8 * 18.016)
    basis = next(d.value for d in at.dataframe if "input" in d.value.columns)
    assert "mmHg" in set(basis["unit"]) and "mm[Hg]" not in set(basis["unit"])
