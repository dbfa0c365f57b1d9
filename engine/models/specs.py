"""What each shipped model predicts from which inputs, in which units, from which data.

A feature's ``name`` is the column name :mod:`engine.frames` gives the same
observation code, so a stored patient's observations (seeded or imported) map
onto model inputs by code, and an analyst's dataset frame has the same columns.
``plausible`` is a physiological limit (outside it the input is refused as an
entry or unit error); the training range is recorded on the card and only warns.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import pandas as pd

from engine import demo_data
from engine.demo_data import DemoDataset
from engine.frames import column_name_for_code
from engine.vocabulary import CONCEPTS

PATIENT_AGE = "patient:age"
PATIENT_SEX = "patient:sex"


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: name, unit, vocabulary code, kind and plausible range."""

    name: str
    label: str
    unit: str
    code: str
    kind: str = "numeric"  # numeric | binary | categorical
    plausible: tuple[float, float] | None = None
    categories: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        data = asdict(self)
        data["plausible"] = list(self.plausible) if self.plausible else None
        data["categories"] = list(self.categories)
        return data


def concept_feature(key: str, label: str | None = None) -> FeatureSpec:
    """A feature backed by a canonical vocabulary concept (LOINC code, UCUM unit, plausible range)."""
    concept = CONCEPTS[key]
    return FeatureSpec(key, label or concept.name, concept.unit, concept.code, "numeric", concept.plausible)


def local_feature(key: str, label: str, unit: str = "", plausible: tuple[float, float] | None = None,
                  kind: str = "numeric", categories: tuple[str, ...] = ()) -> FeatureSpec:
    """A feature stored under a local (study-specific) code, as engine.seed stores it."""
    spec = FeatureSpec(key, label, unit, f"local:{key}", kind, plausible, categories)
    assert column_name_for_code(spec.code) == key
    return spec


def binary_feature(key: str, label: str) -> FeatureSpec:
    return local_feature(key, label, "{0/1}", (0, 1), "binary")


AGE = FeatureSpec("age", "Age", "a", PATIENT_AGE, "numeric", (0, 120))
SEX = FeatureSpec("sex", "Sex", "", PATIENT_SEX, "categorical", None, ("female", "male"))


@dataclass(frozen=True)
class ModelSpec:
    """A shipped model: its data, outcome, inputs and how the data is split for validation."""

    name: str
    title: str
    dataset: DemoDataset
    outcome: str
    intended_use: str
    population: str
    features: tuple[FeatureSpec, ...]
    load: Callable[[], pd.DataFrame]  # returns feature columns + "outcome" (+ "site", "age", "sex" if known)
    external_sites: tuple[str, ...] = ()
    limitations: tuple[str, ...] = ()
    excluded: dict[str, str] = field(default_factory=dict)

    def feature(self, name: str) -> FeatureSpec:
        for spec in self.features:
            if spec.name == name:
                return spec
        raise KeyError(name)


def _rename(df: pd.DataFrame, mapping: dict[str, str], outcome: str, site: str | pd.Series) -> pd.DataFrame:
    out = df.rename(columns=mapping)
    keep = list(dict.fromkeys(mapping.values()))
    frame = out[keep].copy()
    frame["outcome"] = out[outcome].astype(int).to_numpy()
    frame["site"] = site if isinstance(site, str) else site.to_numpy()
    return frame


def _load_uci() -> pd.DataFrame:
    df = demo_data.load_uci_heart()
    for col in ("fbs", "exang"):
        df[col] = df[col].map({True: 1.0, False: 0.0})
    return _rename(df, {"age": "age", "sex": "sex", "cp": "chest_pain_type", "trestbps": "systolic_bp",
                        "chol": "total_cholesterol", "fbs": "fbs_gt_120", "restecg": "rest_ecg",
                        "thalch": "max_heart_rate", "exang": "exercise_angina", "oldpeak": "st_depression",
                        "slope": "st_slope", "ca": "vessels_fluoroscopy", "thal": "thallium"},
                   "target", df["dataset"])


def _load_pima() -> pd.DataFrame:
    df = demo_data.load_pima()
    frame = _rename(df, {"Pregnancies": "pregnancies", "Glucose": "glucose_ogtt_2h", "BloodPressure": "diastolic_bp",
                         "SkinThickness": "triceps_skinfold", "Insulin": "insulin_2h", "BMI": "bmi",
                         "DiabetesPedigreeFunction": "diabetes_pedigree", "Age": "age"}, "Outcome", "Pima (NIDDK)")
    frame["sex"] = "female"
    return frame


def _wdbc_key(column: str) -> str:
    return "wdbc_" + column.replace(" ", "_")


def _load_wdbc() -> pd.DataFrame:
    df = demo_data.load_breast_cancer()
    return _rename(df, {c: _wdbc_key(c) for c in df.columns if c != "malignant"}, "malignant", "Wisconsin")


def _load_hf() -> pd.DataFrame:
    df = demo_data.load_heart_failure()
    return _rename(df, {"age": "age", "sex": "sex", "anaemia": "anaemia", "creatinine_phosphokinase": "ck",
                        "diabetes": "diabetes_flag", "ejection_fraction": "ejection_fraction",
                        "high_blood_pressure": "hypertension_flag", "platelets": "platelets",
                        "serum_creatinine": "creatinine", "serum_sodium": "sodium", "smoking": "smoking"},
                   "DEATH_EVENT", "Faisalabad")


def _load_framingham() -> pd.DataFrame:
    df = demo_data.load_framingham()
    return _rename(df, {"age": "age", "sex": "sex", "currentSmoker": "smoking", "cigsPerDay": "cigarettes_per_day",
                        "BPMeds": "bp_medication", "prevalentStroke": "prevalent_stroke",
                        "prevalentHyp": "hypertension_flag", "diabetes": "diabetes_flag",
                        "totChol": "total_cholesterol", "sysBP": "systolic_bp", "diaBP": "diastolic_bp",
                        "BMI": "bmi", "heartRate": "heart_rate", "glucose": "glucose"}, "TenYearCHD", "Framingham")


_WDBC_RANGES = {"radius": (1, 60), "texture": (1, 80), "perimeter": (5, 400), "area": (10, 10000),
                "smoothness": (0.0, 0.5), "compactness": (0.0, 2.0), "concavity": (0.0, 2.0),
                "concave points": (0.0, 1.0), "symmetry": (0.0, 1.0), "fractal dimension": (0.0, 0.5)}
_WDBC_UNITS = {"radius": "mm", "perimeter": "mm", "area": "mm2", "texture": "{grey level SD}"}


def _wdbc_features() -> tuple[FeatureSpec, ...]:
    out = []
    for stat in ("mean", "error", "worst"):
        for base, rng in _WDBC_RANGES.items():
            column = f"{stat} {base}" if stat != "error" else f"{base} error"
            low, high = rng
            if stat == "error":
                low, high = 0.0, high / 2
            unit = _WDBC_UNITS.get(base, "{ratio}" if base != "concave points" else "{ratio}")
            out.append(local_feature(_wdbc_key(column), f"FNA {column}", unit if base != "area" else "mm2",
                                     (low, high)))
    return tuple(out)


_CAD_FEATURES = (
    AGE, SEX,
    local_feature("chest_pain_type", "Chest pain type", "", None, "categorical",
                  ("typical angina", "atypical angina", "non-anginal", "asymptomatic")),
    concept_feature("systolic_bp", "Resting systolic blood pressure"),
    concept_feature("total_cholesterol", "Serum cholesterol"),
    binary_feature("fbs_gt_120", "Fasting blood sugar > 120 mg/dL"),
    local_feature("rest_ecg", "Resting ECG", "", None, "categorical", ("normal", "st-t abnormality", "lv hypertrophy")),
    concept_feature("max_heart_rate", "Maximum heart rate achieved"),
    binary_feature("exercise_angina", "Exercise-induced angina"),
    local_feature("st_depression", "ST depression induced by exercise", "mm", (-5, 10)),
    local_feature("st_slope", "Slope of peak exercise ST segment", "", None, "categorical",
                  ("upsloping", "flat", "downsloping")),
    local_feature("vessels_fluoroscopy", "Major vessels coloured by fluoroscopy", "{count}", (0, 3)),
    local_feature("thallium", "Thallium stress test", "", None, "categorical",
                  ("normal", "fixed defect", "reversable defect")),
)

MODEL_SPECS: dict[str, ModelSpec] = {s.name: s for s in [
    ModelSpec(
        "cad_uci", "Coronary artery disease (angiographic)", demo_data.UCI_HEART,
        "Angiographic coronary artery disease: >50% diameter narrowing in any major vessel (num > 0)",
        "Estimate the probability of angiographic coronary artery disease in adults referred for evaluation of "
        "chest pain who have had an exercise test; supports, never replaces, the clinician's judgement.",
        "Adults 28-77 years referred for coronary angiography in Cleveland (USA) and Budapest (Hungary), "
        "1981-1988; externally validated on VA Long Beach (USA) and Zurich/Basel (Switzerland).",
        _CAD_FEATURES, _load_uci, external_sites=("VA Long Beach", "Switzerland"),
        limitations=("Referral population with high disease prevalence (36-93% by site); not for screening.",
                     "Vessels on fluoroscopy and thallium are missing for most non-Cleveland patients; they are "
                     "imputed with a missing-indicator, so the model partly learns where data is missing.",
                     "1980s data; diagnostic practice and populations have changed."),
    ),
    ModelSpec(
        "diabetes_pima", "Diabetes (Pima Indian women)", demo_data.PIMA,
        "Diabetes by WHO criteria (Outcome = 1)",
        "Estimate the probability of diabetes in adult women from routine measurements, to prioritise "
        "confirmatory testing; not a diagnosis.",
        "Pima Indian women aged 21-81 years near Phoenix, Arizona (NIDDK longitudinal study).",
        (AGE,
         local_feature("pregnancies", "Number of pregnancies", "{count}", (0, 25)),
         concept_feature("glucose_ogtt_2h", "Plasma glucose 2 h after 75 g oral glucose"),
         concept_feature("diastolic_bp"), concept_feature("triceps_skinfold"), concept_feature("insulin_2h"),
         concept_feature("bmi"),
         local_feature("diabetes_pedigree", "Diabetes pedigree function", "{score}", (0, 5))),
        _load_pima,
        limitations=("Women of one population only; transport to other groups is unvalidated.",
                     "Zeros recorded for glucose, blood pressure, skin fold, insulin and BMI are treated as "
                     "missing (impossible values)."),
    ),
    ModelSpec(
        "breast_wdbc", "Malignant breast mass (fine-needle aspirate)", demo_data.BREAST,
        "Malignant (1) vs benign (0) breast mass",
        "Estimate the probability that a breast mass is malignant from digitised fine-needle-aspirate nuclear "
        "features, as a second reader; histology decides.",
        "569 breast masses sampled by fine-needle aspiration at the University of Wisconsin Hospitals, 1989-1991.",
        _wdbc_features(), _load_wdbc,
        limitations=("Inputs are image-analysis features of one digitisation system; other systems need "
                     "recalibration.",),
    ),
    ModelSpec(
        "hf_mortality", "Heart-failure mortality during follow-up", demo_data.HEART_FAILURE,
        "Death during the follow-up period (4-285 days, median 115)",
        "Estimate the risk of death during follow-up for adults with systolic heart failure (NYHA III-IV) from "
        "baseline clinical records; supports review of care intensity, never decides it.",
        "299 adults 40-95 years with left-ventricular systolic dysfunction at Faisalabad Institute of Cardiology "
        "and Allied Hospital, Pakistan, April-December 2015.",
        (AGE, SEX, binary_feature("anaemia", "Anaemia"), concept_feature("ck"),
         binary_feature("diabetes_flag", "Diabetes"), concept_feature("ejection_fraction"),
         binary_feature("hypertension_flag", "High blood pressure"), concept_feature("platelets"),
         concept_feature("creatinine", "Serum creatinine"), concept_feature("sodium", "Serum sodium"),
         binary_feature("smoking", "Smoking")),
        _load_hf,
        excluded={"time": "Follow-up time is known only after the outcome (deaths end follow-up early): using it "
                          "would leak the outcome, so it is excluded."},
        limitations=("Small cohort (96 deaths): wide confidence intervals.",
                     "Follow-up length varies; the outcome is not a fixed-horizon risk."),
    ),
    ModelSpec(
        "chd_framingham", "10-year coronary heart disease", demo_data.FRAMINGHAM,
        "Coronary heart disease within 10 years (TenYearCHD = 1)",
        "Estimate 10-year coronary heart disease risk in adults without known CHD, to support prevention "
        "discussions.",
        "Adults 32-70 years of Framingham, Massachusetts (teaching subset of the Framingham Heart Study).",
        (AGE, SEX, binary_feature("smoking", "Current smoker"),
         local_feature("cigarettes_per_day", "Cigarettes per day", "/d", (0, 100)),
         binary_feature("bp_medication", "On blood-pressure medication"),
         binary_feature("prevalent_stroke", "Prior stroke"),
         binary_feature("hypertension_flag", "Hypertension"), binary_feature("diabetes_flag", "Diabetes"),
         concept_feature("total_cholesterol"), concept_feature("systolic_bp"), concept_feature("diastolic_bp"),
         concept_feature("bmi"), concept_feature("heart_rate"), concept_feature("glucose", "Casual glucose")),
        _load_framingham,
        excluded={"education": "Education level is not a clinical measurement; excluded."},
        limitations=("Teaching subset; not for publication. Mostly white population of one town.",),
    ),
]}
