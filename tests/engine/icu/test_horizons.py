"""What the Ward says about how well the model reads a stay at its hour (synthetic cards: wording only)."""
from __future__ import annotations

from engine.icu.horizons import reading_at

ROWS = [{"hour": h, "auroc": a, "auroc_ci": [a - 0.02, a + 0.02], "calibration_slope": 0.97, "sensitivity": 0.3,
         "ppv": 0.45} for h, a in ((6.0, 0.69), (12.0, 0.77), (24.0, 0.82), (48.0, 0.87))]
CARD = {"metrics": {"by_hour": {"hours": ROWS}}}


def test_the_figures_quoted_are_those_of_the_latest_hour_not_after_the_stay_s_hour():
    assert reading_at(CARD, 20.0).startswith("With 12 h of data, cross-validated on set A: AUROC 0.77 (0.75-0.79)")
    assert "AUROC 0.87" in reading_at(CARD, 48.0)
    assert "AUROC 0.82" in reading_at(CARD, 47.9)


def test_before_the_first_measured_hour_the_risk_is_said_to_be_unvalidated():
    assert reading_at(CARD, 3.0) == "Before hour 6 the model's risk has not been validated: read it with great care."


def test_a_card_without_figures_by_hour_says_so():
    assert "not separately validated" in reading_at({"metrics": {}}, 30.0)
