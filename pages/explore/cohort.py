"""Explore: the cohort builder (dataset, saved cohorts, derived yes/no variables, filters, name, save)."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from engine import audit
from engine.errors import EngineError
from engine.stats.cohort import COMPARISONS, CohortSpec, Derived, Filter, column_kinds, data_token, level_options
from engine.stats.common import level_label
from engine.store import cohorts as cohort_store
from engine.store import open_db
from engine.store.patients import list_dataset_names
from pages.components.cache_keys import settings_cache_key
from pages.components.session import checked_user, user_can
from pages.explore.common import NEW_COHORT, PINS_KEY, Context, get_frame, initial, md, record_audit

KEEP_ON_DATASET_CHANGE = {"explore_dataset", PINS_KEY, "explore_audited"}
DERIVED_KEY = "explore_derived"          # [{"column", "op", "value"}] of this session's derived variables
SAVE_MESSAGE_KEY = "explore_save_message"


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


def _set_range(key: str, low: float, high: float) -> None:
    """A range filter's slider and its two typed bounds hold the same values."""
    st.session_state[key] = (float(low), float(high))
    st.session_state[f"{key}__from"] = float(low)
    st.session_state[f"{key}__to"] = float(high)


def _load_saved(key: str, dataset: str) -> None:
    """on_change of the saved-cohort box: put the saved filters and derived variables into the widgets."""
    name = st.session_state.get(key)
    if not name or name == NEW_COHORT:
        return
    with open_db() as db:
        saved = cohort_store.get_cohort(db, name)
    spec = CohortSpec.from_dict(saved["spec"])
    st.session_state["explore_filter_cols"] = [f.column for f in spec.filters]
    st.session_state["explore_cohort_name"] = saved["name"]
    st.session_state[DERIVED_KEY] = [{"column": d.column, "op": d.op, "value": d.value} for d in spec.derived]
    for f in spec.filters:
        if f.op == "between":
            _set_range(f"explore_f_{f.column}", *(float(v) for v in f.values))
        else:
            st.session_state[f"explore_f_{f.column}"] = list(f.values)


def _slider_moved(key: str) -> None:
    low, high = st.session_state[key]
    _set_range(key, low, high)


def _bound_typed(key: str, lo: float, hi: float) -> None:
    """A typed bound moves the slider (clamped to the data's range; the two bounds kept in order)."""
    low = min(max(float(st.session_state[f"{key}__from"]), lo), hi)
    high = min(max(float(st.session_state[f"{key}__to"]), lo), hi)
    _set_range(key, min(low, high), max(low, high))


def _range_filter(col: str, series: pd.Series) -> Filter | None:
    """A numeric filter: a slider and two typed bounds (the slider's 0.01 steps cannot hit 1.05)."""
    key = f"explore_f_{col}"
    values = pd.to_numeric(series, errors="coerce").dropna()
    lo, hi = float(values.min()), float(values.max())
    whole = bool(np.all(np.mod(values.to_numpy(), 1) == 0))
    cur = st.session_state.get(key)
    if cur is not None and (cur[0] < lo or cur[1] > hi):   # a saved range wider than today's data
        _set_range(key, max(lo, min(cur[0], hi)), min(hi, max(cur[1], lo)))
    elif cur is None:
        _set_range(key, lo, hi)
    s, a, b = st.columns([4, 1, 1], vertical_alignment="bottom")
    low, high = s.slider(col, lo, hi, key=key, step=1.0 if whole else None, on_change=_slider_moved, args=(key,))
    fmt = "%.0f" if whole else "%g"
    a.number_input(f"{col} from", lo, hi, key=f"{key}__from", format=fmt, step=1.0 if whole else None,
                   on_change=_bound_typed, args=(key, lo, hi))
    b.number_input(f"{col} to", lo, hi, key=f"{key}__to", format=fmt, step=1.0 if whole else None,
                   on_change=_bound_typed, args=(key, lo, hi))
    return Filter(col, "between", (low, high)) if (low, high) != (lo, hi) else None


def _add_derived(columns: list[str]) -> None:
    column, op = st.session_state.get("explore_dv_column"), st.session_state.get("explore_dv_op")
    value = st.session_state.get("explore_dv_value")
    if column in columns and op in COMPARISONS and value is not None:
        item = {"column": column, "op": op, "value": float(value)}
        derived = st.session_state.setdefault(DERIVED_KEY, [])
        if item not in derived:
            derived.append(item)


def _remove_derived(index: int) -> None:
    derived = st.session_state.get(DERIVED_KEY, [])
    if 0 <= index < len(derived):
        derived.pop(index)


def _render_derived(kinds: dict[str, str]) -> tuple[Derived, ...]:
    """Yes/no variables made from a column (e.g. cad_grade > 0), usable as outcomes and events."""
    numeric_like = [c for c, k in kinds.items() if k in ("numeric", "categorical")]
    derived = [d for d in st.session_state.get(DERIVED_KEY, []) if d["column"] in kinds]
    with st.expander(f"Derived yes/no variables ({len(derived)})", expanded=bool(derived)):
        st.caption("Make a 1 (yes) / 0 (no) column from a numeric one, e.g. cad_grade > 0 as “any coronary "
                   "disease”; it can then be an outcome, an event or a group. Missing stays missing.")
        c1, c2, c3, c4 = st.columns([3, 1, 2, 1], vertical_alignment="bottom")
        c1.selectbox("Column", numeric_like, key="explore_dv_column")
        c2.selectbox("Comparison", COMPARISONS, key="explore_dv_op")
        c3.number_input("Value", value=0.0, key="explore_dv_value", format="%g")
        c4.button("Add", key="explore_dv_add", on_click=_add_derived, args=(numeric_like,))
        for i, d in enumerate(derived):
            r1, r2 = st.columns([5, 1])
            r1.markdown(md(Derived(d["column"], d["op"], d["value"]).name))
            r2.button("Remove", key=f"explore_dv_remove_{i}", on_click=_remove_derived, args=(i,))
    return tuple(Derived(d["column"], d["op"], float(d["value"])) for d in derived)


def _save_cohort(dataset: str, spec: dict[str, Any], n: int, n_filters: int) -> None:
    """on_click of Save: store the definition, then show it as the selected saved cohort. The session is
    checked here first: a callback runs before app.py's gate and the page's check."""
    user = checked_user("explore", "explore.cohort_save")
    if user is None:
        return
    name = str(st.session_state.get("explore_cohort_name") or "").strip()
    try:
        with open_db() as db:
            cohort_store.save_cohort(db, name=name, dataset=dataset, spec=spec, n=n, created_by=user.username,
                                     replace=st.session_state.get("explore_saved") == name)
            audit.record(db, username=user.username, action="explore.cohort_save", target_type="dataset",
                         target_id=dataset, details={"cohort": name, "n": n, "filters": n_filters})
    except EngineError as exc:
        st.session_state[SAVE_MESSAGE_KEY] = ("error", str(exc))
        return
    st.session_state["explore_saved"] = name
    st.session_state[SAVE_MESSAGE_KEY] = ("success", f"Saved cohort “{md(name)}” ({n:,} patients).")


def render_cohort_builder(user) -> Context | None:
    db_path = settings_cache_key()  # names the configured store (file or database URL) for the caches
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
        saved_names = [NEW_COHORT] + [s["name"] for s in saved]
        if st.session_state.get("explore_saved") not in saved_names:
            st.session_state["explore_saved"] = NEW_COHORT
        c2.selectbox("Saved cohort", saved_names, key="explore_saved", on_change=_load_saved,
                     args=("explore_saved", dataset))
        frame = get_frame(db_path, dataset, token)
        kinds = column_kinds(frame)
        derived = _render_derived(kinds)
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
                flt = _range_filter(col, frame[col])
                if flt is not None:
                    filters.append(flt)
            elif kinds[col] == "date":
                dates = pd.to_datetime(frame[col], errors="coerce", format="ISO8601").dropna()
                picked = st.date_input(col, initial(key, (dates.min().date(), dates.max().date())), key=key)
                if isinstance(picked, (tuple, list)) and len(picked) == 2:
                    filters.append(Filter(col, "date_between", (picked[0].isoformat(), picked[1].isoformat())))
            else:
                levels = level_options(frame[col])
                cur = st.session_state.get(key)
                if cur is not None and any(v not in levels for v in cur):
                    st.session_state[key] = [v for v in cur if v in levels]
                picked = st.multiselect(col, levels, default=initial(key, levels), key=key,
                                        format_func=lambda v, col=col: level_label(col, v))
                if set(picked) != set(levels):
                    filters.append(Filter(col, "in", tuple(picked)))
        spec = CohortSpec(dataset, tuple(filters), derived)
        n1, n2 = st.columns([3, 1], vertical_alignment="bottom")
        name = n1.text_input("Cohort name", key="explore_cohort_name", placeholder="e.g. Men 40-70 with angina")
        try:
            ctx = Context(user, db_path, token, spec, name.strip() or None)
        except EngineError as exc:
            st.error(str(exc))
            return None
        n2.button("Save cohort", key="explore_save", disabled=not user_can(user, "explore.cohort_save"),
                  on_click=_save_cohort, args=(dataset, spec.to_dict(), ctx.cohort.n, len(filters)))
        message = st.session_state.pop(SAVE_MESSAGE_KEY, None)
        if message:
            (st.success if message[0] == "success" else st.error)(message[1])
        st.markdown(f"**{md(ctx.label)}**: {md(ctx.cohort.definition())}")
        for note in ctx.cohort.notes:
            st.caption(md(note))
    if ctx.cohort.n == 0:
        st.warning("No patient meets these filters.")
        return None
    audited = st.session_state.setdefault("explore_audited", set())
    if ctx.spec_json not in audited:
        record_audit("explore.cohort_view", user, dataset=dataset, n=ctx.cohort.n, filters=len(filters))
        audited.add(ctx.spec_json)
    return ctx
