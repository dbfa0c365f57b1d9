"""Plotly figures for the ward: one multi-panel timeline per stay, and the ranked overview."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.icu.parameters import PARAMETERS
from engine.unit_text import format_number
from engine.unit_text import readable_unit as unit_text

# (title, parameters drawn on the panel, parameter whose normal band is shaded)
PANELS: list[tuple[str, tuple[str, ...], str | None]] = [
    ("Heart rate", ("HR",), "HR"),
    ("Systolic BP", ("SysABP", "NISysABP"), "SysABP"),
    ("Respiratory rate", ("RespRate",), "RespRate"),
    ("Temperature", ("Temp",), "Temp"),
    ("O2 saturation", ("SaO2",), "SaO2"),
    ("Lactate and creatinine", ("Lactate", "Creatinine"), None),
]
BAND_COLOURS = {"low": "#2e7d32", "low-medium": "#f9a825", "medium": "#ef6c00", "high": "#c62828"}


def build_timeline_figure(series: pd.DataFrame, news2: pd.DataFrame, trajectory: pd.DataFrame,
                          threshold: float) -> go.Figure:
    """Vitals with their normal bands, labs, NEWS2 and model risk with its interval, on one time axis (hours)."""
    titles = [p[0] for p in PANELS] + ["NEWS2", "Model risk of in-hospital death"]
    fig = make_subplots(rows=len(titles), cols=1, shared_xaxes=True, vertical_spacing=0.025, subplot_titles=titles)
    for row, (title, names, band) in enumerate(PANELS, start=1):
        if band and PARAMETERS[band].normal:
            lo, hi = PARAMETERS[band].normal
            fig.add_hrect(y0=lo, y1=hi, fillcolor="#2e7d32", opacity=0.10, line_width=0, row=row, col=1)
        for name in names:
            data = series[series["parameter"] == name]
            if data.empty:
                continue
            unit = unit_text(PARAMETERS[name].unit)
            fig.add_trace(go.Scatter(x=data["hours"], y=data["value"], mode="lines+markers", marker={"size": 4},
                                     name=f"{PARAMETERS[name].label} ({unit})", legendgroup=title,
                                     hovertemplate="%{y} " + unit + " at %{x:.1f} h<extra></extra>"), row=row, col=1)
    news_row = len(PANELS) + 1
    if len(news2):
        fig.add_trace(go.Scatter(x=news2["hours"], y=news2["total"], mode="lines", line={"shape": "hv", "color": "#455a64"},
                                 name="NEWS2 total", hovertemplate="NEWS2 %{y} at %{x:.1f} h<extra></extra>"),
                      row=news_row, col=1)
        for band, colour in BAND_COLOURS.items():
            pts = news2[news2["band"] == band]
            if len(pts):
                fig.add_trace(go.Scatter(x=pts["hours"], y=pts["total"], mode="markers",
                                         marker={"color": colour, "size": 6}, name=f"NEWS2 {band}"), row=news_row, col=1)
        incomplete = news2[~news2["complete"].astype(bool)]
        if len(incomplete):
            fig.add_trace(go.Scatter(x=incomplete["hours"], y=incomplete["total"], mode="markers",
                                     marker={"symbol": "circle-open", "size": 10, "color": "#9e9e9e"},
                                     name="NEWS2 with missing inputs", text=incomplete["missing"],
                                     hovertemplate="missing: %{text}<extra></extra>"), row=news_row, col=1)
    risk_row = news_row + 1
    if len(trajectory):
        fig.add_trace(go.Scatter(x=list(trajectory["hours"]) + list(trajectory["hours"])[::-1],
                                 y=list(trajectory["risk_high"]) + list(trajectory["risk_low"])[::-1],
                                 fill="toself", fillcolor="rgba(198,40,40,0.15)", line={"width": 0},
                                 name="risk interval (member spread)", hoverinfo="skip"), row=risk_row, col=1)
        fig.add_trace(go.Scatter(x=trajectory["hours"], y=trajectory["risk"], mode="lines+markers",
                                 line={"color": "#c62828"}, name="risk",
                                 hovertemplate="%{y:.1%} at %{x:.0f} h<extra></extra>"), row=risk_row, col=1)
        fig.add_hline(y=threshold, line_dash="dash", line_color="#c62828", row=risk_row, col=1,
                      annotation_text=f"alert threshold {threshold:.0%}", annotation_position="top left")
        fig.update_yaxes(tickformat=".0%", rangemode="tozero", row=risk_row, col=1)
    fig.update_xaxes(title_text="hours since ICU admission", row=risk_row, col=1)
    fig.update_layout(height=1500, margin={"l": 40, "r": 20, "t": 40, "b": 40},
                      legend={"orientation": "h", "y": -0.04})
    return fig


def build_drivers_figure(drivers: pd.DataFrame) -> go.Figure:
    """What drove the risk now: SHAP contributions (log-odds), largest first."""
    d = drivers.iloc[::-1]
    names = d["label"] if "label" in d else d["feature"]
    labels = [f"{f} = {format_number(v, 3)}" if pd.notna(v) else f"{f}: not measured" for f, v in zip(names, d["value"])]
    fig = go.Figure(go.Bar(x=d["contribution"], y=labels, orientation="h",
                           marker_color=["#c62828" if c > 0 else "#1565c0" for c in d["contribution"]]))
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 30}, title="Drivers now (log-odds, SHAP)",
                      xaxis_title="pushes risk down ← → pushes risk up")
    return fig


def build_by_hour_figure(rows: list[dict], hour: float | None = None) -> go.Figure:
    """How well the model read set A's stays at each hour of the stay (out-of-fold): AUROC with its 95% CI and
    the alert's sensitivity and positive predictivity; a dotted line marks the stay's current hour."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Discrimination (AUROC, 95% CI)",
                                                        "Alert at the threshold"))
    hours = [r["hour"] for r in rows]
    fig.add_trace(go.Scatter(x=hours, y=[r["auroc"] for r in rows], mode="lines+markers", name="AUROC",
                             error_y={"type": "data", "symmetric": False,
                                      "array": [r["auroc_ci"][1] - r["auroc"] for r in rows],
                                      "arrayminus": [r["auroc"] - r["auroc_ci"][0] for r in rows]}), row=1, col=1)
    fig.add_trace(go.Scatter(x=hours, y=[r["sensitivity"] for r in rows], mode="lines+markers",
                             name="sensitivity"), row=1, col=2)
    fig.add_trace(go.Scatter(x=hours, y=[r["ppv"] for r in rows], mode="lines+markers",
                             name="positive predictivity"), row=1, col=2)
    if hour is not None:
        for col in (1, 2):
            fig.add_vline(x=hour, line_dash="dot", line_color="grey", row=1, col=col)
    fig.update_xaxes(title_text="hours of data", range=[0, 50])
    fig.update_yaxes(range=[0.5, 1.0], row=1, col=1)
    fig.update_yaxes(range=[0, 1], tickformat=".0%", row=1, col=2)
    fig.update_layout(height=420, margin={"t": 80, "b": 110, "l": 40, "r": 10},
                      title="Out-of-fold on set A, by hours of data", legend={"orientation": "h", "y": -0.35,
                                                                           "yanchor": "top"})
    return fig


# The card's comparison rows, as a reader names them.
MODEL_LABELS = {"boosting": "(a) boosting (shipped)", "grud": "(b) GRU-D", "attention": "(c) attention",
                "boosting+grud": "boosting + GRU-D", "boosting+attention": "boosting + attention",
                "boosting+grud+attention": "all three"}


def build_comparison_figure(comparison: dict) -> go.Figure | None:
    """The card's model comparison (same folds, out-of-fold): AUROC with its 95% CI per model, best on top."""
    rows = [(MODEL_LABELS.get(name, name), r) for name, r in comparison.items()
            if isinstance(r, dict) and "auroc" in r and "auroc_ci" in r]
    if not rows:
        return None
    rows.sort(key=lambda item: item[1]["auroc"])
    fig = go.Figure(go.Scatter(
        x=[r["auroc"] for _, r in rows], y=[label for label, _ in rows], mode="markers", name="AUROC",
        error_x={"type": "data", "symmetric": False, "array": [r["auroc_ci"][1] - r["auroc"] for _, r in rows],
                 "arrayminus": [r["auroc"] - r["auroc_ci"][0] for _, r in rows]},
        customdata=[[r.get("event1"), r.get("h")] for _, r in rows],
        hovertemplate="%{y}: AUROC %{x:.3f}<br>Event 1 %{customdata[0]:.3f}, H %{customdata[1]:.1f}<extra></extra>"))
    fig.update_xaxes(title_text="cross-validated AUROC on set A (95% CI)")
    fig.update_layout(height=120 + 40 * len(rows), margin={"t": 50, "b": 50, "l": 10, "r": 10},
                      title="Models compared on the same folds (out-of-fold)")
    return fig
