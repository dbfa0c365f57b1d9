"""The doors: every place user-supplied bytes or text enter ClinSight, as data for the fuzz harness.

A :class:`Door` is a callable taking one generated input (and the open store),
a hypothesis strategy producing inputs, the errors that count as a clear
refusal, and an optional property that a successful result must satisfy.

Adding a door when a feature lands (the lead does this after merging):

    register_door(Door(
        name="records.ingest_csv",
        strategy=lambda: any_bytes(corpus_records()),     # seed files of that format
        call=lambda data, db: ingest_bytes(db, data, file_name="upload.csv", user="fuzz"),
        store="seeded",                                   # "none", "fresh" or "seeded"
    ))

The harness (``tests/reliability/fuzzing.py``) then runs it in ``make test``
(small sample), ``make fuzz`` (>= 1,000 cases) and checks that each case ends in
a result or a clear refusal within its time bound, and that a refusal leaves
the store unchanged (tables in ``may_change`` excepted).
"""
from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from engine.errors import AuthError, EngineError, InputError, IntegrityError
from tests.reliability import strategies as S


@dataclass(frozen=True)
class Door:
    """One parser or entry point taking user input."""

    name: str
    strategy: Callable[[], st.SearchStrategy]  # built lazily: some corpora need heavy imports
    call: Callable[[Any, Any], Any]  # (generated input, open Database or None) -> result
    expected: tuple[type[BaseException], ...] = (InputError,)  # clear refusals
    store: str = "none"  # "none", "fresh" or "seeded": which store the door runs against
    may_change: frozenset[str] = frozenset()  # tables a refusal may still write (e.g. audit of a failed login)
    check: Callable[[Any, Any], None] | None = None  # property of a successful result; raise AssertionError
    time_bound_s: float = 5.0


DOORS: dict[str, Door] = {}


def register_door(door: Door) -> Door:
    DOORS[door.name] = door
    return door


# ---------------------------------------------------------------- seed corpora (built from code, cached)

@functools.cache
def corpus_uploads() -> tuple[bytes, ...]:
    """One small valid file of each type the app accepts."""
    import numpy as np
    import pandas as pd
    import pydicom.data
    from openpyxl import Workbook
    from PIL import Image

    pixels = (np.arange(32 * 32, dtype=np.uint8).reshape(32, 32))
    png, jpeg, xlsx, parquet = io.BytesIO(), io.BytesIO(), io.BytesIO(), io.BytesIO()
    Image.fromarray(pixels).save(png, format="PNG")
    Image.fromarray(pixels).save(jpeg, format="JPEG")
    wb = Workbook()
    wb.active.append(["age", "sex", "glucose"])
    wb.active.append([54, "female", 5.4])
    wb.save(xlsx)
    pd.DataFrame({"age": [54, 61], "sex": ["female", "male"]}).to_parquet(parquet)
    with open(pydicom.data.get_testdata_file("CT_small.dcm"), "rb") as handle:
        dicom = handle.read()
    return (png.getvalue(), jpeg.getvalue(), dicom, xlsx.getvalue(), parquet.getvalue(),
            b'{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient", "gender": "female"}}]}',
            b"age,sex,glucose\n54,female,5.4\n61,male,7.1\n", b"just a note\n")


@functools.cache
def corpus_backups() -> tuple[bytes, ...]:
    """A small real backup (a few users and audit rows) as the seed for the restore door."""
    import tempfile
    from pathlib import Path

    from engine import audit
    from engine.backup import backup_store
    from engine.store import connect

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "src.db"
        db = connect(store)
        for i in range(5):
            audit.record(db, username="fuzz", action="fuzz.seed", target_id=i)
        db.conn.close()
        backup_store(Path(tmp) / "b.db", source=store)
        return ((Path(tmp) / "b.db").read_bytes(),)


# ---------------------------------------------------------------- the doors that exist on main

def _upload_check(data: bytes, result: str) -> None:
    from engine.uploads import TYPE_NAMES

    assert result in TYPE_NAMES, result


register_door(Door(
    name="uploads.check_upload",
    strategy=lambda: st.one_of(S.any_bytes(corpus_uploads()), S.csv_text()),
    call=lambda data, db: __import__("engine.uploads", fromlist=["x"]).check_upload(
        data, {"png", "jpeg", "dicom", "xlsx", "parquet", "json", "csv"}, limit_mb=1),
    check=_upload_check,
    time_bound_s=2.0,
))

register_door(Door(
    name="uploads.sniff_type",
    strategy=lambda: S.any_bytes(corpus_uploads()),
    call=lambda data, db: __import__("engine.uploads", fromlist=["x"]).sniff_type(data),
    expected=(),  # sniffing never refuses: it names a type
    check=_upload_check,
    time_bound_s=2.0,
))


def _run_cli(argv: list[str], stdin_text: str = "") -> tuple[int, str, str]:
    """Run ``python -m engine ARGV`` in-process; argparse's SystemExit becomes an exit code."""
    import sys

    from engine.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin_text)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        sys.stdin = saved_stdin
    return code, out.getvalue(), err.getvalue()


def _cli_users_add(value: tuple[str, str, str], db) -> str:
    """The users CLI as a door: exit 0, or exit 2 with an error sentence (refusal), nothing else."""
    name, role, password = value
    code, out, err = _run_cli(["users", "add", name, "--role", role], password + "\n")
    assert "Traceback" not in err, err
    if code == 2:
        assert err.strip(), "refused without a message"
        raise InputError(err.strip().splitlines()[-1])
    assert code == 0, (code, err)
    return out


def _check_user_added(value: tuple[str, str, str], out: str) -> None:
    from engine.store import open_db
    from engine.store.users import get_user

    with open_db() as db:
        row = get_user(db, value[0])
    assert row is not None and row["role"] == value[1]
    assert row["password_hash"].startswith("$argon2id$")


_cli_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"),
                    max_size=50)
register_door(Door(
    name="cli.users_add",
    strategy=lambda: st.tuples(
        st.one_of(_cli_text, st.from_regex(r"[A-Za-z][A-Za-z0-9._-]{1,39}", fullmatch=True)),
        st.one_of(st.sampled_from(["clinician", "analyst", "admin"]), _cli_text),
        st.one_of(_cli_text, st.text(min_size=10, max_size=40))),
    call=_cli_users_add,
    check=_check_user_added,
    store="fresh",
))


def _login(value: tuple[str, str], db) -> Any:
    from engine.auth import authenticate

    return authenticate(db, *value)


register_door(Door(
    name="auth.login_form",
    strategy=lambda: st.one_of(
        st.tuples(st.one_of(S.nasty_text, st.sampled_from(["fuzzadmin", "FUZZADMIN", "fuzzadmin "])), S.nasty_text),
        st.just(("fuzzadmin", "fuzz-password-123"))),
    call=_login,
    expected=(AuthError, InputError),
    store="fresh",
    may_change=frozenset({"audit", "users"}),  # failed attempts are counted and audited, by design
))


def _search(value: dict[str, str | None], db) -> list[dict]:
    from engine.store.patients import search_patients

    return search_patients(db, **value)


def _check_search(value: dict[str, str | None], rows: list[dict]) -> None:
    text = (value.get("text") or "").replace("\x00", "")
    if text:  # the text is literal ('%' and '_' too): every hit contains it
        assert all(text.lower() in r["pseudo_id"].lower() for r in rows), text


register_door(Door(
    name="patients.search_form",
    strategy=lambda: st.fixed_dictionaries({}, optional={
        "text": st.one_of(S.nasty_text, st.sampled_from(["UCI-00", "' OR 1=1 --", "%", "_", "\"; DROP TABLE x"])),
        "source": S.nasty_text, "sex": st.one_of(S.nasty_text, st.sampled_from(["female", "male"])),
        "condition_code": st.one_of(S.nasty_text, st.sampled_from(["I25", "E11"]))}),
    call=_search,
    check=_check_search,
    store="seeded",
    time_bound_s=3.0,
))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _export(rows: list[dict[str, Any]], db) -> bytes:
    from engine.activity import audit_rows_to_csv

    return audit_rows_to_csv(rows)


def _check_export(rows: list[dict[str, Any]], data: bytes) -> None:
    parsed = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert len(parsed) == len(rows), (len(parsed), len(rows))
    for original, back in zip(rows, parsed):
        for key, value in back.items():
            want = original.get(key)
            if isinstance(want, str):  # numbers such as -5 are numbers to a spreadsheet, not formulas
                assert not value.startswith(_FORMULA_START), f"cell {key!r} would run as a spreadsheet formula"
            want = "" if want is None else str(want)
            assert value in (want, "'" + want), (key, want, value)


_AUDIT_KEYS = ("id", "ts", "username", "action", "target_type", "target_id", "outcome", "details", "prev_hash", "hash")
register_door(Door(
    name="audit.csv_export",
    strategy=lambda: st.lists(st.fixed_dictionaries({k: st.one_of(st.none(), S.nasty_text, st.integers())
                                                     for k in _AUDIT_KEYS}), max_size=8),
    call=_export,
    expected=(),
    check=_check_export,
))


def _audit_details(details: dict[str, Any], db) -> int:
    from engine import audit

    return audit.record(db, username="fuzz", action="fuzz.details", details=details)


def _check_chain(details: dict[str, Any], row_id: int) -> None:
    """The row just written links to the one before and its hash matches its stored content.

    (Checking only the new link keeps 1,000 cases linear; the whole chain is verified by the soak and crash runs.)
    """
    from engine.audit import _row_hash
    from engine.store import open_db
    from engine.store.audit_log import AUDIT_COLUMNS

    with open_db() as db:
        rows = [dict(zip(AUDIT_COLUMNS, r)) for r in db.conn.execute(
            f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit WHERE id <= ? ORDER BY id DESC LIMIT 2", (row_id,))]
    assert rows[0]["id"] == row_id and _row_hash(rows[0]) == rows[0]["hash"], "stored row does not hash back"
    if len(rows) == 2:
        assert rows[0]["prev_hash"] == rows[1]["hash"], "the new row does not link to the previous one"
    assert json.loads(rows[0]["details"] or "null") == (json.loads(json.dumps(details, sort_keys=True, default=str))
                                                       if details else None)


register_door(Door(
    name="audit.details_json",
    strategy=lambda: st.dictionaries(S.nasty_text, S.json_values, max_size=6),
    call=_audit_details,
    expected=(),
    check=_check_chain,
    store="fresh",
))


def _age(value: float, db) -> tuple:
    from engine.privacy import generalise_age

    return generalise_age(value)


def _check_age(value: float, result: tuple) -> None:
    age, group = result
    if value is None or math.isnan(value):
        assert result == (None, None)
    elif value > 89:
        assert result == (None, "90+")
    else:
        assert age == value and group is not None


register_door(Door(
    name="privacy.generalise_age",
    strategy=lambda: st.one_of(st.none(), st.floats(), st.integers(-10**6, 10**6)),
    call=_age,
    check=_check_age,
))


def _restore(data: bytes, db) -> Any:
    import tempfile
    from pathlib import Path

    from engine.backup import restore_store
    from engine.config import get_settings

    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / "candidate.db"
        candidate.write_bytes(data)
        return restore_store(candidate, target=get_settings().db_path, keep_previous=False)


register_door(Door(
    name="store.restore_file",
    strategy=lambda: S.any_bytes(corpus_backups()),
    call=_restore,
    expected=(InputError, IntegrityError),
    store="fresh",
    time_bound_s=10.0,
))

# ---------------------------------------------------------------- treatment (merged from feat/treatment)

@functools.cache
def _treatment_kb():
    from engine.treatment.knowledge import load_knowledge_base

    return load_knowledge_base()


def _treatment_record_strategy() -> st.SearchStrategy:
    """Records shaped like the documented format, with odd values in every field, plus arbitrary JSON."""
    from engine.vocabulary import CONCEPTS

    codes = sorted({c.code for c in CONCEPTS.values()})
    units = sorted({c.unit for c in CONCEPTS.values() if c.unit}) + ["mmol/mol", "g/L", "mg/dl", "kg", "?"]
    number = st.one_of(st.floats(), st.integers(-10**9, 10**9), S.nasty_text, st.none(), st.booleans())
    observation = st.fixed_dictionaries(
        {"code": st.one_of(st.sampled_from(codes), S.nasty_text), "value": number},
        optional={"unit": st.one_of(st.sampled_from(units), S.nasty_text), "time": S.nasty_text})
    condition = st.one_of(st.fixed_dictionaries(
        {"code": st.one_of(st.sampled_from(["E11", "I10", "I50.2", "I25.10", "J18.9", "e11.9"]), S.nasty_text)},
        optional={"system": S.nasty_text}), S.nasty_text)
    drug = st.one_of(st.sampled_from(["metformin", "lisinopril 10 mg", "penicillin", "atorvastatin"]), S.nasty_text,
                     st.fixed_dictionaries({"display": S.nasty_text}, optional={"drug_class": S.nasty_text,
                                                                                "stopped": S.nasty_text,
                                                                                "reaction": S.nasty_text}))
    record = st.fixed_dictionaries({}, optional={
        "age": number, "sex": st.one_of(st.sampled_from(["female", "male", "other", "unknown"]), S.nasty_text),
        "conditions": st.one_of(st.lists(condition, max_size=4), S.json_values),
        "observations": st.one_of(st.lists(observation, max_size=6), S.json_values),
        "medications": st.one_of(st.lists(drug, max_size=4), S.json_values),
        "allergies": st.one_of(st.lists(drug, max_size=3), S.json_values),
        "predictions": st.one_of(st.lists(S.json_values, max_size=2), S.json_values),
        "as_of": st.one_of(S.nasty_text, st.sampled_from(["2026-11-15", "2026-11-15T08:00:00+01:00"])),
        "confirmed": st.one_of(S.json_values, st.fixed_dictionaries({}, optional={
            "pregnant": st.one_of(st.booleans(), S.nasty_text), "angioedema_history": st.booleans()}))})
    return st.tuples(st.one_of(record, record, S.json_values),
                     st.one_of(st.none(), st.sampled_from(["E11", "I10", "I50.2", "J18.9"]), S.nasty_text))


def _suggest(value: tuple[Any, str | None], db) -> dict:
    from engine.treatment import suggest

    record, condition = value
    return suggest(record, condition=condition, kb=_treatment_kb())


def _check_suggest(value: tuple[Any, str | None], result: dict) -> None:
    assert result["disclaimer"] and isinstance(result["options"], list)


register_door(Door(
    name="treatment.record_json",
    strategy=_treatment_record_strategy,
    call=_suggest,
    check=_check_suggest,
))

# ---------------------------------------------------------------- prediction (merged from feat/predict)

@functools.cache
def _model_cards() -> tuple[dict, ...]:
    from engine.models.registry import get_card, list_models

    return tuple(get_card(m["name"]) for m in list_models() if m["status"] == "active")


def _feature_value(feature: dict, *, with_junk: bool = True) -> st.SearchStrategy:
    """Plausible values, boundary values, junk, and the other kinds' values for one card feature."""
    junk = st.one_of(st.none(), st.booleans(), st.floats(), S.nasty_text, st.integers(-10**12, 10**12),
                     st.lists(st.integers(), max_size=2))
    if feature["kind"] == "categorical":
        good = st.sampled_from(feature["categories"] + [c.upper() for c in feature["categories"]])
    elif feature["kind"] == "binary":
        good = st.sampled_from([0, 1, "yes", "no", True, False, "1.0"])
    else:
        low, high = feature.get("plausible") or (0, 1000)
        good = st.one_of(st.floats(low, high), st.sampled_from([low, high]))
        junk = st.one_of(junk, st.sampled_from([low - 1e-9, high + 1e-9]))
    return st.one_of(good, junk) if with_junk else good


def _predict_strategy() -> st.SearchStrategy:
    cards = _model_cards()

    def records(card: dict) -> st.SearchStrategy:
        names = [f["name"] for f in card["features"]]
        values = {f["name"]: _feature_value(f) for f in card["features"]}
        good = {f["name"]: _feature_value(f, with_junk=False) for f in card["features"]}
        return st.tuples(st.just(card["name"]), st.one_of(
            st.fixed_dictionaries(good), st.fixed_dictionaries({}, optional=good),
            st.fixed_dictionaries({}, optional=values),
            st.fixed_dictionaries(values),
            st.dictionaries(st.one_of(st.sampled_from(names), S.nasty_text), S.json_values, max_size=6),
            S.json_values))

    return st.one_of(*[records(card) for card in cards])


def _predict(value: tuple[str, Any], db) -> dict:
    from engine.models.predict import run_prediction

    name, record = value
    return run_prediction(db, username="fuzz", name=name, record=record)[1]


def _check_prediction(value: tuple[str, Any], result: dict) -> None:
    import math as _math

    p = result["probability"]
    low, high = result["interval"] if isinstance(result["interval"], (list, tuple)) else (p, p)
    assert 0.0 <= p <= 1.0 and _math.isfinite(p), p
    assert low <= p <= high, (low, p, high)


register_door(Door(
    name="predict.record_json",
    strategy=_predict_strategy,
    call=_predict,
    check=_check_prediction,
    store="seeded",
    time_bound_s=10.0,
))

# ---------------------------------------------------------------- records import (merged from feat/records)

@functools.cache
def corpus_records() -> tuple[bytes, ...]:
    """Small exports of each format the import reads (synthetic rows written by the libraries that read them)."""
    import json as _json

    import pandas as pd

    frame = pd.DataFrame({"patient_id": ["A1", "A2", "A3"], "age": [54, 91, 33], "sex": ["female", "male", "F"],
                          "glucose": [5.4, 130, None], "bmi": [31.2, 24.0, 27.5],
                          "diagnosis": ["E11", "I10;E11", ""], "visit_date": ["2021-03-04", "04/05/2020", "x"]})
    csv_bytes = frame.to_csv(index=False).encode()
    xlsx, parquet = io.BytesIO(), io.BytesIO()
    frame.to_excel(xlsx, index=False)
    frame.to_parquet(parquet)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1960"}},
        {"resource": {"resourceType": "Observation", "subject": {"reference": "Patient/p1"},
                      "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
                      "valueQuantity": {"value": 99, "unit": "mg/dL"}, "effectiveDateTime": "2021-01-01"}},
        {"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
                      "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11"}]}}}]}
    from tests.engine.ingest import fhir_examples

    whole = fhir_examples.bundle("transaction")  # every resource kind, components, skipped types
    ndjson = "\n".join(_json.dumps(r) for r in fhir_examples.resources("Patient/" + fhir_examples.PATIENT_ID))
    return (csv_bytes, xlsx.getvalue(), parquet.getvalue(), _json.dumps(bundle).encode(),
            csv_bytes.replace(b",", b";"), _json.dumps(whole).encode(), ndjson.encode())


def _ingest(data: bytes, db) -> Any:
    """The page's import in one go (as ``python -m engine ingest``): sniff, map, validate, import."""
    from engine.ingest import DEFAULT_DECISIONS, import_source, open_source, propose_mapping, validate_source

    source = open_source(data, file_name="upload")
    mapping = propose_mapping(source.columns, source.preview(200))
    report = validate_source(db, source, mapping)
    return import_source(db, source, report, dict(DEFAULT_DECISIONS), dataset="fuzz", username="fuzz",
                         file_name="upload")


register_door(Door(
    name="records.ingest_file",
    strategy=lambda: st.one_of(S.any_bytes(corpus_records()), S.csv_text()),
    call=_ingest,
    store="seeded",
    may_change=frozenset({"audit"}),  # a refused import may be audited; it must write nothing else
    time_bound_s=20.0,
))


# ---------------------------------------------------------------- imaging (merged from feat/imaging)

def _image(data: bytes, db) -> dict:
    from engine.imaging.service import predict_image

    return predict_image(data, "upload")


def _check_image(data: bytes, result: dict) -> None:
    p = result.get("probability")
    assert p is None or 0.0 <= p <= 1.0, p


register_door(Door(
    name="imaging.predict_image",
    strategy=lambda: S.any_bytes(corpus_uploads()[:3]),  # PNG, JPEG, DICOM seeds
    call=_image,
    check=_check_image,
    expected=(InputError,),
    time_bound_s=30.0,
))

# ---------------------------------------------------------------- capacity (issue 17)

@functools.lru_cache(maxsize=1)
def corpus_admissions() -> tuple[bytes, ...]:
    """Seeds: a slice of the SYNTHETIC sample export and a hand-written one with every kind of bad row."""
    from engine.capacity.sample import sample_admissions_csv

    sample = b"\n".join(sample_admissions_csv(weeks=2).splitlines()[:40]) + b"\n"
    bad = (b"mrn,ward,admit_time,discharge_time\nA1,ICU,2026-01-05 08:00,2026-01-04 08:00\n"
           b"A2,Maternity,2026-01-05 08:00,2026-01-06 08:00\nA3,ICU,2026-01-05 08:00,\n"
           b"A3,ICU,2026-01-05 09:00,2026-01-07 08:00\nA4,ICU,soon,2026-01-07 08:00\n")
    return (sample, bad)


def _admissions(data: bytes, db):
    from engine.capacity.service import import_admissions

    return import_admissions(db, data)


def _check_admissions(data: bytes, result) -> None:
    assert len(result.stays) + sum(len(p.rows) for p in result.problems) == result.n_rows
    assert all(str(p).startswith("P-") for p in result.stays["patient"].dropna())


register_door(Door(
    name="capacity.import_admissions",
    strategy=lambda: st.one_of(S.any_bytes(corpus_admissions()), S.csv_text()),
    call=_admissions,
    check=_check_admissions,
    store="fresh",
    may_change=frozenset({"secrets"}),  # the store's pseudonym key is made once, even for a refused file
    time_bound_s=10.0,
))

# Every engine refusal is an EngineError; doors list the specific ones they may raise.
__all__ = ["DOORS", "Door", "EngineError", "register_door"]
