"""Plotly figure builders for the Explore results (pages render them; the report embeds them).

Every figure's title names the cohort label ("Diabetics over 50 (n=212)") so a
screenshot or a report page can never lose which patients it describes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from engine.errors import InputError
from engine.stats.clustering import ClusterResult
from engine.stats.common import format_p, group_codes, numeric_values, require_columns
from engine.stats.quality import QualityResult
from engine.stats.regression import RegressionResult
from engine.stats.survival import CoxResult, KaplanMeierResult

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f", "#393b79", "#637939"]
DISTRIBUTION_KINDS = ("histogram", "box", "violin")


def _title(text: str, cohort_label: str, left_out: int = 0) -> str:
    """Title with the cohort below it; rows a figure could not draw are counted, never dropped silently."""
    note = f" · {left_out:,} row{'s' if left_out != 1 else ''} with a missing value left out" if left_out else ""
    return f"{text}<br><sup>{cohort_label}{note}</sup>" if cohort_label or note else text


def build_distribution_figure(frame: pd.DataFrame, value: str, group: str | None = None, kind: str = "histogram",
                              cohort_label: str = "") -> go.Figure:
    """Histogram (overlaid), box or violin plot of ``value``, optionally by ``group``."""
    if kind not in DISTRIBUTION_KINDS:
        raise InputError(f"Unknown plot kind '{kind}'.")
    require_columns(frame, [value] + ([group] if group else []))
    values = numeric_values(frame, value)
    if group:
        codes, levels = group_codes(frame[group])
    else:
        codes, levels = np.zeros(len(frame), dtype=np.int64), ["All"]
    left_out = int((values.isna().to_numpy() | (codes < 0)).sum())
    fig = go.Figure()
    for g, lvl in enumerate(levels):
        v = values[(codes == g)].dropna()
        color = PALETTE[g % len(PALETTE)]
        name = f"{lvl} (n={len(v)})"
        if kind == "histogram":
            fig.add_trace(go.Histogram(x=v, name=name, opacity=0.6, marker_color=color))
        elif kind == "box":
            fig.add_trace(go.Box(y=v, name=name, marker_color=color, boxpoints="outliers"))
        else:
            fig.add_trace(go.Violin(y=v, name=name, line_color=color, box_visible=True, meanline_visible=True))
    fig.update_layout(title=_title(f"{value}{' by ' + group if group else ''}", cohort_label, left_out),
                      barmode="overlay", template="plotly_white", legend_title_text=group or "")
    if kind == "histogram":
        fig.update_xaxes(title_text=value)
        fig.update_yaxes(title_text="patients")
    else:
        fig.update_yaxes(title_text=value)
    return fig


def build_scatter_figure(frame: pd.DataFrame, x: str, y: str, group: str | None = None,
                         cohort_label: str = "") -> go.Figure:
    """Scatter with an ordinary least-squares trend line per group (slope and r in the legend)."""
    require_columns(frame, [x, y] + ([group] if group else []))
    data = pd.DataFrame({"x": numeric_values(frame, x), "y": numeric_values(frame, y)})
    if group:
        codes, levels = group_codes(frame[group])
    else:
        codes, levels = np.zeros(len(frame), dtype=np.int64), ["All"]
    data["g"] = codes
    data = data.dropna()
    data = data[data["g"] >= 0]
    left_out = len(frame) - len(data)
    fig = go.Figure()
    for g, lvl in enumerate(levels):
        sub = data[data["g"] == g]
        color = PALETTE[g % len(PALETTE)]
        fig.add_trace(go.Scattergl(x=sub["x"], y=sub["y"], mode="markers", name=f"{lvl} (n={len(sub)})",
                                   marker={"color": color, "size": 5, "opacity": 0.6}))
        if len(sub) >= 3 and sub["x"].nunique() > 1:
            slope, intercept = np.polyfit(sub["x"], sub["y"], 1)
            r = np.corrcoef(sub["x"], sub["y"])[0, 1]
            xs = np.array([sub["x"].min(), sub["x"].max()])
            fig.add_trace(go.Scatter(x=xs, y=intercept + slope * xs, mode="lines", line={"color": color},
                                     name=f"trend {lvl}: slope {slope:.3g}, r={r:.2f}"))
    fig.update_layout(title=_title(f"{y} against {x}", cohort_label, left_out), template="plotly_white",
                      xaxis_title=x, yaxis_title=y)
    return fig


def build_correlation_figure(r: pd.DataFrame, p: pd.DataFrame, method: str = "pearson",
                             cohort_label: str = "") -> go.Figure:
    """Heat-map of correlations; cells marked * p<0.05, ** p<0.01, *** p<0.001."""
    stars = np.where(p.to_numpy() < 0.001, "***", np.where(p.to_numpy() < 0.01, "**",
                     np.where(p.to_numpy() < 0.05, "*", "")))
    text = np.char.add(np.char.mod("%.2f", r.to_numpy()), stars)
    np.fill_diagonal(text, "")
    fig = go.Figure(go.Heatmap(z=r.to_numpy(), x=list(r.columns), y=list(r.index), zmin=-1, zmax=1,
                               colorscale="RdBu_r", text=text, texttemplate="%{text}",
                               colorbar={"title": "r" if method == "pearson" else "rho"}))
    fig.update_layout(title=_title(f"{method.capitalize()} correlation (* p<0.05, ** p<0.01, *** p<0.001)",
                                   cohort_label), template="plotly_white", yaxis_autorange="reversed")
    return fig


def build_forest_figure(result: RegressionResult | CoxResult, cohort_label: str = "") -> go.Figure:
    """Forest plot: odds / rate / hazard ratios (log axis) or linear coefficients, with 95% CIs."""
    if isinstance(result, CoxResult):
        t = result.hazard_ratios
        est, low, high, label, log = t["hr"], t["hr_ci_low"], t["hr_ci_high"], "hazard ratio", True
        terms, pvals = t["term"], t["p_value"]
    else:
        t = result.coefficients[result.coefficients["term"] != "Intercept"]
        terms, pvals = t["term"], t["p_value"]
        if result.ratio_name:
            est, low, high, label, log = t["ratio"], t["ratio_ci_low"], t["ratio_ci_high"], result.ratio_name, True
        else:
            est, low, high, label, log = t["estimate"], t["ci_low"], t["ci_high"], "coefficient", False
    fig = go.Figure(go.Scatter(
        x=est, y=terms, mode="markers", marker={"size": 9, "color": PALETTE[0]},
        error_x={"type": "data", "symmetric": False, "array": high - est, "arrayminus": est - low},
        text=[f"{e:.3g} ({lo:.3g} to {hi:.3g}), p={format_p(p)}" for e, lo, hi, p in zip(est, low, high, pvals)],
        hovertemplate="%{y}: %{text}<extra></extra>"))
    fig.add_vline(x=1.0 if log else 0.0, line_dash="dash", line_color="grey")
    fig.update_layout(title=_title(f"{label.capitalize()}s with 95% CI", cohort_label), template="plotly_white",
                      xaxis_title=label + (" (log scale)" if log else ""), yaxis_autorange="reversed",
                      height=max(300, 60 + 40 * len(terms)))
    if log:
        fig.update_xaxes(type="log")
    return fig


def build_residual_figure(result: RegressionResult, cohort_label: str = "") -> go.Figure:
    """Residuals against fitted values with a zero line (patterns mean a mis-specified model)."""
    res = result.residuals
    fig = go.Figure(go.Scattergl(x=res["fitted"], y=res["residual"], mode="markers",
                                 marker={"size": 5, "opacity": 0.6, "color": PALETTE[0]}))
    fig.add_hline(y=0, line_dash="dash", line_color="grey")
    name = "residual" if result.kind == "linear" else "Pearson residual"
    fig.update_layout(title=_title(f"{name.capitalize()}s against fitted values", cohort_label),
                      template="plotly_white", xaxis_title="fitted", yaxis_title=name)
    return fig


def build_km_figure(result: KaplanMeierResult, cohort_label: str = "") -> go.Figure:
    """Kaplan-Meier step curves with shaded 95% CIs and the numbers at risk printed below."""
    fig = make_subplots(rows=2, cols=1, row_heights=[0.78, 0.22], shared_xaxes=True, vertical_spacing=0.08)
    for i, c in enumerate(result.curves):
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=c.timeline, y=c.ci_upper, mode="lines", line={"width": 0, "shape": "hv"},
                                 showlegend=False, hoverinfo="skip"), row=1, col=1)
        fig.add_trace(go.Scatter(x=c.timeline, y=c.ci_lower, mode="lines", line={"width": 0, "shape": "hv"},
                                 fill="tonexty", fillcolor=_rgba(color, 0.15), showlegend=False,
                                 hoverinfo="skip"), row=1, col=1)
        fig.add_trace(go.Scatter(x=c.timeline, y=c.survival, mode="lines", line={"color": color, "shape": "hv"},
                                 name=f"{c.label} (n={c.n}, events={c.events})"), row=1, col=1)
    times = list(result.at_risk.columns)
    for i, label in enumerate(result.at_risk.index):
        fig.add_trace(go.Scatter(x=times, y=[str(label)] * len(times), mode="text",
                                 text=[str(v) for v in result.at_risk.loc[label]], showlegend=False,
                                 textfont={"color": PALETTE[i % len(PALETTE)]}, hoverinfo="skip"), row=2, col=1)
    title = f"Kaplan-Meier: {result.time_column} (event {result.event_column})"
    if result.logrank:
        title += f"; log-rank p={format_p(result.logrank['p_value'])}"
    fig.update_layout(title=_title(title, cohort_label), template="plotly_white", height=560)
    fig.update_yaxes(title_text="survival probability", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(title_text="at risk", autorange="reversed", row=2, col=1)
    fig.update_xaxes(title_text=result.time_column, row=2, col=1)
    return fig


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def build_cluster_figure(result: ClusterResult, cohort_label: str = "") -> go.Figure:
    """The PCA 2-D view coloured by cluster (noise shown grey)."""
    fig = go.Figure()
    for i, lvl in enumerate(sorted(result.pca["cluster"].unique(), key=int)):
        sub = result.pca[result.pca["cluster"] == lvl]
        color = "#bbbbbb" if lvl == "-1" else PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scattergl(x=sub["pc1"], y=sub["pc2"], mode="markers",
                                   name=("noise" if lvl == "-1" else f"cluster {lvl}") + f" (n={len(sub)})",
                                   marker={"color": color, "size": 6, "opacity": 0.7}))
    ev = result.explained_variance
    sil = "" if result.silhouette is None else f"; silhouette {result.silhouette:.2f}"
    fig.update_layout(title=_title(f"{result.method.upper()} clusters on PCA{sil}", cohort_label),
                      template="plotly_white", xaxis_title=f"PC1 ({100 * ev[0]:.0f}%)",
                      yaxis_title=f"PC2 ({100 * ev[1]:.0f}%)")
    return fig


def build_missingness_figure(result: QualityResult, cohort_label: str = "") -> go.Figure:
    """Missingness map: one row per patient (sampled), dark where a value is missing."""
    m = result.missing_map
    fig = go.Figure(go.Heatmap(z=m.to_numpy(), x=list(m.columns), colorscale=[[0, "#f0f0f0"], [1, "#333333"]],
                               showscale=False, hovertemplate="%{x}: %{z}<extra></extra>"))
    fig.update_layout(title=_title("Missing values (dark = missing)", cohort_label), template="plotly_white",
                      yaxis_title="patients", yaxis_autorange="reversed")
    return fig


def build_class_balance_figure(result: QualityResult, cohort_label: str = "") -> go.Figure:
    """Bar chart of the level shares of each binary/outcome column."""
    cb = result.class_balance
    fig = go.Figure()
    for i, lvl in enumerate(sorted(cb["level"].unique())):
        sub = cb[cb["level"] == lvl]
        fig.add_trace(go.Bar(x=sub["column"], y=sub["percent"], name=str(lvl),
                             marker_color=PALETTE[i % len(PALETTE)], text=sub["n"], textposition="inside"))
    fig.update_layout(title=_title("Class balance (%)", cohort_label), barmode="stack", template="plotly_white",
                      yaxis_title="percent")
    return fig
