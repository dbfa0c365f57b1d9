from __future__ import annotations

import pytest

from engine import demo_data
from engine.audit import verify_chain
from engine.frames import dataset_frame
from engine.seed import seed_all
from engine.store import count_rows
from engine.store.patients import conditions_for, get_patient, observations_for

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)


def test_seed_loads_four_real_datasets_once(seeded_db):
    counts = count_rows(seeded_db)
    assert counts["patients"] == 920 + 768 + 569 + 299
    assert counts["datasets"] == 4
    assert seed_all(seeded_db) == {"uci_heart": 0, "pima_diabetes": 0, "wdbc": 0, "heart_failure": 0}
    assert count_rows(seeded_db) == counts
    assert verify_chain(seeded_db).ok


def test_each_patient_carries_source_and_licence(seeded_db):
    rows = seeded_db.conn.execute("SELECT COUNT(*) FROM patients WHERE source IS NULL OR licence IS NULL").fetchone()
    assert rows[0] == 0
    licences = dict(seeded_db.conn.execute("SELECT name, licence FROM datasets").fetchall())
    assert "CC BY 4.0" in licences["uci_heart"]


def test_first_cleveland_patient_matches_the_source_row(seeded_db):
    patient = get_patient(seeded_db, "UCI-0001")
    obs = {o["code"]: o for o in observations_for(seeded_db, patient["id"])}
    # Cleveland row 1 of the UCI data: 63-year-old man, resting BP 145, cholesterol 233, max HR 150.
    assert patient["sex"] == "male" and patient["age"] == 63
    assert obs["8480-6"]["value_num"] == 145 and obs["8480-6"]["unit"] == "mm[Hg]"
    assert obs["2093-3"]["value_num"] == 233
    assert obs["8873-3"]["value_num"] == 150


def test_outcomes_become_conditions(seeded_db):
    pima = demo_data.load_pima()
    n_diabetic = int(seeded_db.conn.execute(
        "SELECT COUNT(*) FROM conditions WHERE code = 'E11'").fetchone()[0])
    assert n_diabetic == int(pima["Outcome"].sum()) == 268
    hf = get_patient(seeded_db, "HF-0001")
    assert [c["code"] for c in conditions_for(seeded_db, hf["id"])] == ["I50.2"]


def test_pima_zeros_are_missing_not_zero(seeded_db):
    frame = dataset_frame(seeded_db, "pima_diabetes")
    assert frame["insulin_2h"].isna().sum() == 374
    assert (frame["bmi"].dropna() > 0).all()


def test_ages_over_89_are_grouped(seeded_db):
    over = seeded_db.conn.execute("SELECT COUNT(*) FROM patients WHERE age > 89").fetchone()[0]
    grouped = seeded_db.conn.execute("SELECT COUNT(*) FROM patients WHERE age_group = '90+'").fetchone()[0]
    assert over == 0
    hf = demo_data.load_heart_failure()
    assert grouped == int((hf["age"] > 89).sum()) > 0
