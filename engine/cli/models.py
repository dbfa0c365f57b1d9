"""``python -m engine models list|train``: the model registry from the command line."""
from __future__ import annotations

import json
import sys

from engine.errors import InputError


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list or train registered models")
    sub = parser.add_subparsers(dest="models_command", required=True)
    lst = sub.add_parser("list", help="JSON list of model versions with their features (name, unit)")
    lst.set_defaults(func=run_list)
    train = sub.add_parser("train", help="train shipped models from the real data sets and write their bundles")
    train.add_argument("names", nargs="*", help="model names (default: all shipped models)")
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("--version", default="1.0.0")
    train.set_defaults(func=run_train)


def run_list(args) -> int:
    from engine.models.registry import list_models

    out = [{"name": m["name"], "version": m["version"], "status": m["status"], "promoted": m["promoted"],
            "title": m["title"], "features": [{"name": f["name"], "unit": f["unit"], "code": f["code"]}
                                              for f in m["features"]]} for m in list_models()]
    print(json.dumps(out, indent=1))
    return 0


def run_train(args) -> int:
    from engine.models.registry import write_bundle
    from engine.models.specs import MODEL_SPECS
    from engine.models.train import train_shipped

    names = args.names or list(MODEL_SPECS)
    unknown = [n for n in names if n not in MODEL_SPECS]
    if unknown:
        raise InputError(f"Unknown model '{unknown[0]}'; shipped models: {', '.join(MODEL_SPECS)}.")
    for name in names:
        bundle, card = train_shipped(name, seed=args.seed, version=args.version,
                                     progress=lambda f, t: print(f"  {name}: {t}", file=sys.stderr))
        folder = write_bundle(bundle, card)
        internal = card["validation"]["internal"]["metrics"]
        summary = {"model": name, "version": card["version"], "learner": card["learner"], "folder": str(folder),
                   "auroc": internal["auroc"], "calibration_slope": internal["calibration_slope"],
                   "seconds": card["training"]["seconds"]}
        if "external" in card["validation"]:
            summary["external_auroc"] = card["validation"]["external"]["metrics"]["auroc"]
        print(json.dumps(summary))
    return 0
