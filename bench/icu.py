"""ICU scoring and timeline rendering, as ratios against a bare forward pass in the same run.

- scoring: every stay's latest state (read from the store, features built, 5 members + calibration,
  interval, alert) as stays per second, against the bare ``predict_proba`` of the same members on
  precomputed features;
- timeline: one stay's full Ward panel (load, NEWS2 at every time point, risk trajectory, SHAP drivers,
  staleness, audited view) plus the plotly figure serialised, in seconds.
CPU time of this process (single-threaded) is the headline; wall time beside it. Real stays of
PhysioNet 2012 set A (needs ../shared/data/physionet2012). Last line: one JSON object.

Usage: python bench/icu.py [--stays 300]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stays", type=int, default=300)
    args = parser.parse_args()
    os.environ["CLINSIGHT_DB"] = str(Path(tempfile.mkdtemp()) / "bench.db")
    from threadpoolctl import threadpool_limits

    from engine.icu.bundle import load_model
    from engine.icu.features import build_features
    from engine.icu.figures import build_timeline_figure
    from engine.icu.importer import load_stays
    from engine.icu.seed import seed_icu
    from engine.icu.ward import stay_timeline, ward_overview
    from engine.store import connect, icu

    db = connect()
    seed_icu(db, limit=args.stays)
    model, _card = load_model()
    ids = [row["stay_id"] for row in icu.list_stays(db)]
    with threadpool_limits(1):
        stays = load_stays(db, ids)
        X = build_features(list(stays.values())).reindex(columns=model.features_)
        bare_wall, bare_cpu = _timed(lambda: [m.predict_proba(X) for m in model.members_])
        full_wall, full_cpu = _timed(lambda: ward_overview(db))
        one_wall, one_cpu = _timed(lambda: build_timeline_figure(*_panel(stay_timeline(db, ids[0])))
                                   .to_json())
    n = len(ids)
    print(json.dumps({"name": "icu", "stays": n,
                      "bare_stays_per_s": round(n / bare_cpu, 1), "ward_stays_per_s": round(n / full_cpu, 1),
                      "ratio_ward_vs_bare": round(full_cpu / bare_cpu, 2),
                      "ward_wall_s": round(full_wall, 2), "bare_wall_s": round(bare_wall, 3),
                      "timeline_cpu_s": round(one_cpu, 3), "timeline_wall_s": round(one_wall, 3),
                      "note": "ward scoring includes two horizons per stay (now and 4 h earlier, for trends) and NEWS2"}))


def _panel(t):
    return t.series, t.news2, t.trajectory, t.threshold


if __name__ == "__main__":
    main()
