"""Home's rows-per-table figure (engine.activity.build_counts_figure): one bar per table, log axis."""
from __future__ import annotations

from engine.activity import build_counts_figure


def test_one_bar_per_table_with_its_count_on_a_log_axis():
    counts = {"patients": 2556, "observations": 31_000, "predictions": 0, "datasets": 4}
    figure = build_counts_figure(counts)
    bar = figure.data[0]
    assert bar.type == "bar"
    assert list(bar.x) == list(counts) and list(bar.y) == list(counts.values())
    assert figure.layout.yaxis.type == "log"
    assert figure.layout.title.text == "Rows per table (log scale)"
