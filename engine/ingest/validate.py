"""The validation report, built before anything is written.

One streaming pass over the file gives, per column, its type, missing share and
range; and per problem class the file's row numbers: unit mix-ups, values
outside plausible ranges (with the range and unit), unreadable values, formula
cells, duplicate rows, repeated or missing patient ids, collisions with
patients already in the store, and outliers (Z-score or IQR, the user's choice).
The user then decides per class: fix (convert units), drop rows, keep and
flag, or cancel. Identifier findings and a k-anonymity figure come with it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from engine.config import get_settings
from engine.errors import InputError
from engine.ingest.mapping import check_mapping
from engine.ingest.prepare import Plan, build_plan, prepare_chunk
from engine.ingest.sources import Source
from engine.privacy import (IdentifierFinding, KAnonymity, detect_identifier_values, identifier_kind_from_name,
                            pseudonymiser, scrub_text)
from engine.store import Database
from engine.store import records as record_rows
from engine.unit_text import count_noun, readable_unit, with_unit

ACTIONS: dict[str, tuple[str, ...]] = {
    "ragged": ("drop", "cancel"),
    "unit_mixup": ("fix", "drop", "keep", "cancel"),
    "out_of_range": ("keep", "drop", "cancel"),
    "outlier": ("keep", "drop", "cancel"),
    "bad_value": ("keep", "drop", "cancel"),
    "formula": ("keep", "drop", "cancel"),
    "duplicate": ("drop", "keep", "cancel"),
    "repeated_id": ("keep", "drop", "cancel"),
    "missing_id": ("drop", "cancel"),
    "id_collision": ("keep", "drop", "cancel"),
}
# What the command line does when the user does not say (interactive users always choose on the page).
DEFAULT_DECISIONS: dict[str, str] = {
    "ragged": "cancel",
    "unit_mixup": "fix", "out_of_range": "keep", "outlier": "keep", "bad_value": "keep", "formula": "cancel",
    "duplicate": "drop", "repeated_id": "keep", "missing_id": "drop", "id_collision": "cancel",
}
CLASS_LABELS: dict[str, str] = {
    "ragged": "rows with the wrong number of fields",
    "unit_mixup": "unit mix-ups", "out_of_range": "values outside plausible ranges", "outlier": "outliers",
    "bad_value": "unreadable values", "formula": "spreadsheet formulas (formula injection)",
    "duplicate": "duplicate rows", "repeated_id": "repeated patient ids", "missing_id": "rows without a patient id",
    "id_collision": "patients already in the store",
}
ACTION_HELP = {"fix": "convert to the canonical unit", "drop": "leave these rows out", "cancel": "import nothing",
               "keep": "import and flag"}
ProgressFn = Callable[[str, int, int], None]


@dataclass
class Problem:
    """One problem class in one column (or the whole row), with every affected row number."""

    cls: str
    column: str | None
    message: str
    rows: np.ndarray

    @property
    def count(self) -> int:
        return int(len(self.rows))

    def to_dict(self, max_rows: int = 50) -> dict[str, Any]:
        return {"class": self.cls, "column": self.column, "message": self.message, "count": self.count,
                "rows": [int(r) for r in self.rows[:max_rows]]}


@dataclass
class ColumnSummary:
    column: str
    field: str
    stored_as: str
    type: str
    missing_share: float
    minimum: float | None = None
    maximum: float | None = None


@dataclass
class ValidationReport:
    """Everything the user needs to decide before import; built without writing anything."""

    sha256: str
    format: str
    details: dict[str, Any]
    n_rows: int
    n_patients: int
    mapping: dict[str, dict[str, Any]]
    numeric_columns: list[str]
    date_formats: dict[str, str]
    outlier_method: str
    columns: list[ColumnSummary]
    problems: list[Problem]
    identifiers: list[IdentifierFinding]
    redactions: dict[str, int]
    k_anonymity: KAnonymity | None
    warnings: list[str] = field(default_factory=list)
    created_at: str = ""

    def classes(self) -> dict[str, int]:
        """Rows affected per problem class (a row counted once per class)."""
        out: dict[str, set[int]] = {}
        for p in self.problems:
            out.setdefault(p.cls, set()).update(int(r) for r in p.rows)
        return {cls: len(rows) for cls, rows in out.items()}

    def problem_rows(self) -> int:
        """Distinct rows with at least one problem: a row in three classes is one problem row, not three."""
        arrays = [p.rows for p in self.problems]
        return int(len(np.unique(np.concatenate(arrays)))) if arrays else 0

    def rows_for(self, cls: str) -> np.ndarray:
        arrays = [p.rows for p in self.problems if p.cls == cls]
        return np.unique(np.concatenate(arrays)) if arrays else np.zeros(0, np.int64)

    def to_dict(self, max_rows: int = 50) -> dict[str, Any]:
        return {
            "sha256": self.sha256, "format": self.format, "details": self.details, "n_rows": self.n_rows,
            "n_patients": self.n_patients, "outlier_method": self.outlier_method,
            "columns": [vars(c) for c in self.columns],
            "problems": [p.to_dict(max_rows) for p in self.problems],
            "classes": self.classes(), "problem_rows": self.problem_rows(),
            "identifiers": [vars(f) for f in self.identifiers],
            "redactions": self.redactions,
            "k_anonymity": None if self.k_anonymity is None else {
                **vars(self.k_anonymity), "violating_rows": self.k_anonymity.violating_rows[:max_rows]},
            "warnings": self.warnings, "created_at": self.created_at,
        }


def _rows_text(rows: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (f" and {len(rows) - limit:,} more" if len(rows) > limit else "")


def _fmt(x: float) -> str:
    return f"{x:g}"


def _shortest(value: np.floating) -> float:
    """A float32 summary value as the number it was written as (6.2, not 6.199999809265137).

    Values are held as float32 to keep memory bounded on large files; widening one to a Python float
    shows binary noise. The shortest decimal that round-trips in float32 is what the file said.
    """
    return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))


def _outliers(values: np.ndarray, method: str) -> tuple[np.ndarray, str]:
    settings = get_settings()
    finite = values[np.isfinite(values)]
    if len(finite) < 10 or len(np.unique(finite[:100_000])) <= 2:  # too few, or a yes/no flag
        return np.zeros(len(values), bool), ""
    if method == "iqr":
        q1, q3 = np.percentile(finite, [25, 75])
        k = settings.outlier_iqr_k
        low, high = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
        if q3 == q1:
            return np.zeros(len(values), bool), ""
        with np.errstate(invalid="ignore"):
            return (values < low) | (values > high), f"outside Q1-{k:g}xIQR..Q3+{k:g}xIQR ({_fmt(low)} to {_fmt(high)})"
    mean, std = float(np.mean(finite)), float(np.std(finite))
    if std == 0:
        return np.zeros(len(values), bool), ""
    z = settings.outlier_z
    with np.errstate(invalid="ignore"):
        return np.abs(values - mean) > z * std, f"|Z| > {z:g} (mean {_fmt(round(mean, 3))}, SD {_fmt(round(std, 3))})"


def validate_source(db: Database, source: Source, mapping: dict[str, Any], *, outlier_method: str = "zscore",
                    quasi_identifiers: tuple[str, ...] = ("age_group", "sex", "zip3"),
                    progress: ProgressFn | None = None, reference: date | None = None) -> ValidationReport:
    """Read the whole file once and report every problem with its rows; writes nothing to ``db``."""
    if outlier_method not in ("zscore", "iqr"):
        raise InputError("The outlier method must be 'zscore' or 'iqr'.")
    settings = get_settings()
    reference = reference or datetime.now(timezone.utc).date()
    checked = check_mapping(mapping, source.columns)
    first = source.preview(200)
    numeric_cols: set[str] = set()
    for col, entry in checked.items():
        if entry["field"] == "observation" and not entry.get("concept") and entry["deid"] not in ("remove",):
            present = first[col].dropna()
            if len(present) and pd.to_numeric(present.str.replace(",", ".", regex=False), errors="coerce").notna().mean() >= 0.95:
                numeric_cols.add(col)
    plan = build_plan(checked, numeric_cols)

    n_rows = 0
    missing = {col: 0 for col in source.columns}
    masks: dict[tuple[str, str], list[np.ndarray]] = {}
    # Only numpy arrays outlive a chunk: Python strings kept across chunks would pin the allocator's arenas
    # and grow memory with the file, not with the chunk.
    all_rows: list[np.ndarray] = []
    hashes: list[np.ndarray] = []
    id_hashes: list[np.ndarray] = []
    id_present: list[np.ndarray] = []
    qi_codes: list[np.ndarray] = []
    collisions: list[np.ndarray] = []
    numeric_values: dict[str, list[np.ndarray]] = {c: [] for c in numeric_cols | {
        o.column for o in plan.observations if o.numeric}}
    # Columns summarised as numbers but not checked for outliers here: the age column (its own field).
    summary_values: dict[str, list[np.ndarray]] = {plan.age: []} if plan.age and plan.age not in numeric_values else {}
    redactions: dict[str, int] = {}
    scrub_cols = [o.column for o in plan.observations if not o.numeric and o.deid == "keep"]
    collide = _collision_checker(db, plan)
    ragged: list[tuple[int, int]] = []
    for chunk in source.iter_chunks():
        ragged.extend(chunk.ragged)
        prep = prepare_chunk(chunk, plan, reference)
        n_rows += len(chunk.rows)
        all_rows.append(chunk.rows)
        for col in source.columns:
            missing[col] += int(chunk.frame[col].isna().sum())
        for key, mask in prep.masks.items():
            masks.setdefault(key, []).append(chunk.rows[mask])
        hashes.append(prep.row_hash)
        if plan.patient_id:
            present = pd.notna(prep.ids)
            id_present.append(present)
            id_hashes.append(pd.util.hash_array(np.where(present, prep.ids, "").astype(object)))
            if collide is not None:
                collisions.append(chunk.rows[collide(prep.ids, present)])
        for col in numeric_values:
            numeric_values[col].append(prep.numeric[col].astype(np.float32))
        for col in summary_values:
            summary_values[col].append(prep.age.astype(np.float32))
        for col in scrub_cols:
            hits = sum(1 for v in prep.text[col] if v and scrub_text(str(v))[1])
            if hits:
                redactions[col] = redactions.get(col, 0) + hits
        qi_codes.append(_qi_codes(prep))
        if progress:
            progress("validate", n_rows, max(source.row_estimate, n_rows))

    rows = np.concatenate(all_rows)
    problems: list[Problem] = []
    if ragged:
        problems.append(_ragged_problem(ragged, len(source.columns)))
    for (cls, col), parts in masks.items():
        problem_rows = np.concatenate(parts)
        problems.append(Problem(cls, col, _message(cls, col, problem_rows, plan), problem_rows))

    # Duplicate rows (identical in every mapped column): later copies are the problem.
    row_hash = np.concatenate(hashes)
    _, first_index = np.unique(row_hash, return_index=True)
    dup_mask = np.ones(len(row_hash), bool)
    dup_mask[first_index] = False
    del row_hash
    if dup_mask.any():
        dup_rows = rows[dup_mask]
        problems.append(Problem("duplicate", None, f"{len(dup_rows):,} rows repeat an earlier row exactly: rows "
                                f"{_rows_text(dup_rows)}.", dup_rows))
    n_patients = n_rows
    first_rows = np.ones(n_rows, bool)  # each patient's first row (for k-anonymity)
    if plan.patient_id:
        present = np.concatenate(id_present)
        id_hash = np.concatenate(id_hashes)
        if (~present).any():
            problems.append(Problem("missing_id", plan.patient_id, f"{int((~present).sum()):,} rows have no "
                                    f"patient id in column '{plan.patient_id}': rows {_rows_text(rows[~present])}.",
                                    rows[~present]))
        present_idx = np.flatnonzero(present)
        uniq, first_pos = np.unique(id_hash[present_idx], return_index=True)
        n_patients = len(uniq)
        first_rows = np.zeros(n_rows, bool)
        first_rows[present_idx[first_pos]] = True
        repeated = present & ~first_rows & ~dup_mask
        if repeated.any() and not plan.time:
            rep_rows = rows[repeated]
            problems.append(Problem("repeated_id", plan.patient_id, f"{len(rep_rows):,} rows repeat a patient id "
                                    f"seen earlier (and no date column tells visits apart): rows "
                                    f"{_rows_text(rep_rows)}. Keep merges them into one patient.", rep_rows))
        collision_rows = np.concatenate(collisions) if collisions else np.zeros(0, np.int64)
        if len(collision_rows):
            problems.append(Problem("id_collision", plan.patient_id, f"{len(collision_rows):,} rows belong to "
                                    f"patients already in the store: rows {_rows_text(collision_rows)}. Keep adds "
                                    "these rows to the existing patients; drop leaves them out.", collision_rows))
    skip = np.zeros(len(rows), bool)
    for p in problems:
        if p.cls in ("out_of_range", "unit_mixup", "bad_value", "formula"):
            skip |= np.isin(rows, p.rows)
    for col, parts in numeric_values.items():
        values = np.concatenate(parts) if parts else np.zeros(0)
        clean = np.where(skip, np.nan, values)
        out, rule = _outliers(clean, outlier_method)
        if out.any():
            out_rows = rows[out]
            problems.append(Problem("outlier", col, f"Column '{col}': {len(out_rows):,} outliers {rule}: rows "
                                    f"{_rows_text(out_rows)}.", out_rows))
    order = list(ACTIONS)
    problems.sort(key=lambda p: (order.index(p.cls), p.column or ""))

    columns = []
    for col in source.columns:
        entry = checked[col]
        obs = next((o for o in plan.observations if o.column == col), None)
        parts = numeric_values.get(col) or summary_values.get(col)
        vals = np.concatenate(parts) if parts else None
        finite = vals[np.isfinite(vals)] if vals is not None else None
        stored = (f"{obs.name} [{obs.code}]" + (f" ({readable_unit(obs.unit)})" if readable_unit(obs.unit) else "")
                  if obs and obs.unit else obs.name if obs else
                  {"identifier": "removed" if entry["deid"] == "remove" else "pseudonymised",
                   "ignore": "not imported"}.get(entry["field"], entry["field"]))
        ctype = ("number" if vals is not None else "date" if col in plan.date_formats else "text")
        has = finite is not None and len(finite) > 0
        columns.append(ColumnSummary(col, entry["field"], stored, ctype, round(missing[col] / max(n_rows, 1), 4),
                                     _shortest(finite.min()) if has else None,
                                     _shortest(finite.max()) if has else None))
    identifiers = _identifier_findings(checked, first)
    kanon = None
    available = {"age_group": bool(plan.age or plan.birth_date), "sex": bool(plan.sex), "zip3": bool(plan.zip)}
    qis = tuple(q for q in quasi_identifiers if available.get(q))
    if qis:
        codes = np.concatenate(qi_codes)[first_rows][:, [("age_group", "sex", "zip3").index(q) for q in qis]]
        kanon = _k_anonymity(codes, rows[first_rows], qis, settings.k_anonymity_target)
    warnings = []
    if not plan.patient_id:
        warnings.append("No column is mapped to the patient id: every row becomes its own patient.")
    # Rows in the file: the ragged ones count too (they are problem rows the user decides about).
    return ValidationReport(source.sha256, source.format, source.details, n_rows + len(ragged), n_patients, checked,
                            sorted(numeric_cols), dict(plan.date_formats), outlier_method, columns, problems,
                            identifiers, redactions, kanon, warnings,
                            datetime.now(timezone.utc).replace(microsecond=0).isoformat())


def _ragged_problem(ragged: list[tuple[int, int]], n_cols: int) -> Problem:
    lines = np.asarray([line for line, _ in ragged], dtype=np.int64)
    shown = ", ".join(f"{line} ({count} fields)" for line, count in ragged[:10])
    more = f" and {len(ragged) - 10:,} more" if len(ragged) > 10 else ""
    verb = "does" if len(ragged) == 1 else "do"
    return Problem("ragged", None, f"{count_noun(len(ragged), 'row')} {verb} not have the header's {n_cols} fields: "
                   f"lines {shown}{more}. Fix the delimiters or quoting in those lines, or drop them.", lines)


_SEX_CODES = {"female": 0, "male": 1, "other": 2, "unknown": 3}


def _qi_codes(prep) -> np.ndarray:
    """Quasi-identifiers as small integers per row: 10-year age band (9 = 90+), sex, ZIP3 (-1 = none)."""
    with np.errstate(invalid="ignore"):
        band = np.where(np.isnan(prep.age), -1, np.minimum(np.floor(np.nan_to_num(prep.age) / 10), 9)).astype(np.int16)
    sex = pd.Series(prep.sex, dtype=object).map(_SEX_CODES).fillna(3).to_numpy(np.int16)
    zip3 = pd.to_numeric(pd.Series(prep.zip3, dtype=object), errors="coerce").fillna(-1).to_numpy(np.int16)
    return np.column_stack([band, sex, zip3])


def _k_anonymity(codes: np.ndarray, rows: np.ndarray, qis: tuple[str, ...], target: int) -> KAnonymity:
    if len(codes) == 0:
        return KAnonymity(0, target, qis, 0, [], 0)
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    size = counts[inverse.ravel()]
    violating = rows[size < target]
    return KAnonymity(int(counts.min()), target, qis, len(counts), [int(r) for r in violating[:1000]],
                      int(len(violating)))


def _collision_checker(db: Database, plan: Plan):
    """A per-chunk test 'is this row's patient already in the store?', or None when none can be."""
    if not plan.patient_id or not record_rows.any_patients(db):
        return None
    if plan.id_deid == "pseudonymise":
        key = record_rows.read_secret(db, record_rows.PSEUDONYM_KEY_NAME)
        if key is None:
            return None  # no key yet: nothing was ever pseudonymised with it
        to_pseudo = pseudonymiser(key)
    else:
        def to_pseudo(raw: str) -> str:
            return raw.strip()

    def check(ids: np.ndarray, present: np.ndarray) -> np.ndarray:
        pseudo = {raw: to_pseudo(str(raw)) for raw in set(ids[present].tolist())}
        existing = record_rows.patient_ids_by_pseudo(db, list(pseudo.values()))
        if not existing:
            return np.zeros(len(ids), bool)
        return np.array([bool(p) and pseudo[raw] in existing for raw, p in zip(ids.tolist(), present)], dtype=bool)
    return check


def _message(cls: str, col: str, rows: np.ndarray, plan: Plan) -> str:
    obs = next((o for o in plan.observations if o.column == col), None)
    n = count_noun(len(rows), "value")
    one = len(rows) == 1
    where = f"rows {_rows_text(rows)}"
    if cls == "unit_mixup" and obs:
        from engine.ingest.units import ALT_UNITS
        alt = next(a for a in ALT_UNITS[obs.concept_key] if a.suspect)
        return (f"Column '{col}': {n} {'looks' if one else 'look'} like {readable_unit(alt.unit)} instead of "
                f"{readable_unit(obs.unit)} ({where}); fix converts them to {readable_unit(obs.unit)}.")
    if cls == "out_of_range":
        if obs and obs.plausible:
            return (f"Column '{col}': {n} outside the plausible range "
                    f"{with_unit(f'{_fmt(obs.plausible[0])}-{_fmt(obs.plausible[1])}', obs.unit)} ({where}).")
        return f"Column '{col}': {n} outside the plausible range 0-120 years ({where})."
    if cls == "formula":
        what = "is a spreadsheet formula" if one else "are spreadsheet formulas"
        return (f"Column '{col}': {n} {what} (a formula-injection risk) ({where}); keep stores "
                "them as inert text, prefixed with an apostrophe.")
    if cls == "bad_value":
        kind = ("dates" if col in (plan.time, plan.birth_date) else "ICD-10-CM codes" if col in plan.conditions
                else "sex values (male/female/other/unknown)" if col == plan.sex else "numbers")
        return (f"Column '{col}': {n} {'is' if one else 'are'} not readable {kind} ({where}); keep stores them as "
                "flagged text.")
    return f"Column '{col}': {n} ({where})."


def _identifier_findings(checked: dict[str, dict[str, Any]], sample: pd.DataFrame) -> list[IdentifierFinding]:
    findings = []
    for col, entry in checked.items():
        kind = identifier_kind_from_name(col)
        if kind:
            findings.append(IdentifierFinding(col, kind, "column name", 1.0))
            continue
        if entry["field"] in ("birth_date", "time"):
            findings.append(IdentifierFinding(col, "date", "column role (full dates)", 1.0))
            continue
        if entry["field"] == "patient_id":
            findings.append(IdentifierFinding(col, "record id", "column role", 1.0))
            continue
        values = [str(v) for v in sample[col].dropna().head(50)] if col in sample else []
        found = detect_identifier_values(values)
        if found:
            findings.append(IdentifierFinding(col, found[0], f"values ({found[1]:.0%} of a sample)", found[1]))
    return findings


def check_decisions(report: ValidationReport, decisions: dict[str, str]) -> dict[str, str]:
    """Decisions for every problem class in the report; a 'cancel' ends the import with a clear sentence."""
    chosen: dict[str, str] = {}
    for cls, count in report.classes().items():
        action = decisions.get(cls)
        if action is None:
            raise InputError(f"Decide what to do with the {count:,} rows with {CLASS_LABELS[cls]}: "
                             f"{' / '.join(ACTIONS[cls])}.")
        if action not in ACTIONS[cls]:
            raise InputError(f"'{action}' is not a choice for {CLASS_LABELS[cls]}; choose "
                             f"{' / '.join(ACTIONS[cls])}.")
        if action == "cancel":
            example = next(p for p in report.problems if p.cls == cls)
            raise InputError(f"Import cancelled because of {CLASS_LABELS[cls]}: {example.message} Nothing was "
                             "written.")
        chosen[cls] = action
    return chosen
