"""``python -m engine seed``: load the real demo data sets (idempotent)."""
from __future__ import annotations

import json

from engine.icu.seed import seed_icu
from engine.seed import seed_all
from engine.store import count_rows, open_db


def register(subparsers) -> None:
    parser = subparsers.add_parser("seed", help="load the demo data sets into the store (idempotent)")
    parser.set_defaults(func=run)


def run(args) -> int:
    with open_db() as db:
        added = seed_all(db)
        added["physionet2012_icu"] = seed_icu(db)
        print(json.dumps({"added": added, "counts": count_rows(db)}))
    return 0
