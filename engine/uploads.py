"""Upload gatekeeping: size limits and file types decided by content, never by the name.

Why: Streamlit's uploader only checks the file *extension* on the server, so a
renamed file (an executable called ``scan.png``, a 2 GB "CSV") would reach the
parsers. Every feature that takes user bytes calls :func:`check_size` as soon as
the size is known (before reading) and :func:`check_upload` on the bytes, then
hands them to its parser only when the sniffed type is one it accepts. Messages
name the rule that failed, never the file's content (it may hold identifiers).
"""
from __future__ import annotations

import io
import json
import zipfile

from engine.config import get_settings
from engine.errors import InputError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
DICOM_PREAMBLE = 128
DICOM_MAGIC = b"DICM"
PARQUET_MAGIC = b"PAR1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_TEXT_SAMPLE = 64 * 1024
_CSV_DELIMITERS = (",", ";", "\t", "|")

# What each sniffed type is called in messages.
TYPE_NAMES: dict[str, str] = {
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "dicom": "a DICOM file",
    "xlsx": "an Excel workbook (.xlsx)",
    "zip": "a ZIP archive",
    "parquet": "a Parquet file",
    "json": "JSON",
    "csv": "CSV text",
    "text": "plain text",
    "empty": "empty",
    "unknown": "of an unrecognised binary type",
}

# A requested type also accepts these sniffed types (a one-column CSV has no delimiter: it sniffs as text).
_ACCEPTS: dict[str, frozenset[str]] = {
    "csv": frozenset({"csv", "text"}),
    "text": frozenset({"text", "csv"}),
}


def _decode_text(sample: bytes) -> str | None:
    """The sample as text if it looks like text (UTF-8/UTF-16 with BOM, or UTF-8), else None."""
    if sample.startswith(b"\xef\xbb\xbf"):
        sample = sample[3:]
    elif sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return sample.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\x00" in sample:
        return None
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sample's end is still text.
        if exc.start < len(sample) - 4:
            return None
        text = sample[: exc.start].decode("utf-8")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\r\n\t\f")
    return text if controls <= len(text) // 100 else None


def _looks_like_csv(text: str) -> bool:
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) < 2:
        return False
    if len(text) >= _TEXT_SAMPLE:
        lines = lines[:-1]  # the last line of a sample may be cut
    for delimiter in _CSV_DELIMITERS:
        counts = {line.count(delimiter) for line in lines}
        if len(counts) == 1 and counts.pop() > 0:
            return True
    return False


def _is_xlsx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except Exception:  # noqa: BLE001 - any failure to read the directory means "not a workbook"
        return False
    return "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names)


def sniff_type(data: bytes) -> str:
    """The file type judged by its first bytes: png, jpeg, dicom, xlsx, zip, parquet, json, csv, text,
    empty or unknown. Never raises."""
    if not data:
        return "empty"
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    if len(data) >= DICOM_PREAMBLE + 4 and data[DICOM_PREAMBLE:DICOM_PREAMBLE + 4] == DICOM_MAGIC:
        return "dicom"
    if data.startswith(PARQUET_MAGIC):
        return "parquet"
    if data.startswith(ZIP_MAGICS):
        return "xlsx" if _is_xlsx(data) else "zip"
    text = _decode_text(data[:_TEXT_SAMPLE])
    if text is None:
        return "unknown"
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("{", "["):
        try:
            json.loads(data.decode("utf-8-sig"))
            return "json"
        except (UnicodeDecodeError, ValueError, RecursionError):
            pass
    return "csv" if _looks_like_csv(text) else "text"


def check_size(n_bytes: int, limit_mb: float | None = None) -> None:
    """Refuse an upload by its size alone (call it before reading the bytes)."""
    limit = get_settings().upload_limit_mb if limit_mb is None else limit_mb
    if n_bytes <= 0:
        raise InputError("The file is empty.")
    if n_bytes > limit * 1024 * 1024:
        raise InputError(f"The file is {n_bytes / 1024 / 1024:.1f} MB; the limit for this upload is {limit:g} MB.")


def check_upload(data: bytes, allowed: set[str] | frozenset[str] | list[str] | tuple[str, ...],
                 limit_mb: float | None = None) -> str:
    """Check size and content type of an upload; return the sniffed type or raise :class:`InputError`.

    ``allowed`` names the types the caller can parse (e.g. ``{"csv", "xlsx", "parquet", "json"}``).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError("The upload could not be read as a file.")
    data = bytes(data)
    check_size(len(data), limit_mb)
    kind = sniff_type(data)
    accepted: set[str] = set()
    for name in allowed:
        accepted |= _ACCEPTS.get(name, frozenset({name}))
    if kind not in accepted:
        wanted = ", ".join(TYPE_NAMES.get(name, name) for name in sorted(allowed))
        raise InputError(f"This file's content is {TYPE_NAMES.get(kind, kind)}, which this upload does not accept "
                         f"(accepted: {wanted}); the type is judged by the content, not the file name.")
    return kind
