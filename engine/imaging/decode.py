"""Decode an uploaded image (PNG, JPEG, DICOM) into a grayscale float image in [0, 1].

Why here and not in the page: the same decoder feeds training, evaluation, the
app and the API, and it is the trust boundary for untrusted bytes. Types are
sniffed from content (never the file name), Pillow's decompression-bomb guard is
tightened and turned into an error, and DICOM files are checked for the tags
and pixel data a radiograph needs before any pixel is trusted.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFile

from engine.errors import InputError
from engine.uploads import sniff_type

#: Largest image we decode (pixels). A 4,096 x 4,096 radiograph is 16.8 M; 40 M
#: leaves room for large detectors while refusing bombs well before they cost
#: hundreds of megabytes.
MAX_PIXELS = 40_000_000
#: Smallest side, in pixels, that can carry a readable chest radiograph.
MIN_SIDE = 32

# Pillow only warns between MAX_IMAGE_PIXELS and twice that; we make both an error
# (see _open_pillow) and lower the limit for the whole process.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False

REQUIRED_DICOM_TAGS = ("Rows", "Columns", "BitsAllocated", "PhotometricInterpretation")
#: Header fields safe to show and store (no identifiers).
SAFE_HEADER_FIELDS = (
    "Modality", "BodyPartExamined", "ViewPosition", "PhotometricInterpretation", "Rows", "Columns",
    "BitsStored", "WindowCenter", "WindowWidth", "Manufacturer", "PatientOrientation", "ImageLaterality",
)


@dataclass
class DecodedImage:
    """A decoded image: grayscale pixels in [0, 1] plus what the quality checks need.

    ``raw`` keeps DICOM values after the modality LUT (before windowing) so the
    viewer can re-window; ``colourfulness`` is measured before conversion to gray.
    """

    gray: np.ndarray
    kind: str  # "dicom", "png", "jpeg"
    width: int
    height: int
    colourfulness: float = 0.0
    header: dict = field(default_factory=dict)
    raw: np.ndarray | None = None
    window: tuple[float, float] | None = None  # (center, width) used for ``gray``


def sniff_kind(data: bytes) -> str:
    """Return "png", "jpeg" or "dicom" from the bytes' signature (engine.uploads), or raise InputError."""
    kind = sniff_type(data)
    if kind in ("png", "jpeg", "dicom"):
        return kind
    raise InputError(
        "The file is not a PNG, JPEG or DICOM image (its content does not start like one), "
        "whatever its name says."
    )


def decode_image(data: bytes, filename: str | None = None, *, max_side: int | None = None) -> DecodedImage:
    """Decode ``data`` by content type; raise :class:`InputError` with a clear sentence if unusable.

    The type is sniffed from the bytes; ``filename`` is accepted for callers' convenience only.
    ``max_side`` lets a JPEG decode at a reduced DCT scale (never below ``max_side`` pixels on the
    long side) and a large DICOM be averaged down by an integer factor right after its modality LUT
    (again never below ``max_side``), so a full-resolution film costs a fraction of a full decode
    (windowing 3.6 M pixels dominated a 1841 x 1955 read); ``width``/``height`` still report the
    stored size, so geometry checks see the film's own aspect ratio.
    """
    if not data:
        raise InputError("The file is empty.")
    from engine.config import get_settings

    limit_mb = get_settings().upload_limit_mb
    if len(data) > limit_mb * 1024 * 1024:
        raise InputError(f"The file is {len(data) / 1e6:.0f} MB, more than the {limit_mb} MB accepted.")
    kind = sniff_kind(data)
    decoded = _decode_dicom(data, max_side) if kind == "dicom" else _decode_pillow(data, kind, max_side)
    if min(decoded.width, decoded.height) < MIN_SIDE:
        raise InputError(
            f"The image is only {decoded.width} x {decoded.height} pixels; a chest X-ray needs at least "
            f"{MIN_SIDE} pixels on each side."
        )
    if not np.isfinite(decoded.gray).all():
        raise InputError("The image contains invalid (non-finite) pixel values.")
    return decoded


def _decode_pillow(data: bytes, kind: str, max_side: int | None = None) -> DecodedImage:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise InputError(
                        f"The image is {width} x {height} pixels, more than the {MAX_PIXELS:,} pixels accepted."
                    )
                if kind == "jpeg" and max_side and max(width, height) > max_side:  # draft keeps >= max_side
                    scale = max_side / max(width, height)
                    img.draft(img.mode if img.mode in ("L", "RGB") else "RGB",
                              (max(1, int(width * scale)), max(1, int(height * scale))))
                img.load()
                arr = _pillow_to_float(img)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InputError(
            f"The image declares more than {MAX_PIXELS:,} pixels (a possible decompression bomb) and was refused."
        ) from None
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(
            f"The {kind.upper()} file could not be decoded (it looks truncated or damaged): {type(exc).__name__}."
        ) from None
    gray, colourfulness = _to_gray(arr)
    return DecodedImage(gray=gray, kind=kind, width=width, height=height, colourfulness=colourfulness)


def _pillow_to_float(img: Image.Image) -> np.ndarray:
    """Pillow image -> float32 array in [0, 1], HxW or HxWx3 (palette/alpha flattened)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return np.clip(arr / hi, 0.0, 1.0)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    if img.mode in ("L", "1"):
        return np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def _to_gray(arr: np.ndarray) -> tuple[np.ndarray, float]:
    """Colour -> luminance; returns (gray, colourfulness = mean channel spread in [0, 1])."""
    if arr.ndim == 2:
        return arr.astype(np.float32, copy=False), 0.0
    # Channel by channel, element-wise: numpy's reductions and matmul over a last axis of 3 cost ~10x more
    # (70 ms for a 1,000 px RGB film, more than the whole read of a grey one).
    r, g, b = arr[..., 0], arr[..., 1], arr[..., 2]
    spread = float((np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)).mean())
    gray = np.float32(0.299) * r + np.float32(0.587) * g + np.float32(0.114) * b
    return gray.astype(np.float32, copy=False), spread


# --------------------------------------------------------------------------- DICOM


def _block_mean(arr: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks (edges that do not fill a block are dropped): an antialiased shrink."""
    if factor <= 1:
        return arr
    h, w = (arr.shape[0] // factor) * factor, (arr.shape[1] // factor) * factor
    # Summing the factor**2 strided views is ~20x faster here than mean() over a 4-D reshape.
    out = np.zeros((h // factor, w // factor), dtype=np.float32)
    for i in range(factor):
        for j in range(factor):
            out += arr[i:h:factor, j:w:factor]
    return out / np.float32(factor * factor)


def _decode_dicom(data: bytes, max_side: int | None = None) -> DecodedImage:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except Exception as exc:  # pydicom raises many types for damaged files
        raise InputError(f"The DICOM file could not be read: {type(exc).__name__}.") from None
    missing = [tag for tag in REQUIRED_DICOM_TAGS if tag not in ds]
    if missing:
        raise InputError(f"The DICOM file lacks required image tags: {', '.join(missing)}.")
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise InputError("The DICOM file has no pixel data (it holds no image).")
    rows, cols = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if rows * cols * frames > MAX_PIXELS:
        raise InputError(f"The DICOM image is {cols} x {rows} x {frames} pixels, more than the {MAX_PIXELS:,} accepted.")
    try:
        pixels = ds.pixel_array
    except Exception as exc:
        raise InputError(
            f"The DICOM pixel data could not be decoded (damaged, or an unsupported compression): {type(exc).__name__}."
        ) from None
    if frames > 1:
        pixels = pixels[frames // 2]  # middle frame of a multi-frame object
    photometric = str(ds.PhotometricInterpretation).upper()
    header = {key: _header_value(ds.get(key)) for key in SAFE_HEADER_FIELDS if key in ds}
    colourfulness = 0.0
    window = None
    if photometric.startswith("MONOCHROME"):
        raw = apply_modality_lut(pixels, ds).astype(np.float32)
        if max_side:
            raw = _block_mean(raw, max(raw.shape) // max_side)
        has_voi = "WindowCenter" in ds or "VOILUTSequence" in ds
        if has_voi and "VOILUTSequence" not in ds and str(ds.get("VOILUTFunction", "LINEAR")).upper() == "LINEAR":
            center, width = _first_window(ds) or (0.0, 1.0)
            voi = _linear_voi(raw, center, width)
            window = _first_window(ds)
            gray = _minmax(voi)
        elif has_voi:
            voi = apply_voi_lut(raw, ds, index=0).astype(np.float32)
            gray = _minmax(voi)
            window = _first_window(ds)
        else:
            gray = _percentile_window(raw)
        if window is None:
            lo, hi = np.percentile(raw, [0.5, 99.5])
            window = (float((lo + hi) / 2), float(max(hi - lo, 1.0)))
        if photometric == "MONOCHROME1":  # high values are dark: invert so bone is bright
            gray = 1.0 - gray
    else:
        if photometric.startswith("YBR"):
            from pydicom.pixels import convert_color_space

            pixels = convert_color_space(pixels, photometric, "RGB")
        arr = pixels.astype(np.float32)
        if arr.ndim == 2:  # palette colour stored as indices
            arr = _minmax(arr)
        else:
            arr = arr / float(2 ** int(ds.get("BitsStored", 8)) - 1)
        gray, colourfulness = _to_gray(np.clip(arr, 0.0, 1.0))
        raw = gray * 255.0
    return DecodedImage(gray=gray.astype(np.float32, copy=False), kind="dicom", width=cols, height=rows,
                        colourfulness=colourfulness, header=header, raw=raw.astype(np.float32, copy=False),
                        window=window)


def window_image(raw: np.ndarray, center: float, width: float, *, invert: bool = False) -> np.ndarray:
    """Linear window/level of modality values into [0, 1] (the viewer's sliders use this)."""
    width = max(float(width), 1e-6)
    out = np.clip((raw - (center - width / 2.0)) / width, 0.0, 1.0).astype(np.float32)
    return 1.0 - out if invert else out


def _linear_voi(raw: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1 LINEAR window into [0, 1]: pydicom's ``apply_voi_lut`` result up to scale, in
    float32 (pydicom's float64 path cost ~0.5 s on a 1841 x 1955 film here)."""
    width = max(float(width), 1.0)
    return np.clip((raw - (center - 0.5)) / (width - 1.0 if width > 1.0 else 1.0) + 0.5, 0.0, 1.0).astype(np.float32)


def _first_window(ds) -> tuple[float, float] | None:
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is None or width is None:
        return None
    center = center[0] if hasattr(center, "__len__") and not isinstance(center, str) else center
    width = width[0] if hasattr(width, "__len__") and not isinstance(width, str) else width
    return float(center), float(width)


def _minmax(arr: np.ndarray) -> np.ndarray:
    lo, hi = float(arr.min()), float(arr.max())
    return ((arr - lo) / (hi - lo)).astype(np.float32) if hi > lo else np.zeros_like(arr, dtype=np.float32)


def _percentile_window(raw: np.ndarray) -> np.ndarray:
    """Without a VOI window in the header, window on the 0.5-99.5th percentiles (robust to hot pixels)."""
    lo, hi = np.percentile(raw, [0.5, 99.5])
    if hi <= lo:
        return _minmax(raw)
    return np.clip((raw - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def _header_value(value):
    if value is None:
        return None
    if hasattr(value, "__len__") and not isinstance(value, (str, bytes)):
        return [_header_value(v) for v in value]
    if isinstance(value, (int, float, str)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
