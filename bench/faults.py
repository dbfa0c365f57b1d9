"""Fault under load (issue 16): PostgreSQL stops during an import while sessions call the API through nginx.

What it does, on its own throwaway PostgreSQL (tests/pg_cluster.py) and a cluster from deploy/cluster.py (one app
replica, two API workers, nginx, free ports, a temp folder):
1. ``--sessions`` API sessions send predictions through nginx without pause (bench/load_protocol.py's client).
2. ``python -m engine ingest`` imports a CSV (bench/ingest.py's file: the real Framingham table resampled).
3. As soon as PostgreSQL shows the import's ``COPY`` running (pg_stat_activity: the state, not a timer), the server
   is stopped ("fast" shutdown: every connection cut). After the import command has exited, it is started again.
Then it checks and reports:
- the import's exit status and message (a sentence, no driver error, no traceback);
- no partial dataset: no dataset version, patient or observation from the failed import;
- what the sessions got while the store was down (HTTP statuses: 503 with a sentence is right, a 500 is not);
- that service resumed: seconds from the restart to the first successful prediction;
- that the audit hash chain verifies, and that the same import then runs to the end.

Usage: python bench/faults.py [--rows 40000] [--sessions 10]
Last line: one JSON object (``ok`` true when every check held).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.ingest import build_csv  # noqa: E402 - needs the repository on sys.path
from bench.load_protocol import MODEL, _payloads, _prepare_store  # noqa: E402
from deploy.cluster import Spec, start, stop  # noqa: E402
from deploy.processes import free_port, reachable_temp_dir  # noqa: E402
from tests.conftest import _env  # noqa: E402
from tests.pg_cluster import Cluster  # noqa: E402

DEADLINE_S = 300.0  # for error messages only; every wait below is on a state


class Load:
    """Sessions posting predictions through nginx until stopped; every answer kept as (time, status, body start)."""

    def __init__(self, base: str, tokens: list[str], record: dict) -> None:
        self.base, self.tokens, self.record = base, tokens, record
        self.answers: list[tuple[float, str, str]] = []
        self.running = True
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _session(self, token: str) -> None:
        import httpx

        async with httpx.AsyncClient(base_url=self.base, headers={"Authorization": f"Bearer {token}"},
                                     timeout=60) as client:
            while self.running:
                try:
                    response = await client.post(f"/v1/predict/{MODEL}", json={"record": self.record})
                    status, text = str(response.status_code), response.text[:300]
                except httpx.HTTPError as exc:
                    status, text = type(exc).__name__, ""
                self.answers.append((time.monotonic(), status, text))

    async def _main(self) -> None:
        await asyncio.gather(*(self._session(t) for t in self.tokens))

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join(timeout=120)


def _copy_running(pg: Cluster) -> bool:
    with pg.admin() as conn:
        return bool(conn.execute("SELECT 1 FROM pg_stat_activity WHERE datname = 'clinsight' AND state = 'active' "
                                 "AND query ILIKE 'COPY %'").fetchone())


def _counts(url: str) -> dict[str, int]:
    from engine import audit
    from engine.store import open_db
    from engine.store.postgres import dispose_engines

    with _env("CLINSIGHT_DATABASE_URL", url), open_db() as db:
        counts = {table: db.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                  for table in ("dataset_versions", "patients", "observations")}
        counts["chain_ok"] = int(audit.verify_chain(db).ok)
    dispose_engines(url)
    return counts


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what} after {DEADLINE_S:.0f} s")
        time.sleep(0.05)  # poll interval; the condition is the state, the bound is the deadline


def run(rows: int, sessions: int) -> dict:
    work = reachable_temp_dir("clinsight-faults-")  # nginx runs as www-data under root
    csv_path = work / "cohort_export.csv"
    build_csv(csv_path, rows)
    pg = Cluster().start()
    state = work / "cluster"
    try:
        url = pg.create_database("clinsight")
        tokens, _ = _prepare_store(url, sessions)
        record = _payloads(url)["predict"][0]
        before = _counts(url)
        info = start(Spec(state=state, replicas=1, api_workers=2, listen=f"127.0.0.1:{free_port()}",
                          database_url=url, seed=False, detach=False, env_file=None))
        env = {**os.environ, "CLINSIGHT_DATABASE_URL": url}
        ingest = [sys.executable, "-m", "engine", "ingest", str(csv_path), "--user", "load_admin"]
        with Load(info["api_url"], tokens, record) as load:
            _wait(lambda: any(s == "200" for _, s, _ in load.answers), "the first prediction")
            job = subprocess.Popen(ingest, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
            _wait(lambda: job.poll() is not None or _copy_running(pg), "the import's COPY")
            stopped_during_copy = job.poll() is None
            stop_at = time.monotonic()
            pg.stop_server()
            out, err = job.communicate(timeout=DEADLINE_S)
            restart_at = time.monotonic()
            pg.start_server()
            _wait(lambda: any(t > restart_at and s == "200" for t, s, _ in load.answers), "a prediction after restart")
            resumed_s = min(t for t, s, _ in load.answers if t > restart_at and s == "200") - restart_at
        outage = [(s, text) for t, s, text in load.answers if stop_at <= t <= restart_at]
        after_fault = _counts(url)
        retry = subprocess.run(ingest, cwd=REPO, env=env, capture_output=True, text=True)
        after_retry = _counts(url)
    finally:
        stop(state)
        from engine.store.postgres import dispose_engines

        dispose_engines()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)

    message = err.strip().splitlines()[-1] if err.strip() else ""
    noise = [line for line in err.strip().splitlines()[:-1] if line.strip()]  # anything besides the sentence
    statuses = Counter(s for s, _ in outage)
    sentences = sorted({json.loads(text).get("detail", "") for s, text in outage if s == "503" and text.startswith("{")})
    checks = {
        "import_stopped_during_copy": stopped_during_copy,
        "import_failed_with_a_sentence": job.returncode != 0 and "cannot be reached" in message and not noise,
        "no_partial_dataset": {k: after_fault[k] for k in ("dataset_versions", "patients", "observations")}
                              == {k: before[k] for k in ("dataset_versions", "patients", "observations")},
        "no_500_during_outage": not any(s.startswith("5") and s != "503" for s in statuses),
        "service_resumed": resumed_s < DEADLINE_S,
        "audit_chain_ok": bool(after_fault["chain_ok"] and after_retry["chain_ok"]),
        "retry_imported": retry.returncode == 0 and after_retry["patients"] > before["patients"],
    }
    return {"name": "faults", "rows": rows, "sessions": sessions, "ok": all(checks.values()), "checks": checks,
            "import_exit": job.returncode, "import_message": message, "import_other_output": noise[:6] + noise[-2:], "outage_s": round(restart_at - stop_at, 2),
            "answers_during_outage": dict(statuses), "outage_sentences": sentences,
            "resumed_after_restart_s": round(resumed_s, 2), "before": before, "after_fault": after_fault,
            "after_retry": after_retry, "load_avg": [round(x, 2) for x in os.getloadavg()]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40_000, help="rows in the imported CSV (enough to stop it mid-COPY)")
    parser.add_argument("--sessions", type=int, default=10)
    args = parser.parse_args()
    result = run(args.rows, args.sessions)
    for name, held in result["checks"].items():
        print(f"{'ok  ' if held else 'FAIL'} {name}")
    print(f"import said: {result['import_message']}")
    print(f"during the {result['outage_s']} s outage the sessions got {result['answers_during_outage']}; "
          f"service back {result['resumed_after_restart_s']} s after the restart")
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
