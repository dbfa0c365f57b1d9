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


def test_readable_units():
    assert readable_unit("a") == "years"
    assert readable_unit("mm[Hg]") == "mmHg"
    assert readable_unit("{count}") == ""
    assert readable_unit("mg/dL") == "mg/dL"
