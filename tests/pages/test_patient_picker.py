"""The shared patient picker (pages/components/patient_picker.py) on Predict, Imaging and Treatment:
part of an id, a dataset or a condition finds patients, the list is paged with a total, an exact id
picks itself and otherwise nothing is picked until the user chooses."""
from __future__ import annotations

import pytest

from tests.pages.apptest_helpers import open_page

PAGES = {"predict": ("predict_patient", "predict_patient_pick"), "imaging": ("imaging_patient_query", "imaging_patient"),
         "treatment": ("tx_filter", "tx_patient")}


def _count(db, sql, *params) -> int:
    return db.conn.execute(sql, params).fetchone()[0]


def _caption(at) -> str:
    return next(c.value for c in at.caption if " match; showing " in c.value)


@pytest.mark.parametrize("page", list(PAGES))
def test_dataset_word_lists_a_paged_total_and_picks_nobody(seeded_db, page, models_copy):
    query_key, pick_key = PAGES[page]
    at = open_page(page, role="clinician", username="doc")
    assert not at.exception
    if page == "predict":
        at.selectbox(key="predict_model").select("diabetes_pima").run()
    picker = at.selectbox(key=pick_key)
    assert picker.value is None  # nobody is picked before the user chooses (Imaging: no adult by default)
    at.text_input(key=query_key).input("pima").run()
    total = _count(seeded_db, "SELECT COUNT(*) FROM patients WHERE source LIKE '%pima%' OR pseudo_id LIKE '%pima%'")
    assert _caption(at) == f"{total:,} patients match; showing 1-25."
    assert at.selectbox(key=pick_key).value is None and len(at.selectbox(key=pick_key).options) == 25
    at.number_input(key=f"{pick_key}_page").set_value(2).run()
    assert _caption(at) == f"{total:,} patients match; showing 26-50."
    at.text_input(key=query_key).input("PIMA-0002").run()
    assert at.selectbox(key=pick_key).value == "PIMA-0002"  # an exact id picks itself


def test_condition_code_narrows_and_the_label_shows_it(seeded_db):
    at = open_page("treatment", role="clinician", username="doc")
    at.text_input(key="tx_filter").input("pima E11").run()
    total = _count(seeded_db, "SELECT COUNT(DISTINCT p.id) FROM patients p JOIN conditions c ON c.patient_id = p.id "
                              "WHERE p.source LIKE '%pima%' AND c.code LIKE 'E11%'")
    assert _caption(at).startswith(f"{total:,} patients match")
    options = at.selectbox(key="tx_patient").options
    assert options and all("E11" in o for o in options)
    at.selectbox(key="tx_patient").set_value(at.selectbox(key="tx_patient").options[0].split(" · ")[0]).run()
    assert not at.exception
    assert any("Treatment options" == t.value for t in at.title)


def test_no_match_says_so(seeded_db):
    at = open_page("imaging", role="clinician", username="doc")
    at.text_input(key="imaging_patient_query").input("no-such-patient-xyz").run()
    assert any("No patient matches" in i.value for i in at.info)
    assert not at.get("file_uploader")
