"""The one preprocessing path: grayscale [0, 1] -> padded square -> resized -> normalised.

Why one function for training, evaluation and the app: any difference between
them (interpolation, padding, normalisation) silently shifts the inputs the
model sees. Normalisation is per image (zero mean, unit variance), which makes
the model less sensitive to exposure and contrast differences between sites.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

#: Side of the square model input, in pixels.
INPUT_SIZE = 128


def pad_to_square(gray: np.ndarray, value: float = 0.0) -> np.ndarray:
    """Pad the shorter side symmetrically so the aspect ratio is kept (no stretching)."""
    height, width = gray.shape
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    out = np.full((side, side), value, dtype=np.float32)
    out[top:top + height, left:left + width] = gray
    return out


def resize_square(gray: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """Aspect-aware resize of a grayscale [0, 1] image to ``size`` x ``size`` float32 in [0, 1].

    Pads first (black, like a radiograph's background), then resizes with an
    antialiasing filter so large originals are not aliased.
    """
    square = pad_to_square(gray.astype(np.float32, copy=False))
    if square.shape[0] != size:
        img = Image.fromarray(square, mode="F")
        square = np.asarray(img.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0), dtype=np.float32)
    return np.clip(square, 0.0, 1.0)


def normalise(square: np.ndarray) -> np.ndarray:
    """Per-image standardisation (zero mean, unit variance); works on numpy or torch arrays.

    Operates over the last two axes so a batch (N, 1, H, W) is normalised image by image.
    """
    mean = square.mean(axis=(-2, -1), keepdims=True) if isinstance(square, np.ndarray) else square.mean(dim=(-2, -1), keepdim=True)
    std = square.std(axis=(-2, -1), keepdims=True) if isinstance(square, np.ndarray) else square.std(dim=(-2, -1), keepdim=True)
    return (square - mean) / (std + 1e-6)


def preprocess(gray: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """Full path for one image: (H, W) gray in [0, 1] -> (1, size, size) float32 model input."""
    return normalise(resize_square(gray, size))[None, :, :].astype(np.float32)
