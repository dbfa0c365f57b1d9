"""AppTest for /treatment: role gate, options with citations, session override blocks metformin, decision stored."""
from __future__ import annotations

import json

import pytest

from tests.pages.apptest_helpers import open_page

METFORMIN = "ada2020.t2d.metformin-initial"


def _texts(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error])


def test_analyst_deep_link_is_refused(seeded_db):
    at = open_page("treatment", role="analyst")
    assert not at.exception
    assert "Treatment options" not in [t.value for t in at.title]
    assert not any(t.key == "tx_filter" for t in at.text_input)


def test_signed_out_sees_only_the_login_form(seeded_db):
    at = open_page("treatment", role=None)
    assert "Treatment options" not in [t.value for t in at.title]
    assert not any(t.key == "tx_filter" for t in at.text_input)


@pytest.mark.parametrize("role", ["clinician", "admin"])
def test_clinical_roles_open_the_page(seeded_db, role):
    at = open_page("treatment", role=role)
    assert not at.exception
    assert [t.value for t in at.title] == ["Treatment options"]


@pytest.fixture
def diabetic_page(seeded_db):
    at = open_page("treatment", role="clinician", username="test-clinician")
    at.text_input(key="tx_filter").input("PIMA-0001").run()
    assert not at.exception
    return at


def test_clinician_sees_metformin_with_ada_citation_and_missing_egfr(diabetic_page):
    text = _texts(diabetic_page)
    assert "Metformin" in text
    assert "American Diabetes Association (ADA) 2020, Section 9" in text
    assert "Missing data (to check a contraindication): **eGFR**" in text
    assert "Blocked options (0)" in [s.value for s in diabetic_page.subheader]


def test_egfr_override_blocks_metformin_and_decision_is_recorded(diabetic_page, seeded_db):
    at = diabetic_page
    at.selectbox(key="tx_edit_concept").set_value("egfr").run()
    at.number_input(key="tx_edit_value").set_value(25).run()
    at.button(key="tx_edit_apply").click().run()
    errors = [e.value for e in at.error]
    assert any("eGFR below 30" in e and "25" in e for e in errors), errors
    assert "Blocked options (1)" in [s.value for s in at.subheader]

    at.radio(key=f"txb_dec_{METFORMIN}").set_value("decline").run()
    at.button(key=f"txb_save_{METFORMIN}").click().run()
    assert any("reason" in e.value for e in at.error)  # declining needs a reason
    at.text_input(key=f"txb_reason_{METFORMIN}").input("eGFR 25 today").run()
    at.button(key=f"txb_save_{METFORMIN}").click().run()
    assert [s.value for s in at.success] == ["Decision recorded: decline."]
    row = seeded_db.conn.execute("SELECT rule_id, decision, reason, username, inputs FROM treatment_decisions").fetchone()
    assert row[:4] == (METFORMIN, "decline", "eGFR 25 today", "test-clinician")
    assert any(o["code"] == "62238-1" and o["value"] == 25 for o in json.loads(row[4])["observations"])
    actions = [r[0] for r in seeded_db.conn.execute("SELECT action FROM audit WHERE target_id = 'PIMA-0001'")]
    assert actions == ["treatment.view", "treatment.decide"]
    # The session value never reached the store.
    assert seeded_db.conn.execute("SELECT COUNT(*) FROM observations o JOIN patients p ON p.id = o.patient_id "
                                  "WHERE p.pseudo_id = 'PIMA-0001' AND o.code = '62238-1'").fetchone()[0] == 0


def test_similar_patients_chart_and_export(diabetic_page):
    at = diabetic_page
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {trace["name"] for trace in spec["data"]} >= {"age", "bmi"}
    assert len(spec["data"][0]["y"]) == 5
    assert at.get("download_button")


def test_hba1c_entered_in_mmol_per_mol_is_converted(diabetic_page):
    at = diabetic_page
    at.selectbox(key="tx_edit_concept").set_value("hba1c").run()
    assert at.selectbox(key="tx_edit_unit_hba1c").options == ["%", "mmol/mol"]
    at.number_input(key="tx_edit_value").set_value(86).run()
    at.selectbox(key="tx_edit_unit_hba1c").set_value("mmol/mol").run()
    at.button(key="tx_edit_apply").click().run()
    assert "HbA1c > 10 % (value 10.019 %" in _texts(at)


def test_latest_predictions_are_shown_as_context(seeded_db):
    patient_id = seeded_db.conn.execute("SELECT id FROM patients WHERE pseudo_id = 'PIMA-0001'").fetchone()[0]
    seeded_db.conn.execute(
        "INSERT INTO predictions (patient_id, model_name, model_version, inputs, output, username, created_at) "
        "VALUES (?, 'diabetes_risk', '1', '{}', '{\"probability\": 0.71}', 'doc', '2026-11-22T05:00:00+00:00')",
        (patient_id,))
    at = open_page("treatment", role="clinician")
    at.text_input(key="tx_filter").input("PIMA-0001").run()
    assert any("diabetes_risk" in m.value and "0.71" in m.value for m in at.markdown)


def test_working_diagnosis_for_a_patient_without_that_condition(seeded_db):
    at = open_page("treatment", role="clinician")
    at.text_input(key="tx_filter").input("PIMA-0001").run()
    at.selectbox(key="tx_condition_PIMA-0001").set_value("I10").run()
    assert not at.exception
    assert any("working diagnosis" in w.value for w in at.warning)
    at.selectbox(key="tx_edit_concept").set_value("systolic_bp").run()
    at.number_input(key="tx_edit_value").set_value(150).run()
    at.button(key="tx_edit_apply").click().run()
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert any("Out-of-office BP measurement" in t for t in titles)
    assert any("Antihypertensive drug treatment (diabetes and hypertension" in t for t in titles)
    assert not any("Metformin" in t for t in titles)  # only the selected condition's rules


def test_pregnancy_status_is_confirmed_on_the_page(seeded_db):
    """Issue 13: HF-0015 (woman of 49, I50.2, LVEF 30%) has no pregnancy status. Unknown asks to confirm; 'not
    pregnant' removes the question; 'pregnant' blocks the ARNi (2022 AHA/ACC/HFSA 11.3)."""
    at = open_page("treatment", role="clinician")
    at.text_input(key="tx_filter").input("HF-0015").run()
    assert "To confirm: not pregnant" in _texts(at)
    at.radio(key="tx_confirm_pregnant_HF-0015").set_value("no").run()
    assert "not pregnant (before" not in _texts(at)
    at.radio(key="tx_confirm_pregnant_HF-0015").set_value("yes").run()
    errors = "\n".join(e.value for e in at.error)
    assert "11.3 Heart Failure in Pregnancy" in errors
    assert any(s.value.startswith("Blocked options (") and s.value != "Blocked options (0)" for s in at.subheader)


def test_accepting_a_blocked_option_needs_a_reason_on_the_page(diabetic_page, seeded_db):
    """Issue 12: metformin blocked at eGFR 25 could be accepted with no reason."""
    at = diabetic_page
    at.selectbox(key="tx_edit_concept").set_value("egfr").run()
    at.number_input(key="tx_edit_value").set_value(25).run()
    at.button(key="tx_edit_apply").click().run()
    at.radio(key=f"txb_dec_{METFORMIN}").set_value("accept").run()
    at.button(key=f"txb_save_{METFORMIN}").click().run()
    assert any("override and needs a reason" in e.value for e in at.error)
    assert seeded_db.conn.execute("SELECT COUNT(*) FROM treatment_decisions").fetchone()[0] == 0
    at.text_input(key=f"txb_reason_{METFORMIN}").input("eGFR rechecked at 34 today").run()
    at.button(key=f"txb_save_{METFORMIN}").click().run()
    assert [s.value for s in at.success] == ["Decision recorded: accept (override of a block)."]
    assert seeded_db.conn.execute("SELECT override FROM treatment_decisions").fetchone()[0] == 1
