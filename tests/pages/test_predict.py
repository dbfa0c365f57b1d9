"""Predict page (AppTest through app.py): roles, a seeded patient's prediction, waterfall, basis, feedback."""
from __future__ import annotations

import json

import pytest

from tests.pages.apptest_helpers import open_page


@pytest.mark.parametrize("role", ["analyst", None])
def test_roles_without_predict_see_nothing(fresh_db, role):
    at = open_page("predict", role=role)
    assert "Predict" not in [t.value for t in at.title]
    assert not any(b.label == "Predict" for b in at.button)


def test_clinician_predicts_for_seeded_patient_and_disagrees(seeded_db):
    at = open_page("predict", role="clinician", username="doc")
    assert not at.exception
    at.selectbox(key="predict_model").select("cad_uci").run()
    at.text_input(key="predict_patient").input("UCI-0001").run()
    # the form is prefilled from the stored observations
    assert at.number_input(key="pin_cad_uci_UCI-0001_systolic_bp").value == 145
    assert at.selectbox(key="pin_cad_uci_UCI-0001_chest_pain_type").value == "typical angina"
    at.button(key="predict_run").click().run()
    assert not at.exception and not at.error
    assert [m.label for m in at.metric][:3] == ["Probability", "95% interval", "Risk band"]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["data"][0]["type"] == "waterfall"
    basis = at.dataframe[0].value
    assert "Serum cholesterol" in set(basis["input"])
    at.radio(key="predict_verdict").set_value("disagree").run()
    at.button(key="predict_feedback").click().run()
    assert any("reason" in e.value for e in at.error)  # a reason is required
    at.text_area(key="predict_reason").input("Normal CT coronary angiogram last month").run()
    at.button(key="predict_feedback").click().run()
    assert any("Feedback recorded" in s.value for s in at.success)
    row = seeded_db.conn.execute(
        "SELECT f.verdict, f.reason, p.model_name FROM feedback f JOIN predictions p ON p.id = f.prediction_id "
        "JOIN patients pt ON pt.id = p.patient_id WHERE pt.pseudo_id = 'UCI-0001'").fetchone()
    assert row == ("disagree", "Normal CT coronary angiogram last month", "cad_uci")
    actions = {r[0] for r in seeded_db.conn.execute("SELECT action FROM audit WHERE username = 'doc'")}
    assert {"patient.view", "predict.run", "feedback.record"} <= actions


def test_manual_entry_out_of_range_is_refused_with_a_sentence(fresh_db):
    at = open_page("predict", role="clinician")
    at.selectbox(key="predict_model").select("diabetes_pima").run()
    at.radio(key="predict_source").set_value("Enter values").run()
    at.number_input(key="pin_diabetes_pima_manual_bmi").set_value(400.0).run()
    at.button(key="predict_run").click().run()
    assert any("bmi" in e.value and "kg/m2" in e.value for e in at.error)
    at.number_input(key="pin_diabetes_pima_manual_bmi").set_value(85.0).run()
    at.number_input(key="pin_diabetes_pima_manual_age").set_value(25.0).run()
    at.button(key="predict_run").click().run()
    assert not at.error
    assert any("above the training range" in w.value for w in at.warning)


def test_analyst_trained_unpromoted_model_is_not_offered(seeded_db, models_copy):
    """Issue 12: a model trained on the Models page waits for an admin; Predict must not list it."""
    from engine.models import registry
    from pages.predict import get_served_models
    from tests.engine.test_model_serving import register_copy

    register_copy(seeded_db, "heart_failure")
    at = open_page("predict", role="clinician", username="doc")
    assert not at.exception
    options = at.selectbox(key="predict_model").options
    assert len(options) == 5 and not any("Analyst-trained" in o for o in options)  # the five shipped models
    registry.promote(seeded_db, "heart_failure", "1.0.0", username="boss")
    get_served_models.clear()  # the page caches its list for 10 s
    at.run()
    assert any("Analyst-trained heart_failure" in o for o in at.selectbox(key="predict_model").options)


def test_waterfall_starts_at_the_base_value_and_ends_at_the_patients_log_odds(seeded_db):
    """Issue 12: the bars stacked from 0 and 'This patient' was empty (the measure list was reversed).

    Plotly accumulates a waterfall in data order, so the figure's own lists must run base ("absolute"),
    contributions ("relative"), total; base + contributions must equal the patient's log-odds, which is
    the engine's logit, and that logit must give the probability shown.
    """
    import math

    at = open_page("predict", role="clinician", username="doc")
    at.selectbox(key="predict_model").select("diabetes_pima").run()
    at.text_input(key="predict_patient").input("PIMA-0001").run()
    at.button(key="predict_run").click().run()
    assert not at.exception and not at.error
    result = at.session_state["predict_result"]["result"]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    trace = spec["data"][0]
    measures, x, y = trace["measure"], trace["x"], trace["y"]
    assert measures[0] == "absolute" and measures[-1] == "total" and set(measures[1:-1]) == {"relative"}
    assert y[0] == "Average training patient" and y[-1] == "This patient"
    assert x[0] == pytest.approx(result["base_value"])
    total = x[0] + sum(x[1:-1])
    assert total == pytest.approx(result["logit"], abs=1e-4)
    assert x[-1] == pytest.approx(result["logit"])
    assert 1 / (1 + math.exp(-total)) == pytest.approx(result["probability"], abs=1e-4)
    assert spec["layout"]["yaxis"]["autorange"] == "reversed"  # base on top, the patient at the bottom


def test_feedback_reruns_only_its_fragment_and_is_audited(seeded_db, monkeypatch):
    """Issue 16: recording feedback runs the assessment fragment alone; the page above it is not recomputed.

    The page's patient lookup is counted: a whole-page run calls it, the fragment's run must not."""
    import pages.predict as predict_page
    from tests.pages.apptest_helpers import run_fragment

    at = open_page("predict", role="clinician", username="doc")
    at.selectbox(key="predict_model").select("cad_uci").run()
    at.text_input(key="predict_patient").input("UCI-0001").run()
    at.button(key="predict_run").click().run()
    assert any(m.label == "Probability" for m in at.metric)
    lookups = []
    original = predict_page.record_for_patient
    monkeypatch.setattr(predict_page, "record_for_patient", lambda *a, **k: lookups.append(1) or original(*a, **k))
    audited_before = seeded_db.conn.execute("SELECT count(*) FROM audit WHERE username = 'doc'").fetchone()[0]
    run_fragment(at, predict_page.ASSESSMENT_FRAGMENT, lambda a: a.radio(key="predict_verdict").set_value("agree"))
    run_fragment(at, predict_page.ASSESSMENT_FRAGMENT, lambda a: a.button(key="predict_feedback").click())
    assert not at.exception
    assert any("Feedback recorded (agree)" in s.value for s in at.success)
    assert lookups == []  # the page (model, patient record, figures) did not run
    assert seeded_db.conn.execute("SELECT verdict FROM feedback").fetchall() == [("agree",)]
    actions = [r[0] for r in seeded_db.conn.execute("SELECT action FROM audit WHERE username = 'doc' ORDER BY id")]
    assert len(actions) == audited_before + 1 and actions[-1] == "feedback.record"
    at.run()  # a whole-page run still shows the result and the recorded verdict's widgets
    assert lookups and any(m.label == "Probability" for m in at.metric)


def test_fragment_run_rechecks_the_session(seeded_db):
    """A fragment's run skips app.py: an idle-expired session must still end at the log-in page."""
    from datetime import datetime, timedelta, timezone

    import pages.predict as predict_page
    from pages.components.session import LAST_SEEN_KEY
    from tests.pages.apptest_helpers import run_fragment

    at = open_page("predict", role="clinician", username="doc")
    at.selectbox(key="predict_model").select("cad_uci").run()
    at.text_input(key="predict_patient").input("UCI-0001").run()
    at.button(key="predict_run").click().run()
    at.session_state[LAST_SEEN_KEY] = datetime.now(timezone.utc) - timedelta(days=1)
    run_fragment(at, predict_page.ASSESSMENT_FRAGMENT, lambda a: a.button(key="predict_feedback").click())
    assert not at.exception
    assert seeded_db.conn.execute("SELECT count(*) FROM feedback").fetchone()[0] == 0
    assert any("session expired" in i.value for i in at.info)  # the whole app ran again: the log-in gate
    assert "Predict" not in [t.value for t in at.title]
