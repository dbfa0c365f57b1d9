"""Survival analysis with lifelines: Kaplan-Meier, log-rank, Cox proportional hazards.

Kaplan-Meier curves come with pointwise 95% CIs (lifelines' exponential
Greenwood, as R's ``conf.type = "log-log"``), medians with CIs and a
numbers-at-risk table at shared time points, so the figure can print it under
the curves as papers do. Cox models report hazard ratios with 95% CIs and a
proportional-hazards check (scaled Schoenfeld residuals against rank time,
Grambsch & Therneau) whose failure is a caveat, not a footnote.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.stats.common import ALPHA, SMALL_N, format_p, group_codes, numeric_values, require_columns

MIN_EVENTS_PER_VARIABLE = 10


@dataclass
class KMCurve:
    label: str
    n: int
    events: int
    timeline: np.ndarray
    survival: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    median: float
    median_ci: tuple[float, float]


@dataclass
class KaplanMeierResult:
    curves: list[KMCurve]
    at_risk: pd.DataFrame          # rows: group labels; columns: time points
    time_column: str
    event_column: str
    group_column: str | None
    logrank: dict[str, float] | None = None
    caveats: list[str] = field(default_factory=list)
    methods: str = ""

    def summary(self) -> pd.DataFrame:
        """Per group: n, events, median survival and its 95% CI as text; a median (or CI limit) the
        curve never reaches reads "not reached", never "inf" or "Infinity"."""
        return pd.DataFrame([{"group": c.label, "n": c.n, "events": c.events, "median": survival_time_text(c.median),
                              "median_ci_low": survival_time_text(c.median_ci[0]),
                              "median_ci_high": survival_time_text(c.median_ci[1])}
                             for c in self.curves])


NOT_REACHED = "not reached"


def survival_time_text(value: float) -> str:
    """A median survival time (or CI limit) as text: infinite means the curve stays above 0.5."""
    if value is None or np.isnan(value):
        return ""
    if np.isinf(value):
        return NOT_REACHED
    return f"{round(float(value), 2):g}"


@dataclass
class CoxResult:
    hazard_ratios: pd.DataFrame    # term, coef, se, hr, hr_ci_low, hr_ci_high, z, p_value
    ph_test: pd.DataFrame          # term, statistic, p_value
    concordance: float
    n: int
    events: int
    n_dropped: int
    caveats: list[str] = field(default_factory=list)
    methods: str = ""


def _survival_data(frame: pd.DataFrame, time: str, event: str, extra: list[str]) -> tuple[pd.DataFrame, list[str]]:
    require_columns(frame, [time, event, *extra])
    data = frame[[time, event, *extra]].copy()
    data[time] = numeric_values(frame, time)
    data[event] = numeric_values(frame, event)
    before = len(data)
    data = data.dropna()
    caveats = [f"{before - len(data)} rows with a missing time, event or covariate are left out."] \
        if len(data) < before else []
    if data.empty:
        raise InputError("No rows have both a follow-up time and an event status.")
    if (data[time] < 0).any():
        raise InputError(f"Follow-up time '{time}' has negative values in {int((data[time] < 0).sum())} rows.")
    if not set(data[event].unique()) <= {0.0, 1.0}:
        raise InputError(f"Event column '{event}' must be 0 (censored) or 1 (event).")
    return data, caveats


def fit_kaplan_meier(frame: pd.DataFrame, time: str, event: str, group: str | None = None,
                     at_risk_points: int = 6) -> KaplanMeierResult:
    """Kaplan-Meier per group (or overall), numbers at risk, and the log-rank test when grouped."""
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test
    from lifelines.utils import median_survival_times

    data, caveats = _survival_data(frame, time, event, [group] if group else [])
    if group:
        codes, levels = group_codes(data[group])
        if len(levels) > 12:
            raise InputError(f"'{group}' has {len(levels)} levels; choose a grouping with at most 12.")
    else:
        codes, levels = np.zeros(len(data), dtype=np.int64), ["All"]
    durations = data[time].to_numpy()
    events = data[event].to_numpy().astype(int)
    curves = []
    for g, lvl in enumerate(levels):
        mask = codes == g
        kmf = KaplanMeierFitter()
        kmf.fit(durations[mask], events[mask], label=lvl)
        ci = kmf.confidence_interval_
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            med_ci = median_survival_times(ci)
        curves.append(KMCurve(lvl, int(mask.sum()), int(events[mask].sum()), kmf.timeline.astype(float),
                              kmf.survival_function_.iloc[:, 0].to_numpy(), ci.iloc[:, 0].to_numpy(),
                              ci.iloc[:, 1].to_numpy(), float(kmf.median_survival_time_),
                              (float(med_ci.iloc[0, 0]), float(med_ci.iloc[0, 1]))))
        if mask.sum() < SMALL_N:
            caveats.append(f"Group {lvl} has only {int(mask.sum())} patients: its curve is imprecise.")
        if events[mask].sum() == 0:
            caveats.append(f"Group {lvl} has no events.")
    points = np.unique(np.round(np.linspace(0, durations.max(), at_risk_points), 6))
    at_risk = pd.DataFrame({float(t): [int(((codes == g) & (durations >= t)).sum()) for g in range(len(levels))]
                            for t in points}, index=levels)
    logrank = None
    if group and len(levels) >= 2:
        res = multivariate_logrank_test(durations, codes, events)
        logrank = {"statistic": float(res.test_statistic), "df": float(res.degrees_of_freedom),
                   "p_value": float(res.p_value)}
    methods = (f"Survival ({time}, event {event}) was estimated with the Kaplan-Meier method with 95% "
               "confidence intervals (Greenwood variance, log(-log) transform)")
    methods += f" and compared between {group} groups with the log-rank test." if logrank else "."
    return KaplanMeierResult(curves, at_risk, time, event, group, logrank, caveats, methods)


def logrank_by_hand(durations: np.ndarray, events: np.ndarray, groups: np.ndarray) -> tuple[float, int]:
    """The k-sample log-rank chi-square from its textbook formula (O - E and the hypergeometric
    covariance at each distinct event time). Kept for cross-checking lifelines in tests."""
    levels = np.unique(groups)
    k = len(levels)
    times = np.unique(durations[events == 1])
    o_minus_e = np.zeros(k)
    cov = np.zeros((k, k))
    for t in times:
        at_risk = np.array([((groups == g) & (durations >= t)).sum() for g in levels], dtype=float)
        died = np.array([((groups == g) & (durations == t) & (events == 1)).sum() for g in levels], dtype=float)
        n, d = at_risk.sum(), died.sum()
        if n < 2:
            o_minus_e += died - d * at_risk / n
            continue
        e = d * at_risk / n
        o_minus_e += died - e
        factor = d * (n - d) / (n * n * (n - 1))
        cov += factor * (np.diag(at_risk * n) - np.outer(at_risk, at_risk))
    u, v = o_minus_e[:-1], cov[:-1, :-1]
    return float(u @ np.linalg.solve(v, u)), k - 1


def fit_cox(frame: pd.DataFrame, time: str, event: str, covariates: list[str],
            categorical: list[str] | None = None) -> CoxResult:
    """Cox proportional hazards (Efron ties) with hazard ratios, concordance and the PH check."""
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError
    from lifelines.statistics import proportional_hazard_test

    if not covariates:
        raise InputError("Choose at least one covariate for the Cox model.")
    data, caveats = _survival_data(frame, time, event, covariates)
    n_dropped = len(frame) - len(data)
    design = _design(data, covariates, set(categorical or []))
    design[time] = data[time].to_numpy()
    design[event] = data[event].to_numpy()
    n_events = int(design[event].sum())
    if n_events < 2:
        raise InputError("The Cox model needs at least 2 events in the cohort.")
    terms = [c for c in design.columns if c not in (time, event)]
    if n_events / len(terms) < MIN_EVENTS_PER_VARIABLE:
        caveats.append(f"Only {n_events / len(terms):.1f} events per covariate term (fewer than "
                       f"{MIN_EVENTS_PER_VARIABLE}): hazard ratios may be unstable.")
    cph = CoxPHFitter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cph.fit(design, duration_col=time, event_col=event)
        except ConvergenceError as exc:
            raise InputError("The Cox model did not converge (often a covariate that perfectly predicts the "
                             f"event, or collinear covariates): {str(exc).splitlines()[0]}") from None
    for w in caught:
        if "converge" in str(w.message).lower():
            caveats.append("Convergence warning from the Cox fit: check for separation or collinearity.")
    s = cph.summary
    hrs = pd.DataFrame({"term": s.index.astype(str), "coef": s["coef"].to_numpy(), "se": s["se(coef)"].to_numpy(),
                        "hr": s["exp(coef)"].to_numpy(), "hr_ci_low": s["exp(coef) lower 95%"].to_numpy(),
                        "hr_ci_high": s["exp(coef) upper 95%"].to_numpy(), "z": s["z"].to_numpy(),
                        "p_value": s["p"].to_numpy()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = proportional_hazard_test(cph, design, time_transform="rank")
    ph_table = pd.DataFrame({"term": [str(i) for i in ph.summary.index],
                             "statistic": ph.summary["test_statistic"].to_numpy(),
                             "p_value": ph.summary["p"].to_numpy()})
    violated = ph_table[ph_table["p_value"] < ALPHA]
    if not violated.empty:
        caveats.append("Proportional-hazards assumption doubtful for " + ", ".join(
            f"{t} (p={format_p(p)})" for t, p in zip(violated["term"], violated["p_value"]))
            + ": consider stratifying or a time-varying effect.")
    methods = (f"A Cox proportional-hazards model (Efron ties) of {time} with event {event} on "
               f"{', '.join(covariates)} was fitted to {len(design):,} patients ({n_events:,} events); hazard ratios "
               "with 95% Wald CIs; proportional hazards checked with scaled Schoenfeld residuals against rank time.")
    return CoxResult(hrs, ph_table, float(cph.concordance_index_), len(design), n_events, n_dropped,
                     list(dict.fromkeys(caveats)), methods)


def _design(data: pd.DataFrame, covariates: list[str], categorical: set[str]) -> pd.DataFrame:
    """Numeric covariates as they are; categorical ones as 0/1 columns against their first level."""
    parts = []
    for col in covariates:
        if col in categorical or not pd.api.types.is_numeric_dtype(data[col]):
            codes, levels = group_codes(data[col])
            for g, lvl in enumerate(levels[1:], start=1):
                parts.append(pd.Series((codes == g).astype(float), index=data.index,
                                       name=f"{col}: {lvl} vs {levels[0]}"))
        else:
            parts.append(data[col].astype(float).rename(col))
    design = pd.concat(parts, axis=1)
    constant = [c for c in design.columns if design[c].nunique() < 2]
    if constant:
        raise InputError(f"Covariate {', '.join(constant)} does not vary in this cohort.")
    return design
