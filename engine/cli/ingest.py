"""``python -m engine ingest FILE [--mapping NAME]``: the records page's import, without the UI.

Reads, maps (a saved mapping or the proposal), validates, applies the decision
per problem class (``--decide CLASS=ACTION``; defaults in
``engine.ingest.DEFAULT_DECISIONS``) and imports in one transaction. Bad input
ends with one sentence on stderr and exit code 2, having written nothing.
Also ``python -m engine records versions|rollback ID|mappings``.
"""
from __future__ import annotations

import getpass
import json
from pathlib import Path

from engine.errors import InputError
from engine.ingest import (DEFAULT_DECISIONS, import_source, open_source, propose_mapping, rollback_version,
                           validate_source)
from engine.ingest.records import default_dataset_name, list_versions
from engine.ingest.sources import fhir_files_in, open_fhir_files
from engine.privacy import safe_file_name
from engine.store import open_db, transaction
from engine.store import records as record_rows


def register(subparsers) -> None:
    parser = subparsers.add_parser("ingest", help="import a CSV / Excel / Parquet / FHIR file as a dataset version")
    parser.add_argument("file", nargs="+",
                        help="the file to import (format is sniffed from its content); several FHIR NDJSON/JSON files "
                             "or a folder of them (a FHIR Bulk Data export) are imported together as one version")
    parser.add_argument("--mapping", help="name of a saved column mapping to use")
    parser.add_argument("--save-mapping", metavar="NAME", help="save the mapping used under this name")
    parser.add_argument("--dataset", help="dataset name (default: import-YYYY-MM-DD-N; never the file name, "
                                          "which may carry the patient's name)")
    parser.add_argument("--user", default=None, help="who is importing (recorded in the audit trail)")
    parser.add_argument("--outliers", choices=("zscore", "iqr"), default="zscore")
    parser.add_argument("--decide", action="append", default=[], metavar="CLASS=ACTION",
                        help="decision for a problem class, e.g. unit_mixup=fix, duplicate=drop, id_collision=keep")
    parser.add_argument("--dry-run", action="store_true", help="validate and print the report; write nothing")
    parser.set_defaults(func=run_ingest)

    records = subparsers.add_parser("records", help="list or roll back imported dataset versions")
    sub = records.add_subparsers(dest="records_command", required=True)
    sub.add_parser("versions", help="list dataset versions as JSON").set_defaults(func=run_versions)
    rb = sub.add_parser("rollback", help="remove the rows of one dataset version")
    rb.add_argument("version_id", type=int)
    rb.add_argument("--user", default=None)
    rb.set_defaults(func=run_rollback)
    sub.add_parser("mappings", help="list saved column mappings").set_defaults(func=run_mappings)


def _decisions(items: list[str]) -> dict[str, str]:
    decisions = dict(DEFAULT_DECISIONS)
    for item in items:
        if "=" not in item:
            raise InputError(f"--decide expects CLASS=ACTION, got '{item}'.")
        cls, action = (part.strip() for part in item.split("=", 1))
        if cls not in DEFAULT_DECISIONS:
            raise InputError(f"'{cls}' is not a problem class; choose from {', '.join(DEFAULT_DECISIONS)}.")
        decisions[cls] = action
    return decisions


def _user(value: str | None) -> str:
    if value:
        return value
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _open(items: list[str]):
    """(source, file name to record): one file as sniffed, or several FHIR files / a bulk-export folder."""
    paths = [Path(p) for p in items]
    if len(paths) == 1 and not paths[0].is_dir():
        return open_source(paths[0]), paths[0].name
    if len(paths) == 1:
        paths = fhir_files_in(paths[0])
    names = [safe_file_name(p.name) or "?" for p in paths]
    label = ", ".join(names[:30]) + (" and more" if len(names) > 30 else "")
    return open_fhir_files(paths), label


def run_ingest(args) -> int:
    decisions = _decisions(args.decide)
    source, file_name = _open(args.file)
    with open_db() as db:
        dataset = args.dataset or default_dataset_name(db)
        if args.mapping:
            mapping = record_rows.load_mapping(db, args.mapping)
            if mapping is None:
                raise InputError(f"There is no saved mapping named '{args.mapping}'.")
        else:
            mapping = propose_mapping(source.columns, source.preview(200))
        report = validate_source(db, source, mapping, outlier_method=args.outliers)
        if args.dry_run:
            shown = report.to_dict(20)
            if source.fhir is not None:  # resources beyond the table, and the ones skipped, by type
                shown["fhir"] = source.fhir.summary()
            print(json.dumps(shown, indent=2, default=str))
            return 0
        user = _user(args.user)
        try:
            result = import_source(db, source, report, decisions, dataset=dataset, username=user,
                                   file_name=file_name)
        except InputError as exc:
            if str(exc).startswith("Import cancelled"):
                raise InputError(f"{exc} To import anyway, choose with --decide CLASS=ACTION (see --help).") from None
            raise
        if args.save_mapping:
            with transaction(db):
                record_rows.save_mapping(db, args.save_mapping, {"columns": report.mapping}, user)
    print(result.summary())
    for problem in report.problems:
        print(f"  {problem.cls} -> {decisions[problem.cls]}: {problem.message}")
    return 0


def run_versions(args) -> int:
    with open_db() as db:
        print(json.dumps(list_versions(db), indent=2, default=str))
    return 0


def run_rollback(args) -> int:
    with open_db() as db:
        counts = rollback_version(db, args.version_id, username=_user(args.user))
    print(f"rolled back version {args.version_id}: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    return 0


def run_mappings(args) -> int:
    with open_db() as db:
        print(json.dumps(record_rows.list_mappings(db), indent=2))
    return 0
