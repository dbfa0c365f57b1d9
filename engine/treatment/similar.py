"""Similar patients: nearest neighbours in the store, with a distance a clinician can read.

Why this distance: each feature is standardised (z-score over the patient's own
cohort), so one unit means "one standard deviation of this cohort" whatever the
measurement; the distance is the root mean square of the z differences over the
features both patients have. Its square splits exactly into per-feature shares, so
the page can say *why* a neighbour is close ("age contributes 40% of the distance").
Neighbours are evidence of what happened to comparable recorded patients (their
conditions, recorded treatments, outcomes); they are never a recommendation.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from engine.errors import NotFoundError
from engine.frames import column_name_for_code, dataset_frame
from engine.store import Database
from engine.store import patients as patient_rows
from engine.store import treatment as treatment_rows

# Columns that record what happened (outcomes) rather than describe the patient: shown, never matched on.
OUTCOME_COLUMNS = {"death_event": "Died during follow-up", "follow_up_days": "Follow-up (days)",
                   "cad_grade": "Angiographic disease grade (0-4)", "fna_malignant": "FNA malignant"}
NEVER_FEATURES = {"sex", "age_group", "source", "uci_site"}
MIN_COVERAGE = 0.5
CAVEAT = ("Evidence, not a recommendation: these recorded patients resemble this one on the features listed; "
          "their treatments and outcomes were not randomised and may reflect other differences.")


def _query_vector(record: dict[str, Any], columns: list[str]) -> dict[str, float]:
    """The patient's values by frame column, taken from the (possibly session-edited) record; latest wins."""
    values: dict[str, tuple[str, float]] = {}
    for obs in record.get("observations", []):
        column = column_name_for_code(obs["code"])
        if column in columns and isinstance(obs.get("value"), (int, float)):
            time = obs.get("time") or ""
            if column not in values or time >= values[column][0]:
                values[column] = (time, float(obs["value"]))
    out = {column: v for column, (_, v) in values.items()}
    if record.get("age") is not None and "age" in columns:
        out["age"] = float(record["age"])
    return out


def find_similar(db: Database, pseudo_id: str, record: dict[str, Any] | None = None, k: int = 5) -> dict[str, Any]:
    """The ``k`` nearest patients to ``pseudo_id`` within its own data set, with per-feature contributions."""
    patient = patient_rows.get_patient(db, pseudo_id)
    if patient is None:
        raise NotFoundError("There is no patient with that pseudonymous id.")
    record = record or {}
    try:
        frame = dataset_frame(db, patient["source"] or "")
    except NotFoundError:
        return {"neighbours": [], "features": [], "cohort": None, "n_cohort": 0, "caveat": CAVEAT,
                "warnings": ["This patient does not belong to a stored data set, so no cohort is available to compare."]}
    condition_cols = [c for c in frame.columns if c.startswith("condition_")]
    numeric = [c for c in frame.columns if c not in NEVER_FEATURES and c not in OUTCOME_COLUMNS
               and c not in condition_cols and pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in numeric if frame[c].notna().mean() >= MIN_COVERAGE and frame[c].std(skipna=True) > 0]
    query = _query_vector(record, numeric) if record else {}
    if pseudo_id in frame.index:
        for column in numeric:
            if column not in query and pd.notna(frame.at[pseudo_id, column]):
                query[column] = float(frame.at[pseudo_id, column])
    features = [c for c in numeric if c in query]
    warnings: list[str] = []
    if len(features) < 2:
        return {"neighbours": [], "features": features, "cohort": patient["source"], "n_cohort": len(frame),
                "caveat": CAVEAT, "warnings": ["Fewer than two comparable measurements: no similarity computed."]}
    others = frame.drop(index=[pseudo_id], errors="ignore")
    mean = frame[features].mean()
    std = frame[features].std()
    z_query = (pd.Series(query)[features] - mean) / std
    z = (others[features] - mean) / std
    diff = z.sub(z_query, axis=1)
    sq = diff.pow(2)
    shared = sq.notna().sum(axis=1)
    min_shared = max(2, math.ceil(0.6 * len(features)))
    eligible = shared >= min_shared
    if not eligible.any():
        warnings.append("No other patient shares enough measurements with this one.")
    distance = np.sqrt(sq.sum(axis=1, min_count=1) / shared.replace(0, np.nan))
    distance = distance[eligible].sort_values(kind="stable").head(k)
    ids = treatment_rows.patient_ids_for(db, list(distance.index))
    accepted = treatment_rows.accepted_options_for(db, list(ids.values()))
    meds = treatment_rows.medications_by_patient(db, list(ids.values()))
    neighbours = []
    for neighbour_id, dist in distance.items():
        row = others.loc[neighbour_id]
        total = float(sq.loc[neighbour_id].sum())
        contributions = []
        for feature in features:
            if pd.isna(sq.at[neighbour_id, feature]):
                continue
            contributions.append({
                "feature": feature, "patient_value": query[feature], "neighbour_value": float(row[feature]),
                "z_difference": round(float(diff.at[neighbour_id, feature]), 3),
                "share": round(float(sq.at[neighbour_id, feature]) / total, 3) if total > 0 else 0.0,
            })
        contributions.sort(key=lambda c: -c["share"])
        pid = ids.get(neighbour_id)
        neighbours.append({
            "pseudo_id": neighbour_id,
            "distance": round(float(dist), 4),
            "age": None if pd.isna(row.get("age")) else float(row["age"]),
            "sex": row.get("sex"),
            "contributions": contributions,
            "conditions": [c.removeprefix("condition_") for c in condition_cols if row.get(c) == 1],
            "treatments": (meds.get(pid, []) if pid else []) + [f"{o} (accepted in ClinSight)" for o in
                                                                 (accepted.get(pid, []) if pid else [])],
            "outcomes": {label: _plain(row[col]) for col, label in OUTCOME_COLUMNS.items()
                         if col in row.index and pd.notna(row[col])},
        })
    return {"neighbours": neighbours, "features": features, "cohort": patient["source"], "n_cohort": len(frame),
            "distance": "root mean square of z-score differences over shared features (z over the cohort)",
            "caveat": CAVEAT, "warnings": warnings}


def closest_features(neighbour: dict[str, Any], n: int = 3) -> list[str]:
    """The ``n`` features on which a neighbour is closest to the patient (smallest share of the distance).

    One function for the page's table and the printed summary, so both always say the same.
    """
    return [c["feature"] for c in sorted(neighbour["contributions"], key=lambda c: (c["share"], c["feature"]))[:n]]


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value
