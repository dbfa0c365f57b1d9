"""Manual entry in common alternative units (engine.models.predict.input_units / to_card_units): the model
always receives the card's unit, converted with the analyte's own factor."""
from __future__ import annotations

import pytest

from engine.errors import InputError
from engine.models.predict import in_unit, input_units, to_card_units
from engine.models.registry import get_card

# Independent references: glucose molar mass 180.16 g/mol -> 1 mmol/L = 18.016 mg/dL;
# 1 kPa = 7.500617 mmHg (101.325 kPa = 760 mmHg).
GLUCOSE_MG_PER_MMOL = 180.16 / 10
MMHG_PER_KPA = 760 / 101.325


@pytest.fixture
def pima(models_copy):
    return get_card("diabetes_pima")


def _feature(card, name):
    return next(f for f in card["features"] if f["name"] == name)


def test_glucose_and_pressure_offer_their_alternatives_age_does_not(pima):
    assert input_units(_feature(pima, "glucose_ogtt_2h")) == ["mg/dL", "mmol/L"]
    assert input_units(_feature(pima, "diastolic_bp")) == ["mm[Hg]", "kPa"]
    assert input_units(_feature(pima, "age")) == ["a"]
    assert input_units(_feature(pima, "bmi")) == ["kg/m2"]


def test_values_are_converted_to_the_card_units(pima):
    out = to_card_units(pima, {"glucose_ogtt_2h": 7.8, "diastolic_bp": 10.0, "age": 40.0, "bmi": None},
                        {"glucose_ogtt_2h": "mmol/L", "diastolic_bp": "kPa", "age": "a"})
    assert out["glucose_ogtt_2h"] == pytest.approx(7.8 * GLUCOSE_MG_PER_MMOL)
    assert out["diastolic_bp"] == pytest.approx(10.0 * MMHG_PER_KPA, rel=1e-6)
    assert out["age"] == 40.0 and out["bmi"] is None


def test_round_trip_for_prefilling(pima):
    glucose = _feature(pima, "glucose_ogtt_2h")
    assert in_unit(glucose, 140.0, "mmol/L") == pytest.approx(140.0 / GLUCOSE_MG_PER_MMOL)
    assert in_unit(glucose, None, "mmol/L") is None


def test_a_unit_the_input_does_not_take_is_refused_with_the_accepted_ones(pima):
    with pytest.raises(InputError, match=r"Input 'bmi' \(Body mass index\) can be entered in kg/m2 only"):
        to_card_units(pima, {"bmi": 30.0}, {"bmi": "lb"})
