"""Imaging page (AppTest through app.py): nobody is picked by default, stored images show a thumbnail with
the de-identified file name and result, and the heat-map has a legend (real chest CR from pydicom-data)."""
from __future__ import annotations

from engine.store.patients import insert_patient
from tests.pages.apptest_helpers import open_page
from tests.pages.test_imaging import _chest_cr, _upload, pytestmark  # noqa: F401 - skip without the bundle


def test_stored_images_show_thumbnail_name_and_result(fresh_db):
    for i in (1, 2):  # two children: the search has to name one before anything is offered
        insert_patient(fresh_db, {"pseudo_id": f"IMG-000{i}", "sex": "female", "age": 4, "created_at": "2026-01-01"})
    at = open_page("imaging", role="clinician", username="carol")
    assert at.selectbox(key="imaging_patient").value is None and not at.get("file_uploader")
    at.selectbox(key="imaging_patient").set_value("IMG-0002").run()
    at = _upload(at, "Doe_Jane_chest.dcm", _chest_cr(), "application/dicom")
    assert not at.exception and not at.error
    legend = [c.value for c in at.caption] + [i.value for i in at.info]
    assert any(text.startswith("Colour scale") or "heat-map is blank" in text for text in legend)
    at.radio(key="imaging_source").set_value("A stored image of this patient").run()
    images = at.get("image")
    assert len(images) == 1 and images[0].value[0]  # the thumbnail is served
    caption = images[0].captions[0]
    assert "[name]_chest.dcm" in caption and ("pneumonia" in caption or "withheld" in caption)
    assert "Doe" not in caption and "Jane" not in caption
    assert any("[name]_chest.dcm" in o for o in at.selectbox(key="imaging_stored_choice").options)
