"""Plotly figures for the chest X-ray model's card (no Streamlit here: pages only render them)."""
from __future__ import annotations

import plotly.graph_objects as go

#: The issue's goal: specificity may fall by at most this much under any synthetic shift.
STRESS_GOAL = 0.03


def stress_figure(rows: list[dict]) -> go.Figure | None:
    """Grouped bars: the specificity drop under each shift, one bar per model version, with the goal line.

    ``rows`` are :func:`engine.imaging.robustness.card_stress_rows` rows; None when there is nothing to draw.
    Why a plot: which shift and which version misses the goal is what a reader wants, and a bar above a line
    shows it at once where a table of drops needs reading cell by cell.
    """
    shifts = [r for r in rows if r["shift"].endswith("specificity drop")]
    if not shifts:
        return None
    versions = [k for k in shifts[0] if k != "shift"]
    names = [r["shift"].removesuffix(": specificity drop").replace("_", " ") for r in shifts]
    fig = go.Figure()
    for version in versions:
        fig.add_bar(name=version, x=names, y=[r.get(version) for r in shifts],
                    hovertemplate="%{x}: %{y:.3f}<extra>" + version + "</extra>")
    fig.add_hline(y=STRESS_GOAL, line_dash="dash", line_color="#c0392b",
                  annotation_text=f"goal: at most {STRESS_GOAL}", annotation_position="top left")
    fig.update_layout(barmode="group", title="Specificity drop under each shift (validation split)",
                      yaxis_title="fall in specificity", legend_title="version", height=360,
                      margin={"l": 40, "r": 10, "t": 50, "b": 40},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0})
    return fig
