"""The API as `make api` runs it: a real uvicorn process on loopback, sharing the store with this test."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.api.api_helpers import bearer

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tokens, db_path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "engine.api.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=REPO, env={**os.environ, "CLINSIGHT_DB": str(db_path)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the API server did not start: " + proc.stderr.read().decode(errors="replace"))
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_real_server_answers_authenticates_and_audits(server, tokens, api_db):
    health = httpx.get(server + "/health", timeout=10)
    assert health.status_code == 200 and health.json()["store"] == "ok"
    assert httpx.get(server + "/v1/models", timeout=10).status_code == 401
    models = httpx.get(server + "/v1/models", headers=bearer(tokens["analyst"]), timeout=30)
    # 200 with the registry on board; a build without it says so with a 503 (never a crash).
    assert models.status_code == 200 or models.json()["error"] == "feature_unavailable"
    rows = api_db.conn.execute("SELECT username, action, outcome FROM audit WHERE action = 'api.models.read' "
                               "ORDER BY id").fetchall()
    assert rows == [(None, "api.models.read", "unauthenticated"),
                    ("ana", "api.models.read", "ok" if models.status_code == 200 else "error")]
