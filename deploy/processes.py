"""Process-level pieces for running ClinSight's servers: the commands that start them, free ports, health checks
that make sure the answer comes from the process we started, stopping a process for certain, and the unprivileged
account (through ``setpriv``) that nginx and PostgreSQL run as when we are root, with temp folders it can reach.

They live in deploy/ because deploy/cluster.py (`make cluster`, what a hospital runs) is built on them and product
code never imports from tests/; the tests and benches reuse them through tests/servers.py, which adds the
test-only context managers (start a server for one block, always stop it), so the servers the tests start are
started exactly as the cluster starts them.
"""
from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on loopback that is free now (another process may take it before the server binds it:
    :func:`healthy` checks that the answer comes from our process)."""
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


def answer(url: str) -> tuple[int, bytes] | None:
    """``url``'s status and body, or None where nothing answers (refused, reset, timed out after 2 s)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:  # a 503 is still an answer
        return exc.code, b""
    except OSError:
        return None


def _listener_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on ``port`` at any local address, IPv4 or IPv6 (Linux /proc), or None where /proc
    cannot tell. Any address, not only loopback: a replica started with ``--bind`` 10.0.1.11 or 0.0.0.0 listens
    there, and its health check must still find it."""
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    try:
        lines += Path("/proc/net/tcp6").read_text().splitlines()[1:]
    except OSError:
        pass
    suffix = f":{port:04X}"
    return {cols[9] for cols in (line.split() for line in lines) if cols[1].endswith(suffix) and cols[3] == "0A"}


def _owns_port(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the socket listening on ``port``.

    Free ports are picked, released and then bound by the server, so on a machine where many suites
    start servers, another process can take the port in between; its health check would then answer
    for ours. Where /proc is unavailable this cannot be checked and is assumed.
    """
    inodes = _listener_inodes(port)
    if inodes is None:
        return True
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return True
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def healthy(pid: int | None, port: int, url: str, statuses: Sequence[int] = (200,), body: bytes | None = None) -> bool:
    """Whether ``url`` answers with one of ``statuses`` (and ``body``) from process ``pid``, listening on ``port``.

    ``pid`` None: the answer alone, one request like the rest (nginx: its workers, not the master we started, hold
    the socket, so the launcher checks the proxy by what it answers)."""
    reply = answer(url)
    return bool(reply and reply[0] in statuses and (body is None or reply[1].strip() == body)
                and (pid is None or _owns_port(pid, port)))


def service_account(names: Sequence[str]) -> pwd.struct_passwd | None:
    """Under root, the first of ``names`` that exists: the account a server that needs no root (nginx) or refuses it
    (PostgreSQL) runs as. None when we are not root: the server runs as we do. LookupError when none exists (the
    caller says so in its own words)."""
    if os.geteuid() != 0:
        return None
    for name in names:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise LookupError(f"none of the accounts {', '.join(names)} exists")


def run_as(account: pwd.struct_passwd | None) -> list[str]:
    """The command prefix that runs a program as ``account`` (its uid and gid, no supplementary groups); none for
    None. ``setpriv`` execs, so the process we hold is the server itself and our signals reach it."""
    if account is None:
        return []
    return ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups"]


def reachable_temp_dir(prefix: str) -> Path:
    """A new temp folder (the caller deletes it) that the :func:`service_account` can reach when we are root: in
    /tmp, not a TMPDIR that may lie inside /root (0700), and mode 0755, not mkdtemp's (or pytest's) 0700."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp" if os.geteuid() == 0 else None))
    folder.chmod(0o755)
    return folder


def streamlit_command(port: int, address: str = "127.0.0.1") -> list[str]:
    """The app as `make run` serves it (`streamlit run serve.py`) on ``port``."""
    return [sys.executable, "-m", "streamlit", "run", str(REPO / "serve.py"), "--server.headless", "true",
            "--server.port", str(port), "--server.address", address, "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false"]


def api_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """The REST API as `make api` serves it (uvicorn) on ``port``."""
    return [sys.executable, "-m", "uvicorn", "--factory", "engine.api.app:create_app", "--host", host,
            "--port", str(port), "--log-level", "warning", "--no-access-log"]
