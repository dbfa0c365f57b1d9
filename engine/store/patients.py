"""Patient, observation, condition and medication rows: bulk writes and reads."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from engine.store import Database, insert_rows, utcnow, where_clause
from engine.terminology import SNOMED_SYSTEM, snomed_codes_for_icd_prefix

PATIENT_COLUMNS = ("pseudo_id", "dataset_version_id", "source", "licence", "sex", "age", "age_group", "birth_year")
OBSERVATION_COLUMNS = ("patient_id", "dataset_version_id", "code", "system", "name", "value_num", "value_text",
                       "unit", "time", "flag")
CONDITION_COLUMNS = ("patient_id", "dataset_version_id", "code", "system", "display", "onset")
FHIR_CONDITION_COLUMNS = CONDITION_COLUMNS + ("clinical_status", "abatement")
MEDICATION_COLUMNS = ("patient_id", "dataset_version_id", "code", "system", "display", "drug_class", "status")


def _rows(db: Database, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cur = db.conn.execute(sql, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def insert_patient(db: Database, patient: dict[str, Any]) -> int:
    cols = [c for c in PATIENT_COLUMNS if c in patient] + ["created_at"]
    values = [patient[c] for c in cols[:-1]] + [utcnow()]
    cur = db.conn.execute(
        f"INSERT INTO patients ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})", values
    )
    return int(cur.lastrowid)


def _insert_many(db: Database, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    return insert_rows(db, table, columns, rows)


def insert_observations(db: Database, rows: Iterable[Sequence[Any]]) -> int:
    """Bulk insert tuples in :data:`OBSERVATION_COLUMNS` order (one executemany)."""
    return _insert_many(db, "observations", OBSERVATION_COLUMNS, rows)


def insert_conditions(db: Database, rows: Iterable[Sequence[Any]], *, with_status: bool = False) -> int:
    """Bulk insert tuples in :data:`CONDITION_COLUMNS` order (``with_status``: :data:`FHIR_CONDITION_COLUMNS`)."""
    return _insert_many(db, "conditions", FHIR_CONDITION_COLUMNS if with_status else CONDITION_COLUMNS, rows)


def insert_medications(db: Database, rows: Iterable[Sequence[Any]]) -> int:
    return _insert_many(db, "medications", MEDICATION_COLUMNS, rows)


def patient_exists(db: Database, pseudo_id: str) -> bool:
    return db.conn.execute("SELECT 1 FROM patients WHERE pseudo_id = ?", (pseudo_id,)).fetchone() is not None


def existing_pseudo_ids(db: Database, pseudo_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    ids = list(pseudo_ids)
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        found.update(r[0] for r in db.conn.execute(
            f"SELECT pseudo_id FROM patients WHERE pseudo_id IN ({', '.join('?' for _ in chunk)})", chunk))
    return found


def get_patient(db: Database, pseudo_id: str) -> dict[str, Any] | None:
    rows = _rows(db, "SELECT * FROM patients WHERE pseudo_id = ?", (pseudo_id,))
    return rows[0] if rows else None


def _clean(value: str | None) -> str | None:
    """Drop NUL characters: SQLite's LIKE stops reading a pattern at NUL, so "\x00x" matched every patient."""
    return value.replace("\x00", "") if value else value


def _escape_like(value: str) -> str:
    """Search text is literal: '%' and '_' typed by a user are characters, not wildcards (found by fuzzing)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_patients(db: Database, *, text: str | None = None, source: str | None = None, sex: str | None = None,
                    condition_code: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Patients matching every given filter (pseudo-id substring, source, sex, condition code prefix)."""
    text = _clean(text)
    condition_code = _clean(condition_code)
    where, params = where_clause([
        ("p.pseudo_id LIKE ? ESCAPE '\\'", f"%{_escape_like(text)}%" if text else None),
        ("p.source = ?", source),
        ("p.sex = ?", sex),
        (_condition_filter(condition_code), f"{_escape_like(condition_code)}%" if condition_code else None),
    ])
    sql = "SELECT p.id, p.pseudo_id, p.source, p.sex, p.age, p.age_group FROM patients p" + where
    sql += " ORDER BY p.id LIMIT ?"
    params.append(limit)
    return _rows(db, sql, params)


def _condition_filter(prefix: str | None) -> str:
    """Patients with a condition whose code starts with ``prefix``, or a SNOMED CT concept the curated map
    sends to such an ICD-10-CM code (a FHIR patient's diabetes is found under E11 too)."""
    sql = "EXISTS (SELECT 1 FROM conditions c WHERE c.patient_id = p.id AND (c.code LIKE ? ESCAPE '\\'"
    snomed = [c for c in snomed_codes_for_icd_prefix(prefix) if c.isdigit()] if prefix else []
    if snomed:  # digits from the map file, never user input: safe to inline
        sql += f" OR (c.system = '{SNOMED_SYSTEM}' AND c.code IN ({', '.join(repr(c) for c in snomed)}))"
    return sql + "))"


def find_patients_page(db: Database, terms: Sequence[str], *, limit: int, offset: int, source: str | None = None,
                       sex: str | None = None, condition_code: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """One page of patients whose pseudo id, dataset (source) or a condition (code prefix or display text)
    contains every term and who meet the exact filters, and the total number that match. An exact pseudo
    id comes first."""
    condition_code = _clean(condition_code)
    fragments, params = [], []
    for fragment, value in (("p.source = ?", source), ("p.sex = ?", sex),
                            (_condition_filter(condition_code), f"{_escape_like(condition_code)}%"
                             if condition_code else None)):
        if value:
            fragments.append(fragment)
            params.append(value)
    for term in terms:
        term = _clean(term) or ""
        if not term:
            continue
        like = f"%{_escape_like(term)}%"
        # A code prefix also finds SNOMED CT conditions the curated map sends to that ICD-10-CM code.
        fragments.append("(p.pseudo_id LIKE ? ESCAPE '\\' OR p.source LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM "
                         "conditions c WHERE c.patient_id = p.id AND c.display LIKE ? ESCAPE '\\') OR "
                         f"{_condition_filter(term.upper())})")
        params += [like, like, like, f"{_escape_like(term.upper())}%"]
    where = (" WHERE " + " AND ".join(fragments)) if fragments else ""
    total = int(db.conn.execute(f"SELECT COUNT(*) FROM patients p{where}", params).fetchone()[0])
    exact = " ".join(terms).strip()
    rows = _rows(db, "SELECT p.id, p.pseudo_id, p.source, p.sex, p.age, p.age_group, "
                     "(SELECT group_concat(code || COALESCE(' ' || display, ''), '; ') FROM "
                     "(SELECT DISTINCT c.code, c.display FROM conditions c WHERE c.patient_id = p.id "
                     "ORDER BY c.code LIMIT 3) AS top3) AS conditions "
                     f"FROM patients p{where} ORDER BY (p.pseudo_id = ? COLLATE NOCASE) DESC, p.id LIMIT ? OFFSET ?",
                 [*params, exact, limit, offset])
    return rows, total


def list_sources(db: Database) -> list[str]:
    return [r[0] for r in db.conn.execute("SELECT DISTINCT source FROM patients WHERE source IS NOT NULL ORDER BY 1")]


def observations_for(db: Database, patient_id: int) -> list[dict[str, Any]]:
    return _rows(db, "SELECT code, system, name, value_num, value_text, unit, time, flag FROM observations "
                     "WHERE patient_id = ? ORDER BY code, time", (patient_id,))


def conditions_for(db: Database, patient_id: int) -> list[dict[str, Any]]:
    return _rows(db, "SELECT code, system, display, onset, clinical_status, abatement FROM conditions "
                     "WHERE patient_id = ? ORDER BY code", (patient_id,))


def medications_for(db: Database, patient_id: int) -> list[dict[str, Any]]:
    return _rows(db, "SELECT code, system, display, drug_class, status FROM medications WHERE patient_id = ?",
                 (patient_id,))


def allergies_for(db: Database, patient_id: int) -> list[dict[str, Any]]:
    return _rows(db, "SELECT substance, code, system, drug_class, reaction, criticality, clinical_status "
                     "FROM allergies WHERE patient_id = ?", (patient_id,))


def dataset_long_rows(db: Database, dataset_name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                                 list[dict[str, Any]]]:
    """(patients, observations, conditions) of the active versions of one dataset, for building a frame."""
    version_filter = ("SELECT v.id FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
                      "WHERE d.name = ? AND v.status = 'active'")
    patients = _rows(db, f"SELECT id, pseudo_id, sex, age, age_group, source FROM patients "
                         f"WHERE dataset_version_id IN ({version_filter}) ORDER BY id", (dataset_name,))
    observations = _rows(db, f"SELECT o.patient_id, o.code, o.value_num, o.value_text, o.time FROM observations o "
                             f"JOIN patients p ON p.id = o.patient_id "
                             f"WHERE p.dataset_version_id IN ({version_filter}) ORDER BY o.patient_id, o.time",
                         (dataset_name,))
    conditions = _rows(db, f"SELECT c.patient_id, c.code FROM conditions c JOIN patients p ON p.id = c.patient_id "
                           f"WHERE p.dataset_version_id IN ({version_filter})", (dataset_name,))
    return patients, observations, conditions


def list_dataset_names(db: Database) -> list[str]:
    return [r[0] for r in db.conn.execute("SELECT name FROM datasets ORDER BY name")]
