"""Prediction latency and batch throughput, as ratios against the bare pipeline in the same run.

- single patient: ``predict_record`` (validation, calibrated probability, 30-member bootstrap interval,
  SHAP explanation, out-of-population checks, basis) vs bare ``pipeline.predict_proba`` on the same row;
- batch: ``score_frame`` on 100,000 rows (plausibility checks + scoring) vs bare ``predict_proba``.
Rows are real patients of the model's data set (resampled for the batch). Last line: one JSON object.

Usage: python bench/predict.py [--model chd_framingham] [--repeats 200] [--rows 100000]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _p95(xs: list[float]) -> float:
    return sorted(xs)[int(0.95 * (len(xs) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="chd_framingham")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    os.environ.setdefault("CLINSIGHT_DB", str(Path(tempfile.mkdtemp()) / "bench.db"))

    import numpy as np

    from engine.models.predict import predict_record, score_frame
    from engine.models.registry import get_card, load_model
    from engine.models.specs import MODEL_SPECS
    from engine.models.train import make_frame

    spec = MODEL_SPECS[args.model]
    card = get_card(args.model)
    features = [spec.feature(f["name"]) for f in card["features"]]
    data = spec.load()
    loaded = load_model(args.model)
    row = data.iloc[[0]]
    X_one = make_frame(row, features)
    record = {f.name: (None if isinstance(v, float) and np.isnan(v) else (v.item() if hasattr(v, "item") else v))
              for f, v in zip(features, row[[f.name for f in features]].iloc[0])}
    predict_record(args.model, record)  # warm caches (explainer, bundle)
    bare = _timed(lambda: loaded.pipeline.predict_proba(X_one), args.repeats)
    full = _timed(lambda: predict_record(args.model, record), args.repeats)

    rng = np.random.default_rng(0)
    big = data.iloc[rng.integers(0, len(data), args.rows)].reset_index(drop=True)
    X_big = make_frame(big, features)
    loaded.pipeline.predict_proba(X_big.head(1000))
    bare_runs, ours_runs = [], []
    for _ in range(5):  # interleaved so load on the shared machine hits both alike; best of 5 each
        bare_runs += _timed(lambda: loaded.pipeline.predict_proba(X_big), 1)
        ours_runs += _timed(lambda: score_frame(args.model, big), 1)
    bare_batch, ours_batch = min(bare_runs), min(ours_runs)

    result = {
        "name": "predict", "model": args.model, "version": card["version"], "learner": card["learner"],
        "single_bare_ms_median": round(statistics.median(bare) * 1000, 3), "single_bare_ms_p95": round(_p95(bare) * 1000, 3),
        "single_explain_ms_median": round(statistics.median(full) * 1000, 3),
        "single_explain_ms_p95": round(_p95(full) * 1000, 3),
        "ratio_explain_vs_predict": round(statistics.median(full) / statistics.median(bare), 3),
        "ratio_explain_vs_predict_p95": round(_p95(full) / _p95(bare), 3),
        "batch_rows": args.rows, "batch_bare_rows_per_s": round(args.rows / bare_batch),
        "batch_rows_per_s": round(args.rows / ours_batch),
        "ratio_batch_vs_bare": round(bare_batch / ours_batch, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
