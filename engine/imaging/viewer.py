"""What the imaging viewer draws: a display-sized grayscale image (re-windowed for DICOM) and safe header fields.

Why in the engine: window/level arithmetic and downsampling are logic, testable
without Streamlit; the page only turns these arrays into figures.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from engine.imaging.decode import DecodedImage, window_image

#: Long side of the image sent to the browser (zoom works within it).
DISPLAY_MAX_SIDE = 1024
HEADER_LABELS = (("Modality", "Modality"), ("BodyPartExamined", "Body part"), ("ViewPosition", "View"),
                 ("PhotometricInterpretation", "Photometric"), ("Rows", "Rows"), ("Columns", "Columns"),
                 ("BitsStored", "Bits stored"), ("Manufacturer", "Manufacturer"))


def _shrink(arr: np.ndarray, max_side: int) -> np.ndarray:
    height, width = arr.shape
    scale = max_side / max(height, width)
    if scale >= 1:
        return arr.astype(np.float32)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(arr.astype(np.float32), mode="F").resize(size, Image.Resampling.BOX), dtype=np.float32)


def window_range(decoded: DecodedImage) -> dict | None:
    """Slider ranges and defaults for DICOM window/level, or None for PNG/JPEG."""
    if decoded.kind != "dicom" or decoded.raw is None or decoded.window is None:
        return None
    lo, hi = float(np.min(decoded.raw)), float(np.max(decoded.raw))
    span = max(hi - lo, 1.0)
    center, width = decoded.window
    return {"min_center": lo, "max_center": hi, "center": float(np.clip(center, lo, hi)),
            "min_width": max(span / 1000, 1.0), "max_width": span * 2, "width": float(np.clip(width, max(span / 1000, 1.0), span * 2))}


def display_image(decoded: DecodedImage, center: float | None = None, width: float | None = None,
                  max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """uint8 grayscale for the viewer; DICOM re-windowed at (center, width) when both are given."""
    if decoded.kind == "dicom" and decoded.raw is not None and center is not None and width is not None:
        invert = str(decoded.header.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1"
        gray = window_image(_shrink(decoded.raw, max_side), center, width, invert=invert)
    else:
        gray = _shrink(decoded.gray, max_side)
    return (np.clip(gray, 0, 1) * 255).round().astype(np.uint8)


def header_fields(decoded: DecodedImage) -> list[dict]:
    """Key DICOM header fields for display (never identifiers: only whitelisted technical fields are decoded)."""
    return [{"field": label, "value": str(decoded.header[key])} for key, label in HEADER_LABELS if key in decoded.header]


def thumbnail_png(content: bytes, size: int = 160) -> bytes:
    """A small grayscale PNG of a stored image for the patient's image list (JPEGs decode at reduced scale)."""
    import io

    from engine.imaging.decode import decode_image

    decoded = decode_image(content, max_side=size)
    gray = display_image(decoded, max_side=size)
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, format="PNG", optimize=True)
    return buf.getvalue()
