"""``python -m engine backup PATH`` and ``python -m engine restore PATH``.

Backup writes a consistent, checked copy while the app keeps running; restore
refuses any file that fails the store checks and otherwise replaces the store's
content in one transaction, keeping the old store as a pre-restore copy.
"""
from __future__ import annotations

import json

from engine.backup import backup_store, restore_store, verify_backup


def register(subparsers) -> None:
    backup = subparsers.add_parser("backup", help="write a consistent online copy of the store to PATH")
    backup.add_argument("path")
    backup.set_defaults(func=run_backup)
    restore = subparsers.add_parser("restore", help="check a backup and replace the store with it")
    restore.add_argument("path")
    restore.add_argument("--check-only", action="store_true", help="only check the backup; change nothing")
    restore.set_defaults(func=run_restore)


def run_backup(args) -> int:
    result = backup_store(args.path)
    print(json.dumps({"backup": str(result.path), "bytes": result.size_bytes, "audit_rows": result.audit_rows}))
    return 0


def run_restore(args) -> int:
    if args.check_only:
        report = verify_backup(args.path)
        print(json.dumps({"backup": args.path, "ok": report.ok, "problems": report.problems}))
        return 0 if report.ok else 1
    result = restore_store(args.path)
    print(json.dumps({"restored_into": str(result.store),
                      "previous_store_kept_at": str(result.previous_copy) if result.previous_copy else None,
                      "audit_rows": result.audit_rows}))
    return 0
