"""Notes import, the patient's notes with findings, and the clinician's review of suggested problems.

Import order (all reading and NLP first, one write transaction last, so a refusal writes nothing):
parse the upload (plain text for one patient, CSV with a note and a patient id column, FHIR R4
DocumentReference with inline text attachments) -> de-identify each note (names, dates shifted per
patient, numbers, contacts, addresses, ages over 89) -> extract findings from the de-identified text ->
store notes, findings and a new import version, audited. Upload file names are never stored.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine import audit
from engine.errors import InputError, NotFoundError
from engine.ingest.importer import ensure_pseudonym_key
from engine.notes.deid import deidentify
from engine.notes.extract import NoteFinding, asserted_now, extract_findings, normalise_note
from engine.notes.text import decode_text
from engine.notes.vocabulary import BY_CODE
from engine.privacy import date_shift_days, pseudonymiser
from engine.store import Database, transaction
from engine.store import notes as note_rows
from engine.store import records as record_rows
from engine.uploads import check_upload

NOTE_COLUMNS = ("note", "text", "note_text", "report", "report_text", "body")
PATIENT_COLUMNS = ("patient_id", "patient", "subject", "mrn", "pseudo_id", "id")
DATE_COLUMNS = ("date", "note_date", "report_date")
KIND_COLUMNS = ("kind", "type", "note_type", "report_type")
NAME_COLUMNS = ("name", "patient_name", "full_name")

ProgressFn = Callable[[int, int], None]


@dataclass
class RawNote:
    """One note as read from the upload, before de-identification (never stored or logged as is)."""

    where: str  # "row 4", "entry 2": for messages
    text: str
    patient_ref: str | None = None  # the source's own patient id (to pseudonymise)
    date: str | None = None
    kind: str | None = None
    names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NotesImportResult:
    version: int
    notes: int
    findings: int
    redactions: dict[str, int]


def parse_upload(data: bytes) -> tuple[str, list[RawNote]]:
    """(format, notes) from the bytes; the format is judged by content, never by a file name."""
    kind = check_upload(data, {"text", "csv", "json"})
    if kind == "json":
        return "fhir", _parse_fhir(data)
    text = decode_text(data)
    first = text.split("\n", 1)[0]
    if kind == "csv" or any(d in first for d in ",;\t"):  # a CSV whose quoted notes span lines sniffs as text
        notes = _parse_csv(text)
        if notes is not None:
            return "csv", notes
    if not text.strip():
        raise InputError("The note is empty.")
    return "text", [RawNote("the note", text)]


def _pick(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower().replace(" ", "_") for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def _parse_csv(text: str) -> list[RawNote] | None:
    """Notes from a CSV with a note column and a patient id column; None when it has no note column."""
    csv.field_size_limit(10_000_000)
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    if not first.count(delimiter):
        return None
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        return None
    header = rows[0]
    note_col, patient_col = _pick(header, NOTE_COLUMNS), _pick(header, PATIENT_COLUMNS)
    if note_col is None:
        return None
    if patient_col is None:
        raise InputError("The CSV has a note column but no patient id column (patient_id, patient, subject or mrn).")
    date_col, kind_col, name_col = _pick(header, DATE_COLUMNS), _pick(header, KIND_COLUMNS), _pick(header, NAME_COLUMNS)
    notes, empty = [], []
    for number, cells in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        cell = (lambda i: cells[i].strip() if i is not None and i < len(cells) else "")
        if not cell(note_col) or not cell(patient_col):
            empty.append(number)
            continue
        notes.append(RawNote(f"row {number}", cell(note_col), cell(patient_col), cell(date_col) or None,
                             cell(kind_col) or None, [cell(name_col)] if cell(name_col) else []))
    if empty:
        raise InputError(f"The CSV has an empty note or patient id in row(s) {', '.join(map(str, empty[:8]))}.")
    if not notes:
        raise InputError("The CSV has a header but no notes.")
    return notes


def _parse_fhir(data: bytes) -> list[RawNote]:
    """DocumentReference resources (alone or in a Bundle) with inline text attachments."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError("The JSON file could not be read.") from exc
    if not isinstance(doc, dict):
        raise InputError("The JSON file is not a FHIR resource (it must be an object with a resourceType).")
    resources = [e.get("resource") for e in doc.get("entry", []) if isinstance(e, dict)] \
        if doc.get("resourceType") == "Bundle" else [doc]
    names: dict[str, list[str]] = {}
    for res in resources:
        if isinstance(res, dict) and res.get("resourceType") == "Patient" and res.get("id"):
            for n in res.get("name", []) or []:
                if isinstance(n, dict):
                    names.setdefault(f"Patient/{res['id']}", []).append(
                        " ".join([*(n.get("given") or []), n.get("family") or ""]).strip())
    notes = []
    for number, res in enumerate(resources, start=1):
        if not isinstance(res, dict) or res.get("resourceType") != "DocumentReference":
            continue
        where = f"DocumentReference {number}"
        subject = (res.get("subject") or {}).get("reference") if isinstance(res.get("subject"), dict) else None
        if not subject:
            raise InputError(f"{where} has no subject (the patient it is about).")
        texts = []
        for content in res.get("content", []) or []:
            att = content.get("attachment", {}) if isinstance(content, dict) else {}
            if not str(att.get("contentType", "text/plain")).startswith("text/"):
                continue
            if "data" not in att:
                continue
            try:
                texts.append(base64.b64decode(att["data"], validate=True).decode("utf-8-sig"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise InputError(f"{where}: the attachment is not base64-encoded UTF-8 text.") from exc
        if not texts:
            raise InputError(f"{where} has no inline text attachment (content.attachment.data with a text type).")
        kind = (res.get("type") or {}).get("text") if isinstance(res.get("type"), dict) else None
        ref = subject.split("/", 1)[-1]
        notes.append(RawNote(where, "\n".join(texts), ref, res.get("date"), kind, names.get(subject, [])))
    if not notes:
        raise InputError("The FHIR file has no DocumentReference.")
    return notes


def import_notes(db: Database, data: bytes, *, username: str, patient: str | None = None,
                 progress: ProgressFn | None = None) -> NotesImportResult:
    """Import the notes in ``data``. A plain-text note needs ``patient`` (a pseudonymous id in the store);
    CSV and FHIR rows name their patient by the source's id, which is pseudonymised as the records import
    does and must already be in the store."""
    fmt, raw = parse_upload(data)
    key = _read_key(db)
    pseudonym = pseudonymiser(key) if key else None
    prepared = []
    missing = []
    for i, note in enumerate(raw):
        if note.patient_ref is None:
            if not patient:
                raise InputError("Choose the patient this note belongs to.")
            patient_id = note_rows.patient_row(db, patient)
            shift = date_shift_days(key, "pseudo:" + patient) if key else 0
        else:
            pseudo = pseudonym(note.patient_ref) if pseudonym else None
            patient_id = note_rows.patient_row(db, pseudo) if pseudo else None
            if patient_id is None:  # the export may carry the pseudonymous id itself
                patient_id = note_rows.patient_row(db, note.patient_ref)
            shift = date_shift_days(key, note.patient_ref) if key else 0
        if patient_id is None:
            missing.append(note.where)
            continue
        result = deidentify(note.text, shift_days=shift, known_names=note.names)
        text = normalise_note(result.text)
        note_date = deidentify(note.date, shift_days=shift).text if note.date else None
        findings = extract_findings(text)
        prepared.append((patient_id, note.kind, note_date, text, dict(result.counts), findings))
        if progress:
            progress(i + 1, len(raw))
    if missing:
        raise InputError(f"No patient in the store matches the patient of {', '.join(missing[:8])}; "
                         "import the patient's record first.")
    sha = hashlib.sha256(data).hexdigest()
    totals: dict[str, int] = {}
    n_findings = 0
    with transaction(db):
        import_id, version = note_rows.add_import(db, fmt=fmt, sha256=sha, username=username)
        for patient_id, kind, note_date, text, counts, findings in prepared:
            note_id = note_rows.insert_note(db, import_id=import_id, patient_id=patient_id, kind=kind,
                                            note_date=note_date, text=text,
                                            sha256=hashlib.sha256(text.encode()).hexdigest(), redactions=counts)
            n_findings += note_rows.insert_findings(db, [_finding_row(note_id, patient_id, f) for f in findings])
            for k, v in counts.items():
                totals[k] = totals.get(k, 0) + v
        note_rows.set_import_count(db, import_id, len(prepared))
        audit.record(db, username=username, action="notes.import", target_type="note_import", target_id=import_id,
                     details={"version": version, "format": fmt, "sha256": sha, "notes": len(prepared),
                              "findings": n_findings, "redactions": totals})
    return NotesImportResult(version, len(prepared), n_findings, totals)


def _read_key(db: Database) -> str | None:
    key = record_rows.read_secret(db, record_rows.PSEUDONYM_KEY_NAME)
    if key is None:
        with transaction(db):
            key = ensure_pseudonym_key(db)
    return key


def _finding_row(note_id: int, patient_id: int, f: NoteFinding) -> tuple:
    return (note_id, patient_id, f.code, f.label, f.start, f.end, f.sentence, f.section, f.negation, f.temporality,
            f.experiencer, f.certainty)


def patient_notes(db: Database, pseudo_id: str) -> dict[str, Any]:
    """The patient's notes with their findings, and the problems the notes suggest that await review.

    A suggestion is a vocabulary code that a note asserts the patient has now (affirmed, recent, the patient's,
    not only possible: :func:`asserted_now`), not already a recorded condition and not yet confirmed or rejected.
    """
    patient_id = note_rows.patient_row(db, pseudo_id)
    if patient_id is None:
        raise NotFoundError("No patient has this pseudonymous id.")
    notes = note_rows.patient_notes(db, patient_id)
    findings = note_rows.note_findings(db, [n["id"] for n in notes])
    by_note: dict[int, list[dict[str, Any]]] = {}
    for f in findings:
        by_note.setdefault(f["note_id"], []).append(f)
    for n in notes:
        n["findings"] = by_note.get(n["id"], [])
        n["redactions"] = json.loads(n["redactions"])
    recorded = note_rows.condition_codes(db, patient_id)
    reviewed = note_rows.reviews(db, patient_id)
    suggestions: dict[str, dict[str, Any]] = {}
    for f in findings:
        if asserted_now(f):
            if f["code"] in recorded or f["code"] in reviewed:
                continue
            item = suggestions.setdefault(f["code"], {"code": f["code"], "label": f["label"], "mentions": 0})
            item["mentions"] += 1
    return {"notes": notes, "suggestions": sorted(suggestions.values(), key=lambda s: (-s["mentions"], s["code"])),
            "reviewed": reviewed}


def review_suggestion(db: Database, pseudo_id: str, code: str, decision: str, *, username: str) -> dict[str, Any]:
    """Confirm (the problem joins the record as a condition) or reject a suggested problem; audited."""
    if decision not in ("confirmed", "rejected"):
        raise InputError("The decision must be 'confirmed' or 'rejected'.")
    if code not in BY_CODE:
        raise InputError("This code is not one the notes reader suggests.")
    with transaction(db):
        view = patient_notes(db, pseudo_id)
        if code not in {s["code"] for s in view["suggestions"]}:
            raise InputError("This problem is not awaiting review for this patient (already decided or recorded).")
        patient_id = note_rows.patient_row(db, pseudo_id)
        condition_id = None
        if decision == "confirmed":
            condition_id = note_rows.insert_condition(db, patient_id=patient_id, code=code, display=BY_CODE[code].label)
        note_rows.record_review(db, patient_id=patient_id, code=code, decision=decision, condition_id=condition_id,
                                username=username)
        audit.record(db, username=username, action=f"notes.problem_{decision[:-2]}", target_type="patient",
                     target_id=pseudo_id, details={"code": code, "source": "notes"})
    return {"code": code, "decision": decision, "condition_id": condition_id}
