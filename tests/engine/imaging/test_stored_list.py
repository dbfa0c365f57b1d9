"""Stored images listed with thumbnail, de-identified file name and result; the heat-map legend says why a
map is blank (engine/imaging). The image is pydicom-data's real chest CR."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from engine.privacy import safe_file_name
from engine.imaging.service import describe_heatmap
from tests.engine.test_imaging import _testfile, needs_bundle

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)


@pytest.mark.parametrize("name,expected", [
    # The stored-image list uses the same allow-list as every other door (engine.privacy.safe_file_name):
    # only content words survive, so even a lone surname ("smith.png") or a film code is removed.
    ("Doe_Jane_1984-03-02_MRN0012345.dcm", "[name].dcm"),  # synthetic identifiers
    ("C:\\scans\\John Smith chest.png", "[name] chest.png"),
    ("jane.doe@example.org.png", "[name].png"),
    ("scan 555-123-4567.jpg", "scan [number].jpg"),
    ("smith.png", "[name].png"),
    (None, None),
])
def test_file_names_lose_what_could_identify_the_patient(name, expected):
    assert safe_file_name(name) == expected


def test_blank_heatmap_is_explained():
    blank = describe_heatmap(np.zeros((8, 8), np.float32))
    assert blank["blank"] and "blank" in blank["legend"] and "normal" in blank["legend"]
    warm = np.zeros((8, 8), np.float32)
    warm[2, 3] = 1.0
    shown = describe_heatmap(warm)
    assert not shown["blank"] and shown["legend"].startswith("Colour scale")


@needs_bundle
def test_stored_list_has_thumbnail_file_name_and_result(fresh_db):
    from engine.imaging.records import analyse_and_store, list_patient_images
    from engine.store.patients import insert_patient

    insert_patient(fresh_db, {"pseudo_id": "IMG-0001", "sex": "female", "age": 4, "created_at": "2026-01-01"})
    data = _testfile("RG1_UNCR.dcm").read_bytes()
    stored = analyse_and_store(fresh_db, pseudo_id="IMG-0001", data=data, filename="Doe_Jane_chest.dcm",
                               username="doc")
    rows = list_patient_images(fresh_db, "IMG-0001", thumbnails=True)
    assert len(rows) == 1 and rows[0]["id"] == stored["image_id"]
    row = rows[0]
    assert row["file_name"] == "[name]_chest.dcm"
    p = stored["analysis"].probability
    assert row["result"] == ("withheld: the image did not fit the model" if p is None
                             else f"pneumonia {p:.0%} ({stored['analysis'].label})")
    thumb = Image.open(io.BytesIO(row["thumbnail"]))
    assert thumb.format == "PNG" and max(thumb.size) <= 160
    assert "content" not in row
    plain = list_patient_images(fresh_db, "IMG-0001")
    assert "thumbnail" not in plain[0] and plain[0]["result"] == row["result"]
