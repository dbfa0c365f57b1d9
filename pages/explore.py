"""Explore (analysts, admins): build a cohort, then Table 1, distributions, tests, regression,
survival, clustering, data quality, and a report of the results pinned along the way.

Thin by design: widgets are read, one cached engine call makes each result, and
the page renders it with its cohort label, caveats and methods sentence. Results
are cached per (store, dataset version, cohort definition, settings); pins live
in the session until exported.
"""
from __future__ import annotations

import hashlib
import json
import re
from itertools import combinations
from typing import Any

import pandas as pd
import streamlit as st

from engine import audit
from engine.config import get_settings
from engine.errors import EngineError
from engine.frames import dataset_frame
from engine.stats import clustering, quality, regression, survival, table_one
from engine.stats import figures as fig
from engine.stats import tests as hyp
from engine.stats.cohort import (
    CohortSpec,
    Filter,
    cohort_from_frame,
    column_kinds,
    data_token,
    guess_survival_columns,
    level_options,
)
from engine.stats.report import Pin, build_report_html, build_report_pdf, make_pin, pdf_available, pins_to_json
from engine.store import cohorts as cohort_store
from engine.store import open_db
from engine.store.patients import list_dataset_names
from pages.components.session import require_page, user_can

PINS_KEY = "explore_pins"
NONE = "(none)"
NEW_COHORT = "(new cohort)"


# ---------------------------------------------------------------- cached engine calls
@st.cache_data(show_spinner=False, max_entries=8)
def get_frame(db_path: str, dataset: str, token: str) -> pd.DataFrame:
    """The dataset's wide frame (keyed by store and dataset version, so imports invalidate it)."""
    with open_db(db_path) as db:
        return dataset_frame(db, dataset)


def _cohort(db_path: str, token: str, spec_json: str, name: str | None = None):
    spec = CohortSpec.from_dict(json.loads(spec_json))
    return cohort_from_frame(get_frame(db_path, spec.dataset, token), spec, name)


COMPUTE = {
    "table_one": table_one.compute_table_one,
    "tests": hyp.run_tests,
    "association": hyp.test_association,
    "correlation": hyp.correlation_matrix,
    "regression": regression.fit_regression,
    "km": survival.fit_kaplan_meier,
    "cox": survival.fit_cox,
    "cluster": clustering.cluster_cohort,
    "quality": quality.assess_quality,
}


@st.cache_data(show_spinner=False, max_entries=64)
def get_result(kind: str, db_path: str, token: str, spec_json: str, params_json: str) -> Any:
    """One engine result for one cohort and one set of settings (the cache key is all of them)."""
    frame = _cohort(db_path, token, spec_json).frame
    return COMPUTE[kind](frame, **json.loads(params_json))


class Context:
    """What every tab needs: the user, the cohort, and how to fetch a cached result for it."""

    def __init__(self, user, db_path: str, token: str, spec: CohortSpec, name: str | None):
        self.user, self.db_path, self.token, self.spec = user, db_path, token, spec
        self.spec_json = json.dumps(spec.to_dict(), sort_keys=True, default=str)
        self.cohort = _cohort(db_path, token, self.spec_json, name)
        self.kinds = column_kinds(self.cohort.frame)
        self.numeric = [c for c, k in self.kinds.items() if k == "numeric"]
        self.categorical = [c for c, k in self.kinds.items() if k == "categorical"]
        self.groupable = [c for c in self.categorical if 2 <= self.cohort.frame[c].nunique() <= 20]
        self.binary = [c for c in self.categorical if set(self.cohort.frame[c].dropna().unique()) <= {0, 1}
                       and self.cohort.frame[c].nunique() == 2]

    def result(self, what: str, spinner: str = "Computing…", **params: Any) -> Any:
        with st.spinner(spinner):
            return get_result(what, self.db_path, self.token, self.spec_json,
                              json.dumps(params, sort_keys=True, default=str))

    @property
    def label(self) -> str:
        return self.cohort.label

    def pin_button(self, key: str, title: str, kind: str, methods: str, container: Any = None, **parts: Any) -> None:
        """A "Pin to report" button; the pin is built only when clicked (in the callback, so the
        Report tab's count is already right in the rerun that follows)."""
        (container or st).button("Pin to report", key=key, on_click=_add_pin,
                                 args=(title, kind, self.label, self.cohort.definition(), methods), kwargs=parts)


# ---------------------------------------------------------------- helpers
def _add_pin(title: str, kind: str, label: str, definition: str, methods: str, **parts: Any) -> None:
    st.session_state.setdefault(PINS_KEY, []).append(make_pin(title, kind, label, definition, methods, **parts))
    st.toast(f"Pinned “{title}” to the report.")


def _audit(action: str, user, **details: Any) -> None:
    with open_db() as db:
        audit.record(db, username=user.username, action=action, target_type="dataset",
                     target_id=details.pop("dataset", None), details=details)


def _show_caveats(caveats: list[str]) -> None:
    for caveat in caveats:
        st.warning(caveat, icon=":material/warning:")


def _pick(label: str, options: list[str], key: str, default: str | None = None, none: bool = False) -> str | None:
    opts = ([NONE] if none else []) + options
    if not opts:
        st.info(f"No column in this cohort fits “{label}”.")
        return None
    index = opts.index(default) if default in opts else 0
    value = st.selectbox(label, opts, index=index, key=key)
    return None if value == NONE else value


def _follow(key: str, source: list[str], default: list[str]) -> None:
    """Reset a dependent multiselect to ``default`` when the list it depends on changes."""
    marker = f"{key}__source"
    if st.session_state.get(marker) != source:
        st.session_state[marker] = list(source)
        st.session_state[key] = default


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def _md(text: str) -> str:
    """Escape Markdown (and emoji/LaTeX triggers) in names users or imported files chose."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def _fmt(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.round(4)


# ---------------------------------------------------------------- cohort builder
KEEP_ON_DATASET_CHANGE = {"explore_dataset", PINS_KEY, "explore_audited"}


def _reset_for_dataset() -> None:
    """on_change of the dataset box: filters, names and column choices belong to the old dataset.

    Values the browser shows are *set* (a deleted key would leave the old text in the browser,
    which sends it back on the next interaction); the rest are dropped."""
    for key in [k for k in st.session_state if str(k).startswith("explore_")]:
        if key not in KEEP_ON_DATASET_CHANGE:
            del st.session_state[key]
    st.session_state["explore_cohort_name"] = ""
    st.session_state["explore_saved"] = NEW_COHORT
    st.session_state["explore_filter_cols"] = []


def _load_saved(key: str, dataset: str) -> None:
    """on_change of the saved-cohort box: put the saved filters into the filter widgets."""
    name = st.session_state.get(key)
    if not name or name == NEW_COHORT:
        return
    with open_db() as db:
        saved = cohort_store.get_cohort(db, name)
    spec = CohortSpec.from_dict(saved["spec"])
    st.session_state["explore_filter_cols"] = [f.column for f in spec.filters]
    st.session_state["explore_cohort_name"] = saved["name"]
    for f in spec.filters:
        st.session_state[f"explore_f_{f.column}"] = (
            tuple(float(v) for v in f.values) if f.op == "between" else list(f.values))


def render_cohort_builder(user) -> Context | None:
    settings = get_settings()
    db_path = str(settings.db_path)
    with open_db() as db:
        datasets = list_dataset_names(db)
    if not datasets:
        st.info("No datasets in the store yet: import one on the Records page or run `python -m engine seed`.")
        return None
    with st.container(border=True):
        st.subheader("Cohort")
        c1, c2 = st.columns(2)
        dataset = c1.selectbox("Dataset", datasets, key="explore_dataset", on_change=_reset_for_dataset)
        with open_db() as db:
            token = data_token(db, dataset)
            saved = cohort_store.list_cohorts(db, dataset)
        c2.selectbox("Saved cohort", [NEW_COHORT] + [s["name"] for s in saved], key="explore_saved",
                     on_change=_load_saved, args=("explore_saved", dataset))
        frame = get_frame(db_path, dataset, token)
        kinds = column_kinds(frame)
        if any(c not in kinds for c in st.session_state.get("explore_filter_cols", [])):
            # Another dataset was chosen: keep only the filters that still name a column.
            st.session_state["explore_filter_cols"] = [c for c in st.session_state["explore_filter_cols"]
                                                       if c in kinds]
        chosen = st.multiselect("Filter by", list(kinds), key="explore_filter_cols",
                                help="Patients must meet every filter; missing values never meet one.")
        filters: list[Filter] = []
        for col in chosen:
            if col not in kinds:
                continue
            key = f"explore_f_{col}"
            if kinds[col] == "numeric":
                lo, hi = float(frame[col].min()), float(frame[col].max())
                cur = st.session_state.get(key)
                if cur is not None and (cur[0] < lo or cur[1] > hi):   # a saved range wider than today's data
                    st.session_state[key] = (max(lo, min(cur[0], hi)), min(hi, max(cur[1], lo)))
                low, high = st.slider(col, lo, hi, (lo, hi), key=key)
                if (low, high) != (lo, hi):
                    filters.append(Filter(col, "between", (low, high)))
            elif kinds[col] == "date":
                dates = pd.to_datetime(frame[col], errors="coerce", format="ISO8601").dropna()
                picked = st.date_input(col, (dates.min().date(), dates.max().date()), key=key)
                if isinstance(picked, (tuple, list)) and len(picked) == 2:
                    filters.append(Filter(col, "date_between", (picked[0].isoformat(), picked[1].isoformat())))
            else:
                levels = level_options(frame[col])
                cur = st.session_state.get(key)
                if cur is not None and any(v not in levels for v in cur):
                    st.session_state[key] = [v for v in cur if v in levels]
                picked = st.multiselect(col, levels, default=levels, key=key)
                if set(picked) != set(levels):
                    filters.append(Filter(col, "in", tuple(picked)))
        spec = CohortSpec(dataset, tuple(filters))
        n1, n2 = st.columns([3, 1])
        name = n1.text_input("Cohort name", key="explore_cohort_name", placeholder="e.g. Men 40-70 with angina")
        try:
            ctx = Context(user, db_path, token, spec, name.strip() or None)
        except EngineError as exc:
            st.error(str(exc))
            return None
        if n2.button("Save cohort", key="explore_save", disabled=not user_can(user, "explore.cohort_save")):
            try:
                with open_db() as db:
                    cohort_store.save_cohort(db, name=name, dataset=dataset, spec=spec.to_dict(), n=ctx.cohort.n,
                                             created_by=user.username,
                                             replace=st.session_state.get("explore_saved") == name.strip())
                    audit.record(db, username=user.username, action="explore.cohort_save", target_type="dataset",
                                 target_id=dataset, details={"cohort": name.strip(), "n": ctx.cohort.n,
                                                             "filters": len(filters)})
                st.success(f"Saved cohort “{_md(name.strip())}” ({ctx.cohort.n:,} patients).")
            except EngineError as exc:
                st.error(str(exc))
        st.markdown(f"**{_md(ctx.label)}**: {_md(ctx.cohort.definition())}")
    if ctx.cohort.n == 0:
        st.warning("No patient meets these filters.")
        return None
    audited = st.session_state.setdefault("explore_audited", set())
    if ctx.spec_json not in audited:
        _audit("explore.cohort_view", user, dataset=dataset, n=ctx.cohort.n, filters=len(filters))
        audited.add(ctx.spec_json)
    return ctx


# ---------------------------------------------------------------- tabs
def render_table_one(ctx: Context) -> None:
    st.caption(f"Cohort: {_md(ctx.label)}")
    columns = [c for c in ctx.kinds if ctx.kinds[c] != "date"]
    c1, c2 = st.columns([3, 1])
    variables = c1.multiselect("Variables", columns, default=columns[:15], key="explore_t1_vars")
    with c2:
        group = _pick("Group by", ctx.groupable, "explore_t1_group", none=True,
                      default="sex" if "sex" in ctx.groupable else None)
    nonnormal = c1.multiselect("Always median [IQR]", [v for v in variables if v in ctx.numeric],
                               key="explore_t1_nonnormal")
    decimals = c2.number_input("Decimals", 0, 4, 1, key="explore_t1_decimals")
    if not variables:
        st.info("Choose variables for Table 1.")
        return
    try:
        res = ctx.result("table_one", "Building Table 1…", columns=variables, group=group, nonnormal=nonnormal,
                         decimals=int(decimals))
    except EngineError as exc:
        st.error(str(exc))
        return
    st.dataframe(res.table, hide_index=True, key="explore_t1_table")
    _show_caveats(res.caveats)
    st.caption(res.methods)
    d1, d2, d3 = st.columns(3)
    details = {"dataset": ctx.spec.dataset, "result": "table_one", "n": ctx.cohort.n}
    d1.download_button("Download CSV", res.to_csv(), "table1.csv", "text/csv", key="explore_t1_csv",
                       on_click=_audit, args=("explore.export", ctx.user), kwargs={**details, "format": "csv"},
                       disabled=not user_can(ctx.user, "explore.export"))
    d2.download_button("Download table (HTML)", _html_page("Table 1", ctx, res.to_html()), "table1.html",
                       "text/html", key="explore_t1_html", on_click=_audit, args=("explore.export", ctx.user),
                       kwargs={**details, "format": "html"}, disabled=not user_can(ctx.user, "explore.export"))
    ctx.pin_button("explore_pin_t1", f"Table 1{' by ' + group if group else ''}", "table_one", res.methods,
                   container=d3, table=res.to_html(), caveats=res.caveats)


def _html_page(title: str, ctx: Context, body: str) -> str:
    from engine.stats.report import REPORT_CSS

    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{REPORT_CSS}</style>"
            f"</head><body><h1>{title}</h1><p class='cohort'>{ctx.label}: {ctx.cohort.definition()}</p>"
            f"{body}</body></html>")


def render_distributions(ctx: Context) -> None:
    st.caption(f"Cohort: {_md(ctx.label)}")
    if not ctx.numeric:
        st.info("This cohort has no numeric columns.")
        return
    st.markdown("**Distribution**")
    c1, c2, c3 = st.columns(3)
    with c1:
        value = _pick("Variable", ctx.numeric, "explore_dist_value")
    with c2:
        group = _pick("Colour by", ctx.groupable, "explore_dist_group", none=True)
    kind = c3.radio("Plot", list(fig.DISTRIBUTION_KINDS), horizontal=True, key="explore_dist_kind")
    try:
        figure = fig.build_distribution_figure(ctx.cohort.frame, value, group, kind, ctx.label)
        st.plotly_chart(figure, key="explore_dist_chart")
        what = f"{kind.capitalize()} of {value}{' by ' + group if group else ''}"
        ctx.pin_button("explore_pin_dist", what, "distribution", what + ".", figure=figure)
    except EngineError as exc:
        st.error(str(exc))

    st.markdown("**Scatter with trend**")
    c1, c2, c3 = st.columns(3)
    with c1:
        x = _pick("X", ctx.numeric, "explore_scatter_x")
    with c2:
        y = _pick("Y", ctx.numeric, "explore_scatter_y", default=ctx.numeric[1] if len(ctx.numeric) > 1 else None)
    with c3:
        sgroup = _pick("Colour by", ctx.groupable, "explore_scatter_group", none=True)
    try:
        figure = fig.build_scatter_figure(ctx.cohort.frame, x, y, sgroup, ctx.label)
        st.plotly_chart(figure, key="explore_scatter_chart")
        ctx.pin_button("explore_pin_scatter", f"{y} against {x}", "scatter",
                       f"Scatter of {y} against {x} with least-squares trend lines.", figure=figure)
    except EngineError as exc:
        st.error(str(exc))

    st.markdown("**Correlation heat-map**")
    c1, c2 = st.columns([3, 1])
    cols = c1.multiselect("Columns", ctx.numeric, default=ctx.numeric[:8], key="explore_corr_cols")
    method = c2.radio("Method", ["pearson", "spearman"], key="explore_corr_method")
    if len(cols) < 2:
        st.info("Choose at least two columns.")
        return
    try:
        r, p, n = ctx.result("correlation", columns=cols, method=method)
    except EngineError as exc:
        st.error(str(exc))
        return
    figure = fig.build_correlation_figure(r, p, method, ctx.label)
    st.plotly_chart(figure, key="explore_corr_chart")
    st.caption(f"Pairwise-complete {method} correlations; n per pair from {int(n.values.min())} to "
               f"{int(n.values.max())}. Stars mark two-sided p-values (not adjusted for multiplicity).")
    ctx.pin_button("explore_pin_corr", f"{method.capitalize()} correlations", "correlation",
                f"{method.capitalize()} correlations with pairwise-complete cases; t-test of r = 0.", figure=figure,
                table=_fmt(r.reset_index(names="variable")))


def render_tests(ctx: Context) -> None:
    st.caption(f"Cohort: {_md(ctx.label)}")
    st.markdown("**Compare groups**")
    c1, c2 = st.columns(2)
    values = c1.multiselect("Outcome variables", ctx.numeric, key="explore_test_values")
    with c2:
        group = _pick("Groups", ctx.groupable, "explore_test_group")
    c3, c4 = st.columns(2)
    test = c3.selectbox("Test", ["auto", "welch", "student", "mann-whitney", "anova", "welch-anova", "kruskal"],
                        key="explore_test_kind", help="auto runs the test the assumption checks recommend.")
    correction = c4.selectbox("Multiple-comparison correction", ["holm", "bh", "none"], key="explore_test_corr")
    if values and group:
        try:
            results, table = ctx.result("tests", "Running tests…", values=values, group=group,
                                        correction=None if correction == "none" else correction, test=test)
            st.dataframe(_fmt(table), hide_index=True, key="explore_test_table")
            for r in results:
                _show_caveats([f"{r.name}: {c}" for c in r.caveats])
            with st.expander("Assumption checks"):
                st.dataframe(pd.DataFrame([{"comparison": r.name, **r.assumptions} for r in results]).round(4),
                             hide_index=True, key="explore_test_assumptions")
            st.caption(results[0].methods)
            ctx.pin_button("explore_pin_tests", f"Tests by {group}", "tests", results[0].methods, table=_fmt(table),
                        caveats=[c for r in results for c in r.caveats])
        except EngineError as exc:
            st.error(str(exc))
    else:
        st.info("Choose outcome variables and a grouping column.")

    st.markdown("**Association of two categorical variables**")
    c1, c2 = st.columns(2)
    with c1:
        a = _pick("Variable A", ctx.categorical, "explore_assoc_a", none=True)
    with c2:
        b = _pick("Variable B", ctx.categorical, "explore_assoc_b", none=True)
    if a and b and a != b:
        try:
            res = ctx.result("association", a=a, b=b)
            st.dataframe(_fmt(pd.DataFrame([res.as_row()])), hide_index=True, key="explore_assoc_table")
            _show_caveats(res.caveats)
            st.caption(res.methods)
            ctx.pin_button("explore_pin_assoc", f"{a} vs {b}", "association", res.methods,
                           table=_fmt(pd.DataFrame([res.as_row()])), caveats=res.caveats)
        except EngineError as exc:
            st.error(str(exc))


def render_regression(ctx: Context) -> None:
    st.caption(f"Cohort: {_md(ctx.label)}")
    c1, c2 = st.columns(2)
    kind = c1.radio("Model", list(regression.KINDS), horizontal=True, key="explore_reg_kind")
    outcome_opts = ctx.binary if kind == "logistic" else ctx.numeric + ctx.binary
    with c2:
        outcome = _pick("Outcome", outcome_opts, "explore_reg_outcome")
    others = [c for c in list(ctx.kinds) if c != outcome and ctx.kinds[c] != "date"]
    predictors = st.multiselect("Predictors", others, key="explore_reg_predictors")
    c1, c2 = st.columns(2)
    _follow("explore_reg_categorical", predictors,
            [p for p in predictors if ctx.kinds.get(p) == "categorical" and p not in ctx.binary])
    categorical = c1.multiselect("Treat as categorical", predictors, key="explore_reg_categorical")
    pairs = [f"{a} × {b}" for a, b in combinations(predictors, 2)]
    chosen_pairs = c2.multiselect("Interactions", pairs, key="explore_reg_interactions")
    if not (outcome and predictors):
        st.info("Choose an outcome and at least one predictor.")
        return
    try:
        formula = regression.build_formula(outcome, predictors, categorical,
                                           [tuple(p.split(" × ")) for p in chosen_pairs])
    except EngineError as exc:
        st.error(str(exc))
        return
    if st.session_state.get("explore_reg_built") != formula:
        # The builder changed: start the editable formula from the new one.
        st.session_state["explore_reg_built"] = formula
        st.session_state["explore_reg_formula"] = formula
    custom = st.text_input("Formula (edit for transformations, e.g. np.log(x))", key="explore_reg_formula")
    try:
        res = ctx.result("regression", "Fitting the model…", formula=custom, kind=kind)
    except EngineError as exc:
        st.error(str(exc))
        return
    cols = st.columns(len(res.fit))
    for col, (k, v) in zip(cols, res.fit.items()):
        col.metric(k.replace("_", " "), f"{v:.4g}")
    st.dataframe(_fmt(res.coefficients), hide_index=True, key="explore_reg_table")
    _show_caveats(res.caveats)
    st.caption(res.methods)
    forest = fig.build_forest_figure(res, ctx.label)
    st.plotly_chart(forest, key="explore_reg_forest")
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(fig.build_residual_figure(res, ctx.label), key="explore_reg_resid")
    with c2:
        st.markdown("**Variance inflation factors**")
        st.dataframe(_fmt(res.vif), hide_index=True, key="explore_reg_vif")
    ctx.pin_button("explore_pin_reg", f"{kind.capitalize()} regression of {outcome}", "regression", res.methods,
                table=_fmt(res.coefficients), figure=forest, caveats=res.caveats)


def render_survival(ctx: Context) -> None:
    st.caption(f"Cohort: {_md(ctx.label)}")
    time_guess, event_guess = guess_survival_columns(ctx.cohort.frame)
    if st.session_state.get("explore_surv__dataset") != ctx.spec.dataset:
        # First visit for this dataset: preselect the recognised time and event columns.
        st.session_state["explore_surv__dataset"] = ctx.spec.dataset
        st.session_state["explore_surv_time"] = time_guess or NONE
        st.session_state["explore_surv_event"] = event_guess or NONE
    c1, c2, c3 = st.columns(3)
    with c1:
        time = _pick("Follow-up time", ctx.numeric, "explore_surv_time", default=time_guess, none=True)
    with c2:
        event = _pick("Event (1 = event, 0 = censored)", ctx.binary, "explore_surv_event", default=event_guess,
                      none=True)
    with c3:
        group = _pick("Compare groups", ctx.groupable, "explore_surv_group", none=True)
    if not (time and event):
        st.info("Choose a follow-up time and an event column.")
        return
    try:
        km = ctx.result("km", "Estimating survival…", time=time, event=event, group=group)
    except EngineError as exc:
        st.error(str(exc))
        return
    figure = fig.build_km_figure(km, ctx.label)
    st.plotly_chart(figure, key="explore_km_chart")
    if km.logrank:
        st.metric("Log-rank p", f"{km.logrank['p_value']:.4g}",
                  help=f"chi-square {km.logrank['statistic']:.3f} on {km.logrank['df']:.0f} df")
    st.dataframe(_fmt(km.summary()), hide_index=True, key="explore_km_summary")
    st.markdown("**Numbers at risk**")
    st.dataframe(km.at_risk.rename(columns=lambda c: f"{c:g}"), key="explore_km_atrisk")
    _show_caveats(km.caveats)
    st.caption(km.methods)
    ctx.pin_button("explore_pin_km", f"Kaplan-Meier: {time}{' by ' + group if group else ''}", "survival", km.methods,
                table=_fmt(km.summary()), figure=figure, caveats=km.caveats)

    st.markdown("**Cox proportional hazards**")
    others = [c for c in ctx.kinds if c not in (time, event) and ctx.kinds[c] != "date"]
    c1, c2 = st.columns(2)
    covariates = c1.multiselect("Covariates", others, key="explore_cox_covariates")
    _follow("explore_cox_categorical", covariates,
            [c for c in covariates if ctx.kinds.get(c) == "categorical" and c not in ctx.binary])
    cox_cat = c2.multiselect("Categorical covariates", covariates, key="explore_cox_categorical")
    if not covariates:
        st.info("Choose covariates for the Cox model.")
        return
    try:
        cox = ctx.result("cox", "Fitting the Cox model…", time=time, event=event, covariates=covariates,
                         categorical=cox_cat)
    except EngineError as exc:
        st.error(str(exc))
        return
    st.metric("Concordance", f"{cox.concordance:.3f}")
    st.dataframe(_fmt(cox.hazard_ratios), hide_index=True, key="explore_cox_table")
    forest = fig.build_forest_figure(cox, ctx.label)
    st.plotly_chart(forest, key="explore_cox_forest")
    st.markdown("**Proportional-hazards check** (scaled Schoenfeld residuals vs rank time)")
    st.dataframe(_fmt(cox.ph_test), hide_index=True, key="explore_cox_ph")
    _show_caveats(cox.caveats)
    st.caption(cox.methods)
    ctx.pin_button("explore_pin_cox", f"Cox model of {time}", "cox", cox.methods, table=_fmt(cox.hazard_ratios),
                   figure=forest, caveats=cox.caveats)


def render_clustering(ctx: Context) -> None:
    st.caption(f"Cohort: {_md(ctx.label)}")
    features = st.multiselect("Features (standardised before clustering)", ctx.numeric, key="explore_cl_features")
    c1, c2, c3, c4 = st.columns(4)
    method = c1.radio("Method", list(clustering.METHODS), key="explore_cl_method")
    k = c2.slider("Clusters (K-means)", 2, 10, 3, key="explore_cl_k")
    eps = c3.number_input("eps (DBSCAN)", 0.05, 10.0, 0.5, 0.05, key="explore_cl_eps")
    min_samples = c4.number_input("min samples (DBSCAN)", 2, 100, 5, key="explore_cl_min")
    if len(features) < 2:
        st.info("Choose at least two features.")
        return
    params = {"features": features, "method": method}
    params.update({"k": int(k)} if method == "kmeans" else {"eps": float(eps), "min_samples": int(min_samples)})
    try:
        res = ctx.result("cluster", "Clustering…", **params)
    except EngineError as exc:
        st.error(str(exc))
        return
    st.metric("Silhouette", "n/a" if res.silhouette is None else f"{res.silhouette:.3f}")
    figure = fig.build_cluster_figure(res, ctx.label)
    st.plotly_chart(figure, key="explore_cl_chart")
    st.markdown("**Cluster profiles** (means on the original scale)")
    st.dataframe(_fmt(res.profiles), hide_index=True, key="explore_cl_profiles")
    _show_caveats(res.caveats)
    st.caption(res.methods)
    ctx.pin_button("explore_pin_cl", f"{method.upper()} clustering", "clustering", res.methods,
                   table=_fmt(res.profiles), figure=figure, caveats=res.caveats)


def render_quality(ctx: Context) -> None:
    st.caption(f"Cohort: {_md(ctx.label)}")
    outcomes = st.multiselect("Outcome columns (class balance)", ctx.categorical, default=ctx.binary,
                              key="explore_q_outcomes")
    try:
        res = ctx.result("quality", "Checking data quality…", outcome_columns=outcomes)
    except EngineError as exc:
        st.error(str(exc))
        return
    _show_caveats(res.caveats)
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Missing values**")
        st.dataframe(_fmt(res.missingness), hide_index=True, key="explore_q_missing")
    with c2:
        st.plotly_chart(fig.build_missingness_figure(res, ctx.label), key="explore_q_map")
    st.markdown("**Outliers** (|z| > 3; Tukey fences at 1.5 and 3 IQR)")
    st.dataframe(_fmt(res.outliers), hide_index=True, key="explore_q_outliers")
    if not res.class_balance.empty:
        balance = fig.build_class_balance_figure(res, ctx.label)
        st.plotly_chart(balance, key="explore_q_balance")
    st.caption(res.methods)
    ctx.pin_button("explore_pin_q", "Data quality", "quality", res.methods, table=_fmt(res.missingness),
                figure=fig.build_missingness_figure(res, ctx.label), caveats=res.caveats)


def _remove_pin(index: int) -> None:
    pins = st.session_state.get(PINS_KEY, [])
    if 0 <= index < len(pins):
        pins.pop(index)


def render_report(ctx: Context) -> None:
    pins: list[Pin] = st.session_state.get(PINS_KEY, [])
    if not pins:
        st.info("Nothing pinned yet: use “Pin to report” under any result.")
    for i, pin in enumerate(pins):
        c1, c2 = st.columns([5, 1])
        c1.markdown(f"{i + 1}\\. **{_md(pin.title)}** · {_md(pin.cohort_label)}")
        c2.button("Remove", key=f"explore_unpin_{i}", on_click=_remove_pin, args=(i,))
    title = st.text_input("Report title", "ClinSight analysis report", key="explore_report_title")
    html = build_report_html(pins, title=title, author=ctx.user.username)
    st.download_button("Export report (HTML)", html, "clinsight-report.html", "text/html",
                       key="explore_report_download", disabled=not pins or not user_can(ctx.user, "explore.export"),
                       on_click=_audit, args=("explore.export", ctx.user),
                       kwargs={"dataset": ctx.spec.dataset, "result": "report", "pins": len(pins), "format": "html"})
    if pdf_available():
        signature = hashlib.sha256((title + pins_to_json(pins)).encode("utf-8")).hexdigest()
        c1, c2 = st.columns(2)
        if c1.button("Prepare PDF", key="explore_report_pdf_make", disabled=not pins):
            try:
                with st.spinner("Printing the report to PDF…"):
                    st.session_state["explore_report_pdf"] = (signature, build_report_pdf(html))
            except EngineError as exc:
                st.error(str(exc))
        ready = st.session_state.get("explore_report_pdf")
        if ready and ready[0] == signature:
            c2.download_button("Download report (PDF)", ready[1], "clinsight-report.pdf", "application/pdf",
                               key="explore_report_pdf_download", disabled=not user_can(ctx.user, "explore.export"),
                               on_click=_audit, args=("explore.export", ctx.user),
                               kwargs={"dataset": ctx.spec.dataset, "result": "report", "pins": len(pins),
                                       "format": "pdf"})
    else:
        st.caption("PDF: no Chromium on this server; open the exported HTML in a browser and print it to PDF "
                   "(print styles included).")
    if pins and st.button("Clear all pins", key="explore_report_clear"):
        st.session_state[PINS_KEY] = []
        st.rerun()


TABS = [("Table 1", render_table_one), ("Distributions & relations", render_distributions),
        ("Tests", render_tests), ("Regression", render_regression), ("Survival", render_survival),
        ("Clustering", render_clustering), ("Data quality", render_quality), ("Report", render_report)]


def render() -> None:
    user = require_page("explore")
    st.title("Explore")
    st.caption("Describe and analyse a cohort. Results are for research and review; every number names its "
               "cohort, method and caveats.")
    ctx = render_cohort_builder(user)
    if ctx is None:
        return
    n_pins = len(st.session_state.get(PINS_KEY, []))
    tabs = st.tabs([name if name != "Report" else f"Report ({n_pins})" for name, _ in TABS])
    for tab, (_, fn) in zip(tabs, TABS):
        with tab:
            fn(ctx)


if __name__ == "__main__":
    from pages.components.standalone import run_app_instead

    run_app_instead()
