"""``python -m engine treatment suggest --patient ID | --input patient.json [--condition CODE]``.

Prints one JSON object: the ranked options (each with its citation), the blocked
options (each with its reason), the rules that did not apply and why, and the inputs
used. ``treatment rules`` lists the knowledge base (id, option, strength, citation).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from engine import audit
from engine.errors import InputError
from engine.store import open_db
from engine.treatment import load_knowledge_base, record_from_store, suggest
from engine.treatment.knowledge import strength_text


def register(subparsers) -> None:
    parser = subparsers.add_parser("treatment", help="treatment options with guideline citations")
    sub = parser.add_subparsers(dest="treatment_command", required=True)
    sug = sub.add_parser("suggest", help="evaluate the guideline rules for one patient; prints JSON")
    source = sug.add_mutually_exclusive_group(required=True)
    source.add_argument("--patient", help="pseudonymous id of a stored patient (e.g. PIMA-0001)")
    source.add_argument("--input", help="canonical patient record as a JSON file ('-' for stdin)")
    sug.add_argument("--condition", help="evaluate only this ICD-10-CM condition's rules (e.g. E11)")
    sug.set_defaults(func=run_suggest)
    rules = sub.add_parser("rules", help="list the rule knowledge base as JSON")
    rules.set_defaults(func=run_rules)


def _read_input(path: str) -> dict:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"Cannot read the input file: {exc.strerror or exc}.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"The input file is not valid JSON (line {exc.lineno}, column {exc.colno}).") from None


def run_suggest(args) -> int:
    if args.patient:
        with open_db() as db:
            record = record_from_store(db, args.patient)
            result = suggest(record, condition=args.condition)
            audit.record(db, username="cli", action="treatment.suggest", target_type="patient",
                         target_id=args.patient, details={"options": len(result["options"]),
                                                          "blocked": len(result["blocked"])})
    else:
        result = suggest(_read_input(args.input), condition=args.condition)
    print(json.dumps(result, indent=2, default=str))
    return 0


def run_rules(args) -> int:
    kb = load_knowledge_base()
    print(json.dumps([{"id": r.id, "condition": {**r.data["condition"], "label": kb.condition_label(r.data["condition"]),
                                                "codes": kb.value_sets[r.value_set].roots()},
                       "option": r.data["option"]["label"], "kind": r.data["option"]["kind"],
                       "strength": strength_text(r.data["strength"]), "citation": r.citation()} for r in kb.rules],
                     indent=2))
    return 0
