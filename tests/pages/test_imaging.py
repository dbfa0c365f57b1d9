"""Imaging page through the real app (login gate + navigation): roles, upload, DICOM viewer, bad images, feedback."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from engine import auth
from engine.config import get_settings
from engine.store.patients import insert_patient
from tests.chest_films import pediatric_dicom
from tests.pages.apptest_helpers import open_page

PASSWORD = "a long enough password"


def _bundle_installed() -> bool:
    root = get_settings().models_dir / "chest_xray_pneumonia"
    return root.is_dir() and any((p / "card.json").exists() for p in root.iterdir())


pytestmark = pytest.mark.skipif(not _bundle_installed(), reason="no chest X-ray model bundle installed")


@pytest.fixture
def imaging_db(fresh_db):
    auth.create_user(fresh_db, "root", PASSWORD, "admin", actor=None)
    auth.create_user(fresh_db, "carol", PASSWORD, "clinician", actor="root")
    insert_patient(fresh_db, {"pseudo_id": "IMG-0001", "sex": "female", "age": 4, "created_at": "2026-01-01"})
    return fresh_db


def _chest_cr() -> bytes:
    """A pediatric film of the training source in a real chest CR DICOM container (see tests/chest_films.py)."""
    return pediatric_dicom()


def _upload(at, name: str, data: bytes, mime: str):
    at.file_uploader(key="imaging_upload").set_value((name, data, mime))
    at.run()
    at.button(key="imaging_analyse").click().run()
    return at


def _count(db, table: str) -> int:
    return db.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_analyst_and_signed_out_see_nothing(imaging_db):
    for role in ("analyst", None):
        at = open_page("imaging", role=role)
        assert "Chest X-ray reading" not in [t.value for t in at.title]
        assert not at.get("file_uploader")


def test_clinician_uploads_dicom_sees_reading_window_and_header_then_feedback(imaging_db):
    at = open_page("imaging", role="clinician", username="carol")
    assert "Chest X-ray reading" in [t.value for t in at.title]
    at = _upload(at, "chest.dcm", _chest_cr(), "application/dicom")
    assert not at.exception and not at.error
    header = at.table[0].value
    assert set(header.index) >= {"Modality", "Body part", "View"}
    assert header.loc["Modality", "value"] == "CR" and header.loc["Body part", "value"] == "CHEST"
    assert not any("Patient" in name for name in header.index)
    assert at.slider(key="imaging_wl_center") and at.slider(key="imaging_wl_width")
    metric = at.metric[0]
    assert metric.label == "Probability of pneumonia" and metric.value.endswith("%")
    heat = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert heat["data"][0]["type"] == "image"
    # window/level change re-renders the viewer without re-analysing
    at.slider(key="imaging_wl_width").set_value(at.slider(key="imaging_wl_width").value / 2).run()
    assert not at.exception
    at.toggle(key="imaging_overlay_on").set_value(False).run()
    assert not at.exception
    assert _count(imaging_db, "images") == 1 and _count(imaging_db, "predictions") == 1
    pid = imaging_db.conn.execute("SELECT id FROM predictions").fetchone()[0]
    at.button(key="imaging_feedback_submit").click().run()  # no verdict chosen yet: refused, nothing stored
    assert any("Choose agree or disagree" in e.value for e in at.error)
    assert _count(imaging_db, "feedback") == 0
    at.radio(key=f"imaging_verdict_{pid}").set_value("disagree")
    at.text_input(key=f"imaging_reason_{pid}").input("no consolidation")
    at.button(key="imaging_feedback_submit").click().run()
    assert any("Feedback recorded: disagree" in s.value for s in at.success)
    verdicts = imaging_db.conn.execute("SELECT verdict, reason FROM feedback").fetchall()
    assert verdicts == [("disagree", "no consolidation")]
    actions = [r[0] for r in imaging_db.conn.execute("SELECT action FROM audit WHERE username = 'carol' ORDER BY id")]
    assert actions == ["imaging.store", "predict.run", "feedback.record"]


def test_ct_upload_withholds_probability(imaging_db):
    path = get_testdata_file("CT_small.dcm", download=False)
    at = open_page("imaging", role="clinician", username="carol")
    at = _upload(at, "ct.dcm", open(path, "rb").read(), "application/dicom")
    assert not at.exception
    assert any("modality CT" in w.value for w in at.warning)
    assert any("Probability withheld" in e.value for e in at.error)
    assert not at.metric


@pytest.mark.parametrize("name,data", [
    ("notes.png", b"this is a text file renamed to png\n" * 10),
    ("tiny.png", None),
])
def test_bad_upload_shows_error_and_stores_nothing(imaging_db, name, data):
    if data is None:  # synthetic edge case: a 1x1 PNG
        buf = io.BytesIO()
        Image.fromarray(np.zeros((1, 1), np.uint8)).save(buf, format="PNG")
        data = buf.getvalue()
    at = open_page("imaging", role="clinician", username="carol")
    at = _upload(at, name, data, "image/png")
    assert not at.exception
    assert at.error and at.error[0].value.endswith(".")
    assert (_count(imaging_db, "images"), _count(imaging_db, "predictions"), _count(imaging_db, "feedback")) == (0, 0, 0)


def test_stored_image_can_be_reopened_and_view_is_audited(imaging_db):
    at = open_page("imaging", role="clinician", username="carol")
    at = _upload(at, "chest.dcm", _chest_cr(), "application/dicom")
    at.radio(key="imaging_source").set_value("A stored image of this patient").run()
    at.button(key="imaging_open_stored").click().run()
    assert not at.exception and at.metric
    assert _count(imaging_db, "predictions") == 1  # same image, same model version: result reused
    actions = [r[0] for r in imaging_db.conn.execute("SELECT action FROM audit WHERE username = 'carol'")]
    assert "imaging.view" in actions


def _chest_cr_png() -> bytes:
    """The same real chest CR as a PNG (another file, another hash): a second upload for the same patient."""
    import pydicom

    pixels = pydicom.dcmread(io.BytesIO(_chest_cr())).pixel_array.astype(float)
    scaled = (255 * (pixels - pixels.min()) / max(1.0, float(np.ptp(pixels)))).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(scaled).save(out, format="PNG")
    return out.getvalue()


def test_a_new_upload_clears_the_previous_result_and_its_feedback(imaging_db):
    """Issue 12: the old image's reading (with live agree/disagree) stayed on screen beside a new file."""
    at = open_page("imaging", role="clinician", username="carol")
    _upload(at, "chest.dcm", _chest_cr(), "application/dicom")
    assert not at.exception and not at.error
    assert at.get("form") and any(m.label == "Probability of pneumonia" for m in at.metric)
    at.file_uploader(key="imaging_upload").set_value(("chest.png", _chest_cr_png(), "image/png"))
    at.run()
    assert not at.exception
    assert not any(m.label == "Probability of pneumonia" for m in at.metric)
    assert not at.get("form") and not at.get("plotly_chart")  # no feedback form, no old image or heat-map
    at.button(key="imaging_analyse").click().run()
    assert not at.exception and at.get("form") and at.get("plotly_chart")


def test_the_page_shows_the_served_card_and_follows_a_promotion(imaging_db):
    """A fresh install serves the shipped default (2.0.0, whose card records the stress figures of 1.0.0 and
    2.0.0 side by side); when an administrator promotes another version the page's card follows at once
    (no stale cache)."""
    from engine.imaging.bundle import installed_versions, promote, served_version

    versions = installed_versions()
    if len(versions) < 2:
        pytest.skip("needs two installed chest X-ray versions")
    default = served_version()
    at = open_page("imaging", role="clinician", username="carol")
    assert any(default in e.label for e in at.expander)
    stress = next(d.value for d in at.dataframe if "shift" in d.value.columns)
    assert {"1.0.0", "2.0.0"} <= set(stress.columns) and stress["shift"].str.startswith("blur").any()
    other = next(v for v in versions if v != default)
    promote(other, username="root")
    at = open_page("imaging", role="clinician", username="carol")
    assert any(other in e.label for e in at.expander) and not any(default in e.label for e in at.expander)


def test_feedback_reruns_only_its_fragment_and_is_audited(imaging_db, monkeypatch):
    """Issue 16: recording feedback runs the feedback fragment alone: no viewer or Grad-CAM overlay rebuilt."""
    import pages.imaging as imaging_page
    from tests.pages.apptest_helpers import run_fragment

    at = open_page("imaging", role="clinician", username="carol")
    at = _upload(at, "chest.dcm", _chest_cr(), "application/dicom")
    pid = imaging_db.conn.execute("SELECT id FROM predictions").fetchone()[0]
    overlays = []
    original = imaging_page.build_overlay
    monkeypatch.setattr(imaging_page, "build_overlay", lambda *a, **k: overlays.append(1) or original(*a, **k))

    def agree(a):
        a.radio(key=f"imaging_verdict_{pid}").set_value("agree")
        a.button(key="imaging_feedback_submit").click()

    run_fragment(at, imaging_page.FEEDBACK_FRAGMENT, agree)
    assert not at.exception
    assert any("Feedback recorded: agree" in s.value for s in at.success)
    assert overlays == []  # the page (viewer, heat-map) did not run
    assert imaging_db.conn.execute("SELECT verdict FROM feedback").fetchall() == [("agree",)]
    actions = [r[0] for r in imaging_db.conn.execute("SELECT action FROM audit WHERE username = 'carol' ORDER BY id")]
    assert actions == ["imaging.store", "predict.run", "feedback.record"]
