"""Imaging link: a chest radiograph report's conclusion against the model's reading."""
from __future__ import annotations

import pytest

from engine.notes.imaging_link import compare_read, radiograph_report
from engine.notes.service import import_notes

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)

REPORT = """CHEST X-RAY, PA AND LATERAL
FINDINGS: Heart size is normal. Lungs are clear.
IMPRESSION: No focal consolidation. No pleural effusion.
"""


def test_report_conclusion_and_disagreement(seeded_db):
    db = seeded_db
    assert radiograph_report(db, "PIMA-0001") is None
    import_notes(db, b"Clinic note: fever and cough for two days.", username="cleo", patient="PIMA-0001")
    assert radiograph_report(db, "PIMA-0001") is None  # not a radiograph report
    import_notes(db, REPORT.encode(), username="cleo", patient="PIMA-0001")
    report = radiograph_report(db, "PIMA-0001")
    assert "No focal consolidation" in report["conclusion"] and report["pneumonia"] == "absent"
    assert compare_read(report, "pneumonia")["agrees"] is False
    assert "Disagreement" in compare_read(report, "pneumonia")["message"]
    assert compare_read(report, "no pneumonia")["agrees"] is True
    assert compare_read(report, None) is None


def test_affirmed_and_unstated_conclusions(seeded_db):
    db = seeded_db
    import_notes(db, b"CXR\nIMPRESSION: Right lower lobe pneumonia.", username="cleo", patient="PIMA-0002")
    assert radiograph_report(db, "PIMA-0002")["pneumonia"] == "present"
    import_notes(db, b"Chest radiograph\nIMPRESSION: Cardiomegaly.", username="cleo", patient="PIMA-0003")
    report = radiograph_report(db, "PIMA-0003")
    assert report["pneumonia"] == "not stated" and compare_read(report, "pneumonia")["agrees"] is None


def test_a_conclusion_that_only_raises_pneumonia_claims_no_agreement(seeded_db):
    """"Possible pneumonia" is neither present nor absent: no agreement or disagreement is claimed."""
    db = seeded_db
    import_notes(db, b"CXR\nIMPRESSION: Possible right lower lobe pneumonia.", username="cleo", patient="PIMA-0004")
    report = radiograph_report(db, "PIMA-0004")
    assert report["pneumonia"] == "possible"
    for read in ("pneumonia", "no pneumonia"):
        verdict = compare_read(report, read)
        assert verdict["agrees"] is None and "possible" in verdict["message"]
