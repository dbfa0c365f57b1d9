"""Model-card figures keep their legends off the curves (engine/models/figures.py)."""
from __future__ import annotations

import pytest

from engine.models import figures, registry


@pytest.mark.parametrize("build", [figures.build_roc_figure, figures.build_calibration_figure,
                                   figures.build_decision_curve_figure])
def test_card_figure_legends_sit_below_the_axes(models_copy, build):
    card = registry.get_card("cad_uci")
    layout = build(card).to_plotly_json()["layout"]
    legend = layout["legend"]
    # Paper coordinates: the axes span y 0..1, so a legend anchored at its top below 0 cannot cover a curve.
    assert legend["orientation"] == "h" and legend["yanchor"] == "top" and legend["y"] < 0
