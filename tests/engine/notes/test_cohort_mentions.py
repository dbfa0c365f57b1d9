"""'Mentioned in notes' as a cohort variable: 1 / 0 for patients with notes, missing without notes."""
from __future__ import annotations

import pytest

from engine.frames import dataset_frame
from engine.notes.service import import_notes
from engine.stats.cohort import CohortSpec, Filter, build_cohort

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)


def test_mentioned_in_notes_column_and_filter(seeded_db):
    db = seeded_db
    import_notes(db, b"Right lower lobe pneumonia. No pleural effusion.", username="cleo", patient="PIMA-0001")
    import_notes(db, b"No pneumonia. Mother has pneumonia.", username="cleo", patient="PIMA-0002")
    frame = dataset_frame(db, "pima_diabetes")
    column = "mentioned_in_notes_J18.9"
    assert frame.loc["PIMA-0001", column] == 1
    assert frame.loc["PIMA-0002", column] == 0  # negated and family mentions do not count
    assert frame[column].isna().sum() == len(frame) - 2  # no notes: unknown, not absent
    assert "mentioned_in_notes_J90" not in frame.columns  # only negated
    cohort = build_cohort(db, CohortSpec(dataset="pima_diabetes", filters=(Filter(column, "in", (1,)),)))
    assert list(cohort.frame.index) == ["PIMA-0001"]


def test_a_notes_import_changes_the_data_token(seeded_db):
    from engine.stats.cohort import data_token

    before = data_token(seeded_db, "pima_diabetes")
    import_notes(seeded_db, b"Pneumonia.", username="cleo", patient="PIMA-0001")
    assert data_token(seeded_db, "pima_diabetes") != before


def test_a_possible_finding_is_shown_as_possible_and_neither_counted_nor_suggested(seeded_db):
    """"r/o pneumonia" raises pneumonia without asserting it: stored as uncertain, styled "possible", not a
    suggested problem and not "mentioned in notes"; a finding stored before certainty was read counts as before."""
    from engine.notes.extract import finding_style
    from engine.notes.service import patient_notes

    db = seeded_db
    import_notes(db, b"Cough and fever. r/o pneumonia.", username="cleo", patient="PIMA-0001")
    view = patient_notes(db, "PIMA-0001")
    pneumonia = next(f for f in view["notes"][0]["findings"] if f["code"] == "J18.9")
    assert (pneumonia["negation"], pneumonia["certainty"], finding_style(pneumonia)) == (
        "Affirmed", "Uncertain", "uncertain")
    assert "J18.9" not in {s["code"] for s in view["suggestions"]}
    assert "R50.9" in {s["code"] for s in view["suggestions"]}  # the fever is asserted
    frame = dataset_frame(db, "pima_diabetes")
    assert frame.loc["PIMA-0001", "mentioned_in_notes_R50.9"] == 1
    assert "mentioned_in_notes_J18.9" not in frame.columns
    db.conn.execute("UPDATE note_findings SET certainty = NULL")  # as stored before migration 1220
    assert "J18.9" in {s["code"] for s in patient_notes(db, "PIMA-0001")["suggestions"]}
    assert dataset_frame(db, "pima_diabetes").loc["PIMA-0001", "mentioned_in_notes_J18.9"] == 1
