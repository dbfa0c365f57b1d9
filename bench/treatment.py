"""Benchmark the treatment engine against baselines measured in the same run.

- suggest(): full rule evaluation for the 268 seeded Pima diabetics (as the page and CLI do it),
  against a baseline of only validating the same records (unit conversion + checks), i.e. the
  cost the rules add on top of reading the input.
- find_similar(): our explainable neighbour search for 20 heart-failure patients, against
  scikit-learn's brute-force NearestNeighbors on the same z-scored features (no per-feature shares).

Runs on a temporary store seeded with the demo data. Prints one JSON object as its last line.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.frames import dataset_frame  # noqa: E402
from engine.seed import seed_all  # noqa: E402
from engine.store import connect  # noqa: E402
from engine.treatment import load_knowledge_base, record_from_store, suggest  # noqa: E402
from engine.treatment.record import validate_record  # noqa: E402
from engine.treatment.similar import find_similar  # noqa: E402


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    from sklearn.neighbors import NearestNeighbors

    with tempfile.TemporaryDirectory() as tmp:
        db = connect(Path(tmp) / "bench.db")
        seed_all(db)
        kb = load_knowledge_base()
        ids = [r[0] for r in db.conn.execute(
            "SELECT p.pseudo_id FROM patients p JOIN conditions c ON c.patient_id = p.id WHERE c.code = 'E11'")]
        records = [record_from_store(db, pid) for pid in ids]
        for record in records:  # give every record an eGFR so the contraindication path is exercised
            record["observations"].append({"code": "62238-1", "value": 25.0, "unit": "mL/min/{1.73_m2}"})
        t_suggest = _best(lambda: [suggest(r, kb=kb) for r in records])
        t_validate = _best(lambda: [validate_record(r, kb) for r in records])

        hf_ids = [f"HF-{i:04d}" for i in range(1, 21)]
        t_similar = _best(lambda: [find_similar(db, pid, k=5) for pid in hf_ids], repeat=2)
        features = find_similar(db, "HF-0001", k=5)["features"]

        def sklearn_baseline():
            for _pid in hf_ids:
                frame = dataset_frame(db, "heart_failure")
                z = ((frame[features] - frame[features].mean()) / frame[features].std()).fillna(0.0)
                NearestNeighbors(n_neighbors=6, algorithm="brute").fit(z.values).kneighbors(z.loc[[_pid]].values)

        t_sklearn = _best(sklearn_baseline, repeat=2)
        db.conn.close()
    print(json.dumps({
        "name": "treatment",
        "records": len(records),
        "suggest_per_record_ms": round(1000 * t_suggest / len(records), 3),
        "validate_only_per_record_ms": round(1000 * t_validate / len(records), 3),
        "ratio_suggest_vs_validate_only": round(t_suggest / t_validate, 2),
        "similar_patients_per_query_ms": round(1000 * t_similar / len(hf_ids), 2),
        "sklearn_brute_knn_per_query_ms": round(1000 * t_sklearn / len(hf_ids), 2),
        "ratio_similar_vs_sklearn_knn": round(t_similar / t_sklearn, 2),
    }))


if __name__ == "__main__":
    main()
