"""``python -m engine audit verify``: check the audit hash chain; non-zero exit names the first bad row."""
from __future__ import annotations

import sys

from engine.audit import verify_chain
from engine.store import open_db


def register(subparsers) -> None:
    parser = subparsers.add_parser("audit", help="audit trail tools")
    sub = parser.add_subparsers(dest="audit_command", required=True)
    verify = sub.add_parser("verify", help="verify the hash chain")
    verify.set_defaults(func=run_verify)


def run_verify(args) -> int:
    with open_db() as db:
        report = verify_chain(db)
    if report.ok:
        print(f"audit chain OK: {report.rows_checked} rows verified")
        return 0
    print(f"audit chain BROKEN at row {report.first_bad_id}: {report.reason}", file=sys.stderr)
    return 1
