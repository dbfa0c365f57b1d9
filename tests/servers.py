"""Start and stop the app's real servers on loopback for one block: the Streamlit app and the REST API.

The test-only half of server management: pick a free port, start the process with the store at ``db_path``,
poll its health URL (with a deadline) until the process we started answers, and always stop it (terminate,
then kill) when the block ends. The process-level pieces (the commands, free ports, health checks, stopping)
live in deploy/processes.py, because `make cluster` (deploy/cluster.py) is built on them and product code never
imports from tests/; tests and benches that need only a port or a temp folder import those from there.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from deploy.processes import REPO, api_command, free_port, healthy, stop_process, streamlit_command

__all__ = ["running_servers", "running_server", "running_streamlit", "running_streamlits", "running_api"]


class _Server:
    """One launched server process: its port, base URL and log, until :meth:`stop`."""

    def __init__(self, command_for_port, health_path: str, env: dict[str, str]):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.command = list(command_for_port(self.port))
        self.health_path = health_path
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.command, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def ready(self, statuses: Sequence[int], body: bytes | None) -> bool:
        return self.proc.poll() is None and healthy(self.proc.pid, self.port, self.base + self.health_path,
                                                    statuses, body)

    def failure(self) -> str:
        self.log.seek(0)
        return f"{self.command[2]} did not start: {self.log.read().decode(errors='replace')[-2000:]}"

    def stop(self) -> None:
        stop_process(self.proc)
        self.log.close()


@contextmanager
def running_servers(command_for_port, health_path: str, *, env: dict[str, str], count: int = 1,
                    ready_statuses: Sequence[int] = (200,), ready_body: bytes | None = None,
                    timeout_s: float = 180) -> Iterator[list[str]]:
    """Launch ``count`` servers at once (``command_for_port(port)`` each, on a free port); yield their base
    URLs once every ``health_path`` answers as ready from the process we started.

    ``timeout_s`` is a deadline for the error message, not a wait: a busy machine may need most of it.
    A server whose port another process took (:func:`healthy` checks the listener) is relaunched on a new port.
    """
    servers: list[_Server] = []
    try:
        for _ in range(count):
            servers.append(_Server(command_for_port, health_path, env))
        deadline = time.monotonic() + timeout_s
        pending = list(range(count))
        while pending:
            for index in list(pending):
                server = servers[index]
                if server.ready(ready_statuses, ready_body):
                    pending.remove(index)
                elif server.proc.poll() is not None and "already in use" in server.failure():
                    server.stop()  # lost the port between picking and binding: take another
                    servers[index] = _Server(command_for_port, health_path, env)
                elif server.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(server.failure())
            if pending:
                time.sleep(0.3)  # poll interval of the health check (its deadline is above)
        yield [server.base for server in servers]
    finally:
        for server in servers:
            server.stop()


@contextmanager
def running_server(command_for_port, health_path: str, *, env: dict[str, str],
                   ready_statuses: Sequence[int] = (200,), ready_body: bytes | None = None,
                   timeout_s: float = 180) -> Iterator[str]:
    """One server (see :func:`running_servers`); yields its base URL."""
    with running_servers(command_for_port, health_path, env=env, ready_statuses=ready_statuses,
                         ready_body=ready_body, timeout_s=timeout_s) as bases:
        yield bases[0]


def running_streamlit(db_path: Path, env: dict[str, str] | None = None):
    """The app as `make run` serves it (`streamlit run serve.py`: app.py + the session route), on a free port,
    against ``db_path``."""
    return running_server(streamlit_command, "/_stcore/health", ready_body=b"ok",
                          env={**os.environ, "CLINSIGHT_DB": str(db_path), **(env or {})})


def running_streamlits(db_path: Path, count: int, env: dict[str, str] | None = None):
    """``count`` fresh app servers on one store, started together; yields their base URLs.

    For checks that need a server's *first* request, one server each, without paying the start-up
    time once per server in a row.
    """
    return running_servers(streamlit_command, "/_stcore/health", ready_body=b"ok", count=count,
                           env={**os.environ, "CLINSIGHT_DB": str(db_path), **(env or {})})


def running_api(db_path: Path | None = None, *, ready_statuses: Sequence[int] = (200,)):
    """The REST API as `make api` serves it (uvicorn), on a free port; ``db_path`` None keeps CLINSIGHT_DB."""
    env = {**os.environ, **({"CLINSIGHT_DB": str(db_path)} if db_path is not None else {})}
    return running_server(api_command, "/health", env=env, ready_statuses=ready_statuses)
