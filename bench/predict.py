"""Prediction latency and batch throughput, as ratios against the bare pipeline in the same run.

- single patient: ``predict_record`` (validation, calibrated probability, 30-member bootstrap interval,
  SHAP explanation, out-of-population checks, basis) vs bare ``pipeline.predict_proba`` on the same row;
- batch: ``score_frame`` on 100,000 rows (plausibility checks + scoring) vs bare ``predict_proba``.
Rows are real patients of the model's data set (resampled for the batch). Last line: one JSON object.

Timing: both sides run single-threaded (threadpoolctl) and are timed in CPU time of this process
(``time.process_time``), the headline ratios; wall-clock ratios are reported beside them (``*_wall``). On
the shared 2-core machine (load average 10+ while others train) wall time mostly measures the scheduler:
the same wall-clock batch ratio ranged 0.67-1.27 between consecutive runs.

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


def _timed(fn, repeats: int) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds) per call."""
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return wall, cpu


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
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)

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
    bare_w, bare_c, full_w, full_c = [], [], [], []
    for _ in range(args.repeats):  # interleaved so background load hits both alike
        w, c = _timed(lambda: loaded.pipeline.predict_proba(X_one), 1)
        bare_w += w
        bare_c += c
        w, c = _timed(lambda: predict_record(args.model, record), 1)
        full_w += w
        full_c += c

    rng = np.random.default_rng(0)
    big = data.iloc[rng.integers(0, len(data), args.rows)].reset_index(drop=True)
    X_big = make_frame(big, features)
    loaded.pipeline.predict_proba(X_big.head(1000))
    bb_w, bb_c, ob_w, ob_c = [], [], [], []
    for _ in range(7):  # best of 7 each, interleaved
        w, c = _timed(lambda: loaded.pipeline.predict_proba(X_big), 1)
        bb_w += w
        bb_c += c
        w, c = _timed(lambda: score_frame(args.model, big), 1)
        ob_w += w
        ob_c += c
    med = statistics.median

    result = {
        "name": "predict", "model": args.model, "version": card["version"], "learner": card["learner"],
        "timing": "cpu (process_time), single thread; *_wall = wall clock",
        "single_bare_ms_median": round(med(bare_c) * 1000, 3), "single_bare_ms_p95": round(_p95(bare_c) * 1000, 3),
        "single_explain_ms_median": round(med(full_c) * 1000, 3),
        "single_explain_ms_p95": round(_p95(full_c) * 1000, 3),
        "single_explain_ms_median_wall": round(med(full_w) * 1000, 3),
        "single_explain_ms_p95_wall": round(_p95(full_w) * 1000, 3),
        "ratio_explain_vs_predict": round(med(full_c) / med(bare_c), 3),
        "ratio_explain_vs_predict_p95": round(_p95(full_c) / _p95(bare_c), 3),
        "ratio_explain_vs_predict_wall": round(med(full_w) / med(bare_w), 3),
        "batch_rows": args.rows, "batch_bare_rows_per_s": round(args.rows / min(bb_c)),
        "batch_rows_per_s": round(args.rows / min(ob_c)),
        "ratio_batch_vs_bare": round(min(bb_c) / min(ob_c), 3),
        "ratio_batch_vs_bare_wall": round(min(bb_w) / min(ob_w), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
