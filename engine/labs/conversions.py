"""Concept-specific unit factors, written once for every reader of units (import, treatment criteria).

Why a module of numbers: a dimensional library cannot know that 1 mmol/L of glucose is 18.016 mg/dL and
of cholesterol 38.67 mg/dL; those follow from molar masses. Import (``engine.ingest.units``) and treatment
criteria (``engine.treatment.units``) must agree on them, so both read them from here.
"""
from __future__ import annotations

# mg/dL per mmol/L, from molar masses: glucose 180.16 g/mol, cholesterol 386.65 g/mol,
# triglyceride (as triolein) 885.7 g/mol.
GLUCOSE_MG_DL_PER_MMOL_L = 18.016
CHOLESTEROL_MG_DL_PER_MMOL_L = 38.67
TRIGLYCERIDE_MG_DL_PER_MMOL_L = 88.57
# Creatinine 113.12 g/mol: umol/L per mg/dL.
CREATININE_UMOL_L_PER_MG_DL = 88.42
# Exact by definition.
KG_PER_POUND = 0.45359237
CM_PER_INCH = 2.54
MMHG_PER_KPA = 7.500617


def hba1c_ngsp_from_ifcc(mmol_per_mol):
    """NGSP % from IFCC mmol/mol: the IFCC-NGSP master equation (% = mmol/mol / 10.929 + 2.15)."""
    return mmol_per_mol / 10.929 + 2.15


def hba1c_ifcc_from_ngsp(percent):
    """IFCC mmol/mol from NGSP %: the inverse of the master equation."""
    return (percent - 2.15) * 10.929


def celsius_from_fahrenheit(fahrenheit):
    return (fahrenheit - 32.0) * 5.0 / 9.0


def fahrenheit_from_celsius(celsius):
    return celsius * 9.0 / 5.0 + 32.0
