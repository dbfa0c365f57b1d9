"""Builders for the records tests: real files written from the real demo data sets.

Where a test needs something the real data lack (identifiers, mixed units, a
zip bomb, nested Parquet types), the change is synthetic and the builder says so.
"""
from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from engine import demo_data


def store_digest(path: Path) -> str:
    """SHA-256 of the store file after folding the WAL in: equal digests mean byte-for-byte equal stores."""
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def framingham_frame(n: int = 400) -> pd.DataFrame:
    """The first ``n`` Framingham rows with a record id column (the real file has none)."""
    df = demo_data.load_framingham().head(n).copy()
    df.insert(0, "patient_id", [f"FRM{i:05d}" for i in range(1, len(df) + 1)])
    return df


def with_mixed_glucose(df: pd.DataFrame, rows: list[int]) -> pd.DataFrame:
    """Synthetic: the given rows' glucose written in mmol/L (as a second lab would), the rest in mg/dL."""
    out = df.copy()
    out["glucose"] = out["glucose"].astype(float)
    out.loc[out.index[rows], "glucose"] = (out.loc[out.index[rows], "glucose"] / 18.016).round(2)
    return out


def with_identifiers(df: pd.DataFrame) -> pd.DataFrame:
    """Synthetic identifiers added to real rows: names, e-mail, phone, SSN, ZIP and full dates."""
    out = df.copy()
    n = len(out)
    first = ["Anna", "Ben", "Clara", "David", "Eva", "Frank", "Greta", "Hugo"]
    last = ["Smith", "Jones", "Miller", "Brown", "Davis", "Wilson", "Moore", "Taylor"]
    out["patient_name"] = [f"{first[i % 8]} {last[(i // 8) % 8]}" for i in range(n)]
    out["email"] = [f"person{i}@example.org" for i in range(n)]
    out["phone"] = [f"555-{100 + i % 900:03d}-{1000 + i:04d}" for i in range(n)]
    out["ssn"] = [f"{100 + i % 800:03d}-{10 + i % 80:02d}-{1000 + i:04d}" for i in range(n)]
    out["zip"] = [("03601" if i % 10 == 0 else f"{10001 + i % 50:05d}") for i in range(n)]
    out["visit_date"] = [f"2021-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n)]
    return out


def csv_bytes(df: pd.DataFrame, *, sep: str = ",", encoding: str = "utf-8") -> bytes:
    return df.to_csv(sep=sep, index=False).encode(encoding)


def xlsx_bytes(df: pd.DataFrame) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(list(df.columns))
    for row in df.itertuples(index=False):
        ws.append([None if (isinstance(v, float) and np.isnan(v)) else (v.item() if hasattr(v, "item") else v)
                   for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def parquet_bytes(df: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), buf)
    return buf.getvalue()


def nested_parquet_bytes() -> bytes:
    """Synthetic: a Parquet file with a list column (the shape the importer refuses)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"patient_id": ["a", "b"], "readings": [[1.0, 2.0], [3.0]]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def zip_bomb_xlsx(expanded_mb: int = 64) -> bytes:
    """Synthetic: an .xlsx-shaped zip whose sheet XML expands ~1000-fold (a decompression bomb)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        with zf.open("xl/worksheets/sheet1.xml", "w") as fh:
            block = b"0" * (1024 * 1024)
            for _ in range(expanded_mb):
                fh.write(block)
    return buf.getvalue()


LOINC = {"systolic_bp": ("8480-6", "mm[Hg]"), "bmi": ("39156-5", "kg/m2"), "glucose": ("2345-7", "mg/dL"),
         "creatinine": ("2160-0", "mg/dL"), "sodium": ("2951-2", "mmol/L"), "ef": ("10230-1", "%")}


def fhir_bundle_from_heart_failure(n: int = 40) -> tuple[dict, pd.DataFrame]:
    """A FHIR R4 collection bundle built from real heart-failure rows (creatinine, sodium, EF as LOINC)."""
    df = demo_data.load_heart_failure().head(n).reset_index(drop=True)
    entries = []
    for i, row in df.iterrows():
        pid = f"hf{i + 1}"
        entries.append({"fullUrl": f"urn:uuid:{pid}", "resource": {
            "resourceType": "Patient", "id": pid, "gender": row["sex"],
            "birthDate": f"{2020 - int(row['age'])}-06-15", "name": [{"given": ["Test"], "family": f"Person{i}"}],
            "identifier": [{"system": "urn:mrn", "value": f"MRN-{9000 + i}"}]}})
        for key, col in (("creatinine", "serum_creatinine"), ("sodium", "serum_sodium"), ("ef", "ejection_fraction")):
            code, unit = LOINC[key]
            entries.append({"resource": {
                "resourceType": "Observation", "status": "final", "subject": {"reference": f"urn:uuid:{pid}"},
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "effectiveDateTime": "2020-06-15", "valueQuantity": {"value": float(row[col]), "unit": unit,
                                                                     "system": "http://unitsofmeasure.org",
                                                                     "code": unit}}})
        entries.append({"resource": {
            "resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I50.2",
                                 "display": "Systolic (congestive) heart failure"}]}}})
        if row["diabetes"] == 1:
            entries.append({"resource": {
                "resourceType": "MedicationStatement", "status": "active", "subject": {"reference": f"Patient/{pid}"},
                "medicationCodeableConcept": {"text": "metformin"}}})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}, df


def json_bytes(doc: dict) -> bytes:
    return json.dumps(doc).encode("utf-8")
