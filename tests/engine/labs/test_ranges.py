"""Reference ranges (engine/labs): each cut-off as its cited source publishes it, the flag at the edges,
and what counts as a trend."""
from __future__ import annotations

import pytest

from engine.labs import REFERENCE_RANGES, annotate, reference_for, trend_rows
from engine.vocabulary import CONCEPTS

# (concept, value just inside, value on/over the cut-off, flag there), from the sources' own categories:
# ADA 2020 s2: HbA1c 5.7-6.4% prediabetes, 2-h OGTT 140-199 mg/dL impaired tolerance; ACC/AHA 2017: normal
# BP < 120/< 80 mmHg; ATP III: total cholesterol < 200 desirable, LDL < 100 optimal, HDL < 40 low,
# triglycerides < 150 normal; WHO: BMI 18.5-24.9 normal; KDIGO 2012: GFR < 60 is G3a-G5;
# 2022 AHA/ACC/HFSA: LVEF >= 50% preserved.
EDGES = [
    ("hba1c", 5.6, 5.7, "above"), ("glucose_ogtt_2h", 139, 140, "above"), ("systolic_bp", 119, 120, "above"),
    ("diastolic_bp", 79, 80, "above"), ("total_cholesterol", 199, 200, "above"), ("ldl_cholesterol", 99, 100, "above"),
    ("hdl_cholesterol", 40, 39, "below"), ("triglycerides", 149, 150, "above"), ("bmi", 24.9, 25, "above"),
    ("bmi", 18.5, 18.4, "below"), ("egfr", 60, 59, "below"), ("ejection_fraction", 50, 49, "below"),
]


@pytest.mark.parametrize("concept,inside,outside,flag", EDGES)
def test_cut_offs_match_their_sources(concept, inside, outside, flag):
    rng = REFERENCE_RANGES[concept]
    assert rng.flag(inside) == "within" and rng.flag(outside) == flag
    assert rng.source


def test_every_range_is_on_a_known_concept_and_labs_set_by_the_laboratory_have_none():
    assert set(REFERENCE_RANGES) <= set(CONCEPTS)
    for key in ("sodium", "potassium", "creatinine", "platelets", "ck"):
        assert reference_for(CONCEPTS[key].code) is None


def test_annotate_flags_only_comparable_values():
    rows = annotate([
        {"code": "8480-6", "value_num": 145.0, "unit": "mm[Hg]"},
        {"code": "8480-6", "value_num": 19.0, "unit": "kPa"},  # not the range's unit: not compared
        {"code": "2951-2", "value_num": 150.0, "unit": "mmol/L"},  # sodium: range set by the laboratory
        {"code": "4548-4", "value_num": None, "value_text": "n/a", "unit": "%"},
    ])
    assert [r["vs_reference"] for r in rows] == ["above", None, None, None]
    assert rows[0]["reference"] == "< 120 mmHg (normal)" and rows[2]["reference"] is None
    assert REFERENCE_RANGES["bmi"].text() == "18.5-24.9 kg/m2"
    assert REFERENCE_RANGES["egfr"].text() == "≥ 60 mL/min/1.73 m2"


def test_a_single_or_undated_value_is_not_a_trend():
    obs = [
        {"code": "4548-4", "value_num": 7.0, "time": "2025-01-01"},
        {"code": "4548-4", "value_num": 6.5, "time": "2025-05-01"},
        {"code": "8480-6", "value_num": 140.0, "time": "2025-01-01"},  # one dated value
        {"code": "2093-3", "value_num": 220.0, "time": None},  # undated
        {"code": "2093-3", "value_num": 210.0, "time": None},
    ]
    assert [(o["code"], o["value_num"]) for o in trend_rows(obs)] == [("4548-4", 7.0), ("4548-4", 6.5)]
