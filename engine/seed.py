"""Load the real demo data sets into the store as patients with observations.

Each data set becomes a dataset (with source, licence and citation) with one
version; each row a patient with a pseudonymous id (``UCI-0001``), its
measurements as coded observations, and its recorded diagnosis as a condition.
Running it twice changes nothing: data sets already present are skipped.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine import audit, demo_data
from engine.demo_data import DemoDataset
from engine.privacy import generalise_age
from engine.store import Database, transaction
from engine.store import datasets as dataset_rows
from engine.store import patients as patient_rows
from engine.vocabulary import CONCEPTS, Concept, local_concept


@dataclass(frozen=True)
class SeedSpec:
    """How one demo data set maps onto patients, observations and conditions."""

    dataset: DemoDataset
    prefix: str
    load: Callable[[], pd.DataFrame]
    columns: dict[str, Concept]
    condition: Callable[[pd.Series], tuple[str, str] | None]
    sex: Callable[[pd.Series], str]
    age_column: str | None


def _c(key: str) -> Concept:
    return CONCEPTS[key]


def _uci_condition(row: pd.Series) -> tuple[str, str] | None:
    return ("I25.10", "Atherosclerotic heart disease of native coronary artery") if row["num"] > 0 else None


def _pima_condition(row: pd.Series) -> tuple[str, str] | None:
    return ("E11", "Type 2 diabetes mellitus") if row["Outcome"] == 1 else None


def _breast_condition(row: pd.Series) -> tuple[str, str] | None:
    return ("C50.9", "Malignant neoplasm of breast, unspecified") if row["malignant"] == 1 else None


def _hf_condition(row: pd.Series) -> tuple[str, str] | None:
    # Every patient in this cohort had left ventricular systolic dysfunction (NYHA III-IV).
    return ("I50.2", "Systolic (congestive) heart failure")


SPECS: tuple[SeedSpec, ...] = (
    SeedSpec(demo_data.UCI_HEART, "UCI", demo_data.load_uci_heart, {
        "dataset": local_concept("uci_site", "Study site"),
        "cp": local_concept("chest_pain_type", "Chest pain type"),
        "trestbps": _c("systolic_bp"),
        "chol": _c("total_cholesterol"),
        "fbs": local_concept("fbs_gt_120", "Fasting blood sugar > 120 mg/dL"),
        "restecg": local_concept("rest_ecg", "Resting ECG"),
        "thalch": _c("max_heart_rate"),
        "exang": local_concept("exercise_angina", "Exercise-induced angina"),
        "oldpeak": local_concept("st_depression", "ST depression induced by exercise", "mm"),
        "slope": local_concept("st_slope", "Slope of peak exercise ST segment"),
        "ca": local_concept("vessels_fluoroscopy", "Major vessels coloured by fluoroscopy", "{count}"),
        "thal": local_concept("thallium", "Thallium stress test"),
        "num": local_concept("cad_grade", "Angiographic disease grade (0-4)"),
    }, _uci_condition, lambda r: r["sex"], "age"),
    SeedSpec(demo_data.PIMA, "PIMA", demo_data.load_pima, {
        "Pregnancies": local_concept("pregnancies", "Number of pregnancies", "{count}"),
        "Glucose": _c("glucose_ogtt_2h"),
        "BloodPressure": _c("diastolic_bp"),
        "SkinThickness": _c("triceps_skinfold"),
        "Insulin": _c("insulin_2h"),
        "BMI": _c("bmi"),
        "DiabetesPedigreeFunction": local_concept("diabetes_pedigree", "Diabetes pedigree function"),
    }, _pima_condition, lambda r: "female", "Age"),
    SeedSpec(demo_data.BREAST, "WDBC", demo_data.load_breast_cancer, {
        **{col: local_concept("wdbc_" + col.replace(" ", "_"), f"FNA {col}")
           for col in demo_data.load_breast_cancer().columns if col != "malignant"},
        "malignant": local_concept("fna_malignant", "FNA diagnosis malignant (1) / benign (0)"),
    }, _breast_condition, lambda r: "unknown", None),
    SeedSpec(demo_data.HEART_FAILURE, "HF", demo_data.load_heart_failure, {
        "anaemia": local_concept("anaemia", "Anaemia"),
        "creatinine_phosphokinase": _c("ck"),
        "diabetes": local_concept("diabetes_flag", "Diabetes"),
        "ejection_fraction": _c("ejection_fraction"),
        "high_blood_pressure": local_concept("hypertension_flag", "High blood pressure"),
        "platelets": _c("platelets"),
        "serum_creatinine": _c("creatinine"),
        "serum_sodium": _c("sodium"),
        "smoking": local_concept("smoking", "Smoking"),
        "time": local_concept("follow_up_days", "Follow-up period", "d"),
        "DEATH_EVENT": local_concept("death_event", "Death during follow-up"),
    }, _hf_condition, lambda r: r["sex"], "age"),
)


def _observation_rows(patient_id: int, version_id: int, row: pd.Series, columns: dict[str, Concept]):
    for column, concept in columns.items():
        value = row[column]
        if value is None or (isinstance(value, float) and pd.isna(value)):
            continue
        if isinstance(value, (bool, np.bool_)):
            value_num, value_text = float(bool(value)), None
        elif isinstance(value, (int, float, np.number)):
            value_num, value_text = float(value), None
        else:
            value_num, value_text = None, str(value)
        yield (patient_id, version_id, concept.code, concept.system,
               concept.name, value_num, value_text, concept.unit or None, None, None)


def seed_dataset(db: Database, spec: SeedSpec) -> int:
    """Seed one data set in one transaction; returns patients added (0 if already present)."""
    if dataset_rows.dataset_exists(db, spec.dataset.key):
        return 0
    frame = spec.load()  # before taking the write lock: loading is slow and other writers would queue behind it
    with transaction(db):
        if dataset_rows.dataset_exists(db, spec.dataset.key):  # re-checked under the lock
            return 0
        ds = spec.dataset
        dataset_id = dataset_rows.get_or_create_dataset(db, ds.key, source=ds.source, licence=ds.licence,
                                                        citation=ds.citation, created_by="seed")
        version_id, _ = dataset_rows.add_version(db, dataset_id, file_name=None, file_sha256=None,
                                                 mapping={"seed": spec.prefix}, report=None, n_rows=len(frame),
                                                 created_by="seed")
        for i, (_, row) in enumerate(frame.iterrows(), start=1):
            age, age_group = generalise_age(float(row[spec.age_column]) if spec.age_column else None)
            patient_id = patient_rows.insert_patient(db, {
                "pseudo_id": f"{spec.prefix}-{i:04d}", "dataset_version_id": version_id, "source": ds.key,
                "licence": ds.licence, "sex": spec.sex(row), "age": age, "age_group": age_group,
            })
            patient_rows.insert_observations(db, _observation_rows(patient_id, version_id, row, spec.columns))
            condition = spec.condition(row)
            if condition:
                patient_rows.insert_conditions(db, [(patient_id, version_id, condition[0], "ICD-10-CM",
                                                     condition[1], None)])
        audit.record(db, username="seed", action="dataset.seed", target_type="dataset", target_id=ds.key,
                     details={"patients": len(frame)})
        return len(frame)


def seed_all(db: Database) -> dict[str, int]:
    """Seed every demo data set; returns patients added per data set."""
    return {spec.dataset.key: seed_dataset(db, spec) for spec in SPECS}
