"""Decisions are stored with their audit row; the export is one escaped HTML page; similar patients explain themselves."""
from __future__ import annotations

import math

import pytest

from engine.audit import verify_chain
from engine.errors import InputError, NotFoundError
from engine.frames import dataset_frame
from engine.treatment import record_from_store, suggest
from engine.treatment.decisions import list_decisions, record_decision
from engine.treatment.similar import find_similar
from engine.treatment.summary import build_summary_html

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)


def test_decision_is_stored_and_audited(seeded_db):
    decision_id = record_decision(seeded_db, username="doc", pseudo_id="PIMA-0001",
                                  rule_id="ada2020.t2d.metformin-initial", decision="decline",
                                  reason="eGFR 25 on today's labs", condition="E11", inputs={"egfr": 25})
    rows = list_decisions(seeded_db, "PIMA-0001")
    assert rows[0]["id"] == decision_id and rows[0]["decision"] == "decline" and rows[0]["option"] == "Metformin"
    assert rows[0]["knowledge_base"] == "ada-2020-section-9"
    audit_row = seeded_db.conn.execute("SELECT action, target_id, details FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    assert audit_row[0] == "treatment.decide" and audit_row[1] == "PIMA-0001" and "25 on" not in audit_row[2]
    assert verify_chain(seeded_db).ok


@pytest.mark.parametrize("kwargs, error, message", [
    ({"decision": "decline", "reason": "  "}, InputError, "reason"),
    ({"decision": "maybe"}, InputError, "accept"),
    ({"decision": "accept", "rule_id": "no.such-rule"}, InputError, "no treatment rule"),
    ({"decision": "accept", "pseudo_id": "NOPE-1"}, NotFoundError, "no patient"),
])
def test_bad_decisions_change_nothing(seeded_db, kwargs, error, message):
    args = {"username": "doc", "pseudo_id": "PIMA-0001", "rule_id": "ada2020.t2d.metformin-initial", **kwargs}
    before = seeded_db.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    with pytest.raises(error, match=message):
        record_decision(seeded_db, **args)
    assert seeded_db.conn.execute("SELECT COUNT(*) FROM treatment_decisions").fetchone()[0] == 0
    assert seeded_db.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == before


def test_similar_patients_distance_matches_an_independent_computation(seeded_db):
    result = find_similar(seeded_db, "HF-0001", k=3)
    assert len(result["neighbours"]) == 3
    frame = dataset_frame(seeded_db, "heart_failure")
    features = result["features"]
    assert "death_event" not in features and "follow_up_days" not in features
    z = (frame[features] - frame[features].mean()) / frame[features].std()
    first = result["neighbours"][0]
    expected = math.sqrt(((z.loc[first["pseudo_id"]] - z.loc["HF-0001"]) ** 2).mean())
    assert first["distance"] == pytest.approx(expected, abs=1e-3)
    assert sum(c["share"] for c in first["contributions"]) == pytest.approx(1.0, abs=0.01)
    # No other patient is closer than the reported nearest one.
    distances = ((z.drop(index="HF-0001") - z.loc["HF-0001"]) ** 2).mean(axis=1).pow(0.5)
    assert distances.min() == pytest.approx(first["distance"], abs=1e-3)
    assert "Died during follow-up" in first["outcomes"]


def test_similar_patients_use_session_values(seeded_db):
    record = record_from_store(seeded_db, "PIMA-0001")
    base = find_similar(seeded_db, "PIMA-0001", record)
    for o in record["observations"]:
        if o["code"] == "8462-4":
            o["value"] = 110.0
    changed = find_similar(seeded_db, "PIMA-0001", record)
    assert base["neighbours"][0]["pseudo_id"] != changed["neighbours"][0]["pseudo_id"] or \
        base["neighbours"][0]["distance"] != changed["neighbours"][0]["distance"]


def test_accepted_options_show_as_neighbour_treatments(seeded_db):
    first = find_similar(seeded_db, "HF-0001", k=1)["neighbours"][0]["pseudo_id"]
    record_decision(seeded_db, username="doc", pseudo_id=first, rule_id="aha2022.hfref.beta-blocker",
                    decision="accept")
    neighbour = find_similar(seeded_db, "HF-0001", k=1)["neighbours"][0]
    assert any("beta blocker" in t for t in neighbour["treatments"])


def test_summary_html_is_escaped_and_complete(seeded_db):
    record = record_from_store(seeded_db, "PIMA-0001")
    record["observations"].append({"code": "62238-1", "value": 25, "unit": "mL/min/{1.73_m2}",
                                   "source": "clinician (this session)"})
    result = suggest(record)
    record_decision(seeded_db, username="doc", pseudo_id="PIMA-0001", rule_id="ada2020.t2d.metformin-initial",
                    decision="decline", reason="<script>alert(1)</script>")
    html = build_summary_html("PIMA-0001", result, list_decisions(seeded_db, "PIMA-0001"),
                              find_similar(seeded_db, "PIMA-0001", record), username="doc")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Blocked options" in html and "eGFR below 30" in html and "American Diabetes Association" in html
    assert "not a directive" in html and "Similar patients" in html


def _egfr_25_record(db):
    record = record_from_store(db, "PIMA-0001")
    record["observations"].append({"code": "62238-1", "value": 25, "unit": "mL/min/{1.73_m2}",
                                   "time": "2026-11-01", "source": "clinician (this session)"})
    return record


def test_accepting_a_blocked_option_needs_a_reason_and_is_an_override(seeded_db):
    """Issue 12: metformin blocked at eGFR 25 was accepted with an empty reason. The engine refuses that,
    and an accept with a reason is stored and audited as an override."""
    record = _egfr_25_record(seeded_db)
    with pytest.raises(InputError, match="override and needs a reason"):
        record_decision(seeded_db, username="doc", pseudo_id="PIMA-0001", rule_id="ada2020.t2d.metformin-initial",
                        decision="accept", reason="  ", record=record)
    assert seeded_db.conn.execute("SELECT COUNT(*) FROM treatment_decisions").fetchone()[0] == 0
    record_decision(seeded_db, username="doc", pseudo_id="PIMA-0001", rule_id="ada2020.t2d.metformin-initial",
                    decision="accept", reason="eGFR rechecked at 34 today", record=record)
    rows = list_decisions(seeded_db, "PIMA-0001")
    assert rows[0]["override"] == 1
    details = seeded_db.conn.execute("SELECT details FROM audit ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert '"override": true' in details
    html = build_summary_html("PIMA-0001", suggest(record), rows)
    assert "accept (override of a block)" in html


def test_accepting_an_unblocked_option_is_not_an_override(seeded_db):
    record_decision(seeded_db, username="doc", pseudo_id="PIMA-0001", rule_id="ada2020.t2d.metformin-initial",
                    decision="accept")
    rows = list_decisions(seeded_db, "PIMA-0001")
    assert rows[0]["override"] == 0
    assert "override" not in build_summary_html("PIMA-0001", suggest(record_from_store(seeded_db, "PIMA-0001")), rows)


def test_printed_closest_on_features_are_the_pages(seeded_db):
    """Issue 12: the summary listed the three *farthest* features as "closest on". Both now call
    closest_features, which returns the smallest shares of the distance."""
    from engine.treatment.similar import closest_features

    record = record_from_store(seeded_db, "HF-0001")
    similar = find_similar(seeded_db, "HF-0001", record)
    first = similar["neighbours"][0]
    expected = [c["feature"] for c in sorted(first["contributions"], key=lambda c: c["share"])[:3]]
    assert closest_features(first) == expected
    farthest = max(first["contributions"], key=lambda c: c["share"])["feature"]
    assert farthest not in closest_features(first)
    html = build_summary_html("HF-0001", suggest(record), [], similar)
    assert f"<td>{', '.join(expected)}</td>" in html
