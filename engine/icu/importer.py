"""Import ICU stays into the store: one dataset version, pseudonymised, in one transaction.

Why this shape: like every other import, the stays, their patients, the timed observations and
the audit row commit together or not at all, and the stay's record id never reaches the store
(a keyed pseudonym does). Hours since ICU admission are stored as they are: an elapsed time is not
a date. Ages over 89 are kept only as the "90+" group (Safe Harbor).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from engine import audit
from engine.errors import InputError
from engine.icu.parameters import PARAMETERS
from engine.icu.records import CleaningReport, Stay
from engine.ingest.importer import ensure_pseudonym_key
from engine.privacy import generalise_age, pseudonymiser
from engine.store import Database, transaction
from engine.store import datasets as dataset_rows
from engine.store import icu as icu_rows
from engine.store import patients as patient_rows

SOURCE = "PhysioNet/CinC Challenge 2012 (MIMIC-II ICU stays)"
LICENCE = "Open Data Commons Attribution (PhysioNet)"


@dataclass(frozen=True)
class IcuImportResult:
    dataset: str
    version: int
    stays: int
    observations: int
    cleaning: dict[str, Any]

    def summary(self) -> str:
        cleaned = sum(self.cleaning["cleaned"].values())
        return (f"Imported {self.stays:,} ICU stays ({self.observations:,} timed values) as dataset '{self.dataset}' "
                f"version {self.version}; {cleaned:,} values cleaned by rule.")


def default_dataset_name(today: date | None = None) -> str:
    """A neutral name (file names can carry identifiers, so they are never used)."""
    return f"icu-import-{(today or date.today()).isoformat()}"


def import_stays(db: Database, stays: Sequence[Stay], report: CleaningReport, *, username: str,
                 dataset: str | None = None, source: str = SOURCE, licence: str = LICENCE,
                 progress: Callable[[int, int], None] | None = None) -> IcuImportResult:
    """Write stays as patients + ``icu_stays`` + ``icu_observations`` in one transaction."""
    if not stays:
        raise InputError("There are no ICU stays to import.")
    name = dataset or default_dataset_name()
    total = 0
    with transaction(db):
        key = ensure_pseudonym_key(db)
        pseudo = pseudonymiser(key, prefix="ICU-")
        dataset_id = dataset_rows.get_or_create_dataset(db, name, source=source, licence=licence, created_by=username)
        version_id, version = dataset_rows.add_version(db, dataset_id, file_name=None, file_sha256=None,
                                                       mapping={"kind": "icu_time_series"}, report=report.as_dict(),
                                                       n_rows=len(stays), created_by=username)
        existing = patient_rows.existing_pseudo_ids(db, [pseudo(s.record_id) for s in stays])
        for i, stay in enumerate(stays):
            pid = pseudo(stay.record_id)
            if pid in existing:
                raise InputError(f"Stay {i + 1} of the file is already in the store (same pseudonymous id {pid}); "
                                 "nothing was imported.")
            age, age_group = generalise_age(stay.descriptors.get("Age"))
            sex = {0.0: "female", 1.0: "male"}.get(stay.descriptors.get("Gender"), "unknown")
            patient_id = patient_rows.insert_patient(db, {"pseudo_id": pid, "dataset_version_id": version_id,
                                                          "source": name, "licence": licence, "sex": sex,
                                                          "age": age, "age_group": age_group})
            hours = float(stay.series["hours"].max()) if len(stay.series) else 0.0
            stay_id = icu_rows.insert_stay(db, patient_id, version_id, hours)
            s = stay.series
            rows = [(stay_id, float(h), p, PARAMETERS[p].loinc, float(v), PARAMETERS[p].unit)
                    for h, p, v in zip(s["hours"].to_numpy(), s["parameter"].to_numpy(), s["value"].to_numpy())]
            total += icu_rows.insert_observations(db, rows)
            if progress and (i % 50 == 0 or i == len(stays) - 1):
                progress(i + 1, len(stays))
        audit.record(db, username=username, action="icu.import", target_type="dataset", target_id=name,
                     details={"version": version, "stays": len(stays), "observations": total,
                              "cleaned": report.as_dict()["cleaned"]})
    return IcuImportResult(dataset=name, version=version, stays=len(stays), observations=total,
                           cleaning=report.as_dict())


def load_stays(db: Database, stay_ids: Sequence[int]) -> dict[int, Stay]:
    """Rebuild :class:`Stay` objects from the store for scoring and the ward page."""
    import pandas as pd

    stays_meta = {row["stay_id"]: row for row in icu_rows.list_stays(db) if row["stay_id"] in set(stay_ids)}
    rows = icu_rows.stay_observations(db, list(stay_ids))
    frame = pd.DataFrame(rows, columns=["stay_id", "hours", "parameter", "value"])
    groups = {k: g[["hours", "parameter", "value"]].reset_index(drop=True) for k, g in frame.groupby("stay_id", sort=False)}
    empty = frame.iloc[:0][["hours", "parameter", "value"]]
    out: dict[int, Stay] = {}
    for stay_id in stay_ids:
        meta = stays_meta.get(stay_id)
        if meta is None:
            continue
        series = groups.get(stay_id, empty)
        descriptors: dict[str, float] = {}
        if meta["age"] is not None:
            descriptors["Age"] = float(meta["age"])
        elif meta["age_group"] == "90+":
            descriptors["Age"] = 90.0
        if meta["sex"] in ("female", "male"):
            descriptors["Gender"] = 0.0 if meta["sex"] == "female" else 1.0
        out[stay_id] = Stay(record_id=meta["pseudo_id"], descriptors=descriptors, series=series)
    return out
