"""Write a validated file into the store as one dataset version, atomically; roll versions back.

One ``BEGIN IMMEDIATE`` transaction per import: the version row, patients,
observations, conditions, medications, the pseudonymisation key (created on
first use) and the audit row commit together or not at all, so a rejected or
cancelled import leaves the store file byte-for-byte as it was. Rows go in with
one ``executemany`` per table per chunk.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd

from engine import audit
from engine.errors import InputError, IntegrityError, NotFoundError
from engine.ingest.prepare import ZIP3_CODE, build_plan, prepare_chunk
from engine.ingest.resources import write_resources
from engine.ingest.sources import Source
from engine.ingest.validate import ProgressFn, ValidationReport, check_decisions
from engine.privacy import (date_shift_days, generalise_age, new_pseudonym_key, pseudonymiser, safe_file_name,
                            scrub_text)
from engine.store import Database, transaction, utcnow
from engine.store import datasets as dataset_rows
from engine.store import patients as patient_rows
from engine.store import records as record_rows
from engine.unit_text import count_noun


_YEAR = re.compile(r"\b(?:18|19|20)\d{2}\b")


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote: the version, and counts the page and command line show."""

    dataset: str
    version_id: int
    version: int
    patients_added: int
    patients_merged: int
    observations: int
    conditions: int
    medications: int
    rows_dropped: int
    rows_flagged: int
    values_converted: int
    # FHIR inputs (issue 18): the resources beyond the table, and what was not used, never silently.
    encounters: int = 0
    allergies: int = 0
    immunizations: int = 0
    procedures: int = 0
    conditions_not_used: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        merged = (f", {count_noun(self.patients_merged, 'existing patient')} updated" if self.patients_merged
                  else "")
        text = (f"Imported dataset '{self.dataset}' version {self.version}: "
                f"{count_noun(self.patients_added, 'new patient')}{merged}, "
                f"{count_noun(self.observations, 'observation')}, {count_noun(self.conditions, 'condition')}, "
                f"{count_noun(self.medications, 'medication')}")
        extra = [count_noun(n, noun, plural) for n, noun, plural in (
            (self.encounters, "encounter", None), (self.allergies, "allergy", "allergies"),
            (self.immunizations, "immunization", None), (self.procedures, "procedure", None)) if n]
        text += (", " + ", ".join(extra) if extra else "") + (
            f"; {count_noun(self.rows_dropped, 'row')} dropped, {count_noun(self.rows_flagged, 'value')} flagged, "
            f"{count_noun(self.values_converted, 'value')} converted to canonical units.")
        if self.conditions_not_used:
            text += (f" {count_noun(self.conditions_not_used, 'condition')} "
                     f"{'is' if self.conditions_not_used == 1 else 'are'} stored and shown but not used by the rules "
                     "(neither ICD-10-CM nor in the SNOMED CT map).")
        if self.skipped:
            text += " Skipped, not used by ClinSight: " + ", ".join(
                f"{n:,} {kind}" for kind, n in sorted(self.skipped.items())) + "."
        return text


def ensure_pseudonym_key(db: Database) -> str:
    """The store's pseudonymisation key, created once inside the caller's transaction."""
    key = record_rows.read_secret(db, record_rows.PSEUDONYM_KEY_NAME)
    if key is None:
        key = new_pseudonym_key()
        record_rows.insert_secret(db, record_rows.PSEUDONYM_KEY_NAME, key)
    return key


def _iso(values: np.ndarray, shifts: np.ndarray | None, mode: str) -> list[str | None]:
    out: list[str | None] = []
    for i, v in enumerate(values):
        if np.isnat(v):
            out.append(None)
            continue
        day = v.astype("datetime64[D]")
        if mode == "generalise":
            out.append(str(day)[:4])
        elif mode == "shift" and shifts is not None:
            out.append(str(day + np.timedelta64(int(shifts[i]), "D")))
        elif mode == "keep":
            out.append(str(day))
        else:
            out.append(None)
    return out


def import_source(db: Database, source: Source, report: ValidationReport, decisions: dict[str, str], *,
                  dataset: str, username: str, file_name: str | None = None,
                  progress: ProgressFn | None = None, reference: date | None = None) -> ImportResult:
    """Import ``source`` as the next version of ``dataset`` following ``report`` and the user's decisions."""
    if report.sha256 != source.sha256:
        raise InputError("The validation report belongs to a different file; validate this file first.")
    dataset = (dataset or "").strip()
    if not dataset:
        raise InputError("Give the dataset a name.")
    chosen = check_decisions(report, decisions)
    file_name = safe_file_name(file_name)  # a file name may carry the patient's name: kept only word by word
    reference = reference or datetime.now(timezone.utc).date()
    plan = build_plan(report.mapping, set(report.numeric_columns))
    plan.date_formats.update(report.date_formats)
    drop_rows = np.unique(np.concatenate([report.rows_for(c) for c, a in chosen.items() if a == "drop"]
                                         or [np.zeros(0, np.int64)]))
    # (class, column) -> (rows, flag stored on their observations); fixed unit mix-ups are flagged "converted".
    flag_rows = {(p.cls, p.column): (np.sort(p.rows), "converted" if chosen[p.cls] == "fix" else p.cls)
                 for p in report.problems if chosen.get(p.cls) in ("keep", "fix") and p.cls != "repeated_id"}
    counts = dict(added=0, merged=0, obs=0, cond=0, meds=0, dropped=0, flagged=0, converted=0)
    if chosen.get("ragged") == "drop":  # never read into a chunk: dropped by being skipped
        counts["dropped"] += len(report.rows_for("ragged"))
    stored_report = report.to_dict()
    stored_report["decisions"] = chosen
    with transaction(db):
        key = ensure_pseudonym_key(db)
        pseudonym = pseudonymiser(key)
        dataset_id = dataset_rows.get_or_create_dataset(db, dataset, source=f"import: {report.format}",
                                                        created_by=username)
        version_id, version = dataset_rows.add_version(
            db, dataset_id, file_name=file_name, file_sha256=source.sha256, mapping={"columns": report.mapping},
            report=None, n_rows=0, created_by=username)
        next_id = record_rows.next_patient_id(db)
        seen = _SeenPatients()
        merged: set[int] = set()
        fhir_rowids: dict[str, int] = {}  # raw FHIR patient id -> row id, to link the resources beyond the table
        done = 0
        for chunk in source.iter_chunks():
            prep = prepare_chunk(chunk, plan, reference)
            rows = prep.rows
            keep = ~np.isin(rows, drop_rows)
            counts["dropped"] += int((~keep).sum())
            n = len(rows)
            # Pseudonymous id per row
            if plan.patient_id:
                raw_ids = [None if v is None else str(v) for v in prep.ids]
                pseudo = [None if v is None else (pseudonym(v) if plan.id_deid == "pseudonymise" else v.strip())
                          for v in raw_ids]
            else:
                raw_ids = [f"{source.sha256}:{int(r)}" for r in rows]
                pseudo = [pseudonym(v) for v in raw_ids]
            keep &= np.array([p is not None for p in pseudo], dtype=bool)
            pid = np.zeros(n, np.int64)
            kept = np.flatnonzero(keep)
            if len(kept):
                keys = pd.util.hash_array(np.array([pseudo[i] for i in kept], dtype=object))
                found, ids_found = seen.lookup(keys)
                pid[kept[found]] = ids_found
                # Patients first met in this chunk: the store may know them (merge) or they are new.
                unfound = np.flatnonzero(~found)  # positions in ``kept``
                _, first = np.unique(keys[unfound], return_index=True)
                first_pos = unfound[np.sort(first)]
                first_idx = kept[first_pos]
                existing = record_rows.patient_ids_by_pseudo(db, [pseudo[i] for i in first_idx])
                new_patients = []
                now = utcnow()
                new_ids = []
                for i in first_idx:
                    p = pseudo[i]
                    if p in existing:
                        rowid = existing[p]
                        merged.add(rowid)
                    else:
                        rowid = next_id
                        next_id += 1
                        age = prep.age[i]
                        age_kept, group = generalise_age(None if np.isnan(age) else float(age))
                        birth_year = None
                        if not np.isnat(prep.birth[i]) and age_kept is not None:
                            birth_year = int(str(prep.birth[i].astype("datetime64[Y]")))
                        new_patients.append((rowid, p, version_id, dataset, None, prep.sex[i],
                                             None if age_kept is None else float(age_kept), group, birth_year, now))
                    new_ids.append(rowid)
                seen.add(keys[first_pos], np.array(new_ids, dtype=np.int64))
                _, ids2 = seen.lookup(keys[unfound])
                pid[kept[unfound]] = ids2
                record_rows.insert_patients_with_ids(db, new_patients)
                counts["added"] += len(new_patients)
                if source.fhir is not None:
                    fhir_rowids.update((raw_ids[i], int(pid[i])) for i in kept if raw_ids[i] is not None)
            shifts = None
            if plan.time and plan.time_deid == "shift":
                cache: dict[str, int] = {}
                shifts = np.array([cache.setdefault(r, date_shift_days(key, r)) if r else 0 for r in raw_ids])
            times = _iso(prep.times, shifts, plan.time_deid) if plan.time else [None] * n
            counts["obs"] += _write_observations(db, plan, prep, keep, pid, version_id, times, flag_rows, counts,
                                                pseudonym)
            cond_rows, med_rows = [], []
            for i, items in prep.conditions.items():
                if keep[i]:
                    cond_rows.extend((int(pid[i]), version_id, code, system, display, times[i])
                                     for code, system, display in items)
            for i, items in prep.medications.items():
                if keep[i]:
                    med_rows.extend((int(pid[i]), version_id, None, None, scrub_text(d)[0], None, "active")
                                    for d in items)
            counts["cond"] += patient_rows.insert_conditions(db, cond_rows) if cond_rows else 0
            counts["meds"] += patient_rows.insert_medications(db, med_rows) if med_rows else 0
            done += n
            if progress:
                progress("import", done, max(report.n_rows, done))
        counts["merged"] = len(merged)
        fhir_counts: dict[str, int] = {}
        if source.fhir is not None:
            mode = plan.time_deid if plan.time else "shift"
            fhir_counts = dict(write_resources(db, source.fhir, fhir_rowids, version_id=version_id, key=key,
                                               date_mode=mode))
            counts["cond"] += fhir_counts.pop("conditions", 0)
            counts["meds"] += fhir_counts.pop("medications", 0)
            counts.update(fhir_counts)
            stored_report["fhir"] = source.fhir.summary()
        stored_report["result"] = dict(counts)
        record_rows.set_version_report(db, version_id, stored_report, counts["added"] + counts["merged"])
        audit.record(db, username=username, action="records.import", target_type="dataset_version",
                     target_id=version_id, details={"dataset": dataset, "version": version, "file": file_name,
                                                    "sha256": source.sha256, "rows": report.n_rows, **counts,
                                                    "decisions": chosen,
                                                    **({"fhir": source.fhir.summary()} if source.fhir else {})})
    return ImportResult(dataset, version_id, version, counts["added"], counts["merged"], counts["obs"],
                        counts["cond"], counts["meds"], counts["dropped"], counts["flagged"], counts["converted"],
                        encounters=counts.get("encounters", 0), allergies=counts.get("allergies", 0),
                        immunizations=counts.get("immunizations", 0), procedures=counts.get("procedures", 0),
                        conditions_not_used=counts.get("conditions_not_used", 0),
                        skipped=_skipped(source, counts.get("not_linked", 0)))


def _skipped(source: Source, not_linked: int) -> dict[str, int]:
    """FHIR resources not used, by type, plus those whose patient was not imported (a dropped row, say)."""
    skipped = dict(source.fhir.skipped) if source.fhir is not None else {}
    if not_linked:
        skipped["resources whose patient was not imported"] = not_linked
    return skipped


class _SeenPatients:
    """Pseudonym hash -> patient row id, as sorted numpy arrays (a dict of a million strings would not fit
    the memory budget: the strings would pin the allocator's arenas)."""

    def __init__(self) -> None:
        self.keys = np.zeros(0, np.uint64)
        self.ids = np.zeros(0, np.int64)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not len(self.keys):
            return np.zeros(len(keys), bool), np.zeros(0, np.int64)
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        found = self.keys[pos] == keys
        return found, self.ids[pos[found]]

    def add(self, keys: np.ndarray, ids: np.ndarray) -> None:
        if len(keys):
            all_keys = np.concatenate([self.keys, keys])
            order = np.argsort(all_keys, kind="stable")
            self.keys, self.ids = all_keys[order], np.concatenate([self.ids, ids])[order]


def _year(text: str) -> str | None:
    """Safe Harbor keeps the year of a date and nothing else."""
    match = _YEAR.search(text)
    return match.group(0) if match else None


def _write_observations(db: Database, plan, prep, keep, pid, version_id, times, flag_rows, counts,
                        pseudonym) -> int:
    rows = prep.rows
    written = 0
    for obs in plan.observations:
        col = obs.column
        flags = None
        for (cls, fcol), (frows, label) in flag_rows.items():
            if fcol == col or fcol is None or cls == "id_collision":
                hit = np.isin(rows, frows)
                if hit.any():
                    if flags is None:
                        flags = np.full(len(rows), None, dtype=object)
                    flags[hit] = label
        if obs.numeric:
            values = prep.numeric[col].copy()
            fix = flag_rows.get(("unit_mixup", col))
            if fix is not None and fix[1] == "converted" and col in prep.mixup_values:
                hit = np.isin(rows, fix[0])
                values[hit] = prep.mixup_values[col][hit]
                counts["converted"] += int((hit & keep).sum())
            text_raw = prep.text.get(col)
            has_text = text_raw is not None
            present = keep & (np.isfinite(values) | (has_text & np.array([v is not None for v in text_raw])
                                                      if has_text else False))
            idx = np.flatnonzero(present)
            if not len(idx):
                continue
            vals = values[idx]
            num_list = [None if not np.isfinite(v) else float(v) for v in vals] if has_text else vals.tolist()
            texts = ([None if np.isfinite(values[i]) else _inert(text_raw[i]) for i in idx] if has_text
                     else repeat(None))
            flag_list = flags[idx].tolist() if flags is not None else repeat(None)
            if flags is not None:
                counts["flagged"] += sum(1 for f in flag_list if f and f != "converted")
            data = zip(pid[idx].tolist(), repeat(version_id), repeat(obs.code), repeat(obs.system), repeat(obs.name),
                       num_list, texts, repeat(obs.unit), [times[i] for i in idx] if plan.time else repeat(None),
                       flag_list)
        else:
            raw = prep.text[col]
            idx = np.flatnonzero(keep & np.array([v is not None for v in raw], dtype=bool))
            if not len(idx):
                continue
            if obs.deid == "pseudonymise":
                texts = [pseudonym(str(raw[i])) for i in idx]
            elif obs.deid == "generalise" and obs.code != ZIP3_CODE:
                texts = [_year(str(raw[i])) for i in idx]
            else:
                texts = [_inert(scrub_text(str(raw[i]).strip())[0]) for i in idx]
            flag_list = flags[idx].tolist() if flags is not None else repeat(None)
            if flags is not None:
                counts["flagged"] += sum(1 for f in flag_list if f)
            data = zip(pid[idx].tolist(), repeat(version_id), repeat(obs.code), repeat(obs.system), repeat(obs.name),
                       repeat(None), texts, repeat(obs.unit), [times[i] for i in idx] if plan.time else repeat(None),
                       flag_list)
        written += patient_rows.insert_observations(db, data)
    return written


def _inert(text: Any) -> str | None:
    """Text that a spreadsheet will not execute: formulas get a leading apostrophe (OWASP CSV injection)."""
    if text is None:
        return None
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "@", "-", "\t", "\r") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def rollback_version(db: Database, version_id: int, *, username: str) -> dict[str, int]:
    """Remove every row one import wrote, in one transaction, and mark the version rolled back."""
    with transaction(db):
        version = record_rows.get_version(db, version_id)
        if version is None:
            raise NotFoundError(f"There is no dataset version {version_id}.")
        if version["status"] == "rolled_back":
            raise InputError(f"Version {version['version']} of '{version['dataset']}' is already rolled back.")
        held = record_rows.patients_with_predictions(db, version_id)
        if held:
            raise IntegrityError(f"Version {version['version']} of '{version['dataset']}' has {held} predictions "
                                 "stored against its patients; those clinical records cannot be rolled back.")
        counts = record_rows.delete_version_rows(db, version_id)
        audit.record(db, username=username, action="records.rollback", target_type="dataset_version",
                     target_id=version_id, details={"dataset": version["dataset"], "version": version["version"],
                                                    **counts})
    return counts
