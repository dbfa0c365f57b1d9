"""Concurrency soak: N processes write to one store at once for a bounded time; nothing may be lost.

Each worker process loops over the operations in :data:`OPS` (audit records,
logins, user creation, small imports, prediction rows, reads; worker 0 also
runs the demo seed at the start) and keeps a ledger of the rows each
*successful* operation committed. Afterwards the store must hold exactly the
ledger's rows (``lost_rows`` = rows a caller was told were written but are
missing), no "database is locked" may have reached a caller, the audit chain
must verify and ``integrity_check`` must pass.

Operations are data. ``op_predict`` already runs the real prediction path
(merged); ``op_import`` is a stand-in until the records import lands, then::

    def op_import(ctx):
        from engine.ingest import ...                          # the records import, once merged
        ...
        return {"patients_soak": n_patients}
    OPS["import"] = op_import

and registers a counter for any new ledger key in :data:`COUNTERS`.

Run it: ``python -m tests.reliability.soak run --writers 8 --seconds 60 --kills 20`` (``make soak``).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PASSWORD = "soak-password-42"  # test-only credential for throwaway temp stores


@dataclass
class WorkerContext:
    index: int
    db_path: Path
    rng: random.Random
    n: int = 0  # operations done so far (unique suffixes)


# ---------------------------------------------------------------- operations (each returns rows it committed)

def op_audit(ctx: WorkerContext) -> dict[str, int]:
    from engine import audit
    from engine.store import open_db

    with open_db(ctx.db_path) as db:
        audit.record(db, username=f"soakw{ctx.index}", action="soak.audit", target_type="soak",
                     target_id=f"{ctx.index}-{ctx.n}")
    return {"audit_soak": 1}


def op_login(ctx: WorkerContext) -> dict[str, int]:
    from engine.auth import authenticate
    from engine.store import open_db

    with open_db(ctx.db_path) as db:
        authenticate(db, f"soakw{ctx.index}", PASSWORD)
    return {"login_ok": 1}


def op_create_user(ctx: WorkerContext) -> dict[str, int]:
    from engine.auth import create_user
    from engine.store import open_db

    with open_db(ctx.db_path) as db:
        create_user(db, f"soaknew{ctx.index}x{ctx.n}", PASSWORD, ctx.rng.choice(["clinician", "analyst"]),
                    actor=f"soakw{ctx.index}")
    return {"users_new": 1}


def op_import(ctx: WorkerContext) -> dict[str, int]:
    """A small import through the store's own functions, in one transaction, like engine.seed does.

    Stand-in for the records import (replace with engine.ingest after merging).
    """
    from engine import audit
    from engine.store import open_db, transaction
    from engine.store import datasets as dataset_rows
    from engine.store import patients as patient_rows

    k = ctx.rng.randint(5, 40)
    with open_db(ctx.db_path) as db, transaction(db):
        dataset_id = dataset_rows.get_or_create_dataset(db, f"soak-{ctx.index}", source="synthetic soak test")
        version_id, _ = dataset_rows.add_version(db, dataset_id, file_name=None, file_sha256=None, mapping=None,
                                                 report=None, n_rows=k, created_by=f"soakw{ctx.index}")
        for j in range(k):
            pid = patient_rows.insert_patient(db, {"pseudo_id": f"SOAK-{ctx.index}-{ctx.n}-{j}",
                                                   "dataset_version_id": version_id, "source": "soak",
                                                   "sex": "unknown"})
            patient_rows.insert_observations(db, [(pid, version_id, "2345-7", "http://loinc.org", "Glucose",
                                                   float(ctx.rng.randint(60, 200)), None, "mg/dL", None, None)] * 3)
        audit.record(db, username=f"soakw{ctx.index}", action="records.import", target_type="dataset",
                     target_id=f"soak-{ctx.index}", details={"patients": k})
    return {"patients_soak": k, "observations_soak": 3 * k}


def op_predict(ctx: WorkerContext) -> dict[str, int]:
    """A real prediction (engine.models.predict.run_prediction: predict, store the row, audit it)."""
    from engine.models.predict import run_prediction
    from engine.models.registry import get_card
    from engine.store import open_db

    card = get_card("diabetes_pima")
    record = {f["name"]: f["training"]["median"] for f in card["features"] if f["kind"] == "numeric"}
    record["glucose_ogtt_2h"] = float(ctx.rng.randint(70, 190))
    with open_db(ctx.db_path) as db:
        run_prediction(db, username=f"soakw{ctx.index}", name="diabetes_pima", record=record)
    return {"predictions_soak": 1}


def op_read(ctx: WorkerContext) -> dict[str, int]:
    from engine.store import count_rows, open_db
    from engine.store.patients import search_patients

    with open_db(ctx.db_path) as db:
        search_patients(db, text="SOAK", limit=20)
        count_rows(db)
    return {}


def op_seed(ctx: WorkerContext) -> dict[str, int]:
    from engine.seed import seed_all
    from engine.store import open_db

    with open_db(ctx.db_path) as db:
        added = seed_all(db)
    return {"patients_seed": sum(added.values())}


OPS: dict[str, Callable[[WorkerContext], dict[str, int]]] = {
    "audit": op_audit, "login": op_login, "create_user": op_create_user, "import": op_import,
    "predict": op_predict, "read": op_read,
}
def op_seed_one(ctx: WorkerContext) -> dict[str, int]:
    """The smallest demo data set only (heart failure, 299 patients): the seed path at test-suite size."""
    from engine.seed import SPECS, seed_dataset
    from engine.store import open_db

    with open_db(ctx.db_path) as db:
        return {"patients_seed": seed_dataset(db, SPECS[-1])}


START_OPS: dict[int, list[str]] = {0: ["seed"]}  # worker index -> operations run once at the start
ONE_OFF_OPS = {"seed": op_seed, "seed_one": op_seed_one}

# ledger key -> SQL counting those rows (plain SQL: this is the test's independent reference).
COUNTERS: dict[str, str] = {
    "audit_soak": "SELECT COUNT(*) FROM audit WHERE action = 'soak.audit'",
    "login_ok": "SELECT COUNT(*) FROM audit WHERE action = 'login' AND outcome = 'ok' AND username LIKE 'soakw%'",
    "users_new": "SELECT COUNT(*) FROM users WHERE username LIKE 'soaknew%'",
    "patients_soak": "SELECT COUNT(*) FROM patients WHERE source = 'soak'",
    "observations_soak": "SELECT COUNT(*) FROM observations o JOIN patients p ON p.id = o.patient_id "
                         "WHERE p.source = 'soak'",
    "predictions_soak": "SELECT COUNT(*) FROM predictions WHERE username LIKE 'soakw%'",
    "patients_seed": "SELECT COUNT(*) FROM patients WHERE source != 'soak'",
}


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def worker_main(index: int, db_path: Path, seconds: float, sync_dir: Path,
                start_ops: dict[int, list[str]] | None = None) -> dict:
    """One writer process: signal ready, wait for 'go', run every kind of operation once, then until the time is up.

    Once each, whatever the clock says: on a busy machine a worker may not be scheduled until its seconds
    are over, and the checks that every kind of write happened must not depend on how fast the machine is.
    """
    import engine.auth  # noqa: F401 - import everything before the clock starts
    import engine.models.predict  # noqa: F401
    import engine.seed  # noqa: F401

    ctx = WorkerContext(index, db_path, random.Random(index))
    (sync_dir / f"ready-{index}").touch()
    go = sync_dir / "go"
    while not go.exists():
        time.sleep(0.01)
    deadline = float(go.read_text()) + seconds
    ledger: Counter = Counter()
    counts = Counter()
    errors: list[str] = []
    slowest: dict[str, float] = {}
    plan = [ONE_OFF_OPS[name] for name in (START_OPS if start_ops is None else start_ops).get(index, [])]
    names = list(OPS)
    cycled = 0  # operations of the cycle done (each kind once in the first len(names))
    while time.time() < deadline or plan or cycled < len(names):
        if plan:
            op = plan.pop(0)
        else:
            op = OPS[names[(cycled + index) % len(names)]]
            cycled += 1
        began = time.perf_counter()
        try:
            ledger.update(op(ctx))
            counts["ok"] += 1
            took = time.perf_counter() - began
            slowest[op.__name__] = round(max(slowest.get(op.__name__, 0.0), took), 2)
        except Exception as exc:  # noqa: BLE001 - every failure is a finding to report
            counts["locked" if _is_lock_error(exc) else "error"] += 1
            if len(errors) < 5:  # first few only; the counts say how many
                errors.append(traceback.format_exc()[-1200:] if os.environ.get("SOAK_TRACEBACKS") else
                              "".join(traceback.format_exception_only(type(exc), exc)).strip())
        ctx.n += 1
    return {"index": index, "ops": ctx.n, "ok": counts["ok"], "locked_errors": counts["locked"],
            "other_errors": counts["error"], "errors": errors, "ledger": dict(ledger),
            "slowest_s": slowest}


def prepare_store(db_path: Path, writers: int) -> None:
    from engine import auth
    from engine.store import connect

    db = connect(db_path)
    try:
        for i in range(writers):
            auth.create_user(db, f"soakw{i}", PASSWORD, "clinician", actor=None)
    finally:
        db.conn.close()


def verify_store(db_path: Path, ledger: Counter) -> dict:
    """Compare the store with the writers' ledgers; run every store check."""
    from engine.integrity import check_store
    from engine.store import connect

    db = connect(db_path)
    try:
        found = {key: db.conn.execute(sql).fetchone()[0] for key, sql in COUNTERS.items()}
        report = check_store(db)
    finally:
        db.conn.close()
    lost = {k: ledger.get(k, 0) - found[k] for k in COUNTERS if ledger.get(k, 0) > found[k]}
    extra = {k: found[k] - ledger.get(k, 0) for k in COUNTERS if found[k] > ledger.get(k, 0)}
    return {"found": found, "lost": lost, "extra": extra, "store_ok": report.ok, "problems": report.problems}


@dataclass
class SoakReport:
    writers: int
    seconds: float
    results: list[dict] = field(default_factory=list)
    verification: dict = field(default_factory=dict)

    def summary(self) -> dict:
        ledger = Counter()
        for r in self.results:
            ledger.update(r["ledger"])
        return {
            "writers": self.writers, "seconds": self.seconds,
            "writers_finished": len(self.results),
            "ops": sum(r["ops"] for r in self.results),
            "ops_ok": sum(r["ok"] for r in self.results),
            "rows_written": sum(ledger.values()),
            "lost_rows": sum(self.verification.get("lost", {}).values()),
            "extra_rows": sum(self.verification.get("extra", {}).values()),
            "locked_errors": sum(r["locked_errors"] for r in self.results),
            "other_errors": sum(r["other_errors"] for r in self.results),
            "store_ok": self.verification.get("store_ok"),
            "problems": self.verification.get("problems", []),
            "errors": [e for r in self.results for e in r["errors"]][:5],
            "slowest_op_s": {k: max(r.get("slowest_s", {}).get(k, 0) for r in self.results)
                             for k in {k for r in self.results for k in r.get("slowest_s", {})}},
        }


def _worker_entry(index: int, db_path: Path, seconds: float, sync_dir: Path, queue, start_ops) -> None:
    try:
        queue.put(worker_main(index, db_path, seconds, sync_dir, start_ops))
    except BaseException as exc:  # noqa: BLE001 - report, never hang the parent
        queue.put({"index": index, "ops": 0, "ok": 0, "locked_errors": 0, "other_errors": 1,
                   "errors": [repr(exc)], "ledger": {}})


def run_soak(db_path: Path | None, *, writers: int = 8, seconds: float = 5.0, start_timeout: float = 120.0,
             start_ops: dict[int, list[str]] | None = None) -> SoakReport:
    """Fork ``writers`` processes against one fresh store, let them write for ``seconds``, verify.

    Fork (not spawn): the workers start with the engine already imported, so on a
    small machine they begin together instead of spending seconds importing.
    Each opens its own connections after the fork, as separate app processes do.
    """
    import multiprocessing

    import engine.auth  # noqa: F401 - imported before forking so workers start at once
    import engine.models.predict  # noqa: F401
    import engine.seed  # noqa: F401

    for suffix in ("", "-wal", "-shm") if db_path is not None else ():  # None: the configured store (PostgreSQL)
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    prepare_store(db_path, writers)
    from engine.models.predict import predict_record
    from engine.models.registry import get_card

    card = get_card("diabetes_pima")  # load (and cache) the model once, before forking
    predict_record("diabetes_pima", {f["name"]: f["training"]["median"] for f in card["features"]})
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    report = SoakReport(writers, seconds)
    with tempfile.TemporaryDirectory(prefix="clinsight-soak-") as sync:
        sync_dir = Path(sync)
        procs = [ctx.Process(target=_worker_entry, args=(i, db_path, seconds, sync_dir, queue, start_ops), daemon=True)
                 for i in range(writers)]
        for proc in procs:
            proc.start()
        try:
            waited = time.time()
            while len(list(sync_dir.glob("ready-*"))) < writers and time.time() - waited < start_timeout:
                time.sleep(0.02)
            # Written aside and renamed: a worker polling for "go" must never see it created but still empty
            # (under load the parent can be descheduled between the two, and every worker then failed on
            # float(''), 0 ops).
            (sync_dir / "go.tmp").write_text(str(time.time()))
            (sync_dir / "go.tmp").replace(sync_dir / "go")
            for _ in procs:
                try:
                    report.results.append(queue.get(timeout=seconds + start_timeout))
                except Exception:  # noqa: BLE001 - a worker that never reports is a failure
                    report.results.append({"index": -1, "ops": 0, "ok": 0, "locked_errors": 0, "other_errors": 1,
                                           "errors": ["worker did not report"], "ledger": {}})
            for proc in procs:
                proc.join(timeout=30)
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.kill()
                    proc.join()
    ledger = Counter()
    for r in report.results:
        ledger.update(r["ledger"])
    report.verification = verify_store(db_path, ledger)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="concurrency soak")
    sub = parser.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("run")
    r.add_argument("--writers", type=int, default=8)
    r.add_argument("--seconds", type=float, default=60)
    r.add_argument("--kills", type=int, default=20, help="SIGKILL trials per crash command")
    args = parser.parse_args(argv)
    from tests.reliability.crash import CRASH_COMMANDS, run_crash_trials

    with tempfile.TemporaryDirectory(prefix="clinsight-soak-") as tmp:
        soak = run_soak(Path(tmp) / "soak.db", writers=args.writers, seconds=args.seconds).summary()
        print(json.dumps({"soak": soak}), file=sys.stderr)
        crashes = {name: run_crash_trials(name, args.kills, Path(tmp) / f"crash-{name}.db", rng_seed=7).summary()
                   for name in CRASH_COMMANDS}
        print(json.dumps({"crash": crashes}), file=sys.stderr)
    failures = (soak["lost_rows"] + soak["locked_errors"] + soak["other_errors"] + (0 if soak["store_ok"] else 1)
                + sum(c["failures"] for c in crashes.values()))
    result = {"name": "soak", "cases": soak["ops"] + sum(c["kills"] + c["completed_before_kill"]
                                                          for c in crashes.values()),
              "failures": failures, "crashes": sum(c["failures"] for c in crashes.values()),
              "lost_rows": soak["lost_rows"], "writers": soak["writers"], "seconds": soak["seconds"],
              "rows_written": soak["rows_written"], "locked_errors": soak["locked_errors"],
              "kills": sum(c["kills"] for c in crashes.values()),
              "kills_survived": sum(c["survived"] for c in crashes.values())}
    print(json.dumps(result))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
