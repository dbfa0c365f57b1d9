"""``python -m engine imaging train|evaluate|pairs|stress|shortcut``: train the chest X-ray model, evaluate it on class
folders, check that full-size originals read like their training copies, stress it under acquisition shifts, and
measure where its pneumonia heat-maps lie (inside the thorax or not)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.config import get_settings


def register(subparsers) -> None:
    parser = subparsers.add_parser("imaging", help="chest X-ray pneumonia model: train, evaluate, pairs, stress, shortcut")
    sub = parser.add_subparsers(dest="imaging_command", required=True)
    train = sub.add_parser("train", help="train from DIR/train/{NORMAL,PNEUMONIA} (or DIR/{NORMAL,PNEUMONIA})")
    train.add_argument("--data", type=Path, default=None, help="data folder (default: settings xray_data_dir)")
    train.add_argument("--out", type=Path, default=None, help="bundle folder (default: assets/models/chest_xray_pneumonia/VERSION)")
    train.add_argument("--version", default="2.0.0")
    train.add_argument("--init-from", default=None, help="start from the weights of this installed version (e.g. 1.0.0)")
    train.add_argument("--cache", type=Path, default=Path("/tmp/clinsight_imaging_cache"),
                       help="where decoded, resized images are cached between runs (outside the repository)")
    train.add_argument("--max-epochs", type=int, default=None)
    train.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget (stops after that epoch)")
    train.add_argument("--augmentation", choices=("v1", "v2", "v3"), default=None,
                       help="augmentation recipe (default: the training config's, v2)")
    train.add_argument("--consistency", type=float, default=None,
                       help="weight of the two-view consistency term (default 0: off)")
    train.set_defaults(func=run_train)
    evaluate = sub.add_parser("evaluate", help="evaluate the shipped model on DIR/{NORMAL,PNEUMONIA}; prints one JSON object")
    evaluate.add_argument("dir", type=Path)
    evaluate.add_argument("--version", default=None, help="bundle version (default: newest)")
    evaluate.add_argument("--n-boot", type=int, default=1000)
    evaluate.set_defaults(func=run_evaluate)
    pairs = sub.add_parser("pairs", help="originals vs their 224 px training copies: |p difference| and gate refusals (JSON)")
    pairs.add_argument("dir", type=Path, help="folder of originals, DIR[/train]/{NORMAL,PNEUMONIA} (chest_xray_fullres)")
    pairs.add_argument("--copies", type=Path, default=None, help="training copies (default: settings xray_data_dir)")
    pairs.add_argument("--limit", type=int, default=None, help="a seeded random sample of this many pairs")
    _version_options(pairs)
    pairs.set_defaults(func=run_pairs)
    stress = sub.add_parser("stress", help="sensitivity, specificity, AUROC under synthetic shifts (JSON)")
    stress.add_argument("dir", type=Path, help="DIR[/train]/{NORMAL,PNEUMONIA}")
    stress.add_argument("--split", choices=("val", "all"), default="val",
                        help="val: the validation split training carved from DIR (default); all: every image")
    stress.add_argument("--fullres", type=Path, default=None,
                        help="full-size originals paired by name, for the original-geometry row")
    stress.add_argument("--limit", type=int, default=None, help="a seeded random sample of this many images")
    stress.add_argument("--tta", action="store_true",
                        help="average the logits of the framed, 5%% cropped and 5%% padded views (measurement only)")
    _version_options(stress)
    stress.set_defaults(func=run_stress)
    promote = sub.add_parser("promote", help="serve VERSION of the chest X-ray model from now on (audited)")
    promote.add_argument("version")
    promote.add_argument("--user", default="cli", help="administrator recorded in the audit trail")
    promote.set_defaults(func=run_promote)
    gate = sub.add_parser("fit-gate", help="fit a version's appearance gate (eigen-chest residual) on DIR's training split")
    gate.add_argument("dir", type=Path, help="DIR[/train]/{NORMAL,PNEUMONIA}: the folder the version trained on")
    gate.add_argument("--version", required=True, help="installed version whose bundle receives the gate")
    gate.add_argument("--fullres", type=Path, default=None, help="also count refusals on these full-size originals")
    gate.set_defaults(func=run_fit_gate)

    shortcut = sub.add_parser("shortcut", help="share of Grad-CAM mass inside the thorax for pneumonia reads (JSON)")
    shortcut.add_argument("dir", type=Path, help="DIR[/train]/{NORMAL,PNEUMONIA}: its validation split is read")
    shortcut.add_argument("--split", choices=("val", "all"), default="val",
                          help="val: the validation split training carved from DIR (default); all: every image")
    shortcut.add_argument("--limit", type=int, default=None, help="a seeded random sample of this many images")
    shortcut.add_argument("--film", type=Path, default=None, help="one more film (e.g. an adult PA chest) to map")
    shortcut.add_argument("--overlay", type=Path, default=None, help="write --film's heat-map overlay PNG here")
    _version_options(shortcut)
    shortcut.set_defaults(func=run_shortcut)


def _version_options(parser) -> None:
    parser.add_argument("--version", default=None, help="bundle version to measure (default: the served, newest one)")
    parser.add_argument("--record-in", default=None, metavar="VERSION",
                        help="also store the report in this version's card (under robustness)")


def _emit(report: dict, args, kind: str) -> int:
    if args.record_in:
        from engine.imaging.bundle import record_report

        record_report(args.record_in, kind, report)
    print(json.dumps(report))
    return 0


def run_train(args) -> int:
    from engine.imaging.bundle import MODEL_NAME
    from engine.imaging.train import TrainConfig, train

    settings = get_settings()
    data = args.data or settings.xray_data_dir
    if (data / "train").is_dir():
        data = data / "train"
    out = args.out or settings.models_dir / MODEL_NAME / args.version
    cfg = TrainConfig()
    if args.max_epochs:
        cfg.max_epochs = args.max_epochs
    if args.max_minutes:
        cfg.max_minutes = args.max_minutes
    if args.init_from:
        cfg.init_from = args.init_from
    if args.augmentation:
        cfg.augmentation = args.augmentation
    if args.consistency is not None:
        cfg.consistency = args.consistency

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    card = train(data, out, cfg, cache=args.cache, version=args.version, log=log)
    print(json.dumps({"bundle": str(out), "version": card["version"], "holdout": card["metrics"]["holdout"]}))
    return 0


def run_evaluate(args) -> int:
    from engine.imaging.evaluate import evaluate_folder

    print(json.dumps(evaluate_folder(args.dir, version=args.version, n_boot=args.n_boot)))
    return 0


def run_pairs(args) -> int:
    from engine.imaging.robustness import pair_agreement

    copies = args.copies or get_settings().xray_data_dir
    return _emit(pair_agreement(args.dir, copies, limit=args.limit, version=args.version), args, "pairs")


def run_stress(args) -> int:
    from engine.imaging.robustness import stress_report

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    report = stress_report(args.dir, split=args.split, fullres=args.fullres, limit=args.limit, progress=log,
                           version=args.version, tta=args.tta)
    return _emit(report, args, "stress" + ("_tta" if args.tta else ""))


def run_shortcut(args) -> int:
    from engine.imaging.shortcut import shortcut_report

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    report = shortcut_report(args.dir, version=args.version, limit=args.limit, film=args.film, overlay=args.overlay,
                             progress=log, split=args.split)
    return _emit(report, args, "shortcut")


def run_fit_gate(args) -> int:
    from engine.imaging.gate_fit import fit_gate_for_version

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    print(json.dumps(fit_gate_for_version(args.dir, args.version, fullres=args.fullres, progress=log)))
    return 0


def run_promote(args) -> int:
    from engine.imaging.bundle import promote

    print(json.dumps(promote(args.version, username=args.user)))
    return 0
