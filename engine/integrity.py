"""Whole-store consistency checks, shared by ``restore``, the crash harness and the soak test.

Why one module: "is this store sound?" has one answer everywhere: SQLite's own
``integrity_check``, a schema this build knows, every dataset version either
fully present or absent, and an audit chain that verifies. Features add their
own invariants by appending to :data:`CHECKS` (a function taking the open
store and returning a list of problem sentences, empty when sound).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from engine.audit import verify_chain
from engine.store import Database
from engine.store.integrity import (dataset_version_counts, integrity_check, migration_names, table_names)
from engine.store.schema import MIGRATIONS

CORE_TABLES = ("users", "datasets", "dataset_versions", "patients", "observations", "conditions", "audit")

Check = Callable[[Database], list[str]]


def check_sqlite(db: Database) -> list[str]:
    """SQLite's page-level check: any message other than 'ok' is corruption."""
    messages = integrity_check(db)
    return [] if messages == ["ok"] else [f"SQLite integrity check failed: {'; '.join(messages[:3])}"]


def check_schema(db: Database) -> list[str]:
    """The store was made by this program (or an older version of it), not a newer or foreign one."""
    tables = set(table_names(db))
    if "schema_migrations" not in tables:
        return ["The file is not a ClinSight store (it has no schema history)."]
    problems = []
    missing = [t for t in CORE_TABLES if t not in tables]
    if missing:
        problems.append(f"The store lacks the tables {', '.join(missing)}.")
    known = {name for name, _ in MIGRATIONS}
    applied = migration_names(db)
    if "0001_core" not in applied:
        problems.append("The store's schema history lacks the core schema.")
    unknown = [name for name in applied if name not in known]
    if unknown:
        problems.append(f"The store was made by a newer ClinSight (unknown schema changes: {', '.join(unknown)}).")
    return problems


def check_dataset_versions(db: Database) -> list[str]:
    """Each active dataset version holds exactly the patients it says (an import is all or nothing)."""
    problems = []
    for version_id, dataset, version, n_rows, present in dataset_version_counts(db):
        if present != n_rows:
            problems.append(f"Dataset '{dataset}' version {version} (id {version_id}) records {n_rows} rows "
                            f"but holds {present}.")
    return problems


def check_note_imports(db: Database) -> list[str]:
    """Each active notes import holds exactly the notes it says (issue 15: imports are all or nothing)."""
    from engine.store.notes import import_note_counts

    if "note_imports" not in set(table_names(db)):
        return []
    return [f"Notes import {import_id} records {n} notes but holds {present}."
            for import_id, n, present in import_note_counts(db) if n != present]


def check_audit_chain(db: Database) -> list[str]:
    report = verify_chain(db)
    return [] if report.ok else [f"The audit chain does not verify: {report.reason}."]


# Order matters: a corrupt file makes the later checks meaningless, so check_store stops after the first two fail.
CHECKS: list[Check] = [check_sqlite, check_schema, check_dataset_versions, check_note_imports, check_audit_chain]


@dataclass(frozen=True)
class StoreReport:
    """Outcome of :func:`check_store`: ``ok`` or the sentences saying what is wrong."""

    ok: bool
    problems: list[str] = field(default_factory=list)


def check_store(db: Database) -> StoreReport:
    """Run every registered check; stop early when the file itself is unsound."""
    problems: list[str] = []
    for check in CHECKS:
        problems.extend(check(db))
        if problems and check in (check_sqlite, check_schema):
            break
    return StoreReport(not problems, problems)
