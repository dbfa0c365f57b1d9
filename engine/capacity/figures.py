"""Plotly figures for the capacity page: census fan chart, P(full) against beds, roster grid, scenario compare."""
from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from engine.capacity.roster import SHIFT_CODES

BAND_90 = "rgba(31,119,180,0.18)"
BAND_50 = "rgba(31,119,180,0.38)"


def build_fan_figure(forecast: dict[str, Any]) -> go.Figure:
    """History (observed midnight census) then the forecast median with its 50% and 90% bands."""
    c, days = forecast["census"], forecast["days"]
    fig = go.Figure()
    hist = forecast.get("history")
    if hist:
        fig.add_trace(go.Scatter(x=hist["days"], y=hist["census"], mode="lines", name="observed census",
                                 line={"color": "#444"}))
    for lo, hi, colour, name in (("p05", "p95", BAND_90, "90% band"), ("p25", "p75", BAND_50, "50% band")):
        fig.add_trace(go.Scatter(x=days + days[::-1], y=c[hi] + c[lo][::-1], fill="toself", fillcolor=colour,
                                 line={"width": 0}, name=name, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=days, y=c["p50"], mode="lines", name="median forecast", line={"color": "#1f77b4"}))
    source = forecast.get("source", "")
    fig.update_layout(title=f"Midnight census, {forecast.get('label', '')}: next {forecast['weeks']} weeks"
                            f"<br><sup>{source}</sup>", xaxis_title="date", yaxis_title="patients in the unit",
                      legend={"orientation": "h"})
    return fig


def build_beds_figure(result: dict[str, Any]) -> go.Figure:
    """P(full on arrival) against beds: Erlang curve, simulated points with 95% intervals, the target."""
    curve = result["curve"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[p["beds"] for p in curve], y=[p["p_full_erlang"] for p in curve],
                             mode="lines+markers", name="Erlang loss formula"))
    sim = result.get("simulated") or []
    if sim:
        fig.add_trace(go.Scatter(
            x=[p["beds"] for p in sim], y=[p["p_full"] for p in sim], mode="markers", name="simulation (95% CI)",
            marker={"symbol": "x", "size": 10, "color": "#d62728"},
            error_y={"type": "data", "symmetric": False, "array": [p["ci_high"] - p["p_full"] for p in sim],
                     "arrayminus": [p["p_full"] - p["ci_low"] for p in sim]}))
    fig.add_hline(y=result["target"], line_dash="dash", annotation_text=f"target {result['target']:g}")
    fig.add_vline(x=result["recommended_beds"], line_dash="dot",
                  annotation_text=f"{result['recommended_beds']} beds")
    fig.update_layout(title=f"Chance the unit is full when a patient arrives{' - ' + result['unit'] if result.get('unit') else ''}",
                      xaxis_title="beds", yaxis_title="P(full on arrival)", yaxis_tickformat=".0%")
    return fig


def build_roster_figure(result: dict[str, Any]) -> go.Figure:
    """The roster as a grid: one row per staff label, one column per day, coloured by shift."""
    codes = {"": 0, "leave": 4, **{c: i + 1 for i, c in enumerate(SHIFT_CODES)}}
    z = np.array([[codes.get(cell.split("-")[0] if cell not in ("", "leave") else cell, 0) for cell in row]
                  for row in result["grid"]])
    colours = [[0.0, "#f5f5f5"], [0.2, "#f5f5f5"], [0.2, "#ffd166"], [0.4, "#ffd166"], [0.4, "#06d6a0"],
               [0.6, "#06d6a0"], [0.6, "#118ab2"], [0.8, "#118ab2"], [0.8, "#bbbbbb"], [1.0, "#bbbbbb"]]
    fig = go.Figure(go.Heatmap(z=z, x=result["dates"], y=result["nurse_labels"], text=result["grid"],
                               texttemplate="%{text}", zmin=0, zmax=4, colorscale=colours, showscale=False,
                               hovertemplate="%{y} %{x}: %{text}<extra></extra>"))
    fig.update_layout(title="Roster (E early, L late, N night; grey = leave)", yaxis={"autorange": "reversed"},
                      height=max(400, 22 * len(result["nurse_labels"]) + 120))
    return fig


def build_compare_figure(scenarios: list[dict[str, Any]]) -> go.Figure:
    """Median census of each saved scenario's units, overlaid."""
    fig = go.Figure()
    for sc in scenarios:
        for unit, f in (sc["results"].get("forecasts") or {}).items():
            fig.add_trace(go.Scatter(x=f["days"], y=f["p50"], mode="lines", name=f"{sc['name']}: {unit}"))
    fig.update_layout(title="Median census by scenario", xaxis_title="date", yaxis_title="patients")
    return fig
