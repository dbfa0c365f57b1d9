"""Benchmark the REST API: single predictions over loopback HTTP against the same engine call in-process.

Starts uvicorn on 127.0.0.1 (a free port, a temp store, a clinician's API token), sends a bounded number
of sequential requests over one keep-alive connection and calls the engine function directly in this
process as many times, the two interleaved in rounds so that load from other work hits both alike. The HTTP figure includes everything a client pays for: HTTP parsing,
token check, role check, validation, the stored prediction row and the audit row.

When this build has no prediction engine (or no model), it measures the next route that does answer
(GET /v1/models, else GET /health) and says so in ``target``.

Usage: python bench/api.py [--requests 400] [--max-seconds 40]
Last line: one JSON object with rps, p50_ms, p95_ms and ratio_http_vs_inprocess (throughput ratio).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 8
sys.path.insert(0, str(REPO))

from tests.api.api_helpers import example_record  # noqa: E402 - needs the repository on sys.path
from tests.servers import running_api  # noqa: E402


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _time_calls(call: Callable[[], object], n: int, max_seconds: float) -> list[float]:
    """Latencies in seconds of up to ``n`` calls, stopping early at ``max_seconds``."""
    latencies: list[float] = []
    deadline = time.perf_counter() + max_seconds
    for _ in range(n):
        start = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - start)
        if time.perf_counter() > deadline:
            break
    return latencies


def _choose_target():
    """(label, method, path, json body or None, in-process callable) for the richest route this build serves."""
    from engine.api import features

    try:
        models = features.load("models")()
    except features.FeatureUnavailableError:
        models = []
    if models:
        try:
            predict_record = features.load("predict")
        except features.FeatureUnavailableError:
            predict_record = None
        if predict_record is not None:
            name = models[0]["name"]
            record = example_record(features.load("model_card")(name))  # the card has training medians
            predict_record(name, record)  # fail early, before the server starts, if the record is refused
            return (f"single prediction ({name})", "POST", f"/v1/predict/{name}", {"record": record},
                    lambda: predict_record(name, record))
        list_models = features.load("models")
        return ("GET /v1/models (no prediction engine in this build)", "GET", "/v1/models", None, list_models)

    def in_process_health():
        from engine.store import open_db

        with open_db() as db:
            db.conn.execute("SELECT 1").fetchone()
        return features.installed()

    return ("GET /health (no model registry or prediction engine in this build)", "GET", "/health", None,
            in_process_health)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--max-seconds", type=float, default=40.0, help="time cap for each of the two loops")
    args = parser.parse_args()

    import httpx

    workdir = Path(tempfile.mkdtemp(prefix="clinsight-bench-api-"))
    os.environ["CLINSIGHT_DB"] = str(workdir / "bench.db")
    from engine import auth
    from engine.api_tokens import create_token
    from engine.store import open_db

    with open_db() as db:
        auth.create_user(db, "bench_admin", "bench-only-password-" + os.urandom(8).hex(), "admin", actor=None)
        auth.create_user(db, "bench_clinician", "bench-only-password-" + os.urandom(8).hex(), "clinician",
                         actor="bench_admin")
        token = create_token(db, "bench_clinician", actor="bench_admin", label="bench")

    label, method, path, body, in_process = _choose_target()
    with running_api(ready_statuses=(200, 503)) as base, \
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        def http_call() -> None:
            response = client.request(method, path, json=body)
            if response.status_code != 200:
                raise SystemExit(f"error: {method} {path} answered {response.status_code}: {response.text}")

        from engine.store import connect

        # Both loops alternate in rounds, so a load change on this shared machine hits both alike.
        keeper = connect()  # as the server's lifespan does: the WAL stays open between per-use connections
        try:
            _time_calls(http_call, 20, 10)  # warm-up (imports, model load, connection)
            _time_calls(in_process, 20, 10)
            http, local = [], []
            per_round = max(1, args.requests // ROUNDS)
            for _ in range(ROUNDS):
                http += _time_calls(http_call, per_round, args.max_seconds / ROUNDS)
                local += _time_calls(in_process, per_round, args.max_seconds / ROUNDS)
        finally:
            keeper.conn.close()


    rps = len(http) / sum(http)
    rps_local = len(local) / sum(local)
    result = {
        "name": "api",
        "target": label,
        "endpoint": f"{method} {path}",
        "requests": len(http),
        "rps": round(rps, 1),
        "p50_ms": round(_percentile(http, 0.50) * 1000, 2),
        "p95_ms": round(_percentile(http, 0.95) * 1000, 2),
        "inprocess_calls": len(local),
        "inprocess_per_s": round(rps_local, 1),
        "inprocess_p50_ms": round(statistics.median(local) * 1000, 3),
        "ratio_http_vs_inprocess": round(rps / rps_local, 4),
    }
    print(f"{label}: {result['rps']} req/s over HTTP (p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms) vs "
          f"{result['inprocess_per_s']} calls/s in-process; ratio {result['ratio_http_vs_inprocess']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
