"""NEWS2 against the Royal College of Physicians' 2017 chart (Chart 1: the NEWS2 scoring system).

Each band edge of the chart is tested on both sides, then the chart's aggregate risk bands, then
the time-series scorer's handling of missing parameters (missing is never scored as normal).
"""
from __future__ import annotations

import math

import pandas as pd
import pytest

from engine.icu.news2 import (compute_news2, news2_series, score_consciousness, score_oxygen, score_pulse,
                              score_resp_rate, score_spo2_scale1, score_spo2_scale2, score_systolic,
                              score_temperature)

# (value, points) pairs read off the RCP chart, both sides of every edge.
RESP = [(8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3)]
SPO2_1 = [(91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
SYSTOLIC = [(90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)]
PULSE = [(40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3)]
TEMP = [(35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2)]


@pytest.mark.parametrize("value,points", RESP)
def test_respiration_rate_bands(value, points):
    assert score_resp_rate(value) == points


@pytest.mark.parametrize("value,points", SPO2_1)
def test_spo2_scale1_bands(value, points):
    assert score_spo2_scale1(value) == points


@pytest.mark.parametrize("value,on_oxygen,points", [
    (83, False, 3), (84, False, 2), (85, False, 2), (86, False, 1), (87, False, 1), (88, False, 0), (92, False, 0),
    (93, False, 0), (99, False, 0),  # high saturation on air scores nothing on scale 2
    (93, True, 1), (94, True, 1), (95, True, 2), (96, True, 2), (97, True, 3)])
def test_spo2_scale2_bands(value, on_oxygen, points):
    assert score_spo2_scale2(value, on_oxygen) == points


@pytest.mark.parametrize("value,points", SYSTOLIC)
def test_systolic_bands(value, points):
    assert score_systolic(value) == points


@pytest.mark.parametrize("value,points", PULSE)
def test_pulse_bands(value, points):
    assert score_pulse(value) == points


@pytest.mark.parametrize("value,points", TEMP)
def test_temperature_bands(value, points):
    assert score_temperature(value) == points


def test_air_oxygen_and_consciousness():
    assert (score_oxygen(False), score_oxygen(True)) == (0, 2)
    assert (score_consciousness(True), score_consciousness(False)) == (0, 3)


def test_all_normal_scores_zero_low_risk():
    r = compute_news2(resp_rate=16, spo2=97, on_oxygen=False, systolic=125, pulse=72, alert=True, temperature=36.8)
    assert (r.total, r.band, r.complete) == (0, "low", True)


def test_single_red_score_is_low_medium():
    # A single parameter scoring 3 triggers an urgent ward-based response even with a total of 3.
    r = compute_news2(resp_rate=16, spo2=97, on_oxygen=False, systolic=125, pulse=72, alert=False, temperature=36.8)
    assert (r.total, r.band) == (3, "low-medium")


def test_aggregate_bands_medium_and_high():
    # RR 22 (2) + SpO2 95 (1) + air (0) + SBP 105 (1) + HR 95 (1) + alert (0) + 37.0 (0) = 5 -> medium
    medium = compute_news2(resp_rate=22, spo2=95, on_oxygen=False, systolic=105, pulse=95, alert=True, temperature=37.0)
    assert (medium.total, medium.band) == (5, "medium")
    # RR 26 (3) + SpO2 90 (3) + oxygen (2) + SBP 95 (2) + HR 120 (2) + confused (3) + 39.5 (2) = 17 -> high
    high = compute_news2(resp_rate=26, spo2=90, on_oxygen=True, systolic=95, pulse=120, alert=False, temperature=39.5)
    assert (high.total, high.band) == (17, "high")


def test_missing_parameter_is_missing_not_normal():
    r = compute_news2(resp_rate=None, spo2=97, on_oxygen=None, systolic=125, pulse=72, alert=True, temperature=None)
    assert r.parts["RespRate"] is None and r.parts["Temp"] is None and r.parts["Oxygen"] is None
    assert not r.complete
    assert set(r.missing) == {"RespRate", "Oxygen", "Temp"}


def test_series_carries_values_forward_only_within_the_window():
    # Synthetic (edge case): HR at 0 h and 10 h, RR only at 0 h; with a 4 h window RR is missing at 10 h.
    series = pd.DataFrame({"hours": [0.0, 0.0, 10.0], "parameter": ["HR", "RespRate", "HR"], "value": [135, 30, 80]})
    scored = news2_series(series, carry_hours=4.0)
    first, later = scored.iloc[0], scored.iloc[1]
    assert first["HR"] == 3 and first["RespRate"] == 3
    assert later["HR"] == 0 and math.isnan(later["RespRate"])
    assert "RespRate" in later["missing"]


def test_series_reads_oxygen_from_fio2_and_ventilation_and_alertness_from_gcs():
    series = pd.DataFrame({"hours": [1.0, 1.0, 2.0, 3.0, 3.0],
                           "parameter": ["FiO2", "GCS", "MechVent", "FiO2", "GCS"],
                           "value": [0.21, 15, 1, 0.5, 9]})
    scored = news2_series(series).set_index("hours")
    assert scored.loc[1.0, "Oxygen"] == 0 and scored.loc[1.0, "Consciousness"] == 0
    assert scored.loc[2.0, "Oxygen"] == 2  # ventilated
    assert scored.loc[3.0, "Consciousness"] == 3
