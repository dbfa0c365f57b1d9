"""Plotly figures for predictions and model cards (no Streamlit here: pages only render them)."""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from engine.unit_text import format_number, with_unit


def _value_text(c: dict[str, Any]) -> str:
    if c["value"] is None:
        return f"{c['label']} (missing, imputed)"
    value = c["value"]
    shown = format_number(value) if isinstance(value, (int, float)) else str(value)
    return with_unit(f"{c['label']} = {shown}", c.get("unit") if c.get("unit") != "{0/1}" else None)


def build_waterfall_figure(result: dict[str, Any], top: int = 12) -> go.Figure:
    """SHAP waterfall on the log-odds scale: average patient -> each input's push -> this patient."""
    contribs = result["contributions"]
    shown, rest = contribs[:top], contribs[top:]
    labels = ["Average training patient"] + [_value_text(c) for c in shown]
    values = [result["base_value"]] + [c["contribution"] for c in shown]
    measures = ["absolute"] + ["relative"] * len(shown)
    if rest:
        labels.append(f"{len(rest)} other inputs")
        values.append(sum(c["contribution"] for c in rest))
        measures.append("relative")
    labels.append("This patient")
    values.append(result["logit"])
    measures.append("total")
    # Plotly accumulates in data order: the base must come first (its bar starts the running sum) and the
    # "total" last (its bar is drawn from 0 to base + contributions, i.e. the patient's log-odds). Reading
    # top-down is done by reversing the axis, never the data.
    fig = go.Figure(go.Waterfall(orientation="h", y=labels, x=values, measure=measures, base=0,
                                 increasing={"marker": {"color": "#c0392b"}},
                                 decreasing={"marker": {"color": "#2471a3"}},
                                 totals={"marker": {"color": "#566573"}}))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=f"What pushed the risk up (red) or down (blue), log-odds; probability "
                            f"{result['probability']:.1%}", height=140 + 28 * len(labels),
                      margin={"l": 10, "r": 10, "t": 50, "b": 30}, xaxis_title="log-odds")
    return fig


def _legend_below(fig: go.Figure) -> go.Figure:
    """Legend under the axes, left-aligned: beside or over the plot it hid the curves in a third of a 1400 px
    window (the legend entries carry AUROC intervals and are long)."""
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0},
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, height=520)
    return fig


def build_roc_figure(card: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    for section, ev in card["validation"].items():
        if isinstance(ev, dict) and "curves" in ev:
            roc = ev["curves"]["roc"]
            auc = ev["metrics"]["auroc"]
            fig.add_scatter(x=roc["fpr"], y=roc["tpr"], mode="lines",
                            name=f"{section} (AUROC {auc['value']:.3f}, {auc['low']:.3f}-{auc['high']:.3f})")
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="chance")
    fig.update_layout(title="ROC curve (held-out data)", xaxis_title="1 - specificity", yaxis_title="sensitivity",
                      height=420)
    return _legend_below(fig)


def build_calibration_figure(card: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    for section, ev in card["validation"].items():
        if isinstance(ev, dict) and "curves" in ev:
            cal = ev["curves"]["calibration"]
            slope = ev["metrics"]["calibration_slope"]["value"]
            fig.add_scatter(x=cal["predicted"], y=cal["observed"], mode="lines+markers",
                            name=f"{section} (slope {slope})")
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="ideal")
    fig.update_layout(title="Calibration (deciles of predicted risk)", xaxis_title="predicted probability",
                      yaxis_title="observed frequency", height=420)
    return _legend_below(fig)


def build_decision_curve_figure(card: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    first = True
    for section, ev in card["validation"].items():
        if isinstance(ev, dict) and "curves" in ev:
            dc = ev["curves"]["decision"]
            fig.add_scatter(x=dc["threshold"], y=dc["model"], mode="lines", name=f"model ({section})")
            if first:
                fig.add_scatter(x=dc["threshold"], y=dc["treat_all"], mode="lines", name="treat all",
                                line={"dash": "dash"})
                fig.add_scatter(x=dc["threshold"], y=dc["treat_none"], mode="lines", name="treat none",
                                line={"dash": "dot", "color": "grey"})
                first = False
    fig.update_layout(title="Decision curve (net benefit)", xaxis_title="threshold probability",
                      yaxis_title="net benefit", yaxis_range=[-0.05, 1], height=420)
    return _legend_below(fig)


def build_population_figure(result: dict[str, Any]) -> go.Figure:
    """Where this patient lies in the training distribution of each measured numeric input (centile)."""
    rows = [e for e in result["basis"]["inputs"] if e.get("percentile") is not None]
    fig = go.Figure(go.Bar(x=[e["percentile"] for e in rows], y=[e["label"] for e in rows], orientation="h",
                           marker_color=["#c0392b" if e["outside_training_range"] else "#5d6d7e" for e in rows]))
    fig.update_layout(title="Patient's centile in the training population (red: outside the training range)",
                      xaxis_range=[0, 100], xaxis_title="centile", height=120 + 24 * max(len(rows), 1),
                      margin={"l": 10, "r": 10, "t": 50, "b": 30})
    return fig
