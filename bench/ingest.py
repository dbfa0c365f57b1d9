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

With ``--postgresql [URL]`` (issue 16) both run on PostgreSQL instead: the same ``clinsight`` path
(its bulk writes use COPY there) against ``psycopg_copy``, the same rows parsed into memory first and
written with bare psycopg ``COPY`` in one transaction. Without a URL a throwaway cluster is started
(tests/pg_cluster.py) and removed afterwards; each side gets its own fresh database.

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


def _parse(csv_path: str):
    """The CSV as the baselines take it, parsed before any clock starts: (n, ids, sex, age, now,
    observation columns, their concepts, their values)."""
    import pandas as pd

    from engine.ingest.mapping import concept_for, propose_mapping
    from engine.store import utcnow

    frame = pd.read_csv(csv_path)
    mapping = propose_mapping(list(frame.columns), frame.head(200).astype(str))["columns"]
    obs_cols = [c for c, e in mapping.items() if e["field"] == "observation"]
    concepts = {c: concept_for(c, mapping[c]) for c in obs_cols}
    values = {c: pd.to_numeric(frame[c], errors="coerce").to_numpy(float) for c in obs_cols}
    n = len(frame)
    ids = [f"P-{i:016X}" for i in range(n)]
    return (n, ids, frame["sex"].astype(str).tolist(), frame["age"].astype(float).tolist(), utcnow(), obs_cols,
            concepts, values)


def child_sqlite3(csv_path: str) -> dict:
    import numpy as np

    from engine.store import connect

    n, ids, sex, age, now, obs_cols, concepts, values = _parse(csv_path)
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


def _parsed_rows(csv_path: str):
    """Patient and observation rows, parsed before any clock starts (the baselines' input)."""
    import numpy as np

    n, ids, sex, age, now, obs_cols, concepts, values = _parse(csv_path)
    patients = [(i + 1, ids[i], None, "bench", None, sex[i], age[i], None, None, now) for i in range(n)]
    observations = []
    for col in obs_cols:
        c, v = concepts[col], values[col]
        observations.extend((int(i) + 1, None, c.code, c.system, c.name, float(v[i]), None, c.unit, None, None)
                            for i in np.flatnonzero(np.isfinite(v)))
    return patients, observations


def child_psycopg_copy(csv_path: str) -> dict:
    """The PostgreSQL ceiling: bare psycopg COPY of rows already in memory, one transaction."""
    import psycopg

    from engine.store import connect
    from engine.store.patients import OBSERVATION_COLUMNS
    from engine.store.postgres import conninfo
    from engine.store.records import PATIENT_IMPORT_COLUMNS

    patients, observations = _parsed_rows(csv_path)
    connect().conn.close()  # migrate: the same schema and indexes as the ClinSight side
    with psycopg.connect(conninfo(os.environ["CLINSIGHT_DATABASE_URL"])) as conn:
        t0 = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            for table, columns, rows in (("patients", PATIENT_IMPORT_COLUMNS, patients),
                                         ("observations", OBSERVATION_COLUMNS, observations)):
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "patients": len(patients), "observations": len(observations)}


def run_child(kind: str, csv_path: Path, db_path: Path, database_url: str | None = None) -> dict:
    env = {**os.environ, "CLINSIGHT_DB": str(db_path), "PYTHONPATH": str(ROOT)}
    if database_url:
        env["CLINSIGHT_DATABASE_URL"] = database_url
    code = (f"import json, resource, sys; sys.path.insert(0, {str(ROOT)!r}); import bench.ingest as b; "
            f"r = b.child_{kind}({str(csv_path)!r}); "
            "r['peak_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(r))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", default=None, help="where the CSV and stores go (default: a temp dir)")
    parser.add_argument("--postgresql", nargs="?", const="", default=None, metavar="URL",
                        help="run on PostgreSQL against bare psycopg COPY (no URL: a throwaway local cluster; "
                             "with a URL, its server must let this user create databases)")
    args = parser.parse_args()
    if args.postgresql is not None:
        main_postgresql(args)
        return
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


def main_postgresql(args: argparse.Namespace) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    from engine.store.postgres import conninfo

    cluster = None
    if args.postgresql:
        base_url = args.postgresql
    else:
        from tests.pg_cluster import Cluster

        cluster = Cluster().start()
        base_url = cluster.url("postgres")
    run = f"bench_{os.getpid()}"
    urls = {kind: make_url(base_url).set(database=f"{run}_{kind}").render_as_string(hide_password=False)
            for kind in ("clinsight", "psycopg_copy")}
    try:
        with psycopg.connect(conninfo(base_url), autocommit=True) as admin:
            for url in urls.values():
                admin.execute(f'CREATE DATABASE "{make_url(url).database}"')
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            tmp_path = Path(tmp)
            csv_path = tmp_path / "cohort.csv"
            build_csv(csv_path, args.rows)
            ours = run_child("clinsight", csv_path, tmp_path / "unused.db", urls["clinsight"])
            print(f"clinsight (postgresql): {ours}", file=sys.stderr)
            base = run_child("psycopg_copy", csv_path, tmp_path / "unused.db", urls["psycopg_copy"])
            print(f"psycopg COPY:           {base}", file=sys.stderr)
    finally:
        if cluster is not None:
            cluster.stop()
        else:
            with psycopg.connect(conninfo(base_url), autocommit=True) as admin:
                for url in urls.values():
                    admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    rows_per_s = args.rows / ours["seconds"]
    base_rows_per_s = args.rows / base["seconds"]
    print(json.dumps({
        "name": "ingest", "backend": "postgresql", "rows": args.rows, "columns": 20, "rows_per_s": round(rows_per_s),
        "observations": ours["observations"], "observations_per_s": round(ours["observations"] / ours["seconds"]),
        "seconds": round(ours["seconds"], 2), "validate_s": round(ours["validate_s"], 2),
        "import_s": round(ours["import_s"], 2), "psycopg_copy_seconds": round(base["seconds"], 2),
        "psycopg_copy_rows_per_s": round(base_rows_per_s), "psycopg_copy_observations": base["observations"],
        "ratio_vs_psycopg_copy": round(rows_per_s / base_rows_per_s, 3),
        "import_ratio_vs_psycopg_copy": round(base["seconds"] / ours["import_s"], 3),
        "peak_mb": round(ours["peak_mb"], 1), "psycopg_copy_peak_mb": round(base["peak_mb"], 1),
    }))


if __name__ == "__main__":
    main()
