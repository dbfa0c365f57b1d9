"""Summary features on hand-made stays (synthetic: exact answers are known), and their readable labels."""
from __future__ import annotations

import numpy as np
import pytest

from engine.icu.features import build_features, feature_label, feature_names
from engine.icu.records import CleaningReport, build_stay


def _stay(rows):
    return build_stay("t1", [(0.0, "Age", 70.0), *rows], CleaningReport())


def test_trend_and_day_means_of_a_straight_line():
    # heart rate rising 2 /min per hour from 60 at hour 0 to 120 at hour 30
    hours = np.arange(0, 31, 1.0)
    stay = _stay([(h, "HR", 60 + 2 * h) for h in hours])
    row = build_features([stay], 48.0).iloc[0]
    assert row["HR_slope"] == pytest.approx(2.0)
    assert row["HR_mean_first24"] == pytest.approx(np.mean(60 + 2 * hours[hours <= 24]))
    assert row["HR_mean_last24"] == pytest.approx(np.mean(60 + 2 * hours[hours > 24]))  # hours 25-30 of 24-48
    assert row["HR_since_last"] == pytest.approx(18.0)
    assert np.isnan(row["Lactate_slope"])  # never measured: missing, not 0


def test_features_stop_at_the_horizon():
    stay = _stay([(1.0, "Lactate", 1.0), (10.0, "Lactate", 3.0), (30.0, "Lactate", 9.0)])
    at_12 = build_features([stay], 12.0).iloc[0]
    assert at_12["Lactate_last"] == 3.0 and at_12["Lactate_slope"] == pytest.approx(2.0 / 9.0)
    assert at_12["Lactate_mean_last24"] == pytest.approx(2.0)  # the last 24 h before hour 12 is the whole stay
    one = _stay([(5.0, "Lactate", 2.0)])
    assert np.isnan(build_features([one], 48.0).iloc[0]["Lactate_slope"])  # one value: no trend


def test_every_feature_has_a_readable_label():
    assert feature_label("Lactate_last") == "Lactate, last value (mmol/L)"
    assert feature_label("GCS_min") == "Glasgow coma score, lowest"
    assert feature_label("HR_slope") == "Heart rate, trend (per minute per hour)"
    assert feature_label("pH_since_last") == "Arterial pH, hours since last measured"
    assert feature_label("pH_mean") == "Arterial pH, mean"
    assert feature_label("pf_ratio_min") == "PaO2/FiO2 ratio, lowest"
    assert all("_" not in feature_label(name) for name in feature_names())
