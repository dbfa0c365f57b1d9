"""The ICU time-series vocabulary: one row per PhysioNet 2012 parameter.

Why a table: the importer, the cleaner, the timeline's normal bands and the model
features must agree on names, codes, units and plausible ranges. LOINC codes are
the usual ones for each measurement; units are UCUM as stored (shown to people
through ``engine.unit_text``). Plausible ranges are deliberately wide: they catch
recording errors (a 0 heart rate standing for "missing"), not sick patients.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Parameter:
    """One measured quantity: how it is stored, what is plausible and what is normal."""

    name: str
    label: str
    loinc: str
    unit: str
    low: float  # values below are recording errors
    high: float  # values above are recording errors
    normal: tuple[float, float] | None = None  # adult normal band drawn on the timeline
    kind: str = "vital"  # vital | lab | descriptor | fluid


PARAMETERS: dict[str, Parameter] = {p.name: p for p in [
    # descriptors (time 00:00)
    Parameter("Age", "Age", "30525-0", "a", 15, 90, kind="descriptor"),
    Parameter("Gender", "Sex (0 female, 1 male)", "76689-9", "{code}", 0, 1, kind="descriptor"),
    Parameter("Height", "Height", "8302-2", "cm", 100, 250, kind="descriptor"),
    Parameter("ICUType", "ICU type", "ICUType", "{code}", 1, 4, kind="descriptor"),
    Parameter("Weight", "Weight", "29463-7", "kg", 20, 300, kind="vital"),
    # vital signs
    Parameter("HR", "Heart rate", "8867-4", "/min", 1, 300, (51, 90)),
    Parameter("RespRate", "Respiratory rate", "9279-1", "/min", 1, 80, (12, 20)),
    Parameter("Temp", "Temperature", "8310-5", "Cel", 25, 45, (36.1, 38.0)),
    Parameter("SysABP", "Systolic BP (arterial line)", "76215-3", "mm[Hg]", 20, 300, (111, 219)),
    Parameter("DiasABP", "Diastolic BP (arterial line)", "76213-8", "mm[Hg]", 5, 200, (60, 90)),
    Parameter("MAP", "Mean BP (arterial line)", "76214-6", "mm[Hg]", 10, 250, (65, 110)),
    Parameter("NISysABP", "Systolic BP (cuff)", "8480-6", "mm[Hg]", 20, 300, (111, 219)),
    Parameter("NIDiasABP", "Diastolic BP (cuff)", "8462-4", "mm[Hg]", 5, 200, (60, 90)),
    Parameter("NIMAP", "Mean BP (cuff)", "8478-0", "mm[Hg]", 10, 250, (65, 110)),
    Parameter("SaO2", "O2 saturation (arterial)", "2708-6", "%", 20, 100, (96, 100)),
    Parameter("FiO2", "Inspired O2 fraction", "3150-0", "1", 0.21, 1.0, None),
    Parameter("GCS", "Glasgow coma score", "9269-2", "{score}", 3, 15, (15, 15)),
    Parameter("MechVent", "Mechanical ventilation", "MechVent", "{flag}", 0, 1, None),
    Parameter("Urine", "Urine output", "9187-6", "mL", 0, 5000, None, kind="fluid"),
    # labs
    Parameter("Lactate", "Lactate", "32693-4", "mmol/L", 0.1, 30, (0.5, 2.0), kind="lab"),
    Parameter("Creatinine", "Creatinine", "2160-0", "mg/dL", 0.1, 25, (0.6, 1.3), kind="lab"),
    Parameter("BUN", "Urea nitrogen", "3094-0", "mg/dL", 1, 250, (7, 20), kind="lab"),
    Parameter("Glucose", "Glucose", "2345-7", "mg/dL", 10, 1500, (70, 140), kind="lab"),
    Parameter("K", "Potassium", "2823-3", "mmol/L", 1, 12, (3.5, 5.0), kind="lab"),
    Parameter("Na", "Sodium", "2951-2", "mmol/L", 90, 200, (135, 145), kind="lab"),
    Parameter("Mg", "Magnesium", "19123-9", "mmol/L", 0.2, 10, None, kind="lab"),  # values look like mg/dL: no band
    Parameter("HCO3", "Bicarbonate", "1963-8", "mmol/L", 2, 60, (22, 29), kind="lab"),
    Parameter("HCT", "Haematocrit", "4544-3", "%", 5, 75, (36, 50), kind="lab"),
    Parameter("WBC", "White cells", "6690-2", "10*3/uL", 0.05, 200, (4, 11), kind="lab"),
    Parameter("Platelets", "Platelets", "777-3", "10*3/uL", 1, 2000, (150, 400), kind="lab"),
    Parameter("pH", "Arterial pH", "2744-1", "[pH]", 6.5, 8.0, (7.35, 7.45), kind="lab"),
    Parameter("PaO2", "Arterial pO2", "2703-7", "mm[Hg]", 15, 700, (75, 100), kind="lab"),
    Parameter("PaCO2", "Arterial pCO2", "2019-8", "mm[Hg]", 5, 200, (35, 45), kind="lab"),
    Parameter("Bilirubin", "Bilirubin", "1975-2", "mg/dL", 0.05, 60, (0.1, 1.2), kind="lab"),
    Parameter("Albumin", "Albumin", "1751-7", "g/dL", 0.5, 7, (3.5, 5.0), kind="lab"),
    Parameter("ALP", "Alkaline phosphatase", "6768-6", "U/L", 5, 5000, (40, 130), kind="lab"),
    Parameter("ALT", "ALT", "1742-6", "U/L", 1, 20000, (7, 56), kind="lab"),
    Parameter("AST", "AST", "1920-8", "U/L", 1, 40000, (10, 40), kind="lab"),
    Parameter("Cholesterol", "Cholesterol", "2093-3", "mg/dL", 20, 1000, None, kind="lab"),
    Parameter("TroponinI", "Troponin I", "10839-9", "ng/mL", 0.0, 500, None, kind="lab"),
    Parameter("TroponinT", "Troponin T", "6598-7", "ng/mL", 0.0, 100, None, kind="lab"),
]}

DESCRIPTORS = ("Age", "Gender", "Height", "ICUType")
# Every time-varying series the model reads, in a fixed order (Weight is charted over time too).
SERIES = tuple(name for name, p in PARAMETERS.items() if p.kind != "descriptor")
ICU_TYPES = {1: "coronary care", 2: "cardiac surgery recovery", 3: "medical", 4: "surgical"}
