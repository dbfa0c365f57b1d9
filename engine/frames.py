"""Wide analysis frames built from the store's long-format records.

Analysts, model training and similar-patient search all want one row per
patient and one column per measurement; the store keeps observations long
(code, value, unit, time). This is the one place that pivots them, so every
consumer names columns the same way: the vocabulary key for known concepts
(``systolic_bp``), the local code's name for study-specific ones
(``chest_pain_type``), and one 0/1 column per recorded condition code
(``condition_E11``). The latest value wins when a patient has several.
"""
from __future__ import annotations

import pandas as pd

from engine.errors import NotFoundError
from engine.store import Database
from engine.store.patients import dataset_long_rows, list_dataset_names
from engine.vocabulary import concept_for_code


def column_name_for_code(code: str) -> str:
    concept = concept_for_code(code)
    if concept is not None:
        return concept.key
    return code.split(":", 1)[1] if code.startswith("local:") else code


def dataset_frame(db: Database, dataset_name: str) -> pd.DataFrame:
    """One row per patient of ``dataset_name`` (active versions), indexed by pseudo id."""
    if dataset_name not in list_dataset_names(db):
        raise NotFoundError(f"There is no dataset named '{dataset_name}'.")
    patients, observations, conditions = dataset_long_rows(db, dataset_name)
    base = pd.DataFrame(patients, columns=["id", "pseudo_id", "sex", "age", "age_group", "source"])
    if base.empty:
        return base.set_index("pseudo_id")
    obs = pd.DataFrame(observations, columns=["patient_id", "code", "value_num", "value_text", "time"])
    if not obs.empty:
        obs["column"] = obs["code"].map(column_name_for_code)
        obs["value"] = obs["value_num"].astype(object).where(obs["value_num"].notna(), obs["value_text"])
        wide = obs.drop_duplicates(["patient_id", "column"], keep="last").pivot(
            index="patient_id", columns="column", values="value")
        for col in wide.columns:
            numeric = pd.to_numeric(wide[col], errors="coerce")
            if numeric.notna().sum() == wide[col].notna().sum():
                wide[col] = numeric
        base = base.merge(wide, left_on="id", right_index=True, how="left")
    cond = pd.DataFrame(conditions, columns=["patient_id", "code"])
    for code in sorted(cond["code"].unique()) if not cond.empty else []:
        ids = set(cond.loc[cond["code"] == code, "patient_id"])
        base[f"condition_{code}"] = base["id"].isin(ids).astype(int)
    _add_note_mentions(db, base)
    return base.drop(columns=["id"]).set_index("pseudo_id")


def _add_note_mentions(db: Database, base: pd.DataFrame) -> None:
    """``mentioned_in_notes_<code>``: 1 when a note mentions the finding as present, current and about the
    patient (engine.notes), 0 when the patient has notes without such a mention, missing when the patient
    has no notes at all (not mentioned is not the same as absent)."""
    from engine.store.notes import mention_rows

    with_notes, pairs = mention_rows(db)
    ids = set(base["id"])
    pairs = [(pid, code) for pid, code in pairs if pid in ids]
    has_notes = base["id"].isin(with_notes)
    for code in sorted({code for _, code in pairs}):
        mentioned = base["id"].isin({pid for pid, c in pairs if c == code})
        base[f"mentioned_in_notes_{code}"] = mentioned.astype(float).where(has_notes)
