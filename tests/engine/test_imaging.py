"""Imaging engine: decode (real DICOM from pydicom / pydicom-data), preprocessing, Grad-CAM,
quality / OOD checks, bad-image rejection, de-identification, store, evaluate command.

References are independent of our code where possible: pydicom's own LUT functions,
scikit-learn's metrics, scikit-learn's bundled sample photographs (real photos).
Synthetic bytes are used only for malformed-file edge cases (said at each).
"""
from __future__ import annotations

import io
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from PIL import Image
from pydicom.data import get_testdata_file

from engine.config import get_settings
from engine.errors import InputError, ModelUnavailableError
from engine.imaging.decode import decode_image, sniff_kind, window_image
from engine.imaging.preprocess import INPUT_SIZE, preprocess, resize_square

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)

XRAY_TRAIN = get_settings().xray_data_dir / "train"
if not XRAY_TRAIN.is_dir():  # worktrees sit one level deeper than the main checkout
    XRAY_TRAIN = Path("/work/shared/data/chest_xray/train")


def _testfile(name: str) -> Path:
    """A real DICOM from pydicom / pydicom-data, or skip when it would need a download."""
    try:
        path = get_testdata_file(name, download=False)
    except Exception as exc:  # pragma: no cover - depends on the install
        pytest.skip(f"{name} not available offline: {exc}")
    if path is None:
        pytest.skip(f"{name} is not bundled offline (pydicom-data would download it)")
    return Path(path)


def _has_bundle() -> bool:
    root = get_settings().models_dir / "chest_xray_pneumonia"
    return root.is_dir() and any((p / "card.json").exists() for p in root.iterdir())


needs_bundle = pytest.mark.skipif(not _has_bundle(), reason="no chest X-ray model bundle installed")


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=92, **kw)
    return buf.getvalue()


# ----------------------------------------------------------------------------- decode


def test_ct_decodes_with_modality_lut_to_hounsfield_units():
    path = _testfile("CT_small.dcm")
    ds = pydicom.dcmread(path)
    decoded = decode_image(path.read_bytes())
    expected = pydicom.pixels.apply_modality_lut(ds.pixel_array, ds)
    assert decoded.kind == "dicom" and decoded.header["Modality"] == "CT"
    np.testing.assert_allclose(decoded.raw, expected, rtol=0, atol=1e-3)
    assert decoded.gray.shape == (ds.Rows, ds.Columns)
    assert 0.0 <= decoded.gray.min() and decoded.gray.max() <= 1.0


def test_mr_decodes_to_unit_range():
    path = _testfile("MR_small.dcm")
    decoded = decode_image(path.read_bytes())
    assert decoded.header["Modality"] == "MR"
    assert decoded.gray.shape == (64, 64)
    assert decoded.gray.min() >= 0 and decoded.gray.max() <= 1 and decoded.gray.std() > 0.05


def test_monochrome1_chest_cr_is_inverted_and_windowed():
    """pydicom-data's RG1 is a real chest CR stored MONOCHROME1 (high values dark)."""
    path = _testfile("RG1_UNCR.dcm")
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1" and ds.BodyPartExamined == "CHEST"
    decoded = decode_image(path.read_bytes())
    # Independent reference: pydicom's VOI LUT, then inversion by definition of MONOCHROME1.
    voi = pydicom.pixels.apply_voi_lut(pydicom.pixels.apply_modality_lut(ds.pixel_array, ds), ds).astype(np.float64)
    reference = 1.0 - (voi - voi.min()) / (voi.max() - voi.min())
    np.testing.assert_allclose(decoded.gray, reference, atol=1e-4)
    # Stored values and displayed brightness run opposite ways.
    assert np.corrcoef(decoded.gray.ravel()[::97], ds.pixel_array.ravel()[::97].astype(float))[0, 1] < -0.9
    x = preprocess(decoded.gray)
    assert x.shape == (1, INPUT_SIZE, INPUT_SIZE)


def test_monochrome2_is_not_inverted():
    path = _testfile("CT_small.dcm")
    ds = pydicom.dcmread(path)
    decoded = decode_image(path.read_bytes())
    assert np.corrcoef(decoded.gray.ravel(), ds.pixel_array.ravel().astype(float))[0, 1] > 0.9


def test_window_level_maps_linearly():
    raw = np.array([[-1000.0, 0.0, 40.0, 80.0, 1000.0]])
    out = window_image(raw, center=40, width=80)
    np.testing.assert_allclose(out, [[0.0, 0.0, 0.5, 1.0, 1.0]])
    np.testing.assert_allclose(window_image(raw, 40, 80, invert=True), [[1.0, 1.0, 0.5, 0.0, 0.0]])


def test_sniff_uses_content_not_name():
    assert sniff_kind(_png_bytes(np.zeros((40, 40), np.uint8))) == "png"
    assert sniff_kind(_jpeg_bytes(np.zeros((40, 40), np.uint8))) == "jpeg"
    assert sniff_kind(_testfile("CT_small.dcm").read_bytes()) == "dicom"


# ----------------------------------------------------------------------------- preprocess


def test_resize_squashes_to_the_training_geometry():
    # Synthetic edge case: a white 2:1 rectangle fills the whole square, as the 224 px training copies
    # were squashed from their originals without keeping the aspect ratio (no padding band).
    gray = np.ones((100, 200), np.float32)
    square = resize_square(gray, 128)
    assert square.shape == (128, 128)
    assert square.min() > 0.99


def test_a_training_copy_goes_through_the_path_it_was_trained_on():
    """A 224 px image skips the squash step: only the Lanczos step to the model size remains."""
    from engine.imaging.preprocess import TRAINING_SIDE, squash_to_training_geometry

    gray = decode_image(_testfile("CT_small.dcm").read_bytes()).gray
    copy = np.asarray(Image.fromarray(gray, mode="F").resize((TRAINING_SIDE, TRAINING_SIDE)), dtype=np.float32)
    assert np.array_equal(squash_to_training_geometry(copy), copy)


def test_preprocess_is_the_same_for_any_size_and_mode():
    """A real CT slice saved as 8-bit gray, RGB and 16-bit PNG, and upscaled, gives ~the same model input."""
    gray = decode_image(_testfile("CT_small.dcm").read_bytes()).gray
    u8 = (gray * 255).round().astype(np.uint8)
    variants = [
        _png_bytes(u8),
        _png_bytes(np.stack([u8] * 3, axis=-1)),
        _png_bytes((gray * 65535).round().astype(np.uint16)),
        _png_bytes(np.asarray(Image.fromarray(u8).resize((1024, 1024), Image.Resampling.BICUBIC))),
    ]
    inputs = [preprocess(decode_image(v).gray) for v in variants]
    for x in inputs[1:]:
        assert x.shape == inputs[0].shape
        assert np.abs(x - inputs[0]).mean() < 0.05


# ----------------------------------------------------------------------------- bad images


def _png_with_size(width: int, height: int) -> bytes:
    """Synthetic: a valid PNG header declaring width x height with a tiny (wrong) IDAT."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _dicom_without_pixels() -> bytes:
    ds = pydicom.dcmread(_testfile("CT_small.dcm"))
    del ds.PixelData
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


BAD_IMAGES = {
    "truncated JPEG": (lambda: _jpeg_bytes(np.tile(np.arange(256, dtype=np.uint8), (256, 1)))[:1500], "truncated"),
    "decompression bomb (error range)": (lambda: _png_with_size(20_000, 20_000), "decompression bomb"),
    "decompression bomb (warning range)": (lambda: _png_with_size(7_000, 7_000), "decompression bomb"),
    "DICOM without pixel data": (_dicom_without_pixels, "no pixel data"),
    "DICOM preamble then junk": (lambda: b"\0" * 128 + b"DICM" + b"junk" * 50, "DICOM"),
    "1x1 PNG": (lambda: _png_bytes(np.zeros((1, 1), np.uint8)), "1 x 1 pixels"),
    "text renamed .png": (lambda: b"patient notes, not an image\n" * 20, "not a PNG, JPEG or DICOM"),
    "empty file": (lambda: b"", "empty"),
}


@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_bad_images_are_rejected_with_a_clear_sentence(name):
    build, fragment = BAD_IMAGES[name]
    with pytest.raises(InputError) as info:
        decode_image(build(), "upload.png")
    message = str(info.value)
    assert fragment.lower() in message.lower()
    assert message.endswith(".") and "Traceback" not in message


# ----------------------------------------------------------------------------- Grad-CAM


def test_gradcam_shape_range_and_target_class():
    from engine.imaging.gradcam import NORMAL, PNEUMONIA, forward_with_cam
    from engine.imaging.model import XrayNet

    torch.manual_seed(0)
    model = XrayNet().eval()
    x = torch.from_numpy(preprocess(decode_image(_testfile("RG1_UNCR.dcm").read_bytes()).gray)[None])
    logit_p, _, cam_p = forward_with_cam(model, x, PNEUMONIA)
    logit_n, _, cam_n = forward_with_cam(model, x, NORMAL)
    with torch.no_grad():
        assert torch.allclose(logit_p, model(x), atol=1e-5)  # same pass as a plain forward
    assert cam_p.shape == (1, INPUT_SIZE, INPUT_SIZE) and cam_n.shape == cam_p.shape
    assert float(cam_p.min()) >= 0 and float(cam_p.max()) == pytest.approx(1.0)
    assert not torch.allclose(cam_p, cam_n)
    # With global average pooling and a linear head the two class maps are the positive and
    # negative parts of one map (before upsampling): where one is hot the other is cold.
    assert float((cam_p * cam_n).mean()) < 0.05 * float(cam_p.mean() + cam_n.mean())


# ----------------------------------------------------------------------------- quality / OOD


def _sample_photo(name: str) -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return load_sample_image(name)  # real photographs bundled with scikit-learn


@needs_bundle
@pytest.mark.parametrize("name,modality", [("CT_small.dcm", "CT"), ("MR_small.dcm", "MR")])
def test_ood_flags_ct_and_mr_dicom(name, modality):
    from engine.imaging.service import predict_image

    result = predict_image(_testfile(name).read_bytes(), name)
    assert result["quality"]["ok"] is False
    assert result["probability"] is None and result["interval"] is None and result["heatmap_png"] is None
    assert any(f"modality {modality}" in w for w in result["quality"]["warnings"])


@needs_bundle
@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm"])
def test_ood_flags_ct_and_mr_pixels_without_header(name):
    """The same slices as plain PNGs (no DICOM header to give them away) are still flagged."""
    from engine.imaging.service import predict_image

    gray = decode_image(_testfile(name).read_bytes()).gray
    result = predict_image(_png_bytes((gray * 255).astype(np.uint8)), "slice.png")
    assert result["quality"]["ok"] is False and result["probability"] is None


@needs_bundle
@pytest.mark.parametrize("name", ["china.jpg", "flower.jpg"])
@pytest.mark.parametrize("grayscale", [False, True])
def test_ood_flags_photographs(name, grayscale):
    from engine.imaging.service import predict_image

    photo = _sample_photo(name)
    if grayscale:  # a gray photo defeats the colour check: the pixel checks must catch it
        photo = np.asarray(Image.fromarray(photo).convert("L"))
    result = predict_image(_jpeg_bytes(photo), name)
    assert result["quality"]["ok"] is False and result["probability"] is None


@needs_bundle
def test_non_chest_and_lateral_headers_withhold():
    from engine.imaging.service import predict_image

    extremity = predict_image(_testfile("RG3_UNCR.dcm").read_bytes())
    assert extremity["quality"]["ok"] is False
    assert any("EXTREMITY" in w for w in extremity["quality"]["warnings"])
    ds = pydicom.dcmread(_testfile("RG1_UNCR.dcm"))
    ds.ViewPosition = "LL"
    buf = io.BytesIO()
    ds.save_as(buf)
    lateral = predict_image(buf.getvalue())
    assert lateral["quality"]["ok"] is False and any("lateral" in w for w in lateral["quality"]["warnings"])


@needs_bundle
def test_extreme_exposure_withholds():
    from engine.imaging.service import predict_image

    gray = decode_image(_testfile("RG1_UNCR.dcm").read_bytes()).gray
    burnt = np.clip(gray * 0.08 + 0.92, 0, 1)  # nearly white film
    result = predict_image(_png_bytes((burnt * 255).astype(np.uint8)))
    assert result["quality"]["ok"] is False
    assert any("exposure" in w for w in result["quality"]["warnings"])


@needs_bundle
@pytest.mark.skipif(not XRAY_TRAIN.is_dir(), reason="Kermany training folder not present")
def test_training_images_pass_quality_and_get_a_probability():
    from engine.imaging.service import predict_image

    for cls in ("NORMAL", "PNEUMONIA"):
        path = sorted((XRAY_TRAIN / cls).iterdir())[3]
        result = predict_image(path.read_bytes(), path.name)
        assert result["quality"]["ok"], result["quality"]
        lo, hi = result["interval"]
        assert 0 <= lo <= result["probability"] <= hi <= 1
        assert result["heatmap_png"][:8] == b"\x89PNG\r\n\x1a\n"
        assert set(result) == {"probability", "interval", "quality", "heatmap_png", "model", "version"}


# ----------------------------------------------------------------------------- bundle


@needs_bundle
def test_bundle_refuses_tampered_weights(tmp_path, monkeypatch):
    from engine.imaging.bundle import bundle_dir, load_bundle

    src = bundle_dir()
    dst = tmp_path / "chest_xray_pneumonia" / src.name
    shutil.copytree(src, dst)
    weights = dst / "weights.pt"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelUnavailableError, match="integrity"):
        load_bundle(models_dir=tmp_path)
    card = json.loads((src / "card.json").read_text())
    assert card["training_data"]["licence"] == "CC BY 4.0"
    assert "Kermany" in card["training_data"]["citation"]
    assert "not a substitute for a radiologist" in card["intended_use"].lower()
    assert card["metrics"]["holdout"]["auroc"]["ci95"] is not None


# ----------------------------------------------------------------------------- metrics


def test_metrics_match_scikit_learn():
    from sklearn.metrics import accuracy_score, confusion_matrix, recall_score, roc_auc_score

    from engine.imaging.metrics import bootstrap_metrics

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    p = np.clip(y * 0.3 + rng.random(300) * 0.7, 0, 1)
    m = bootstrap_metrics(y, p, 0.5, n_boot=200)
    pred = (p >= 0.5).astype(int)
    assert m["accuracy"]["value"] == pytest.approx(accuracy_score(y, pred), abs=1e-4)
    assert m["sensitivity"]["value"] == pytest.approx(recall_score(y, pred), abs=1e-4)
    assert m["specificity"]["value"] == pytest.approx(recall_score(1 - y, 1 - pred), abs=1e-4)
    assert m["auroc"]["value"] == pytest.approx(roc_auc_score(y, p), abs=1e-4)
    assert m["confusion_matrix"]["rows_true_cols_pred"] == confusion_matrix(y, pred).tolist()
    lo, hi = m["auroc"]["ci95"]
    assert lo < m["auroc"]["value"] < hi


def test_patient_ids_from_kermany_file_names():
    from engine.imaging.train import patient_id

    assert patient_id(Path("PNEUMONIA/person1000_bacteria_2931.jpeg")) == "person1000"
    assert patient_id(Path("PNEUMONIA/person12_virus_3_1.jpeg")) == "person12"
    assert patient_id(Path("NORMAL/IM-0115-0001.jpeg")) == "IM-0115"
    assert patient_id(Path("NORMAL/NORMAL2-IM-1345-0001-0002.jpeg")) == "NORMAL2-IM-1345"


# ----------------------------------------------------------------------------- de-identification


def test_dicom_deidentified_pixels_kept():
    from engine.imaging.deid import deidentify

    original = _testfile("CT_small.dcm").read_bytes()
    before = pydicom.dcmread(io.BytesIO(original))
    assert str(before.PatientName) and before.get("StudyDate")
    after = pydicom.dcmread(io.BytesIO(deidentify(original, "dicom")))
    assert str(after.PatientName) == "" and after.PatientID == "" and after.PatientBirthDate == ""
    assert "InstitutionName" not in after
    assert after.StudyDate == before.StudyDate[:4] + "0101"
    assert after.SOPInstanceUID != before.SOPInstanceUID and after.PatientIdentityRemoved == "YES"
    np.testing.assert_array_equal(after.pixel_array, before.pixel_array)


def test_jpeg_and_png_metadata_stripped_losslessly():
    from engine.imaging.deid import deidentify

    gray = (decode_image(_testfile("CT_small.dcm").read_bytes()).gray * 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x013B] = "Jane Identifiable"  # Artist
    jpeg = _jpeg_bytes(gray, exif=exif.tobytes())
    clean = deidentify(jpeg, "jpeg")
    assert b"Jane Identifiable" in jpeg and b"Jane Identifiable" not in clean
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(clean))), np.asarray(Image.open(io.BytesIO(jpeg))))

    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Patient", "Jane Identifiable")
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, format="PNG", pnginfo=info)
    clean_png = deidentify(buf.getvalue(), "png")
    assert b"Jane Identifiable" not in clean_png
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(clean_png))), gray)


# ----------------------------------------------------------------------------- store + audit


@needs_bundle
def test_store_dedupes_by_hash_deidentifies_and_audits(fresh_db):
    from engine.imaging.records import analyse_and_store, list_patient_images, record_feedback
    from engine.store import images as image_store
    from engine.store.patients import insert_patient

    insert_patient(fresh_db, {"pseudo_id": "IMG-0001", "sex": "female", "age": 4, "created_at": "2026-01-01"})
    data = _testfile("RG1_UNCR.dcm").read_bytes()
    first = analyse_and_store(fresh_db, pseudo_id="IMG-0001", data=data, filename="x.dcm", username="doc")
    second = analyse_and_store(fresh_db, pseudo_id="IMG-0001", data=data, filename="x.dcm", username="doc")
    assert first["image_id"] == second["image_id"] and second["image_created"] is False
    assert first["prediction_id"] == second["prediction_id"]
    stored = image_store.get_image(fresh_db, first["image_id"])
    ds = pydicom.dcmread(io.BytesIO(stored["content"]))
    assert str(ds.PatientName) == "" and ds.PatientIdentityRemoved == "YES"
    assert len(list_patient_images(fresh_db, "IMG-0001")) == 1
    record_feedback(fresh_db, prediction_id=first["prediction_id"], verdict="disagree", reason="looks clear",
                    username="doc")
    actions = [r[0] for r in fresh_db.conn.execute("SELECT action FROM audit ORDER BY id")]
    assert actions == ["imaging.store", "predict.run", "feedback.record"]
    with pytest.raises(InputError):
        record_feedback(fresh_db, prediction_id=first["prediction_id"], verdict="maybe", reason=None, username="doc")


@needs_bundle
@pytest.mark.parametrize("name", ["truncated JPEG", "DICOM without pixel data", "1x1 PNG", "text renamed .png"])
def test_bad_upload_stores_nothing(fresh_db, name):
    from engine.imaging.records import analyse_and_store
    from engine.store.patients import insert_patient

    insert_patient(fresh_db, {"pseudo_id": "IMG-0002", "created_at": "2026-01-01"})
    with pytest.raises(InputError):
        analyse_and_store(fresh_db, pseudo_id="IMG-0002", data=BAD_IMAGES[name][0](), filename="a.png", username="doc")
    counts = [fresh_db.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("images", "predictions", "audit")]
    assert counts == [0, 0, 0]


# ----------------------------------------------------------------------------- evaluate command


@needs_bundle
@pytest.mark.skipif(not XRAY_TRAIN.is_dir(), reason="Kermany training folder not present")
def test_evaluate_command_on_tiny_folder_of_mixed_sizes_and_modes(tmp_path, capsys):
    """Six real training images, re-saved as 16-bit PNG, RGB PNG, large JPEG: one JSON object back."""
    from engine.__main__ import main

    for cls in ("NORMAL", "PNEUMONIA"):
        (tmp_path / cls).mkdir()
        for i, path in enumerate(sorted((XRAY_TRAIN / cls).iterdir())[:3]):
            img = Image.open(path).convert("L")
            if i == 0:
                Image.fromarray((np.asarray(img, np.uint16) * 257)).save(tmp_path / cls / f"{path.stem}.png")
            elif i == 1:
                img.convert("RGB").save(tmp_path / cls / f"{path.stem}.png")
            else:
                img.resize((1200, 1000), Image.Resampling.BICUBIC).save(tmp_path / cls / path.name, quality=95)
    assert main(["imaging", "evaluate", str(tmp_path), "--n-boot", "50"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n"] == 6 and out["unreadable"] == 0
    cm = np.array(out["confusion_matrix"]["rows_true_cols_pred"])
    assert cm.sum() == 6 and cm[0].sum() == 3 and cm[1].sum() == 3
    assert out["accuracy"]["value"] == pytest.approx(np.trace(cm) / 6, abs=1e-4)
    for key in ("accuracy", "sensitivity", "specificity", "auroc"):
        assert key in out


def test_evaluate_command_errors_are_one_sentence(tmp_path, capsys):
    from engine.__main__ import main

    assert main(["imaging", "evaluate", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith("error: The folder")


# ----------------------------------------------------------------------------- viewer


def test_viewer_rewindows_dicom_and_shows_no_identifiers():
    from engine.imaging.viewer import display_image, header_fields, window_range

    decoded = decode_image(_testfile("RG1_UNCR.dcm").read_bytes())
    rng = window_range(decoded)
    assert rng["min_center"] <= rng["center"] <= rng["max_center"]
    default = display_image(decoded, rng["center"], rng["width"])
    narrow = display_image(decoded, rng["center"], rng["width"] / 4)
    assert max(default.shape) == 1024 and default.dtype == np.uint8
    assert narrow.std() > default.std()  # a narrower window raises contrast
    fields = {f["field"]: f["value"] for f in header_fields(decoded)}
    assert fields["Modality"] == "CR" and fields["Body part"] == "CHEST" and fields["View"] == "PA"
    ds = pydicom.dcmread(_testfile("RG1_UNCR.dcm"))
    for identifier in (str(ds.get("PatientName", "")), str(ds.get("PatientID", ""))):
        if identifier:
            assert identifier not in " ".join(fields.values())
    png = decode_image(_png_bytes(np.full((40, 60), 128, np.uint8)))
    assert window_range(png) is None and header_fields(png) == []


# ----------------------------------------------------------------------------- training (reduced)


@pytest.mark.skipif(not XRAY_TRAIN.is_dir(), reason="Kermany training folder not present")
@pytest.mark.parametrize("consistency", [0.0, 12.0])
def test_training_writes_a_verified_bundle_on_a_tiny_folder(tmp_path, consistency):
    """Reduced version of `python -m engine imaging train`: 12 real images per class, one epoch (with and
    without the two-view consistency term)."""
    from engine.imaging.bundle import load_bundle
    from engine.imaging.train import TrainConfig, train

    data = tmp_path / "data"
    for cls in ("NORMAL", "PNEUMONIA"):
        (data / cls).mkdir(parents=True)
        for path in sorted((XRAY_TRAIN / cls).iterdir())[:12]:
            (data / cls / path.name).write_bytes(path.read_bytes())
    cfg = TrainConfig(max_epochs=1, n_boot=20, batch_size=8, val_fraction=0.25, holdout_fraction=0.25,
                      consistency=consistency)
    card = train(data, tmp_path / "models" / "chest_xray_pneumonia" / "0.0.1", cfg, version="0.0.1", log=lambda m: None)
    assert card["training"]["epochs_run"] == 1 and card["training"]["config"]["consistency"] == consistency
    assert np.isfinite(card["training"]["history"][0]["train_loss"])
    splits = card["training_data"]["splits"]
    assert sum(s["images"] for s in splits.values()) == 24 - card["training_data"]["duplicates_removed"]
    bundle = load_bundle(models_dir=tmp_path / "models")
    assert bundle.version == "0.0.1" and bundle.intensity == "equalise"
    # A new version carries its appearance gate, fitted on the same splits and verified on load.
    assert bundle.gate is not None and bundle.gate.limit == pytest.approx(card["appearance_gate"]["limit"], abs=1e-4)
    assert card["appearance_gate"]["train_images"] == splits["train"]["images"]
    # The threshold comes from the written rule on the calibration split, and the card says which clause decided it.
    assert float(bundle.model.threshold) == pytest.approx(card["output"]["threshold"], abs=1e-6)
    assert 0.0 < card["output"]["threshold"] < 1.0 and "calibration split" in card["output"]["threshold_decided_by"]


def test_reduced_dicom_decode_is_a_block_average_of_the_full_decode():
    """``max_side`` averages a large film down by an integer factor; the stored size is still reported.
    Reference: numpy's mean over 2 x 2 blocks of the full-resolution decode (pydicom's own LUTs)."""
    data = _testfile("RG1_UNCR.dcm").read_bytes()
    full, reduced = decode_image(data), decode_image(data, max_side=768)
    assert (reduced.width, reduced.height) == (full.width, full.height) == (1841, 1955)
    h, w = reduced.gray.shape
    assert (h, w) == (1955 // 2, 1841 // 2)
    ref = full.gray[:2 * h, :2 * w].reshape(h, 2, w, 2).mean(axis=(1, 3))
    assert np.abs(reduced.gray - ref).max() < 0.01  # windowing after (not before) averaging: tiny difference
