"""AppTests for /patient: search, one patient's record with a plotly chart, every view audited."""
from __future__ import annotations

import json

from tests.pages.apptest_helpers import open_page
from tests.pages.test_records import frame_with


def test_logged_out_and_analyst_are_refused(seeded_db):
    for role in (None, "analyst"):
        at = open_page("patient", role=role, username="ana" if role else None)
        assert not at.exception
        assert "Patient" not in [t.value for t in at.title]
        assert not any("pseudo_id" in df.value.columns for df in at.dataframe)


def test_clinician_finds_patient_and_view_is_audited(seeded_db):
    at = open_page("patient", role="clinician", username="doc")
    assert not at.exception
    at.text_input(key="patient_search").set_value("UCI-000").run()
    matches = frame_with(at, "pseudo_id", "age_group")
    assert len(matches) == 9 and set(matches["source"]) == {"uci_heart"}
    before = seeded_db.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'patient.view'").fetchone()[0]
    at.selectbox(key="patient_pick").set_value("UCI-0002").run()
    assert not at.exception and not at.error
    assert at.metric[0].value == "male" and at.metric[1].value == "67"
    # The seeded records hold one undated value per observation: listed with ranges, not drawn as a trend.
    assert not at.get("plotly_chart")
    assert any("no trend to draw" in c.value for c in at.caption)
    conditions = frame_with(at, "code", "display")
    assert conditions["code"].tolist() == ["I25.10"]  # UCI num = 2: angiographic disease
    after = seeded_db.conn.execute("SELECT username, target_id FROM audit WHERE action = 'patient.view' "
                                   "ORDER BY id DESC LIMIT 1").fetchone()
    assert after == ("doc", "UCI-0002")
    assert seeded_db.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'patient.view'").fetchone()[0] > before


def test_predictions_and_feedback_are_listed(seeded_db):
    pid = seeded_db.conn.execute("SELECT id FROM patients WHERE pseudo_id = 'PIMA-0002'").fetchone()[0]
    seeded_db.conn.execute("INSERT INTO predictions (patient_id, model_name, model_version, inputs, output, "
                           "username, created_at) VALUES (?, 'diabetes-risk', '1.0.0', '{}', '{\"risk\": 0.31}', "
                           "'doc', '2026-01-01T00:00:00+00:00')", (pid,))
    pred = seeded_db.conn.execute("SELECT MAX(id) FROM predictions").fetchone()[0]
    seeded_db.conn.execute("INSERT INTO feedback (prediction_id, username, verdict, reason, created_at) VALUES "
                           "(?, 'doc', 'disagree', 'recent HbA1c normal', '2026-01-02T00:00:00+00:00')", (pred,))
    at = open_page("patient", role="clinician", username="doc")
    at.selectbox(key="patient_source").set_value("pima_diabetes").run()
    at.selectbox(key="patient_pick").set_value("PIMA-0002").run()
    table = frame_with(at, "model", "feedback")
    assert table.iloc[0]["model"] == "diabetes-risk 1.0.0"
    assert table.iloc[0]["feedback"] == "disagree" and table.iloc[0]["reason"] == "recent HbA1c normal"


def test_fhir_patient_shows_encounters_immunizations_procedures_and_rule_use(seeded_db, tmp_path):
    """A patient imported from a FHIR bundle (built from the R4 example shapes, synthetic)."""
    from engine.ingest import open_source
    from tests.engine.ingest import fhir_examples as ex
    from tests.engine.ingest.test_fhir import _import

    result = _import(seeded_db, open_source(ex.write_bundle(tmp_path)), ex.FILE_NAME)
    pseudo_id = seeded_db.conn.execute("SELECT pseudo_id FROM patients WHERE dataset_version_id = ?",
                                       (result.version_id,)).fetchone()[0]
    at = open_page("patient", role="clinician", username="doc")
    at.selectbox(key="patient_source").set_value(result.dataset).run()
    at.selectbox(key="patient_pick").set_value(pseudo_id).run()
    assert not at.exception and not at.error
    rules = dict(zip(*frame_with(at, "code", "rules")[["code", "rules"]].T.values))
    assert rules["444814009"] == "not used by the rules" and rules["44054006"].startswith("ICD-10-CM E11.9")
    assert frame_with(at, "class_code", "period_start")["class_code"].tolist() == ["IMP", "AMB"]
    assert frame_with(at, "occurrence")["code"].tolist() == ["140"]
    assert frame_with(at, "performed_start")["code"].tolist() == ["80146002"]
    assert frame_with(at, "substance", "criticality")["criticality"].tolist() == ["high", "low"]
    timeline = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                    if "Encounters" in json.loads(c.proto.spec)["layout"]["title"]["text"])
    assert {t["name"] for t in timeline["data"]} == {"encounter IMP", "encounter AMB", "procedure", "immunization"}


def test_a_redraw_of_the_open_record_writes_nothing_and_a_new_visit_is_audited_again(seeded_db, monkeypatch):
    """Issue 16: a rerun that only redraws the record already opened (and audited) in this visit is a pure
    read: no audit row, no store write. Leaving the page and opening the record again is a new view."""
    from streamlit.util import calc_hash

    from tests.pages.apptest_helpers import StoreCounter

    def views() -> int:
        return seeded_db.conn.execute("SELECT COUNT(*) FROM audit WHERE action = 'patient.view' "
                                      "AND target_id = 'UCI-0002'").fetchone()[0]

    at = open_page("patient", role="clinician", username="doc")
    at.text_input(key="patient_search").set_value("UCI-000").run()
    at.selectbox(key="patient_pick").set_value("UCI-0002").run()
    assert views() == 1
    counter = StoreCounter().install(monkeypatch)
    at.run()
    at.run()
    assert not at.exception and at.metric[0].value == "male"
    assert counter.writes == 0, counter.statements
    assert views() == 1
    at._page_hash = calc_hash("")
    at.run()  # Home: the patient page's widgets are dropped
    at._page_hash = calc_hash("patient")
    at.run()
    at.text_input(key="patient_search").set_value("UCI-000").run()
    at.selectbox(key="patient_pick").set_value("UCI-0002").run()
    assert views() == 2
