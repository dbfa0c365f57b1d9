"""``python -m engine icu train|predict|evaluate|horizons|recalibrate-hours|import``: the ICU deterioration model
and time-series import.

Contracts (kept exact for held-out evaluation):
- ``icu predict --records DIR --out FILE.csv``: one row per stay, columns RecordID, risk, alert.
- ``icu evaluate --records DIR --outcomes FILE``: one JSON object (n, auroc with CI, event1, h,
  calibration slope and intercept).
Progress goes to stderr; the result alone to stdout.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.config import get_settings


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def register(subparsers) -> None:
    parser = subparsers.add_parser("icu", help="ICU time series: train, predict, evaluate, import")
    sub = parser.add_subparsers(dest="icu_command", required=True)
    train = sub.add_parser("train", help="train on PhysioNet 2012 set A (DATA/set-a, DATA/Outcomes-a.txt)")
    train.add_argument("--data", type=Path, default=None, help="default: settings icu_data_dir")
    train.add_argument("--version", default="1.1.0")
    train.add_argument("--compare", action="store_true",
                       help="also cross-validate GRU-D, the attention model and blends on the same folds")
    train.add_argument("--epochs", type=int, default=None,
                       help="most epochs for both sequence models (with --compare; default: engine.icu.train."
                            "SEQUENCE_SETTINGS; early stopping on an inner split)")
    train.set_defaults(func=run_train)
    predict = sub.add_parser("predict", help="risk of in-hospital death at 48 h for every stay in DIR")
    predict.add_argument("--records", type=Path, required=True)
    predict.add_argument("--out", type=Path, required=True)
    predict.add_argument("--version", default=None)
    predict.set_defaults(func=run_predict)
    evaluate = sub.add_parser("evaluate", help="challenge scores of the shipped model on DIR with known outcomes")
    evaluate.add_argument("--records", type=Path, required=True)
    evaluate.add_argument("--outcomes", type=Path, required=True)
    evaluate.add_argument("--version", default=None)
    evaluate.add_argument("--n-boot", type=int, default=1000)
    evaluate.set_defaults(func=run_evaluate)
    horizons = sub.add_parser("horizons", help="out-of-fold figures of the installed model at earlier hours of "
                                               "the stay, on set A (the Ward quotes them)")
    horizons.add_argument("--data", type=Path, default=None, help="default: settings icu_data_dir")
    horizons.add_argument("--version", default=None)
    horizons.add_argument("--hours", default=None, help="comma-separated hours (default: 6,12,24,36,48)")
    horizons.add_argument("--n-boot", type=int, default=1000)
    horizons.set_defaults(func=run_horizons)
    recal = sub.add_parser("recalibrate-hours", help="a new version with another's members and a calibrator per hour "
                                                    "of the stay, fitted on set A")
    recal.add_argument("--from", dest="from_version", required=True, help="the installed version whose members serve")
    recal.add_argument("--version", required=True, help="the new version's number")
    recal.add_argument("--data", type=Path, default=None, help="default: settings icu_data_dir")
    recal.set_defaults(func=run_recalibrate)
    register_import(sub)


def run_horizons(args) -> int:
    from engine.errors import InputError
    from engine.icu.horizons import HOURS, measure

    try:
        hours = tuple(float(h) for h in args.hours.split(",")) if args.hours else HOURS
    except ValueError:
        raise InputError(f"--hours takes numbers separated by commas (e.g. 6,12,24), not {args.hours!r}.") from None
    if any(not 0 < h <= 48 for h in hours):
        raise InputError("--hours must lie in (0, 48]: the model reads the first 48 hours of a stay.")
    result = measure(args.data or get_settings().icu_data_dir, version=args.version, hours=hours,
                     n_boot=args.n_boot, progress=_log)
    print(json.dumps(result))
    return 0


def run_recalibrate(args) -> int:
    from engine.icu.horizons import recalibrate_version

    result = recalibrate_version(args.data or get_settings().icu_data_dir, from_version=args.from_version,
                                 version=args.version, progress=_log)
    print(json.dumps({"version": result["version"], "by_hour": result["by_hour"]["hours"],
                      "with_48h_calibrator": result["by_hour"]["with_48h_calibrator"]}))
    return 0


def run_train(args) -> int:
    from engine.icu.train import train_and_write

    data = args.data or get_settings().icu_data_dir
    card = train_and_write(data, version=args.version, compare=args.compare, epochs=args.epochs, progress=_log)
    print(json.dumps({"version": card["version"], "cv": card["metrics"]["cv"],
                      "comparison": card["metrics"].get("comparison")}))
    return 0


def run_predict(args) -> int:
    from engine.icu.predict import predict_stays
    from engine.icu.records import read_challenge_dir

    stays, report = read_challenge_dir(args.records, progress=lambda i, n: _log(f"read {i}/{n} stays"))
    frame = predict_stays(stays, version=args.version)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame[["RecordID", "risk", "alert"]].to_csv(args.out, index=False, float_format="%.6f")
    _log(f"wrote {len(frame)} stays to {args.out}; cleaning: {json.dumps(report.as_dict()['cleaned'])}")
    return 0


def run_evaluate(args) -> int:
    from engine.errors import InputError
    from engine.icu.metrics import evaluate_predictions
    from engine.icu.predict import predict_stays
    from engine.icu.records import read_challenge_dir, read_outcomes

    stays, _report = read_challenge_dir(args.records, progress=lambda i, n: _log(f"read {i}/{n} stays"))
    outcomes = read_outcomes(args.outcomes)
    stays = [s for s in stays if s.record_id in outcomes.index]
    if not stays:
        raise InputError("No stay in the records folder has an outcome in the outcomes file.")
    frame = predict_stays(stays, version=args.version)
    y = outcomes.loc[frame["RecordID"], "In-hospital_death"].astype(int).to_numpy()
    print(json.dumps(evaluate_predictions(y, frame["risk"].to_numpy(), frame["alert"].to_numpy(), n_boot=args.n_boot)))
    return 0


def register_import(sub) -> None:
    imp = sub.add_parser("import", help="import ICU stays (a folder of PhysioNet 2012 records, a long CSV or a "
                                        "FHIR Observation bundle) into the store")
    imp.add_argument("path", type=Path)
    imp.add_argument("--dataset", default=None, help="dataset name (default: icu-import-<date>)")
    imp.add_argument("--limit", type=int, default=None, help="import only the first N stays (sorted by file name)")
    imp.add_argument("--user", default="cli")
    imp.set_defaults(func=run_import)


def run_import(args) -> int:
    from engine.icu.importer import import_stays
    from engine.icu.records import read_any
    from engine.store import open_db

    stays, report = read_any(args.path, limit=args.limit, progress=lambda i, n: _log(f"read {i}/{n}"))
    with open_db() as db:
        result = import_stays(db, stays, report, username=args.user, dataset=args.dataset,
                              progress=lambda i, n: _log(f"stored {i}/{n} stays"))
    print(json.dumps({"summary": result.summary(), "dataset": result.dataset, "version": result.version,
                      "stays": result.stays, "observations": result.observations, "cleaning": result.cleaning}))
    return 0
