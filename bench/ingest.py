"""Records import throughput: 1,000,000 rows x 20 columns, against bare sqlite3 executemany.

Usage: ``python bench/ingest.py [--rows N]``. The file is the real Framingham
table resampled with replacement to N rows (plus a record id and three vitals
drawn from the same rows' values), written as a CSV. Two child processes, each
on a fresh migrated store with the same schema and indexes:

* ``clinsight``: the whole ``python -m engine ingest`` path (sniff, map, validate
  with duplicates/outliers/collisions, de-identify, import in one transaction);
* ``sqlite3``: the practical ceiling: the same patient and observation rows,
  already parsed into memory before the clock starts, inserted with bare
  ``executemany`` in one transaction.

Peak memory is each child's ru_maxrss. The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_csv(path: Path, rows: int) -> None:
    import numpy as np

    from engine import demo_data

    base = demo_data.load_framingham().reset_index(drop=True)
    rng = np.random.default_rng(42)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        header = ["patient_id", *base.columns, "spo2", "temperature", "respiratory_rate"]
        fh.write(",".join(header) + "\n")
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            chunk = base.iloc[rng.integers(0, len(base), n)].reset_index(drop=True)
            chunk.insert(0, "patient_id", [f"B{start + i:07d}" for i in range(n)])
            chunk["spo2"] = rng.integers(90, 100, n)
            chunk["temperature"] = np.round(rng.normal(36.8, 0.4, n), 1)
            chunk["respiratory_rate"] = rng.integers(10, 24, n)
            chunk.to_csv(fh, header=False, index=False)


def child_clinsight(csv_path: str) -> dict:
    from engine.ingest import DEFAULT_DECISIONS, import_source, open_source, propose_mapping, validate_source
    from engine.store import connect

    db = connect()
    t0 = time.perf_counter()
    source = open_source(Path(csv_path))
    mapping = propose_mapping(source.columns, source.preview(200))
    report = validate_source(db, source, mapping)
    t1 = time.perf_counter()
    result = import_source(db, source, report, DEFAULT_DECISIONS, dataset="bench", username="bench")
    t2 = time.perf_counter()
    obs = db.conn.execute("SELECT COUNT(*) FROM observations").fetchone()[0]
    return {"seconds": t2 - t0, "validate_s": t1 - t0, "import_s": t2 - t1, "patients": result.patients_added,
            "observations": obs}


def child_sqlite3(csv_path: str) -> dict:
    import numpy as np
    import pandas as pd

    from engine.ingest.mapping import concept_for, propose_mapping
    from engine.store import connect, utcnow

    frame = pd.read_csv(csv_path)
    mapping = propose_mapping(list(frame.columns), frame.head(200).astype(str))["columns"]
    obs_cols = [c for c, e in mapping.items() if e["field"] == "observation"]
    concepts = {c: concept_for(c, mapping[c]) for c in obs_cols}
    values = {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(float) for c in obs_cols}
    n = len(frame)
    ids = [f"P-{i:016X}" for i in range(n)]
    sex = frame["sex"].astype(str).tolist()
    age = frame["age"].astype(float).tolist()
    now = utcnow()
    del frame
    db = connect()
    conn = db.conn
    chunk = int(os.environ.get("CLINSIGHT_INGEST_CHUNK_ROWS", "50000"))
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    total = 0
    # Same rows in the same order as the importer writes them: per chunk, patients, then one column at a time.
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        conn.executemany("INSERT INTO patients (id, pseudo_id, dataset_version_id, source, licence, sex, age, "
                         "age_group, birth_year, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         ((i + 1, ids[i], None, "bench", None, sex[i], age[i], None, None, now)
                          for i in range(start, stop)))
        for col in obs_cols:
            c = concepts[col]
            v = values[col]
            idx = start + np.flatnonzero(np.isfinite(v[start:stop]))
            total += len(idx)
            conn.executemany("INSERT INTO observations (patient_id, dataset_version_id, code, system, name, "
                             "value_num, value_text, unit, time, flag) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             ((int(i) + 1, None, c.code, c.system, c.name, float(v[i]), None, c.unit, None, None)
                              for i in idx))
    conn.execute("COMMIT")
    return {"seconds": time.perf_counter() - t0, "patients": n, "observations": total}


def run_child(kind: str, csv_path: Path, db_path: Path) -> dict:
    env = {**os.environ, "CLINSIGHT_DB": str(db_path), "PYTHONPATH": str(ROOT)}
    code = (f"import json, resource, sys; sys.path.insert(0, {str(ROOT)!r}); import bench.ingest as b; "
            f"r = b.child_{kind}({str(csv_path)!r}); "
            "r['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(r))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", default=None, help="where the CSV and stores go (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp_path = Path(tmp)
        csv_path = tmp_path / "cohort.csv"
        t = time.perf_counter()
        build_csv(csv_path, args.rows)
        print(f"built {csv_path.stat().st_size / 1e6:.0f} MB CSV in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        ours = run_child("clinsight", csv_path, tmp_path / "clinsight.db")
        print(f"clinsight: {ours}", file=sys.stderr)
        base = run_child("sqlite3", csv_path, tmp_path / "baseline.db")
        print(f"sqlite3:   {base}", file=sys.stderr)
    rows_per_s = args.rows / ours["seconds"]
    base_rows_per_s = args.rows / base["seconds"]
    print(json.dumps({
        "name": "ingest", "rows": args.rows, "columns": 20, "rows_per_s": round(rows_per_s),
        "observations": ours["observations"], "observations_per_s": round(ours["observations"] / ours["seconds"]),
        "seconds": round(ours["seconds"], 2), "validate_s": round(ours["validate_s"], 2),
        "import_s": round(ours["import_s"], 2), "sqlite3_seconds": round(base["seconds"], 2),
        "sqlite3_rows_per_s": round(base_rows_per_s), "sqlite3_observations": base["observations"],
        "ratio_vs_sqlite3": round(rows_per_s / base_rows_per_s, 3), "peak_mb": round(ours["peak_mb"], 1),
        "sqlite3_peak_mb": round(base["peak_mb"], 1),
    }))


if __name__ == "__main__":
    main()
