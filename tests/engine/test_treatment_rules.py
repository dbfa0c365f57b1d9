"""Each encoded rule, just inside and just outside each threshold, as the cited guideline states it.

The thresholds below are written by hand from the guidelines (not read from the YAML), so a typo in a
rule file fails here. Patients are synthetic edge cases (the demo data have no eGFR, HbA1c or LVEF
at these boundaries).
"""
from __future__ import annotations

import pytest

from tests.engine.treatment_helpers import obs, outcome, patient

EGFR, EGFR_MDRD, HBA1C, GLUCOSE = "62238-1", "33914-3", "4548-4", "2345-7"
LDL, RISK, SBP, DBP = "13457-7", "local:ascvd_risk_10y", "8480-6", "8462-4"
LVEF, K, SPO2 = "10230-1", "2823-3", "59408-5"
EGFR_UNIT = "mL/min/{1.73_m2}"


# --- ADA 2020 Section 9: metformin, not with eGFR < 30 -------------------------------------------
@pytest.mark.parametrize("egfr, expected", [(29.9, "blocked"), (30, "option"), (31, "option"), (5, "blocked")])
def test_metformin_blocked_below_egfr_30(egfr, expected):
    status, entry = outcome(patient(conditions=("E11",), observations=(obs(EGFR, egfr, EGFR_UNIT),)),
                            "ada2020.t2d.metformin-initial")
    assert status == expected
    if expected == "blocked":
        assert "eGFR below 30" in entry["reason"]
        assert entry["blocked_by"][0]["evidence"][0]["value"] == egfr
        assert entry["citation"]["body"].startswith("American Diabetes Association")
        assert entry["citation"]["year"] == 2020


def test_metformin_mdrd_egfr_code_also_blocks():
    status, _ = outcome(patient(conditions=("E11.9",), observations=(obs(EGFR_MDRD, 25, "mL/min/1.73m2"),)),
                        "ada2020.t2d.metformin-initial")
    assert status == "blocked"


def test_metformin_without_egfr_is_an_option_with_egfr_missing():
    status, entry = outcome(patient(conditions=("E11",)), "ada2020.t2d.metformin-initial")
    assert status == "option"
    assert entry["status"] == "data missing"
    assert [m["name"] for m in entry["missing"]] == ["eGFR"]
    assert entry["missing"][0]["needed_for"].startswith("contraindication check")


def test_metformin_uses_latest_egfr_by_date():
    record = patient(conditions=("E11",), observations=(obs(EGFR, 25, EGFR_UNIT, "2026-01-01"),
                                                        obs(EGFR, 45, EGFR_UNIT, "2026-06-01")))
    status, _ = outcome(record, "ada2020.t2d.metformin-initial")
    assert status == "option"
    record["observations"].reverse()  # order in the file must not matter, dates do
    assert outcome(record, "ada2020.t2d.metformin-initial")[0] == "option"


# --- ADA 2020: early insulin when A1C > 10% or glucose >= 300 mg/dL ------------------------------
@pytest.mark.parametrize("a1c, unit, met", [(10.1, "%", True), (10.0, "%", False),
                                            (86, "mmol/mol", True), (85, "mmol/mol", False)])
def test_insulin_a1c_threshold(a1c, unit, met):
    record = patient(conditions=("E11",), observations=(obs(HBA1C, a1c, unit), obs(GLUCOSE, 150, "mg/dL")))
    status, entry = outcome(record, "ada2020.t2d.insulin-early")
    assert status == "option"
    assert (entry["status"] == "criteria met") is met
    if not met:  # the only way left is the clinical finding, which is for the clinician to confirm
        assert entry["status"] == "to confirm"


@pytest.mark.parametrize("glucose, unit, met", [(300, "mg/dL", True), (299, "mg/dL", False),
                                                (16.7, "mmol/L", True), (16.6, "mmol/L", False)])
def test_insulin_glucose_threshold(glucose, unit, met):
    record = patient(conditions=("E11",), observations=(obs(GLUCOSE, glucose, unit), obs(HBA1C, 8, "%")))
    _, entry = outcome(record, "ada2020.t2d.insulin-early")
    assert (entry["status"] == "criteria met") is met


def test_sglt2_glp1_met_by_recorded_ascvd_or_hf_and_otherwise_to_confirm():
    assert outcome(patient(conditions=("E11", "I25.10")), "ada2020.t2d.sglt2i-or-glp1ra-cardiorenal")[1]["status"] \
        == "criteria met"
    assert outcome(patient(conditions=("E11", "I50.2")), "ada2020.t2d.sglt2i-or-glp1ra-cardiorenal")[1]["status"] \
        == "criteria met"
    assert outcome(patient(conditions=("E11",)), "ada2020.t2d.sglt2i-or-glp1ra-cardiorenal")[1]["status"] \
        == "to confirm"


# --- ACC/AHA 2019 primary prevention: statins ---------------------------------------------------
@pytest.mark.parametrize("age, expected", [(39, "not_applicable"), (40, "option"), (75, "option"),
                                           (76, "not_applicable")])
def test_statin_in_diabetes_ages_40_to_75(age, expected):
    assert outcome(patient(age=age, conditions=("E11",)), "acc2019.statin.diabetes-40-75")[0] == expected


def test_statin_in_diabetes_not_applicable_with_clinical_ascvd():
    status, entry = outcome(patient(age=60, conditions=("E11", "I25.10")), "acc2019.statin.diabetes-40-75")
    assert status == "not_applicable"
    assert "secondary prevention" in entry["why_not"][0]


def test_statin_in_diabetes_age_unknown_is_missing():
    status, entry = outcome(patient(age=None, conditions=("E11",)), "acc2019.statin.diabetes-40-75")
    assert status == "option" and entry["status"] == "data missing"


@pytest.mark.parametrize("ldl, unit, expected", [(190, "mg/dL", "option"), (189, "mg/dL", "not_applicable"),
                                                 # 4.92 mmol/L = 190.3 mg/dL; the guideline's "4.9" is rounded.
                                                 (4.92, "mmol/L", "option"), (4.8, "mmol/L", "not_applicable")])
def test_statin_ldl_190(ldl, unit, expected):
    record = patient(age=45, conditions=("E78.0",), observations=(obs(LDL, ldl, unit),))
    assert outcome(record, "acc2019.statin.ldl-190")[0] == expected


@pytest.mark.parametrize("age, expected", [(19, "not_applicable"), (20, "option"), (76, "not_applicable")])
def test_statin_ldl_190_age_range(age, expected):
    record = patient(age=age, conditions=("E78.0",), observations=(obs(LDL, 200, "mg/dL"),))
    assert outcome(record, "acc2019.statin.ldl-190")[0] == expected


@pytest.mark.parametrize("risk, expected", [(7.4, "not_applicable"), (7.5, "option"), (19.9, "option"),
                                            (20, "not_applicable")])
def test_statin_intermediate_risk(risk, expected):
    record = patient(age=55, conditions=("E78.5",), observations=(obs(RISK, risk, "%"),))
    status, entry = outcome(record, "acc2019.statin.intermediate-risk")
    assert status == expected
    if status == "option":
        assert entry["to_confirm"] == ["A clinician-patient risk discussion favours statin therapy"]


# --- ACC/AHA 2019 primary prevention: blood pressure --------------------------------------------
@pytest.mark.parametrize("sbp, dbp, expected", [(120, 70, "option"), (119, 79, "not_applicable"),
                                                (110, 80, "option")])
def test_bp_lifestyle_from_elevated_bp(sbp, dbp, expected):
    record = patient(conditions=("R03.0",), observations=(obs(SBP, sbp, "mm[Hg]"), obs(DBP, dbp, "mm[Hg]")))
    assert outcome(record, "acc2019.bp.lifestyle")[0] == expected


def test_bp_lifestyle_adults_only():
    record = patient(age=17, conditions=("I10",), observations=(obs(SBP, 150, "mm[Hg]"),))
    assert outcome(record, "acc2019.bp.lifestyle")[0] == "not_applicable"


@pytest.mark.parametrize("risk, sbp, dbp, expected", [
    (10, 130, 70, "criteria met"), (10, 129, 79, None), (9.9, 135, 70, None), (12, 120, 80, "criteria met")])
def test_bp_drug_when_risk_10_or_more(risk, sbp, dbp, expected):
    record = patient(conditions=("I10",), observations=(obs(RISK, risk, "%"), obs(SBP, sbp, "mm[Hg]"),
                                                        obs(DBP, dbp, "mm[Hg]")))
    status, entry = outcome(record, "acc2019.bp.drug-risk-10-or-more")
    # A woman of 50 with no pregnancy status is asked to confirm she is not pregnant (ACE inhibitor / ARB).
    assert (entry["status"].removesuffix("; to confirm") if status == "option" else None) == expected


@pytest.mark.parametrize("risk, sbp, dbp, expected", [
    (5, 140, 70, "criteria met"), (5, 139, 89, None), (5, 120, 90, "criteria met"), (10, 150, 95, None)])
def test_bp_drug_when_risk_under_10(risk, sbp, dbp, expected):
    record = patient(conditions=("I10",), observations=(obs(RISK, risk, "%"), obs(SBP, sbp, "mm[Hg]"),
                                                        obs(DBP, dbp, "mm[Hg]")))
    status, entry = outcome(record, "acc2019.bp.drug-risk-under-10")
    assert (entry["status"].removesuffix("; to confirm") if status == "option" else None) == expected


def test_bp_drug_without_risk_estimate_reports_it_missing():
    record = patient(conditions=("I10",), observations=(obs(SBP, 150, "mm[Hg]"),))
    status, entry = outcome(record, "acc2019.bp.drug-risk-10-or-more")
    assert status == "option" and entry["status"] == "data missing"
    assert entry["missing"][0]["codes"] == [RISK]


# --- ACC/AHA 2017 hypertension -------------------------------------------------------------------
@pytest.mark.parametrize("sbp, dbp, expected", [(130, 70, "option"), (129, 79, "not_applicable"),
                                                (125, 80, "option")])
def test_out_of_office_confirmation_from_stage_1(sbp, dbp, expected):
    record = patient(conditions=("I10",), observations=(obs(SBP, sbp, "mmHg"), obs(DBP, dbp, "mmHg")))
    assert outcome(record, "acc2017.htn.out-of-office-confirmation")[0] == expected


def test_bp_in_kpa_is_converted():
    # 17.4 kPa = 130.5 mm Hg; 17.2 kPa = 129.0 mm Hg.
    inside = patient(conditions=("I10",), observations=(obs(SBP, 17.4, "kPa"), obs(DBP, 9, "kPa")))
    outside = patient(conditions=("I10",), observations=(obs(SBP, 17.2, "kPa"), obs(DBP, 9, "kPa")))
    assert outcome(inside, "acc2017.htn.out-of-office-confirmation")[0] == "option"
    assert outcome(outside, "acc2017.htn.out-of-office-confirmation")[0] == "not_applicable"


@pytest.mark.parametrize("conditions, sbp, dbp, expected", [
    (("I10", "E11"), 130, 70, "option"), (("I10", "E11"), 129, 79, "not_applicable"),
    (("I10", "E11"), 120, 80, "option"), (("I10",), 135, 85, "not_applicable")])
def test_diabetes_hypertension_threshold_130_80(conditions, sbp, dbp, expected):
    record = patient(conditions=conditions, observations=(obs(SBP, sbp, "mm[Hg]"), obs(DBP, dbp, "mm[Hg]")))
    assert outcome(record, "acc2017.htn.diabetes-threshold-130-80")[0] == expected


def test_first_line_classes_need_the_clinicians_decision():
    status, entry = outcome(patient(conditions=("I10",)), "acc2017.htn.first-line-classes")
    assert status == "option" and entry["status"] == "to confirm"


def test_first_line_classes_caution_when_on_an_acei():
    status, entry = outcome(patient(conditions=("I10",), medications=("lisinopril 10 mg",)),
                            "acc2017.htn.first-line-classes")
    assert status == "option"
    assert any("8.1.4" in c for c in entry["cautions"])
    assert entry["notes"] and "ACE inhibitor" in entry["notes"][0]


# --- AHA/ACC/HFSA 2022 HFrEF ---------------------------------------------------------------------
@pytest.mark.parametrize("ef, expected", [(40, "option"), (41, "not_applicable"), (25, "option")])
def test_hfref_beta_blocker_lvef_40(ef, expected):
    record = patient(age=70, conditions=("I50.2",), observations=(obs(LVEF, ef, "%"),))
    assert outcome(record, "aha2022.hfref.beta-blocker")[0] == expected


def test_hfref_rules_report_missing_lvef():
    status, entry = outcome(patient(conditions=("I50.9",)), "aha2022.hfref.sglt2i")
    assert status == "option" and entry["status"] == "data missing"
    assert entry["missing"][0]["name"] == "Left ventricular ejection fraction"


@pytest.mark.parametrize("egfr, potassium, unit, expected", [
    (30.1, 4.9, "meq/L", "option"), (30, 4.9, "meq/L", "blocked"), (45, 5.0, "meq/L", "blocked"),
    (45, 4.9, "mmol/L", "option"), (45, 5.0, "mmol/L", "blocked")])
def test_hfref_mra_egfr_and_potassium(egfr, potassium, unit, expected):
    record = patient(conditions=("I50.2",), observations=(obs(LVEF, 30, "%"), obs(EGFR, egfr, EGFR_UNIT),
                                                          obs(K, potassium, unit)))
    status, entry = outcome(record, "aha2022.hfref.mra")
    assert status == expected
    if status == "blocked":
        assert entry["citation"]["section"].startswith("7.3.3")


def test_hfref_mra_without_egfr_or_potassium_reports_both_missing():
    status, entry = outcome(patient(conditions=("I50.2",), observations=(obs(LVEF, 30, "%"),)), "aha2022.hfref.mra")
    assert status == "option" and entry["status"] == "data missing"
    assert sorted(m["name"] for m in entry["missing"]) == ["Potassium", "eGFR"]


@pytest.mark.parametrize("rule_id", ["aha2022.hfref.arni", "aha2022.hfref.acei"])
def test_angioedema_blocks_arni_and_acei(rule_id):
    record = patient(conditions=("I50.2", "T78.3XXA"), observations=(obs(LVEF, 30, "%"),))
    status, entry = outcome(record, rule_id)
    assert status == "blocked" and "angioedema" in entry["reason"]


def test_arni_blocked_while_on_an_acei_and_acei_blocked_while_on_arni():
    base = dict(conditions=("I50.2",), observations=(obs(LVEF, 30, "%"),))
    # Issue 13: on an ACE inhibitor the guideline's option is replacement by an ARNi after a 36-hour washout
    # (2022 7.3.1), a switch, not a contraindication; an ARNi *with* a recent ACE inhibitor stays blocked.
    status, entry = outcome(patient(medications=("enalapril",), **base), "aha2022.hfref.arni")
    assert status == "not_applicable"
    status, entry = outcome(patient(medications=("enalapril",), **base), "aha2022.hfref.arni-switch")
    assert status == "option" and entry["switch"][0]["washout_hours"] == 36 and "36 hours" in entry["switch"][0]["washout"]
    stopped = patient(medications=({"display": "enalapril", "stopped": "2026-11-14T20:00"},), **base)
    status, entry = outcome(stopped, "aha2022.hfref.arni")
    assert status == "blocked" and "washout ends 2026-11-16 08:00 UTC" in entry["reason"]
    status, entry = outcome(patient(medications=({"display": "Entresto", "drug_class": "arni"},), **base),
                            "aha2022.hfref.acei")
    assert status == "blocked"


def test_stopped_medication_does_not_interact():
    record = patient(conditions=("I50.2",), observations=(obs(LVEF, 30, "%"),),
                     medications=({"display": "enalapril", "status": "stopped"},))
    assert outcome(record, "aha2022.hfref.arni")[0] == "option"


@pytest.mark.parametrize("ef, expected", [(40, "option"), (41, "not_applicable")])
def test_hfref_arb_when_acei_not_tolerated(ef, expected):
    record = patient(conditions=("I50.2",), observations=(obs(LVEF, ef, "%"),))
    status, entry = outcome(record, "aha2022.hfref.arb")
    assert status == expected
    if status == "option":
        assert entry["status"] == "to confirm" and "cough or angioedema" in entry["to_confirm"][0]


def test_arb_blocked_while_on_an_acei():
    record = patient(conditions=("I50.2",), observations=(obs(LVEF, 30, "%"),), medications=("ramipril 5 mg",))
    assert outcome(record, "aha2022.hfref.arb")[0] == "blocked"


def test_acei_blocked_while_on_an_arb():
    record = patient(conditions=("I50.2",), observations=(obs(LVEF, 30, "%"),), medications=("losartan 50 mg",))
    status, entry = outcome(record, "aha2022.hfref.acei")
    assert status == "blocked" and "ARB" in entry["reason"]


# --- PIDS/IDSA 2011 pediatric CAP ----------------------------------------------------------------
@pytest.mark.parametrize("spo2, expected", [(89.9, "option"), (90, "not_applicable")])
def test_cap_hospitalization_below_spo2_90(spo2, expected):
    record = patient(age=4, conditions=("J18.9",), observations=(obs(SPO2, spo2, "%"),))
    assert outcome(record, "pids2011.cap.hospitalize-hypoxemia")[0] == expected


@pytest.mark.parametrize("age, expected", [(0.2, "not_applicable"), (0.25, "option"), (17.9, "option"),
                                           (18, "not_applicable")])
def test_cap_rules_cover_children_older_than_3_months(age, expected):
    record = patient(age=age, conditions=("J18.9",), observations=(obs(SPO2, 85, "%"),))
    assert outcome(record, "pids2011.cap.hospitalize-hypoxemia")[0] == expected


@pytest.mark.parametrize("allergy", ["penicillin", "Amoxicillin", {"substance": "Augmentin", "drug_class": "penicillin"}])
def test_penicillin_allergy_blocks_amoxicillin(allergy):
    status, entry = outcome(patient(age=6, conditions=("J18.9",), allergies=(allergy,)), "pids2011.cap.amoxicillin")
    assert status == "blocked" and "allergy" in entry["reason"].lower()


def test_amoxicillin_without_allergy_is_an_option_to_confirm():
    status, entry = outcome(patient(age=6, conditions=("J18.9",)), "pids2011.cap.amoxicillin")
    assert status == "option" and entry["status"] == "to confirm"
    assert entry["strength"]["text"] == "strong recommendation; moderate-quality evidence"


def test_macrolide_allergy_blocks_macrolide_only():
    record = patient(age=10, conditions=("J18.9",), allergies=("erythromycin",))
    assert outcome(record, "pids2011.cap.macrolide-atypical")[0] == "blocked"
    assert outcome(record, "pids2011.cap.amoxicillin")[0] == "option"


# --- thresholds shared by several rules: every rule that uses them, inside and outside ----------
@pytest.mark.parametrize("rule_id", ["aha2022.hfref.arni", "aha2022.hfref.acei", "aha2022.hfref.arb",
                                     "aha2022.hfref.beta-blocker", "aha2022.hfref.mra", "aha2022.hfref.sglt2i"])
@pytest.mark.parametrize("ef, expected", [(40, "option"), (40.5, "not_applicable")])
def test_every_hfref_rule_needs_lvef_40_or_less(rule_id, ef, expected):
    record = patient(conditions=("I50.2",), observations=(obs(LVEF, ef, "%"), obs(EGFR, 60, EGFR_UNIT),
                                                          obs(K, 4.0, "meq/L")))
    assert outcome(record, rule_id)[0] == expected


@pytest.mark.parametrize("rule_id", ["pids2011.cap.hospitalize-hypoxemia", "pids2011.cap.amoxicillin",
                                     "pids2011.cap.macrolide-atypical"])
@pytest.mark.parametrize("age, expected", [(0.24, "not_applicable"), (0.25, "option"), (17.99, "option"),
                                           (18, "not_applicable")])
def test_every_cap_rule_covers_3_months_to_under_18(rule_id, age, expected):
    record = patient(age=age, conditions=("J18.9",), observations=(obs(SPO2, 85, "%"),))
    assert outcome(record, rule_id)[0] == expected


@pytest.mark.parametrize("rule_id", ["acc2017.htn.first-line-classes", "acc2017.htn.diabetes-threshold-130-80",
                                     "acc2017.htn.out-of-office-confirmation", "acc2019.bp.lifestyle"])
@pytest.mark.parametrize("age, expected", [(17, "not_applicable"), (18, "option")])
def test_adult_bp_rules_start_at_18(rule_id, age, expected):
    record = patient(age=age, conditions=("I10", "E11"), observations=(obs(SBP, 150, "mm[Hg]"),))
    assert outcome(record, rule_id)[0] == expected
