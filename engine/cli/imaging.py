"""``python -m engine imaging train|evaluate``: train the chest X-ray model, evaluate it on class folders."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.config import get_settings


def register(subparsers) -> None:
    parser = subparsers.add_parser("imaging", help="chest X-ray pneumonia model: train, evaluate")
    sub = parser.add_subparsers(dest="imaging_command", required=True)
    train = sub.add_parser("train", help="train from DIR/train/{NORMAL,PNEUMONIA} (or DIR/{NORMAL,PNEUMONIA})")
    train.add_argument("--data", type=Path, default=None, help="data folder (default: settings xray_data_dir)")
    train.add_argument("--out", type=Path, default=None, help="bundle folder (default: assets/models/chest_xray_pneumonia/VERSION)")
    train.add_argument("--version", default="1.0.0")
    train.add_argument("--cache", type=Path, default=Path("/tmp/clinsight_imaging_cache"),
                       help="where decoded, resized images are cached between runs (outside the repository)")
    train.add_argument("--max-epochs", type=int, default=None)
    train.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget (stops after that epoch)")
    train.set_defaults(func=run_train)
    evaluate = sub.add_parser("evaluate", help="evaluate the shipped model on DIR/{NORMAL,PNEUMONIA}; prints one JSON object")
    evaluate.add_argument("dir", type=Path)
    evaluate.add_argument("--version", default=None, help="bundle version (default: newest)")
    evaluate.add_argument("--n-boot", type=int, default=1000)
    evaluate.set_defaults(func=run_evaluate)


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

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    card = train(data, out, cfg, cache=args.cache, version=args.version, log=log)
    print(json.dumps({"bundle": str(out), "version": card["version"], "holdout": card["metrics"]["holdout"]}))
    return 0


def run_evaluate(args) -> int:
    from engine.imaging.evaluate import evaluate_folder

    print(json.dumps(evaluate_folder(args.dir, version=args.version, n_boot=args.n_boot)))
    return 0
