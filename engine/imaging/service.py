"""One call from image bytes to a reviewed result: the contract the page and the REST API use.

``predict_image(data, filename)`` returns a plain dict (JSON-friendly apart from
the PNG bytes): probability (None when withheld), interval, quality, heatmap_png
(None when withheld), model, version. ``analyse_image`` returns the richer
:class:`ImageAnalysis` the page needs to draw its viewer (model-space image,
heat-map arrays). Bad images raise :class:`InputError` before anything is stored.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from engine.imaging.bundle import MODEL_NAME, load_bundle
from engine.imaging.decode import DecodedImage, decode_image
from engine.imaging.gradcam import PNEUMONIA, forward_with_cam
from engine.imaging.preprocess import INPUT_SIZE, resize_square
from engine.imaging.quality import QualityReport, check_quality

#: Least long side (pixels) an upload is decoded at (JPEG draft, DICOM block mean): the model sees 224 -> 128 px;
#: the viewer gets 768-1,535 px (a 1,955 px film decodes at half size, 978 px).
ANALYSIS_MAX_SIDE = 768
#: Side of the heat-map overlay PNG (the training images' native size).
OVERLAY_SIZE = 224


@dataclass
class ImageAnalysis:
    """Everything one analysis produced; ``probability``/``cam`` are None when withheld."""

    decoded: DecodedImage
    square: np.ndarray  # (INPUT_SIZE, INPUT_SIZE) [0, 1], exactly what the model saw before normalising
    probability: float | None
    interval: list[float] | None
    quality: QualityReport
    cam: np.ndarray | None  # (INPUT_SIZE, INPUT_SIZE) [0, 1] Grad-CAM for pneumonia
    logit: float
    threshold: float
    model: str
    version: str

    @property
    def label(self) -> str | None:
        """Reading at the shipped threshold, or None when withheld."""
        if self.probability is None:
            return None
        return "pneumonia" if self.probability >= self.threshold else "no pneumonia"

    def result_dict(self, include_png: bool = True) -> dict:
        """The contract dict (see module docstring)."""
        return {
            "probability": self.probability,
            "interval": self.interval,
            "quality": self.quality.as_dict(),
            "heatmap_png": build_overlay_png(self.square, self.cam) if (include_png and self.cam is not None) else None,
            "model": self.model,
            "version": self.version,
        }


def analyse_image(data: bytes, filename: str | None = None, *, version: str | None = None) -> ImageAnalysis:
    """Decode, check, predict and explain one image (raises InputError / ModelUnavailableError)."""
    bundle = load_bundle(version)
    decoded = decode_image(data, filename, max_side=ANALYSIS_MAX_SIDE)
    return analyse_decoded(decoded, bundle)


def analyse_decoded(decoded: DecodedImage, bundle) -> ImageAnalysis:
    """Analysis of an already decoded image (the viewer re-runs this after window/level changes)."""
    model = bundle.model
    square = resize_square(decoded.gray, INPUT_SIZE)
    x = bundle.inputs(square)
    logit, pooled, cam = forward_with_cam(model, x, PNEUMONIA)
    quality = check_quality(decoded, square, pooled, model, bundle.gate)
    z = float(logit[0])
    threshold = float(model.threshold)
    probability = interval = cam_map = None
    if quality.ok:
        probability = round(float(model.calibrate(logit)[0]), 4)
        boot = model.platt_boot.double()
        samples = torch.sigmoid(boot[:, 0] * z + boot[:, 1]).numpy()
        lo, hi = np.percentile(samples, [2.5, 97.5])
        interval = [round(float(min(lo, probability)), 4), round(float(max(hi, probability)), 4)]
        cam_map = cam[0].numpy()
    return ImageAnalysis(decoded=decoded, square=square, probability=probability, interval=interval, quality=quality,
                         cam=cam_map, logit=z, threshold=threshold, model=MODEL_NAME, version=bundle.version)


def predict_image(data: bytes, filename: str | None = None) -> dict:
    """Contract entry point: bytes of a PNG/JPEG/DICOM -> result dict (see module docstring)."""
    return analyse_image(data, filename).result_dict()


def heat_colours(cam: np.ndarray) -> np.ndarray:
    """Map [0, 1] to RGB uint8 with a perceptually ordered blue-green-yellow-red ramp (no matplotlib needed)."""
    stops = np.array([[0, 0, 0.5], [0, 0.4, 1], [0, 0.9, 0.6], [1, 0.9, 0], [1, 0.2, 0]], dtype=np.float32)
    pos = np.clip(cam, 0, 1) * (len(stops) - 1)
    i = np.minimum(pos.astype(int), len(stops) - 2)
    frac = (pos - i)[..., None]
    rgb = stops[i] * (1 - frac) + stops[i + 1] * frac
    return (rgb * 255).astype(np.uint8)


def build_overlay(square: np.ndarray, cam: np.ndarray, opacity: float = 0.45, size: int = OVERLAY_SIZE) -> np.ndarray:
    """RGB uint8 (size, size, 3): the model-space image with the heat-map blended in at ``opacity``.

    Blended at the model's resolution (where the map lives), then resized once: cheap enough to
    keep the whole read within a few forward passes.
    """
    base = (np.clip(square, 0, 1) * 255).astype(np.float32)[..., None]
    alpha = (float(np.clip(opacity, 0, 1)) * np.clip(cam * 1.5, 0, 1))[..., None]
    out = (base * (1 - alpha) + heat_colours(cam).astype(np.float32) * alpha).clip(0, 255).astype(np.uint8)
    if out.shape[0] != size:
        out = np.asarray(Image.fromarray(out).resize((size, size), Image.Resampling.BILINEAR))
    return out


def describe_heatmap(cam: np.ndarray | None) -> dict:
    """The heat-map's legend, and whether the map is blank (so the page can say why instead of showing nothing).

    Grad-CAM keeps only positive evidence for the pneumonia score (ReLU) and scales the map to its own peak.
    When no region raised the score the map is all zero and the overlay shows the plain image: a reader then
    wonders whether the model looked at all. It did; there was simply nothing for pneumonia to show.
    """
    blank = cam is None or not np.isfinite(cam).any() or float(np.nanmax(cam)) <= 1e-6
    if blank:
        return {"blank": True, "legend": "The heat-map is blank: no region of this image raised the model's "
                "pneumonia score, so there is nothing to colour. This is expected when the model reads an image "
                "as normal; it does not mean the image was not read."}
    return {"blank": False, "legend": "Colour scale: warm colours (yellow to red) mark the regions that raised the "
            "pneumonia score most, relative to this image's strongest region; uncoloured areas did not raise it."}


def build_overlay_png(square: np.ndarray, cam: np.ndarray, opacity: float = 0.45, size: int = OVERLAY_SIZE) -> bytes:
    """PNG bytes of :func:`build_overlay`."""
    buf = io.BytesIO()
    # Stored uncompressed (~150 KB): zlib alone cost about as much as a forward pass on this machine.
    Image.fromarray(build_overlay(square, cam, opacity, size)).save(buf, format="PNG", compress_level=0)
    return buf.getvalue()


def result_json(analysis: ImageAnalysis) -> str:
    """JSON of the stored output (no PNG bytes; the heat-map can be recomputed from the stored image)."""
    out = analysis.result_dict(include_png=False)
    out.pop("heatmap_png")
    out.update({"label": analysis.label, "threshold": analysis.threshold, "scores": analysis.quality.scores})
    return json.dumps(out)
