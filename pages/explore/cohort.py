"""Explore tab: the cohort builder (dataset, saved cohorts, filters, name, save)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from engine import audit
from engine.config import get_settings
from engine.errors import EngineError
from engine.stats.cohort import CohortSpec, Filter, column_kinds, data_token, level_options
from engine.store import cohorts as cohort_store
from engine.store import open_db
from engine.store.patients import list_dataset_names
from pages.components.session import user_can
from pages.explore.common import NEW_COHORT, PINS_KEY, Context, get_frame, md, record_audit


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
                st.success(f"Saved cohort “{md(name.strip())}” ({ctx.cohort.n:,} patients).")
            except EngineError as exc:
                st.error(str(exc))
        st.markdown(f"**{md(ctx.label)}**: {md(ctx.cohort.definition())}")
    if ctx.cohort.n == 0:
        st.warning("No patient meets these filters.")
        return None
    audited = st.session_state.setdefault("explore_audited", set())
    if ctx.spec_json not in audited:
        record_audit("explore.cohort_view", user, dataset=dataset, n=ctx.cohort.n, filters=len(filters))
        audited.add(ctx.spec_json)
    return ctx
