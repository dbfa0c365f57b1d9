"""Cohorts: a dataset plus a list of filters, turned into the analysis frame.

A cohort is a *definition* (so it can be saved, named in every result and
re-run when the data change), applied to the one wide frame that
:func:`engine.frames.dataset_frame` builds. Filters are plain data (column,
operation, values) so the page, the store and the report all describe them the
same way.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import InputError
from engine.frames import dataset_frame
from engine.privacy import TOP_CODED_AGE, TOP_CODED_FLAG, top_code_ages
from engine.stats.common import is_binary
from engine.store import Database

OPERATIONS = ("between", "in", "date_between", "not_missing")
# Columns that describe where a row came from rather than the patient.
BOOKKEEPING_COLUMNS = ("source",)
# A numeric column with at most this many distinct integer values is treated as categorical.
MAX_NUMERIC_LEVELS = 5


@dataclass(frozen=True)
class Filter:
    """One condition: ``between`` [low, high] (inclusive; None = open), ``in`` a list of values,
    ``date_between`` [start, end] as ISO dates, or ``not_missing``."""

    column: str
    op: str
    values: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.op == "between":
            low, high = self.values
            if low is not None and high is not None:
                return f"{self.column} from {_fmt(low)} to {_fmt(high)}"
            return f"{self.column} ≥ {_fmt(low)}" if low is not None else f"{self.column} ≤ {_fmt(high)}"
        if self.op == "in":
            return f"{self.column} in {{{', '.join(str(v) for v in self.values)}}}"
        if self.op == "date_between":
            return f"{self.column} dated {self.values[0]} to {self.values[1]}"
        return f"{self.column} recorded"


COMPARISONS = (">", ">=", "<", "<=", "==", "!=")


@dataclass(frozen=True)
class Derived:
    """A binary variable made from a numeric column, e.g. ``cad_grade > 0`` (1 = yes, 0 = no, missing
    where the column is missing), so a graded or continuous measure can be an outcome or event."""

    column: str
    op: str
    value: float

    @property
    def name(self) -> str:
        return f"{self.column} {self.op} {_fmt(self.value)}"

    def compute(self, frame: pd.DataFrame) -> pd.Series:
        if self.op not in COMPARISONS:
            raise InputError(f"Unknown comparison '{self.op}' for a derived variable; use one of "
                             f"{', '.join(COMPARISONS)}.")
        if self.column not in frame.columns:
            raise InputError(f"The derived variable '{self.name}' names column '{self.column}', which this "
                             "dataset does not have.")
        numeric = pd.to_numeric(frame[self.column], errors="coerce")
        if numeric.notna().sum() < frame[self.column].notna().sum():
            raise InputError(f"A derived variable needs a numeric column; '{self.column}' holds text.")
        compare = {">": numeric.gt, ">=": numeric.ge, "<": numeric.lt, "<=": numeric.le, "==": numeric.eq,
                   "!=": numeric.ne}[self.op]
        return compare(float(self.value)).astype(float).where(numeric.notna())


@dataclass(frozen=True)
class CohortSpec:
    """A dataset, the derived variables added to it, and the filters applied, in order (all must hold)."""

    dataset: str
    filters: tuple[Filter, ...] = field(default_factory=tuple)
    derived: tuple[Derived, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        out = {"dataset": self.dataset, "filters": [asdict(f) | {"values": list(f.values)} for f in self.filters]}
        if self.derived:   # only when used, so saved cohorts and cache keys from before stay the same
            out["derived"] = [asdict(d) for d in self.derived]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CohortSpec:
        return cls(dataset=data["dataset"], filters=tuple(
            Filter(f["column"], f["op"], tuple(f.get("values") or ())) for f in data.get("filters", [])),
            derived=tuple(Derived(d["column"], d["op"], float(d["value"])) for d in data.get("derived", [])))

    def describe(self) -> str:
        text = (f"patients of {self.dataset} with " + "; ".join(f.describe() for f in self.filters)
                if self.filters else f"all patients of {self.dataset}")
        if self.derived:
            text += " (derived: " + "; ".join(f"{d.name} (1 = yes, 0 = no)" for d in self.derived) + ")"
        return text


@dataclass
class Cohort:
    """A built cohort: its definition, optional saved name, and the filtered frame."""

    spec: CohortSpec
    frame: pd.DataFrame
    name: str | None = None
    n_source: int = 0
    notes: list[str] = field(default_factory=list)    # how rows were coded, e.g. ages 90+ (shown with the cohort)

    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def label(self) -> str:
        """How every result names its cohort: "<name> (n=123)"."""
        return f"{self.name or 'Unsaved cohort'} (n={self.n:,})"

    def definition(self) -> str:
        return f"{self.spec.describe()}: {self.n:,} of {self.n_source:,} patients"


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float, np.floating, np.integer)) else str(value)


def column_kind(series: pd.Series) -> str:
    """'numeric', 'categorical' or 'date', as the filters, Table 1 and tests treat the column."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    if pd.api.types.is_bool_dtype(series):
        return "categorical"
    if pd.api.types.is_numeric_dtype(series):
        values = series.dropna()
        if values.nunique() <= MAX_NUMERIC_LEVELS and np.all(np.mod(values.to_numpy(dtype=float), 1) == 0):
            return "categorical"
        return "numeric"
    values = series.dropna()
    if len(values) and values.map(type).eq(str).all():
        parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
        if parsed.notna().all() and values.str.match(r"^\d{4}-\d{2}-\d{2}").all():
            return "date"
    return "categorical"


def column_kinds(frame: pd.DataFrame) -> dict[str, str]:
    """Kind of every analysable column (bookkeeping and all-empty columns left out)."""
    return {col: column_kind(frame[col]) for col in frame.columns
            if col not in BOOKKEEPING_COLUMNS and frame[col].notna().any()}


def apply_filters(frame: pd.DataFrame, filters: tuple[Filter, ...] | list[Filter]) -> pd.DataFrame:
    """Rows of ``frame`` meeting every filter (missing values never meet a condition)."""
    mask = pd.Series(True, index=frame.index)
    for flt in filters:
        if flt.column not in frame.columns:
            raise InputError(f"The filter names column '{flt.column}', which this dataset does not have.")
        col = frame[flt.column]
        if flt.op == "between":
            if len(flt.values) != 2:
                raise InputError(f"The range filter on '{flt.column}' needs a low and a high value.")
            numeric = pd.to_numeric(col, errors="coerce")
            low, high = flt.values
            cond = numeric.notna()
            if low is not None:
                cond &= numeric >= float(low)
            if high is not None:
                cond &= numeric <= float(high)
        elif flt.op == "in":
            allowed = {str(v) for v in flt.values}
            cond = col.notna() & col.map(_level_text).isin(allowed)
        elif flt.op == "date_between":
            dates = pd.to_datetime(col, errors="coerce", format="ISO8601")
            start, end = (pd.Timestamp(v) if v else None for v in flt.values)
            cond = dates.notna()
            if start is not None:
                cond &= dates >= start
            if end is not None:
                cond &= dates <= end
        elif flt.op == "not_missing":
            cond = col.notna()
        else:
            raise InputError(f"Unknown filter operation '{flt.op}'; use one of {', '.join(OPERATIONS)}.")
        mask &= cond.fillna(False).astype(bool)
    return frame.loc[mask]


def _level_text(value: Any) -> str:
    """Category levels as text; 1.0 reads as '1' so flags filter naturally."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def level_options(series: pd.Series) -> list[str]:
    """The distinct levels a category filter offers, as text, sorted."""
    return sorted({_level_text(v) for v in series.dropna()})


def build_cohort(db: Database, spec: CohortSpec, name: str | None = None) -> Cohort:
    """Load the dataset's wide frame and apply the spec's filters."""
    frame = dataset_frame(db, spec.dataset)
    return cohort_from_frame(frame, spec, name)


def cohort_from_frame(frame: pd.DataFrame, spec: CohortSpec, name: str | None = None) -> Cohort:
    """Same as :func:`build_cohort` on a frame already loaded (the page caches the frame)."""
    frame = frame.drop(columns=[c for c in frame.columns if frame[c].isna().all()])
    frame, top_coded = top_code_ages(frame)
    if spec.derived:
        frame = frame.assign(**{d.name: d.compute(frame) for d in spec.derived})
    filtered = apply_filters(frame, spec.filters)
    notes = []
    if top_coded:
        kept = int(filtered[TOP_CODED_FLAG].sum()) if TOP_CODED_FLAG in filtered.columns else 0
        if kept:
            notes.append(f"{kept} patient{'s' if kept != 1 else ''} aged 90 or older (stored as \"90+\" under "
                         f"HIPAA Safe Harbor) {'are' if kept != 1 else 'is'} analysed at age {TOP_CODED_AGE:g}, "
                         f"flagged in '{TOP_CODED_FLAG}'.")
    return Cohort(spec=spec, frame=filtered, name=name, n_source=len(frame), notes=notes)


def data_token(db: Database, dataset: str) -> str:
    """Identifies the dataset's current content (its active version ids): cached results keyed by it
    are recomputed after an import or a rollback."""
    from engine.store.datasets import list_versions

    return ",".join(str(v["version_id"]) for v in list_versions(db)
                    if v["dataset"] == dataset and v["status"] == "active")


def guess_survival_columns(frame: pd.DataFrame) -> tuple[str | None, str | None]:
    """A likely (time, event) pair by name, e.g. follow_up_days / death_event; None when unsure."""
    kinds = column_kinds(frame)
    time = next((c for c, k in kinds.items() if k == "numeric" and any(
        w in c.lower() for w in ("follow", "time", "days", "duration", "survival"))), None)
    event = next((c for c, k in kinds.items() if k == "categorical" and is_binary(frame[c])
                  and any(w in c.lower() for w in ("death", "event", "status", "dead", "died"))), None)
    return time, event
