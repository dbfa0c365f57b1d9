"""What every Explore tab shares: cached engine calls, the cohort Context, and small render helpers."""
from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd
import streamlit as st

from engine import audit
from engine.frames import dataset_frame
from engine.stats import clustering, quality, regression, survival, table_one
from engine.stats import tests as hyp
from engine.stats.cohort import CohortSpec, cohort_from_frame, column_kinds
from engine.stats.common import format_table, is_binary
from engine.stats.report import make_pin
from engine.store import open_db

PINS_KEY = "explore_pins"
NONE = "(none)"
NEW_COHORT = "(new cohort)"


# ---------------------------------------------------------------- cached engine calls
@st.cache_data(show_spinner=False, max_entries=8)
def get_frame(db_path: str, dataset: str, token: str) -> pd.DataFrame:
    """The dataset's wide frame (keyed by store and dataset version, so imports invalidate it).

    ``db_path`` is the cache key only: the configured store is opened (SQLite or PostgreSQL)."""
    with open_db() as db:
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
        self.binary = [c for c in self.categorical if is_binary(self.cohort.frame[c])]

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
        (container or st).button("Pin to report", key=key, on_click=add_pin,
                                 args=(title, kind, self.label, self.cohort.definition(), methods), kwargs=parts)


# ---------------------------------------------------------------- helpers
def add_pin(title: str, kind: str, label: str, definition: str, methods: str, **parts: Any) -> None:
    st.session_state.setdefault(PINS_KEY, []).append(make_pin(title, kind, label, definition, methods, **parts))
    st.toast(f"Pinned “{title}” to the report.")


def record_audit(action: str, user, **details: Any) -> None:
    with open_db() as db:
        audit.record(db, username=user.username, action=action, target_type="dataset",
                     target_id=details.pop("dataset", None), details=details)


def show_caveats(caveats: list[str]) -> None:
    for caveat in caveats:
        st.warning(caveat, icon=":material/warning:")


def initial(key: str, default: Any) -> Any:
    """The default for a keyed widget: ``default`` the first time, None once Session State holds the key.
    (A widget given both a default and a Session State value logs a warning on the server.)"""
    return None if key in st.session_state else default


def pick(label: str, options: list[str], key: str, default: str | None = None, none: bool = False) -> str | None:
    """A column selectbox; ``default`` applies until the user (or the page) chose a value."""
    opts = ([NONE] if none else []) + options
    if not opts:
        st.info(f"No column in this cohort fits “{label}”.")
        return None
    if key in st.session_state:
        if st.session_state[key] not in opts:     # e.g. a column the new cohort no longer has
            st.session_state[key] = default if default in opts else opts[0]
        value = st.selectbox(label, opts, key=key)
    else:
        value = st.selectbox(label, opts, index=opts.index(default) if default in opts else 0, key=key)
    return None if value == NONE else value


def keep_choice(key: str, options: list[str], default: list[str]) -> None:
    """A multiselect's value when its options change (another dataset, cohort or derived variable):
    choices still offered are kept, and with none left it starts again from ``default``.

    The value is *set* in Session State, which also updates the browser: with a deleted key the
    browser keeps showing (and sends back) the old dataset's choice, so the correlation map opened
    with one column or none."""
    marker = f"{key}__options"
    if st.session_state.get(marker) != options:
        st.session_state[marker] = list(options)
        kept = [v for v in st.session_state.get(key, []) if v in options]
        st.session_state[key] = kept or list(default)


def follow(key: str, source: list[str], default: list[str]) -> None:
    """Reset a dependent multiselect to ``default`` when the list it depends on changes."""
    marker = f"{key}__source"
    if st.session_state.get(marker) != source:
        st.session_state[marker] = list(source)
        st.session_state[key] = default


MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md(text: str) -> str:
    """Escape Markdown (and emoji/LaTeX triggers) in names users or imported files chose."""
    return MD_SPECIAL.sub(r"\\\1", str(text))


def fmt(frame: pd.DataFrame) -> pd.DataFrame:
    """A result table for display and pins: p-values as "<0.001" / "0.012", the rest to 4 decimals."""
    return format_table(frame)

