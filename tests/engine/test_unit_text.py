"""Numbers, units and counts as people write them (engine/unit_text.py)."""
from __future__ import annotations

import numpy as np

from engine.unit_text import count_noun, format_number, readable_unit


def test_count_noun_agrees_with_the_count():
    assert count_noun(1, "row") == "1 row"
    assert count_noun(0, "row") == "0 rows"
    assert count_noun(1234, "patient") == "1,234 patients"
    assert count_noun(2, "analysis", "analyses") == "2 analyses"


def test_format_number_drops_noise_and_needless_decimals():
    assert format_number(120.0) == "120"
    assert format_number(float(np.float32(6.2))) == "6.2"  # 6.199999809265137 widened from float32
    assert format_number(0.125) == "0.125"
    assert format_number(None) == "" and format_number(float("nan")) == ""
    assert format_number(2021) == "2021"
    assert format_number(2487.5, 3) == "2490"  # not "2.49e+03" (the ICU drivers chart, urine output)
    assert format_number(7.3812, 3) == "7.38"
    assert format_number(0.0000123, 3) == "1.23e-05"  # tiny numbers keep the exponent


def test_readable_units():
    assert readable_unit("a") == "years"
    assert readable_unit("mm[Hg]") == "mmHg"
    assert readable_unit("{count}") == ""
    assert readable_unit("mg/dL") == "mg/dL"
    assert readable_unit("[pH]") == ""  # pH has no unit: "Arterial pH, mean", not "Arterial pH, mean ([pH])"
