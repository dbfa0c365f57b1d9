"""Population cautions beside an imaging read: the patient's recorded age against the training ages (1-5).

The patients here are synthetic rows (only age fields matter); the image is a real pediatric original from
``../shared`` (skipped when absent)."""
from __future__ import annotations

import pytest

from engine.imaging.population import population_cautions
from engine.store.patients import insert_patient
from tests.chest_films import pediatric_original


@pytest.mark.parametrize("age,group,expected", [
    (3.0, "0-9", None),
    (1.0, "0-9", None),
    (5.5, "0-9", None),
    (0.5, "0-9", "outside the ages"),
    (12.0, "10-19", "outside the ages"),
    (64.0, "60-69", "adult (age 60-69)"),
    (None, "90+", "adult (age over 89)"),
    (None, None, "to confirm"),
])
def test_cautions_follow_the_recorded_age(age, group, expected):
    cautions = population_cautions({"age": age, "age_group": group})
    if expected is None:
        assert cautions == []
    else:
        assert len(cautions) == 1 and expected in cautions[0]


def test_a_stored_read_for_an_adult_carries_the_caution_and_keeps_its_probability(fresh_db):
    from engine.imaging.records import analyse_and_store, analyse_stored

    insert_patient(fresh_db, {"pseudo_id": "ADULT-1", "sex": "male", "age": 64, "age_group": "60-69",
                              "created_at": "2026-01-01"})
    insert_patient(fresh_db, {"pseudo_id": "CHILD-1", "sex": "female", "age": 3, "age_group": "0-9",
                              "created_at": "2026-01-01"})
    data = pediatric_original().read_bytes()
    adult = analyse_and_store(fresh_db, pseudo_id="ADULT-1", data=data, filename="film.jpeg", username="doc")
    child = analyse_and_store(fresh_db, pseudo_id="CHILD-1", data=data, filename="film.jpeg", username="doc")
    assert adult["analysis"].probability == child["analysis"].probability is not None  # the read is the film's
    assert any("adult" in w for w in adult["analysis"].quality.warnings)
    assert not any("adult" in w or "age" in w for w in child["analysis"].quality.warnings)
    reopened = analyse_stored(fresh_db, pseudo_id="ADULT-1", image_id=adult["image_id"], username="doc")
    assert any("adult" in w for w in reopened["analysis"].quality.warnings)
