"""Start and stop the app's real servers on loopback: the Streamlit app and the REST API.

One implementation for the browser tests, the API server test and the benchmarks
(bench/ imports it with the repository on sys.path): pick a free port, start the
process with the store at ``db_path``, poll its health URL until it answers,
and always stop it (terminate, then kill) when the block ends.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate, wait up to 10 s, then kill: never leave a server behind."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _answer(url: str) -> tuple[int, bytes] | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:  # a 503 is still an answer
        return exc.code, b""
    except OSError:
        return None


@contextmanager
def running_server(command: Sequence[str], base: str, health_path: str, *, env: dict[str, str],
                   ready_statuses: Sequence[int] = (200,), ready_body: bytes | None = None,
                   timeout_s: float = 90) -> Iterator[str]:
    """Run ``command`` until the block ends; yield ``base`` once ``health_path`` answers as ready."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(list(command), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                answer = _answer(base + health_path)
                if answer and answer[0] in ready_statuses and (ready_body is None or answer[1].strip() == ready_body):
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"{command[2]} did not start: {log.read().decode(errors='replace')[-2000:]}")
                time.sleep(0.3)
            yield base
        finally:
            stop_process(proc)


def running_streamlit(db_path: Path, env: dict[str, str] | None = None):
    """The app as `make run` serves it (`streamlit run serve.py`: app.py + the session route), on a free port."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(REPO / "serve.py"), "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false"]
    return running_server(command, f"http://127.0.0.1:{port}", "/_stcore/health", ready_body=b"ok",
                          env={**os.environ, "CLINSIGHT_DB": str(db_path), **(env or {})})


def running_api(db_path: Path | None = None, *, ready_statuses: Sequence[int] = (200,)):
    """The REST API as `make api` serves it (uvicorn), on a free port; ``db_path`` None keeps CLINSIGHT_DB."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "engine.api.app:create_app", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--no-access-log"]
    env = {**os.environ, **({"CLINSIGHT_DB": str(db_path)} if db_path is not None else {})}
    return running_server(command, f"http://127.0.0.1:{port}", "/health", env=env, ready_statuses=ready_statuses,
                          timeout_s=60)
