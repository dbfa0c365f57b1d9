"""Upload type sniffing by content and size limits (engine.uploads)."""
from __future__ import annotations

import io

import pytest

from engine.errors import InputError
from engine.uploads import check_size, check_upload, sniff_type


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="JPEG")
    return buf.getvalue()


def _dicom() -> bytes:
    import pydicom.data

    with open(pydicom.data.get_testdata_file("CT_small.dcm"), "rb") as handle:
        return handle.read()


def _xlsx() -> bytes:
    from openpyxl import Workbook

    buf = io.BytesIO()
    wb = Workbook()
    wb.active.append(["age", "sex"])
    wb.save(buf)
    return buf.getvalue()


def _parquet() -> bytes:
    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"age": [50, 60]}).to_parquet(buf)
    return buf.getvalue()


def _zip() -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return buf.getvalue()


@pytest.mark.parametrize("make, kind", [
    (_png, "png"), (_jpeg, "jpeg"), (_dicom, "dicom"), (_xlsx, "xlsx"), (_parquet, "parquet"), (_zip, "zip"),
    (lambda: b'{"resourceType": "Patient"}', "json"), (lambda: b"[1, 2]", "json"),
    (lambda: b"age,sex\n54,female\n61,male\n", "csv"), (lambda: "\ufeffage;sex\n54;f\n".encode(), "csv"),
    (lambda: "age\tsex\n54\tf\n".encode("utf-16"), "csv"),
    (lambda: b"a note without delimiters\n", "text"), (lambda: b"{not json", "text"),
    (lambda: b"\x00\x01\x02\x03binary", "unknown"), (lambda: b"", "empty"),
])
def test_sniff_type_reads_content(make, kind):
    # Real files written by the libraries that read them (Pillow, pydicom's bundled CT, openpyxl, pyarrow).
    assert sniff_type(make()) == kind


def test_the_name_does_not_matter_a_renamed_file_is_refused():
    """An executable renamed to .csv is still refused: check_upload never sees the name."""
    elf = b"\x7fELF\x02\x01\x01" + bytes(200)
    with pytest.raises(InputError, match="judged by the content"):
        check_upload(elf, {"csv"})
    with pytest.raises(InputError, match="a PNG image"):
        check_upload(_png(), {"csv", "xlsx"})


def test_one_column_csv_is_accepted_as_csv():
    assert check_upload(b"age\n54\n61\n", {"csv"}) == "text"


def test_oversized_upload_refused_before_reading():
    with pytest.raises(InputError, match=r"is 3\.0 MB; the limit for this upload is 2 MB"):
        check_size(3 * 1024 * 1024, limit_mb=2)
    with pytest.raises(InputError, match="limit"):
        check_upload(b"a,b\n" * 300_000, {"csv"}, limit_mb=1)
    with pytest.raises(InputError, match="empty"):
        check_upload(b"", {"csv"})


def test_default_limit_comes_from_settings(monkeypatch):
    monkeypatch.setenv("CLINSIGHT_UPLOAD_LIMIT_MB", "1")
    with pytest.raises(InputError, match="1 MB"):
        check_size(2 * 1024 * 1024)
    check_size(1024)


def test_dicom_needs_the_preamble_and_marker():
    assert sniff_type(bytes(128) + b"DICM" + b"junk") == "dicom"  # sniffed; the imaging parser must still check tags
    assert sniff_type(b"DICM" + bytes(200)) == "unknown"


def test_message_never_echoes_content():
    secret = b"Jane Quixotewright,078-05-1120\n" * 3
    with pytest.raises(InputError) as caught:
        check_upload(secret, {"png"})
    assert "Quixotewright" not in str(caught.value) and "078-05" not in str(caught.value)
