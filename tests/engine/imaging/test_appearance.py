"""The appearance gate (eigen-chest residual): its arithmetic against scikit-learn's PCA, its verdicts on real
films and real non-chest images, its checksum, and the fit-gate command on a tiny real folder.

Real data: pydicom-data's CT, MR and chest CR slices; scikit-learn's bundled photographs; the Kermany copies
and originals in ``../shared/data`` (tests that need them skip with a reason when the folder is absent).
"""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from engine.config import get_settings
from engine.errors import ModelUnavailableError
from engine.imaging.appearance import LIMIT_MARGIN, LIMIT_PERCENTILE, N_COMPONENTS, coarse, fit_gate
from engine.imaging.bundle import MODEL_NAME, installed_versions, load_bundle
from engine.imaging.decode import decode_image
from engine.imaging.preprocess import resize_square
from tests.chest_films import FULLRES, needs_fullres

COPIES = get_settings().xray_data_dir / "train"
if not COPIES.is_dir():  # worktrees sit one level deeper than the main checkout
    COPIES = Path("/work/shared/data/chest_xray/train")
needs_copies = pytest.mark.skipif(not COPIES.is_dir(), reason="../shared/data/chest_xray absent (shared data not mounted)")
gated_versions = [v for v in installed_versions()
                  if "appearance_gate" in json.loads((get_settings().models_dir / MODEL_NAME / v / "card.json").read_text())]
needs_gate = pytest.mark.skipif(not gated_versions, reason="no installed chest X-ray version has an appearance gate")


def _squares(paths) -> np.ndarray:
    return np.stack([resize_square(decode_image(Path(p).read_bytes(), Path(p).name).gray) for p in paths])


def _copies(label: str, n: int, skip: int = 0) -> list[Path]:
    return sorted((COPIES / label).iterdir())[skip:skip + n]


@needs_copies
def test_residual_and_limit_match_scikit_learn_pca():
    """The residual is the RMS reconstruction error of a 10-component PCA (independent reference: sklearn)."""
    from sklearn.decomposition import PCA

    train = _squares(_copies("NORMAL", 40) + _copies("PNEUMONIA", 40))
    val = _squares(_copies("NORMAL", 15, skip=40) + _copies("PNEUMONIA", 15, skip=40))
    gate, facts = fit_gate(train, val)
    pca = PCA(n_components=N_COMPONENTS, svd_solver="full").fit(coarse(train))
    x = coarse(val)
    reference = np.sqrt(((x - pca.inverse_transform(pca.transform(x))) ** 2).mean(axis=1))
    np.testing.assert_allclose(gate.residual(val), reference, rtol=1e-6, atol=1e-9)
    assert gate.limit == pytest.approx(LIMIT_MARGIN * np.percentile(reference, LIMIT_PERCENTILE), rel=1e-9)
    assert facts["validation_refused"] == 0 and facts["train_images"] == 80
    assert facts["explained_variance"] == pytest.approx(pca.explained_variance_ratio_.sum(), abs=1e-4)


def _testfile(name: str) -> bytes:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not bundled offline")
    return Path(path).read_bytes()


def _png_of(data: bytes) -> np.ndarray:
    gray = decode_image(data).gray
    buf = io.BytesIO()
    Image.fromarray((gray * 255).astype(np.uint8)).save(buf, format="PNG")
    return resize_square(decode_image(buf.getvalue(), "slice.png").gray)


@needs_gate
@pytest.mark.parametrize("version", gated_versions)
@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "US1_UNCR.dcm", "examples_overlay.dcm"])
def test_gate_alone_refuses_headerless_slices_and_scans(version, name):
    """CT, MR and ultrasound pixels without their header are far from the eigen-chests (CT_small is the slice
    that model 2.0.0's own features let through)."""
    gate = load_bundle(version).gate
    assert float(gate.residual(_png_of(_testfile(name)))[0]) > gate.limit


@needs_gate
@pytest.mark.parametrize("version", gated_versions)
def test_gate_alone_refuses_a_grey_photograph(version):
    """scikit-learn's flower photo, in grey. Its other photo (china.jpg, a temple) passes this check alone (a
    bright sky over dark ground is a coarse pattern the components can draw) and is refused by the layout
    check: tests/engine/test_imaging.py::test_ood_flags_photographs covers the whole gate."""
    from sklearn.datasets import load_sample_image

    gate = load_bundle(version).gate
    gray = np.asarray(Image.fromarray(load_sample_image("flower.jpg")).convert("L"), dtype=np.float32) / 255
    assert float(gate.residual(resize_square(gray))[0]) > gate.limit


@needs_gate
@needs_fullres
@pytest.mark.parametrize("version", gated_versions)
def test_gate_passes_real_originals_at_their_own_geometry(version):
    """A seeded sample of whole frontal originals (every one of the 1,551 passed when the gate was fitted;
    the card records it): none is refused by the gate."""
    gate = load_bundle(version).gate
    paths = sorted((FULLRES / "NORMAL").iterdir()) + sorted((FULLRES / "PNEUMONIA").iterdir())
    pick = np.random.default_rng(0).choice(len(paths), 60, replace=False)
    residual = gate.residual(_squares([paths[i] for i in pick]))
    assert (residual <= gate.limit).all(), residual.max()


@needs_gate
def test_a_changed_gate_file_is_refused(tmp_path, monkeypatch):
    version = gated_versions[-1]
    src = get_settings().models_dir / MODEL_NAME / version
    dst = tmp_path / MODEL_NAME / version
    shutil.copytree(src, dst)
    card = json.loads((dst / "card.json").read_text())
    gate_file = dst / card["appearance_gate"]["file"]
    with np.load(gate_file) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["limit"] = np.array(99.0)  # a gate that would pass anything
    with open(gate_file, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(ModelUnavailableError, match="appearance gate"):
        load_bundle(version, models_dir=tmp_path)


@needs_copies
def test_fit_gate_command_writes_a_verified_gate_into_the_card(tmp_path, monkeypatch, capsys):
    """The command on a tiny real folder (24 films per class): gate file, checksum and facts land in the card,
    and the bundle then loads with the gate; the weights file is untouched."""
    from engine.__main__ import main

    version = installed_versions()[0]
    models = tmp_path / "models"
    shutil.copytree(get_settings().models_dir / MODEL_NAME / version, models / MODEL_NAME / version)
    weights_before = (models / MODEL_NAME / version / "weights.pt").read_bytes()
    tiny = tmp_path / "tiny"
    for label in ("NORMAL", "PNEUMONIA"):
        (tiny / label).mkdir(parents=True)
        for p in _copies(label, 24):
            shutil.copy(p, tiny / label / p.name)
    monkeypatch.setenv("CLINSIGHT_MODELS", str(models))
    assert main(["imaging", "fit-gate", str(tiny), "--version", version]) == 0
    entry = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    card = json.loads((models / MODEL_NAME / version / "card.json").read_text())
    assert card["appearance_gate"] == entry and entry["components"] == N_COMPONENTS
    assert entry["train_images"] + entry["validation_images"] <= 48
    assert load_bundle(version, models_dir=models).gate.limit == pytest.approx(entry["limit"], abs=1e-4)
    assert (models / MODEL_NAME / version / "weights.pt").read_bytes() == weights_before
