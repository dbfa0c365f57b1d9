"""The shared unit factors against independent references: molar masses from atomic weights, and the
published HbA1c equivalences (IFCC 48 mmol/mol = 6.5 % NGSP, the diagnostic cut-off for diabetes)."""
import pytest

from engine.labs import conversions as c

# IUPAC standard atomic weights (g/mol).
C, H, O, N = 12.011, 1.008, 15.999, 14.007


def molar_mass(carbon: int, hydrogen: int, oxygen: int, nitrogen: int = 0) -> float:
    return carbon * C + hydrogen * H + oxygen * O + nitrogen * N


@pytest.mark.parametrize("factor, formula", [
    (c.GLUCOSE_MG_DL_PER_MMOL_L, (6, 12, 6)),           # C6H12O6
    (c.CHOLESTEROL_MG_DL_PER_MMOL_L, (27, 46, 1)),      # C27H46O
    (c.TRIGLYCERIDE_MG_DL_PER_MMOL_L, (57, 104, 6)),    # triolein C57H104O6
])
def test_mg_per_dl_per_mmol_per_l_is_the_molar_mass_over_ten(factor, formula):
    assert factor == pytest.approx(molar_mass(*formula) / 10, abs=0.05)  # conventional rounded factors


def test_creatinine_factor_is_ten_thousand_over_its_molar_mass():
    assert c.CREATININE_UMOL_L_PER_MG_DL == pytest.approx(1e4 / molar_mass(4, 7, 1, 3), abs=0.05)  # C4H7N3O


@pytest.mark.parametrize("ifcc, ngsp", [(48, 6.5), (53, 7.0), (42, 6.0), (64, 8.0)])
def test_hba1c_master_equation_matches_the_published_equivalences(ifcc, ngsp):
    assert c.hba1c_ngsp_from_ifcc(ifcc) == pytest.approx(ngsp, abs=0.05)
    assert c.hba1c_ifcc_from_ngsp(c.hba1c_ngsp_from_ifcc(ifcc)) == pytest.approx(ifcc)


def test_temperature_round_trip_and_fixed_points():
    assert c.celsius_from_fahrenheit(212.0) == pytest.approx(100.0)
    assert c.celsius_from_fahrenheit(98.6) == pytest.approx(37.0)
    assert c.fahrenheit_from_celsius(c.celsius_from_fahrenheit(101.3)) == pytest.approx(101.3)
