"""Open an uploaded file as a table, whatever shape the hospital exported it in.

The format is sniffed from the bytes (never the file name): an .xlsx is a zip
with ``xl/workbook.xml``, Parquet starts and ends with ``PAR1``, a FHIR bundle
is JSON with ``"resourceType": "Bundle"``, anything else must be delimited
text. Every reader yields the same thing: chunks of a string-valued frame with
the file's own row numbers, so validation and import stream over files of any
size with bounded memory, and every refusal is an :class:`InputError` whose
sentence says what is wrong and where.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from engine.config import get_settings
from engine.errors import InputError
from engine.privacy import safe_file_name

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", ".", "-", "#n/a", "missing"})
DELIMITERS = (",", ";", "\t", "|")
_SNIFF_BYTES = 64 * 1024
_READ_BLOCK = 1024 * 1024


@dataclass
class Chunk:
    """A slice of the table: text cells (None where missing) and each row's number in the file.

    ``ragged`` lists the (line, field count) of rows in this stretch of the file whose field count
    differs from the header's: they are not in ``frame`` (no column can be trusted), and validation
    reports them as a problem class with their line numbers, like every other row-level problem.
    """

    frame: pd.DataFrame
    rows: np.ndarray
    ragged: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Source:
    """One opened input file. ``iter_chunks`` re-reads it from the start each call (one pass per step)."""

    format: str
    columns: list[str]
    sha256: str
    size_bytes: int
    _open: Any = field(repr=False)
    details: dict[str, Any] = field(default_factory=dict)
    row_estimate: int = 0
    fhir: Any = None  # engine.ingest.fhir.FhirContent for FHIR inputs: the resources beyond the table

    def iter_chunks(self, chunk_rows: int | None = None) -> Iterator[Chunk]:
        return self._open(chunk_rows or get_settings().ingest_chunk_rows)

    def preview(self, n: int = 20) -> pd.DataFrame:
        for chunk in self.iter_chunks(max(n, 1)):
            return chunk.frame.head(n)
        return pd.DataFrame(columns=self.columns)


def cell_text(value: Any) -> str | None:
    """A cell as trimmed text, None when it is one of the usual missing-value spellings."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return value.isoformat()
    text = str(value).strip()
    return None if text.lower() in MISSING_TOKENS else text


# --- entry point ---------------------------------------------------------------------------------------

def open_source(data: bytes | Path | str, *, file_name: str | None = None) -> Source:
    """Sniff ``data`` (bytes or a path) and return a :class:`Source`; raise InputError if unusable."""
    settings = get_settings()
    opener, size, head, tail = _binary_opener(data)
    if size == 0:
        raise InputError("The file is empty.")
    if size > settings.upload_limit_mb * 1024 * 1024:
        raise InputError(f"The file is {size / 1e6:.0f} MB; the upload limit is {settings.upload_limit_mb} MB.")
    sha = _sha256(opener)
    if head.startswith(b"PK\x03\x04"):
        return _open_xlsx(opener, size, sha)
    if head.startswith(b"PAR1"):
        if not tail.endswith(b"PAR1"):
            raise InputError("The file starts like Parquet but is truncated (no Parquet footer).")
        return _open_parquet(opener, size, sha)
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{"):
        return _open_fhir(opener, size, sha)
    return _open_csv(opener, size, sha, head)


def _binary_opener(data: bytes | Path | str):
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)

        def opener() -> BinaryIO:
            return io.BytesIO(raw)
        return opener, len(raw), raw[:_SNIFF_BYTES], raw[-8:]
    path = Path(data)
    if not path.is_file():
        raise InputError(f"There is no file at '{safe_file_name(path.name)}'.")

    def opener() -> BinaryIO:
        return open(path, "rb")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
        fh.seek(max(size - 8, 0))
        tail = fh.read()
    return opener, size, head, tail


def _sha256(opener) -> str:
    digest = hashlib.sha256()
    with opener() as fh:
        for block in iter(lambda: fh.read(_READ_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_columns(columns: list[str], where: str) -> list[str]:
    limit = get_settings().ingest_max_columns
    if len(columns) > limit:
        raise InputError(f"The {where} has {len(columns):,} columns; the limit is {limit:,}. "
                         "Split the file or drop unused columns.")
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(columns, start=1):
        name = (name or "").strip().lstrip("\ufeff")
        if not name:
            name = f"column_{i}"
        key = name.lower()
        if key in seen:
            raise InputError(f"Columns {seen[key]} and {i} are both named '{name}'; give each column its own name.")
        seen[key] = i
        names.append(name)
    return names


# --- delimited text ------------------------------------------------------------------------------------

def _detect_encoding(opener, head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise InputError("The file is encoded as UTF-16/32 (Excel's 'Unicode text'); save it as CSV UTF-8 "
                         "and upload it again.")
    if b"\x00" in head:
        zeros = head.count(b"\x00") / max(len(head), 1)
        if 0.3 < zeros < 0.6 and len(head) > 3:
            raise InputError("The file looks UTF-16 encoded (every other byte is zero); save it as CSV UTF-8 "
                             "and upload it again.")
        raise InputError("The file is binary data, not a table: it is not CSV, Excel (.xlsx), Parquet or a "
                         "FHIR JSON bundle.")
    encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with opener() as fh:
            for block in iter(lambda: fh.read(_READ_BLOCK), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        encoding = "latin-1"
    text = head.decode(encoding, errors="replace")
    controls = sum(1 for ch in text if (ord(ch) < 32 and ch not in "\t\r\n") or 0x7F <= ord(ch) <= 0x9F)
    if controls > max(2, len(text) // 100):
        raise InputError("The file is binary data or in an unknown encoding, not a table: save it as CSV "
                         "(UTF-8 or Latin-1), Excel (.xlsx), Parquet or a FHIR JSON bundle.")
    return encoding


def _sniff_delimiter(sample: str) -> str:
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line of the sample may be cut off
    lines = [ln for ln in lines[:60] if ln.strip()]
    best, best_score = ",", (0.0, 1)
    for delim in DELIMITERS:
        try:
            counts = [len(rec) for rec in csv.reader(lines, delimiter=delim)]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        consistency = sum(1 for c in counts if c == counts[0]) / len(counts)
        score = (round(consistency, 1), counts[0])
        if score > best_score:
            best, best_score = delim, score
    return best


def _open_csv(opener, size: int, sha: str, head: bytes) -> Source:
    encoding = _detect_encoding(opener, head)
    sample = head.decode(encoding, errors="replace")
    if not sample.strip():
        raise InputError("The file is empty (only blank lines).")
    delimiter = _sniff_delimiter(sample)
    csv.field_size_limit(10 * 1024 * 1024)

    def records(fh_text) -> Iterator[tuple[int, list[str]]]:
        reader = csv.reader(fh_text, delimiter=delimiter)
        try:
            for record in reader:
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue  # blank line
                yield reader.line_num, record
        except csv.Error as exc:
            raise InputError(f"The file cannot be read as delimited text at line {reader.line_num + 1}: "
                             f"{exc}.") from None

    def text_stream():
        return io.TextIOWrapper(opener(), encoding=encoding, newline="")

    with text_stream() as fh:
        first = next(records(fh), None)
    if first is None:
        raise InputError("The file is empty (only blank lines).")
    columns = _check_columns(first[1], "file")
    n_cols = len(columns)

    def iter_chunks(chunk_rows: int) -> Iterator[Chunk]:
        # Row-level problems belong to the validation report (one place, one rule): a ragged row is
        # reported with its line number and the user decides (drop or cancel). Only a file in which no
        # row fits the header is refused outright. A full chunk is held back until the next data row,
        # so ragged lines after the last data row still reach the report.
        ragged: list[tuple[int, int]] = []
        n_data = 0
        pending: Chunk | None = None
        with text_stream() as fh:
            it = records(fh)
            next(it, None)
            buffer: list[list[str]] = []
            numbers: list[int] = []
            for line, record in it:
                if len(record) != n_cols:
                    ragged.append((line, len(record)))
                    continue
                if pending is not None:
                    pending.ragged, ragged = ragged, []
                    yield pending
                    pending = None
                buffer.append(record)
                numbers.append(line)
                if len(buffer) >= chunk_rows:
                    n_data += len(buffer)
                    pending = _text_chunk(buffer, numbers, columns)
                    buffer, numbers = [], []
            if buffer:
                n_data += len(buffer)
                if pending is not None:
                    pending.ragged, ragged = ragged, []
                    yield pending
                pending = _text_chunk(buffer, numbers, columns)
        if n_data == 0 and ragged:
            shown = ", ".join(f"{line} ({count} fields)" for line, count in ragged[:10])
            more = f" and {len(ragged) - 10:,} more" if len(ragged) > 10 else ""
            raise InputError(f"No row has the header's {n_cols} fields: lines {shown}{more}. "
                             "Fix the delimiters or quoting of the file.")
        if n_data == 0:
            raise InputError("The file has a header row but no data rows.")
        pending.ragged = ragged
        yield pending

    estimate = _estimate_rows(sample, size)
    label = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}[delimiter]
    return Source("csv", columns, sha, size, iter_chunks,
                  {"encoding": encoding.replace("-sig", " with BOM"), "delimiter": label}, estimate)


def _estimate_rows(sample: str, size: int) -> int:
    lines = max(sample.count("\n"), 1)
    per_line = max(len(sample.encode("utf-8", errors="replace")) / lines, 1)
    return max(int(size / per_line) - 1, 1)


# Every spelling of the missing tokens a CSV cell may carry (a hash lookup per cell instead of strip/lower).
_MISSING_SPELLINGS = sorted({v for t in MISSING_TOKENS for v in (t, t.upper(), t.title(), f" {t}", f"{t} ")})


def _text_chunk(buffer: list[list[str]], numbers: list[int], columns: list[str]) -> Chunk:
    frame = pd.DataFrame(buffer, columns=columns, dtype=object)
    for col in columns:
        series = frame[col]
        missing = series.isin(_MISSING_SPELLINGS)
        if missing.any():
            frame[col] = series.where(~missing, None)
    return Chunk(frame, np.asarray(numbers, dtype=np.int64))


# --- Excel ---------------------------------------------------------------------------------------------

def _check_zip(opener) -> None:
    settings = get_settings()
    try:
        with opener() as fh, zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
            names = {i.filename for i in infos}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise InputError(f"The file starts like a zip/Excel file but is damaged ({exc}).") from None
    if "xl/workbook.xml" not in names:
        raise InputError("The file is a zip archive but not an Excel workbook (.xlsx); upload the sheet itself.")
    total = sum(i.file_size for i in infos)
    if total > settings.xlsx_max_uncompressed_mb * 1024 * 1024:
        raise InputError(f"The workbook would expand to {total / 1e6:,.0f} MB (limit "
                         f"{settings.xlsx_max_uncompressed_mb:,} MB); it looks like a zip bomb and was not opened.")
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > settings.xlsx_max_ratio:
            raise InputError(f"Part '{info.filename}' of the workbook expands {ratio:,.0f}-fold "
                             f"(limit {settings.xlsx_max_ratio}); it looks like a zip bomb and was not opened.")


def _open_xlsx(opener, size: int, sha: str) -> Source:
    import openpyxl

    _check_zip(opener)

    def sheet_rows():
        fh = opener()
        try:
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=False)
        except Exception as exc:  # openpyxl raises many types for damaged workbooks
            fh.close()
            raise InputError(f"The Excel workbook cannot be read ({type(exc).__name__}).") from None
        try:
            if not wb.worksheets:
                raise InputError("The Excel workbook has no worksheets.")
            ws = wb.worksheets[0]
            for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
                yield number, row
        finally:
            wb.close()
            fh.close()

    header_row: tuple | None = None
    try:
        for number, row in sheet_rows():
            if any(cell_text(v) is not None for v in row):
                header_row = row
                header_number = number
                break
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"The Excel workbook cannot be read ({type(exc).__name__}).") from None
    if header_row is None:
        raise InputError("The first worksheet of the workbook is empty.")
    header = [cell_text(v) or "" for v in header_row]
    while header and not header[-1]:
        header.pop()
    columns = _check_columns(header, "first worksheet")
    n_cols = len(columns)

    def iter_chunks(chunk_rows: int) -> Iterator[Chunk]:
        buffer: list[list[str | None]] = []
        numbers: list[int] = []
        n_data = 0
        try:
            for number, row in sheet_rows():
                if number <= header_number:
                    continue
                cells = [cell_text(v) for v in row[:n_cols]]
                if all(c is None for c in cells):
                    continue
                cells += [None] * (n_cols - len(cells))
                buffer.append(cells)
                numbers.append(number)
                if len(buffer) >= chunk_rows:
                    n_data += len(buffer)
                    yield Chunk(pd.DataFrame(buffer, columns=columns, dtype=object), np.asarray(numbers))
                    buffer, numbers = [], []
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"The Excel workbook cannot be read past row {numbers[-1] if numbers else 1} "
                             f"({type(exc).__name__}).") from None
        if buffer:
            n_data += len(buffer)
            yield Chunk(pd.DataFrame(buffer, columns=columns, dtype=object), np.asarray(numbers))
        if n_data == 0:
            raise InputError("The worksheet has a header row but no data rows.")

    return Source("xlsx", columns, sha, size, iter_chunks, {"sheet": "first worksheet"}, max(size // 60, 1))


# --- Parquet -------------------------------------------------------------------------------------------

def _open_parquet(opener, size: int, sha: str) -> Source:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with opener() as fh:
            meta = pq.ParquetFile(fh)
            schema = meta.schema_arrow
            n_rows = meta.metadata.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(f"The file is not a readable Parquet file ({type(exc).__name__}).") from None
    nested = [f"'{f.name}' ({f.type})" for f in schema if pa.types.is_nested(f.type)]
    if nested:
        raise InputError(f"Parquet column{'s' if len(nested) > 1 else ''} {', '.join(nested[:5])} hold nested "
                         "values (lists, structs or maps); flatten them to one value per cell first.")
    columns = _check_columns([f.name for f in schema], "Parquet file")
    if n_rows == 0:
        raise InputError("The Parquet file has columns but no data rows.")

    def iter_chunks(chunk_rows: int) -> Iterator[Chunk]:
        start = 0
        try:
            with opener() as fh:
                for batch in pq.ParquetFile(fh).iter_batches(batch_size=chunk_rows):
                    frame = batch.to_pandas()
                    frame.columns = columns
                    frame = frame.astype(object).apply(lambda s: s.map(cell_text))
                    rows = np.arange(start + 2, start + 2 + len(frame), dtype=np.int64)
                    start += len(frame)
                    yield Chunk(frame.reset_index(drop=True), rows)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InputError(f"The Parquet file cannot be read past row {start + 1} ({type(exc).__name__}).") from None

    return Source("parquet", columns, sha, size, iter_chunks, {"rows": n_rows}, int(n_rows))


# --- FHIR R4 bundle ------------------------------------------------------------------------------------

def _open_fhir(opener, size: int, sha: str) -> Source:
    from engine.ingest.fhir import fhir_content, read_fhir_json

    if size > get_settings().fhir_max_mb * 1024 * 1024:
        raise InputError(f"The JSON file is over the {get_settings().fhir_max_mb} MB limit for FHIR bundles.")
    with opener() as fh:
        raw = fh.read()
    return _fhir_source(fhir_content(read_fhir_json(raw, where="The JSON file")), size, sha)


def _fhir_source(content, size: int, sha: str) -> Source:
    frame = content.frame
    columns = _check_columns(list(frame.columns), "FHIR input")
    frame.columns = columns
    rows = np.arange(2, len(frame) + 2, dtype=np.int64)

    def iter_chunks(chunk_rows: int) -> Iterator[Chunk]:
        for start in range(0, len(frame), chunk_rows):
            yield Chunk(frame.iloc[start:start + chunk_rows].reset_index(drop=True), rows[start:start + chunk_rows])

    details = {"resources": int(sum(content.resources.values()))}
    if content.skipped:
        details["skipped (not used)"] = ", ".join(f"{k} {v:,}" for k, v in sorted(content.skipped.items()))
    return Source("fhir", columns, sha, size, iter_chunks, details, len(frame), fhir=content)


def open_fhir_files(paths: list[Path] | list[tuple[str, bytes]]) -> Source:
    """Several FHIR files imported together as one dataset version: FHIR Bulk Data NDJSON (one file per
    resource type, as ``$export`` writes it) and/or bundles. Items are paths or (file name, bytes) pairs.

    Why together: an Observation file refers to patients in the Patient file, so they must be linked in one
    import. The version's SHA-256 is taken over the files' own hashes in sorted order (file order does not
    matter). Messages name a file by its position, never by its name (names may carry the patient's).
    """
    from engine.ingest.fhir import fhir_content, read_fhir_json

    settings = get_settings()
    if not paths:
        raise InputError("No FHIR files were given.")
    entries: list[dict] = []
    hashes: list[str] = []
    total = 0
    for number, item in enumerate(paths, start=1):
        if isinstance(item, tuple):
            raw = item[1]
        else:
            if not Path(item).is_file():
                raise InputError(f"File {number} of {len(paths)} does not exist or is not a file.")
            raw = Path(item).read_bytes()
        total += len(raw)
        if total > settings.upload_limit_mb * 1024 * 1024:
            raise InputError(f"The FHIR files are over the upload limit of {settings.upload_limit_mb} MB together.")
        if not raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
            raise InputError(f"File {number} of {len(paths)} is not FHIR JSON or NDJSON (it does not start with '{{').")
        entries.extend(read_fhir_json(raw, where=f"File {number} of {len(paths)}", single_resource_ok=True))
        hashes.append(hashlib.sha256(raw).hexdigest())
    sha = hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()
    source = _fhir_source(fhir_content(entries), total, sha)
    source.details["files"] = len(paths)
    return source


def fhir_files_in(directory: Path) -> list[Path]:
    """The FHIR files of a bulk-export directory (``*.ndjson``, ``*.json``), in name order."""
    files = sorted(p for p in Path(directory).iterdir() if p.is_file() and p.suffix.lower() in (".ndjson", ".json"))
    if not files:
        raise InputError("The folder holds no .ndjson or .json files to import.")
    return files
