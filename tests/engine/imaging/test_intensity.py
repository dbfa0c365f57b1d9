"""Intensity normalisation inside the one preprocessing contract, 2.0.0's augmentation and threshold rule.

References are independent of the code under test: scipy's rank function for histogram equalisation,
scikit-learn's ROC for the threshold rule, scipy's Gaussian filter for the blur. Images are real
training copies where the data folder is present (skipped with a reason otherwise); the random arrays
are synthetic and say so.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from scipy.stats import rankdata
from sklearn.metrics import roc_curve

from engine.config import get_settings
from engine.imaging.decode import decode_image
from engine.imaging.preprocess import equalise, model_input, preprocess, resize_square
from engine.imaging.train import _gaussian_blur, augment_v2, choose_threshold

XRAY_TRAIN = get_settings().xray_data_dir / "train"
if not XRAY_TRAIN.is_dir():  # worktrees sit one level deeper than the main checkout
    XRAY_TRAIN = Path("/work/shared/data/chest_xray/train")


def _film() -> np.ndarray:
    if not XRAY_TRAIN.is_dir():
        pytest.skip("Kermany training folder not present")
    path = sorted((XRAY_TRAIN / "NORMAL").iterdir())[5]
    return decode_image(path.read_bytes(), path.name).gray


def test_equalise_is_the_mid_rank_cdf():
    """Synthetic 8-bit-like image with many ties: equalisation equals scipy's average rank scaled to (0, 1)."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 40, (32, 32)).astype(np.float32) / 40
    ref = (rankdata(img.ravel(), method="average") - 0.5) / img.size
    got = equalise(torch.from_numpy(img)).numpy().ravel()
    assert np.allclose(got, ref, atol=1e-6)


def test_equalised_input_ignores_gamma_and_contrast_that_standardisation_keeps():
    """A real film's 128 px square under increasing grey transforms: the 2.0.0 input does not move, 1.0.0's does."""
    square = resize_square(_film())
    curves = {"gamma 0.6": square ** 0.6, "gamma 1.6": square ** 1.6,
              "film curve": 1 / (1 + np.exp(-8 * (square - 0.5)))}
    for name, shifted in curves.items():
        eq = (model_input(shifted, "equalise") - model_input(square, "equalise")).abs().max()
        std = (model_input(shifted, "standardise") - model_input(square, "standardise")).abs().max()
        assert float(eq) < 1e-3, name
        assert float(std) > 0.1, name
    # A linear contrast change (no clipping) leaves both unchanged: standardisation already removes it.
    linear = (square - 0.5) * 0.7 + 0.5
    assert float((model_input(linear, "equalise") - model_input(square, "equalise")).abs().max()) < 1e-3


def test_model_input_batches_like_single_images_and_rejects_unknown_modes():
    film = _film()
    one = preprocess(film, intensity="equalise")
    batch = model_input(np.stack([resize_square(film)] * 3), "equalise")
    assert one.shape == (1, 128, 128) and tuple(batch.shape) == (3, 1, 128, 128)
    assert np.allclose(batch[2].numpy(), one, atol=1e-6)
    with pytest.raises(ValueError):
        model_input(resize_square(film), "clahe")


def test_cards_declare_their_intensity_step():
    from engine.imaging.bundle import MODEL_NAME, load_bundle

    try:
        old = load_bundle("1.0.0")
    except Exception as exc:  # noqa: BLE001 - a checkout without the shipped bundle
        pytest.skip(f"model 1.0.0 not installed ({exc})")
    assert old.intensity == "standardise"  # its card predates the field: what it was trained with
    if (get_settings().models_dir / MODEL_NAME / "2.0.0" / "card.json").exists():
        assert load_bundle("2.0.0").intensity == "equalise"


def test_blur_matches_scipy_and_sigma_zero_is_identity():
    """Synthetic random images: the per-image separable blur equals scipy's Gaussian filter away from the edges."""
    x = torch.rand(2, 1, 40, 40, generator=torch.Generator().manual_seed(1))
    out = _gaussian_blur(x, torch.tensor([1.5, 0.0]))
    ref = gaussian_filter(x[0, 0].numpy().astype(np.float64), 1.5, truncate=3.0)
    assert np.allclose(out[0, 0].numpy()[8:-8, 8:-8], ref[8:-8, 8:-8], atol=1e-4)
    assert torch.allclose(out[1], x[1])


def test_augmentation_stays_in_range_and_leaves_borders_when_zooming_out():
    square = torch.from_numpy(resize_square(_film()))[None, None].repeat(64, 1, 1, 1)
    out = augment_v2(square, torch.Generator().manual_seed(3))
    assert out.shape == square.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert not torch.allclose(out[0], out[1])  # each image gets its own draw
    corners = out[:, 0, :3, :3].flatten(1).std(dim=1)
    assert (corners < 0.02).any()  # some images got a flat border in the corner (zoomed out or shifted)


def test_threshold_rule_against_the_roc_curve():
    """The rule's threshold gives the smallest false-positive rate <= 3% that scikit-learn's ROC offers, or keeps
    sensitivity at the floor when that would cost too much (synthetic scores)."""
    rng = np.random.default_rng(7)
    y = np.r_[np.zeros(200), np.ones(500)].astype(int)
    p = np.r_[rng.beta(2, 6, 200), rng.beta(6, 2, 500)]
    t, why = choose_threshold(y, p, spec_target=0.97, sens_floor=0.80)
    fpr, tpr, thr = roc_curve(y, p)
    best = tpr[fpr <= 0.03].max()
    assert "specificity" in why
    assert ((p[y == 0] < t).mean() >= 0.97) and (p[y == 1] >= t).mean() == pytest.approx(best)
    t2, why2 = choose_threshold(y, p, spec_target=0.999, sens_floor=0.95)
    assert "floor" in why2 and (p[y == 1] >= t2).mean() >= 0.95
    assert int((p[y == 1] >= t2).sum()) == int(np.ceil(0.95 * 500))  # the highest threshold that keeps the floor


def test_tta_views_frame_tighter_and_looser():
    """The measured test-time views: the framed image, a 5% crop (zoomed in) and a 5% black padding (zoomed out)."""
    from engine.imaging.robustness import tta_views

    square = torch.from_numpy(resize_square(_film()))[None, None]
    same, crop, pad = tta_views(square)
    assert torch.equal(same, square) and crop.shape == pad.shape == square.shape
    assert float(pad[0, 0, :2, :].max()) < 0.02  # a black border on top
    assert float(crop[0, 0, 64, 0]) == pytest.approx(float(square[0, 0, 64, 3]), abs=0.06)  # edge moved inwards


def test_bernoulli_js_against_scipy():
    """The consistency term's divergence equals scipy's Jensen-Shannon distance squared (natural log)."""
    from scipy.spatial.distance import jensenshannon

    from engine.imaging.train import bernoulli_js

    a, b = torch.tensor([2.0, -1.0, 0.3]), torch.tensor([0.5, -3.0, 0.3])
    p, q = torch.sigmoid(a).numpy(), torch.sigmoid(b).numpy()
    reference = np.mean([jensenshannon([pi, 1 - pi], [qi, 1 - qi]) ** 2 for pi, qi in zip(p, q)])
    assert float(bernoulli_js(a, b)) == pytest.approx(reference, rel=1e-5)
    assert float(bernoulli_js(a, a)) == pytest.approx(0.0, abs=1e-7)
