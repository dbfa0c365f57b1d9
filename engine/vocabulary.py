"""The canonical clinical vocabulary: LOINC-coded observations with UCUM units.

Every path into the store (the demo seed, CSV/Excel/FHIR import, the predict
form, treatment rules) names observations by these keys, so a FHIR bundle and a
CSV land in the same place. ``plausible`` ranges are physiological plausibility
limits used to catch data-entry and unit errors; they are NOT clinical
thresholds and say nothing about what is normal.
"""
from __future__ import annotations

from dataclasses import dataclass

LOINC = "http://loinc.org"
LOCAL = "urn:clinsight:local"


@dataclass(frozen=True)
class Concept:
    """One observation kind: code, display name, UCUM unit and a plausibility range."""

    key: str
    code: str
    name: str
    unit: str
    plausible: tuple[float, float] | None = None
    system: str = LOINC
    synonyms: tuple[str, ...] = ()


CONCEPTS: dict[str, Concept] = {c.key: c for c in [
    Concept("age", "30525-0", "Age", "a", (0, 120), synonyms=("age", "age_years", "ageyears")),
    Concept("systolic_bp", "8480-6", "Systolic blood pressure", "mm[Hg]", (50, 300),
            synonyms=("sbp", "systolic", "sysbp", "trestbps", "systolic_bp", "resting_bp")),
    Concept("diastolic_bp", "8462-4", "Diastolic blood pressure", "mm[Hg]", (20, 200),
            synonyms=("dbp", "diastolic", "diabp", "bloodpressure", "diastolic_bp")),
    Concept("heart_rate", "8867-4", "Heart rate", "/min", (20, 250), synonyms=("hr", "heartrate", "pulse")),
    Concept("max_heart_rate", "8873-3", "Heart rate maximum (exercise test)", "/min", (40, 250),
            synonyms=("thalach", "thalch", "max_hr")),
    Concept("total_cholesterol", "2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", (50, 700),
            synonyms=("chol", "totchol", "cholesterol", "total_cholesterol")),
    Concept("ldl_cholesterol", "13457-7", "LDL cholesterol (calculated)", "mg/dL", (10, 500), synonyms=("ldl",)),
    Concept("hdl_cholesterol", "2085-9", "HDL cholesterol", "mg/dL", (5, 200), synonyms=("hdl",)),
    Concept("triglycerides", "2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", (10, 5000),
            synonyms=("tg", "triglycerides")),
    Concept("glucose", "2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", (10, 1500),
            synonyms=("glucose", "glu", "blood_glucose")),
    Concept("glucose_ogtt_2h", "1518-0", "Glucose 2 hours post 75 g oral glucose", "mg/dL", (10, 1500),
            synonyms=("ogtt", "glucose_2h")),
    Concept("hba1c", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", (3, 20),
            synonyms=("hba1c", "a1c", "hemoglobin_a1c")),
    Concept("bmi", "39156-5", "Body mass index", "kg/m2", (10, 90), synonyms=("bmi", "body_mass_index")),
    Concept("weight", "29463-7", "Body weight", "kg", (0.5, 400), synonyms=("weight", "wt")),
    Concept("height", "8302-2", "Body height", "cm", (30, 250), synonyms=("height", "ht")),
    Concept("body_temperature", "8310-5", "Body temperature", "Cel", (25, 45), synonyms=("temp", "temperature")),
    Concept("spo2", "59408-5", "Oxygen saturation by pulse oximetry", "%", (50, 100), synonyms=("spo2", "sao2")),
    Concept("respiratory_rate", "9279-1", "Respiratory rate", "/min", (4, 80), synonyms=("rr", "resp_rate")),
    Concept("creatinine", "2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", (0.1, 25),
            synonyms=("creatinine", "serum_creatinine", "creat")),
    Concept("egfr", "62238-1", "eGFR (CKD-EPI)", "mL/min/{1.73_m2}", (1, 200), synonyms=("egfr", "gfr")),
    Concept("sodium", "2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", (100, 180),
            synonyms=("sodium", "serum_sodium", "na")),
    Concept("potassium", "2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", (1.5, 10),
            synonyms=("potassium", "k")),
    Concept("platelets", "777-3", "Platelets [#/volume] in Blood", "10*3/uL", (1, 2000), synonyms=("platelets", "plt")),
    Concept("ck", "2157-6", "Creatine kinase [Enzymatic activity/volume] in Serum or Plasma", "U/L", (1, 200000),
            synonyms=("cpk", "creatinine_phosphokinase", "ck")),
    Concept("ejection_fraction", "10230-1", "Left ventricular ejection fraction", "%", (5, 90),
            synonyms=("ef", "lvef", "ejection_fraction")),
    Concept("insulin_2h", "local:insulin_2h", "2-hour serum insulin", "u[IU]/mL", (0, 1200), LOCAL,
            synonyms=("insulin",)),
    Concept("triceps_skinfold", "local:triceps_skinfold", "Triceps skinfold thickness", "mm", (0, 100), LOCAL,
            synonyms=("skinthickness", "skin_thickness")),
    # Appended for treatment rules (issue 7): alternative codes the guidelines' criteria accept.
    Concept("egfr_mdrd", "33914-3", "eGFR (MDRD)", "mL/min/{1.73_m2}", (1, 200), synonyms=("egfr_mdrd",)),
    Concept("ldl_cholesterol_direct", "18262-6", "LDL cholesterol (direct)", "mg/dL", (10, 500),
            synonyms=("ldl_direct",)),
    Concept("sao2_arterial", "2708-6", "Oxygen saturation in Arterial blood", "%", (50, 100), synonyms=("sao2_arterial",)),
    Concept("ascvd_risk_10y", "local:ascvd_risk_10y", "10-year ASCVD risk (Pooled Cohort Equations)", "%", (0, 100),
            LOCAL, synonyms=("ascvd_risk", "ascvd_risk_10y", "pce_risk")),
]}

_BY_CODE = {c.code: c for c in CONCEPTS.values()}

# How 0/1 columns read in tables, legends and term names ("1 (yes)"), by analysis-frame column name.
# Only flags whose meaning the source data define: the demo seed's yes/no variables (UCI fbs and exang,
# heart-failure records), the breast-cancer diagnosis, and every ``condition_<code>`` column (1 = the
# patient has the coded condition on record). Unknown 0/1 columns keep plain "0" / "1".
YES_NO: dict[int, str] = {0: "no", 1: "yes"}
VALUE_LABELS: dict[str, dict[int, str]] = {
    "anaemia": YES_NO, "diabetes_flag": YES_NO, "hypertension_flag": YES_NO, "smoking": YES_NO,
    "death_event": YES_NO, "fbs_gt_120": YES_NO, "exercise_angina": YES_NO,
    "fna_malignant": {0: "benign", 1: "malignant"},
    "age_90_or_older": YES_NO,     # engine.privacy.top_code_ages: age 90 stands for "90 or older"
}


def value_labels(column: str) -> dict[int, str] | None:
    """Labels of a 0/1 column's values, or None when the vocabulary does not define them."""
    if str(column).startswith("condition_"):
        return YES_NO
    return VALUE_LABELS.get(str(column))


def concept_for_code(code: str) -> Concept | None:
    """The concept with LOINC (or local) ``code``, if known."""
    return _BY_CODE.get(code)


def local_concept(key: str, name: str, unit: str | None = None) -> Concept:
    """A site-specific observation with no LOINC code (e.g. a study's own variable)."""
    return Concept(key, f"local:{key}", name, unit or "", None, LOCAL)
