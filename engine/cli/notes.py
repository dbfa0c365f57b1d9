"""``python -m engine notes context|evaluate|extract|tune|import``: the clinical notes reader.

``context`` and ``evaluate`` are the held-out contracts of issue 15: they read the NegEx / ConText
annotation TSV (columns id, condition, sentence; labels for evaluate; other columns ignored).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("notes", help="clinical notes: ConText labels, evaluation, findings, import")
    sub = parser.add_subparsers(dest="notes_command", required=True)
    context = sub.add_parser("context", help="label each sentence's target: one JSON object per line")
    context.add_argument("file", type=Path, help="TSV with columns id, condition, sentence")
    context.set_defaults(func=run_context)
    evaluate = sub.add_parser("evaluate", help="precision, recall and F1 per label with bootstrap 95%% CIs")
    evaluate.add_argument("file", type=Path, help="TSV with id, condition, sentence, negation, temporality, experiencer")
    evaluate.add_argument("--n-boot", type=int, default=1000)
    evaluate.set_defaults(func=run_evaluate)
    extract = sub.add_parser("extract", help="findings of one plain-text note as JSON")
    extract.add_argument("file", type=Path)
    extract.set_defaults(func=run_extract)
    tune = sub.add_parser("tune", help="choose ConText cue groups by cross-validation; writes rules/selected.json")
    tune.add_argument("file", type=Path)
    tune.add_argument("--folds", type=int, default=5)
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--component", action="append", default=[], choices=["gencontext", "sections"],
                      help="also offer this component's candidate groups to screening (rules/protocol.md)")
    tune.add_argument("--cue-features", action="store_true",
                      help="the learned layer also reads ConText's cues and the section (engine.notes.learned)")
    tune.add_argument("--hierarchy", action="store_true",
                      help="the rules' hypothetical label stands; the learned layer chooses Recent vs Historical only")
    tune.add_argument("--nested", action="store_true",
                      help="choose the learned layer's setting (C, sentence words) by an inner sentence-grouped CV")
    tune.add_argument("--write", action="store_true",
                      help="write the chosen groups (rules/selected.json) and refit the learned layer (rules/learned.json)")
    tune.set_defaults(func=run_tune)
    imp = sub.add_parser("import", help="import notes (text for --patient, CSV with note + patient id, FHIR)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--patient", default=None, help="pseudonymous id (plain-text notes)")
    imp.add_argument("--user", default="cli")
    imp.set_defaults(func=run_import)


def run_context(args) -> int:
    from engine.notes.annotations import read_annotations
    from engine.notes.context import get_labeller

    rows = read_annotations(args.file)
    labeller = get_labeller()
    for row in rows:
        labels = labeller.label(row.sentence, row.condition)
        print(json.dumps({"id": row.id, **labels.as_dict()}))
    return 0


def run_evaluate(args) -> int:
    from engine.notes.annotations import LABEL_COLUMNS, read_annotations, score_labels
    from engine.notes.context import get_labeller

    rows = read_annotations(args.file, need_labels=True)
    labeller = get_labeller()
    labels = [labeller.label(r.sentence, r.condition) for r in rows]
    out = {"n": len(rows), "rule_groups": list(labeller.group_names)}
    for column, allowed in LABEL_COLUMNS.items():
        out[column] = score_labels([r.gold[column] for r in rows], [getattr(lab, column) for lab in labels], allowed,
                                   n_boot=args.n_boot)
    print(json.dumps(out))
    return 0


def run_extract(args) -> int:
    from engine.errors import InputError
    from engine.notes.extract import extract_findings, normalise_note
    from engine.notes.text import decode_text

    if not args.file.is_file():
        raise InputError(f"The note file {args.file.name!r} does not exist.")
    text = normalise_note(decode_text(args.file.read_bytes()))
    findings = extract_findings(text)
    print(json.dumps({"findings": [f.as_dict() for f in findings],
                      "suggested_problems": sorted({f.code for f in findings if f.suggests_problem})}))
    return 0


def run_tune(args) -> int:
    from engine.notes.annotations import read_annotations
    from engine.notes.tuning import cross_validate, write_selected

    rows = read_annotations(args.file, need_labels=True)
    result = cross_validate(rows, k=args.folds, seed=args.seed, components=tuple(args.component),
                            cue_features=args.cue_features, hierarchy=args.hierarchy,
                            nested=args.nested, progress=lambda m: print(m, file=sys.stderr, flush=True))
    if args.write:
        from engine.notes.learned import LEARNED_PATH
        from engine.notes.tuning import fit_learned

        write_selected(result)
        model = fit_learned(rows, result["groups"], cue_features=args.cue_features, hierarchy=args.hierarchy,
                            nested=args.nested)
        LEARNED_PATH.write_text(json.dumps(model) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "oof"}))
    return 0


def run_import(args) -> int:
    from engine.errors import InputError
    from engine.notes.service import import_notes
    from engine.store import open_db

    if not args.file.is_file():
        raise InputError("The notes file does not exist.")
    with open_db() as db:
        result = import_notes(db, args.file.read_bytes(), username=args.user, patient=args.patient)
    print(json.dumps({"version": result.version, "notes": result.notes, "findings": result.findings,
                      "redactions": result.redactions}))
    return 0
