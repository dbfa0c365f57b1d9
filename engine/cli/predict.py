"""``python -m engine predict --model NAME --input patient.json``: one prediction as JSON."""
from __future__ import annotations

import json
from pathlib import Path

from engine.errors import InputError
from engine.privacy import safe_file_name


def register(subparsers) -> None:
    parser = subparsers.add_parser("predict", help="predict for one patient from a flat JSON file of inputs")
    parser.add_argument("--model", required=True, help="model name (see: python -m engine models list)")
    parser.add_argument("--input", required=True, help="JSON file: feature name -> value, units as on the card")
    parser.add_argument("--version", default=None, help="model version (default: the promoted one)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from engine.models.predict import predict_record

    path = Path(args.input)
    if not path.is_file():
        raise InputError(f"The input file '{safe_file_name(path.name)}' does not exist.")
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"The input file is not valid JSON (line {getattr(exc, 'lineno', '?')}).") from None
    result = predict_record(args.model, record, args.version)
    print(json.dumps({k: result[k] for k in ("model", "version", "probability", "interval", "risk_band",
                                              "threshold", "base_value", "contributions", "warnings")}))
    return 0
