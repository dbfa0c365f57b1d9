"""Start and stop ClinSight as a cluster on one host: PostgreSQL, N app replicas, M API workers, nginx in front.

`make cluster` / `make cluster-stop` call this (``python -m deploy.cluster start|stop|status`` from the repository
root); so do the browser test through nginx (tests/e2e/test_cluster.py) and the load bench. Everything it starts
is recorded in ``<state>/pids/<name>.pid`` (pid and the process's start time, so a recycled pid is never signalled;
a server's port and ``--bind`` address, which ``status`` asks) and ``<state>/cluster.json`` (ports and URLs);
``stop`` reads the pid files, so it ends exactly what ``start`` began and can run any number of times.

Why these parts:
- **PostgreSQL**: every replica and worker shares one store. ``CLINSIGHT_DATABASE_URL`` (environment or the
  env file) names the hospital's server; without it a local cluster is kept in ``<state>/pg`` (initdb once,
  Unix socket only, durable) through deploy/local_postgres.py, the same code the tests' throwaway clusters use.
- **App replicas**: ``streamlit run serve.py`` as `make run` starts it, each with the same
  ``server.cookieSecret`` (generated once into ``<state>/cookie_secret``, mode 0600, passed by environment
  so it never appears in a process list or a log).
- **API workers**: uvicorn as `make api` starts it, one process per port.
- **nginx** (Debian's, `make nginx`): rendered from deploy/nginx.conf.template into ``<state>/nginx/``, run in
  the foreground under this launcher with its own pid, logs and temp folders, as an unprivileged account
  when started by root; never the system service.

Process management (server commands, free ports, health checks that the answer comes from the process we started)
is deploy/processes.py; deploy/ owns it and the tests reuse it (tests/servers.py, tests/pg_cluster.py), never the
other way round: what a hospital runs imports nothing from tests/.

Several hosts: the same files work. On each app host start only the servers (``--parts app,api`` with fixed
``--app-port``/``--api-port`` and ``--bind`` on the host's address); on the front host start only nginx
(``--parts proxy``) with ``CLINSIGHT_APP_UPSTREAMS=host1:8501,host2:8501`` and ``CLINSIGHT_API_UPSTREAMS=...``.
"""
from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from deploy.local_postgres import Cluster, PostgresError
from deploy.processes import REPO, api_command, free_port, healthy, run_as, service_account, streamlit_command

TEMPLATE = REPO / "deploy" / "nginx.conf.template"
START_DEADLINE_S = 240.0  # a deadline for the error message; a busy machine may need much of it
STOP_WAIT_S = 20.0
PARTS = ("db", "app", "api", "proxy")
# Passive health checks: a replica failing this many times within FAIL_TIMEOUT is left out for FAIL_TIMEOUT.
MAX_FAILS, FAIL_TIMEOUT = 2, "10s"
# The order in which stop ends things: the front door first, the store last.
STOP_ORDER = {"proxy": 0, "app": 1, "api": 1, "db": 2}
# Each server's own health URL path (the store and nginx have none: ``status`` shows "-" for them).
HEALTH_PATHS = {"app": "/_stcore/health", "api": "/health"}


class ClusterError(RuntimeError):
    """The cluster could not start (the message says which part and shows its log's end)."""


@dataclass
class Spec:
    """What to start. Defaults are `make cluster`'s."""

    state: Path
    replicas: int = 2
    api_workers: int = 2
    listen: str = "127.0.0.1:8080"
    bind: str = "127.0.0.1"
    parts: tuple[str, ...] = PARTS
    database_url: str | None = None
    app_port: int | None = None   # first replica's port (then +1 ...); None: free ports
    api_port: int | None = None
    app_upstreams: list[str] | None = None  # host:port; None: the replicas started here
    api_upstreams: list[str] | None = None
    env_file: Path | None = None
    seed: bool = True
    detach: bool = True            # False: the servers stay in the caller's process group (tests)
    nginx_workers: int = 1
    max_body_mb: int = 200


# --- pid files ---------------------------------------------------------------------------------------------------

def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22); None if it is gone or has
    exited and waits to be reaped (a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def _pid_dir(state: Path) -> Path:
    return state / "pids"


def _record(state: Path, name: str, kind: str, pid: int, port: int | None, bind: str | None = None) -> dict:
    """Write the pid file; ``bind`` is the address a replica or worker listens on, so ``status`` asks it there."""
    entry = {"name": name, "kind": kind, "pid": pid, "start": _start_time(pid), "port": port, "bind": bind}
    _pid_dir(state).mkdir(parents=True, exist_ok=True)
    (_pid_dir(state) / f"{name}.pid").write_text(json.dumps(entry) + "\n")
    return entry


def _alive(entry: dict) -> bool:
    """Whether the pid file's process is still the one we started (same pid *and* start time: never a recycled pid)."""
    return entry.get("start") is not None and _start_time(entry["pid"]) == entry["start"]


def _pid_files(state: Path) -> list[tuple[Path, dict | None]]:
    """Every pid file with what it records; None for one that cannot be read (cut short by a full disk, edited
    by hand), which ``running`` passes over and ``status`` shows, rather than either crashing."""
    out = []
    for path in sorted(_pid_dir(state).glob("*.pid")):
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            entry = None
        out.append((path, entry if isinstance(entry, dict) and {"name", "kind", "pid", "start"} <= entry.keys()
                    else None))
    return out


def running(state: Path) -> list[dict]:
    """The processes the pid files name that are still the processes we started."""
    return [entry for _path, entry in _pid_files(state) if entry is not None and _alive(entry)]


def _signal_and_wait(entry: dict) -> None:
    pid = entry["pid"]
    try:
        # PostgreSQL: SIGINT is its "fast" shutdown (clients disconnected, clean stop); others stop on SIGTERM.
        os.kill(pid, signal.SIGINT if entry["kind"] == "db" else signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_WAIT_S
    while _start_time(pid) == entry["start"] and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)  # poll interval; the bound is the deadline
    if _start_time(pid) == entry["start"]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap(pid)


def _reap(pid: int) -> None:
    """Collect the exit of a child we started in this process (tests), so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(state: Path) -> list[str]:
    """Stop everything ``start`` began in ``state`` (front door first, store last); returns the names stopped.

    Idempotent: a pid file whose process has gone, or whose pid now belongs to another process, is removed
    without signalling anything.
    """
    stopped = []
    for entry in sorted(running(state), key=lambda e: STOP_ORDER.get(e["kind"], 1)):
        _signal_and_wait(entry)
        stopped.append(entry["name"])
    for path in _pid_dir(state).glob("*.pid"):
        path.unlink(missing_ok=True)
    return stopped


# --- configuration -------------------------------------------------------------------------------------------------

def read_env_file(path: Path | None) -> dict[str, str]:
    """KEY=VALUE lines (``#`` comments, optional quotes, no expansion): the settings every server gets."""
    if path is None or not path.exists():
        return {}
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key.strip()):
            raise ClusterError(f"The env file's line {number} is not KEY=VALUE.")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def cookie_secret(state: Path) -> str:
    """Streamlit's ``server.cookieSecret``, the same for every replica: made once, kept in a 0600 file."""
    path = state / "cookie_secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    return path.read_text().strip()


def _servers(addresses: list[str]) -> str:
    return "\n".join(f"        server {address} max_fails={MAX_FAILS} fail_timeout={FAIL_TIMEOUT};"
                     for address in addresses)


def render_nginx(spec: Spec, app: list[str], api: list[str]) -> str:
    """deploy/nginx.conf.template with this cluster's values (``@NAME@`` placeholders; nginx's own $vars stay)."""
    if not app or not api:
        raise ClusterError("nginx needs at least one app and one API address (CLINSIGHT_APP_UPSTREAMS / "
                           "CLINSIGHT_API_UPSTREAMS, or start the replicas here).")
    values = {"WORKERS": str(spec.nginx_workers), "STATE": str(spec.state.resolve()), "LISTEN": spec.listen,
              "MAX_BODY_MB": str(spec.max_body_mb), "APP_SERVERS": _servers(app), "API_SERVERS": _servers(api)}
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ClusterError(f"nginx template placeholders without a value: {sorted(set(left))}")
    return text


def _nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise ClusterError("nginx is not installed: `make nginx` installs Debian's package.")
    return found


def _nginx_account() -> pwd.struct_passwd | None:
    """Under root, run nginx as an unprivileged account (it listens on a high port and needs no root)."""
    try:
        return service_account(("www-data", "nobody"))
    except LookupError:
        raise ClusterError("Running as root and neither 'www-data' nor 'nobody' exists to run nginx.") from None


# --- start -----------------------------------------------------------------------------------------------------------

def _spawn(spec: Spec, name: str, kind: str, command: list[str], env: dict[str, str], port: int | None,
           bind: str | None = None) -> dict:
    logs = spec.state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=spec.detach)
    return _record(spec.state, name, kind, proc.pid, port, bind)


def _log_tail(state: Path, name: str) -> str:
    try:
        return (state / "logs" / f"{name}.log").read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


def _wait_healthy(spec: Spec, checks: list[tuple[dict, str, bytes | None]]) -> None:
    """Poll each server's health URL until it answers from the process we started; a deadline, never a sleep."""
    deadline = time.monotonic() + START_DEADLINE_S
    pending = list(checks)
    while pending:
        for check in list(pending):
            entry, url, body = check
            if not _alive(entry):
                raise ClusterError(f"{entry['name']} exited at start: {_log_tail(spec.state, entry['name'])}")
            # nginx is checked by its answer only (see healthy): its workers, not the master we hold, own the socket
            if healthy(None if entry["kind"] == "proxy" else entry["pid"], entry["port"], url, (200,), body):
                pending.remove(check)
        if pending and time.monotonic() > deadline:
            names = ", ".join(entry["name"] for entry, _, _ in pending)
            raise ClusterError(f"Not healthy within {START_DEADLINE_S:.0f} s: {names}. "
                               f"{_log_tail(spec.state, pending[0][0]['name'])}")
        if pending:
            time.sleep(0.3)  # poll interval of the health checks (their deadline is above)


def _ports(first: int | None, count: int) -> list[int]:
    return [first + i for i in range(count)] if first is not None else [free_port() for _ in range(count)]


def _start_db(spec: Spec) -> str:
    cluster = Cluster(root=spec.state / "pg", detach=spec.detach)
    cluster.start()
    _record(spec.state, "postgresql", "db", cluster.process.pid, None)
    with cluster.admin() as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'clinsight'").fetchone():
            conn.execute('CREATE DATABASE "clinsight"')
    return cluster.url("clinsight")


def start(spec: Spec) -> dict:
    """Start the parts ``spec`` names, wait until each is healthy, write ``cluster.json``; returns its content.

    On any failure everything started so far is stopped again, and the error says which part failed.
    """
    spec.state.mkdir(parents=True, exist_ok=True)
    if running(spec.state):
        raise ClusterError(f"A cluster is already running from {spec.state} (`make cluster-stop` ends it).")
    env = {**os.environ, **read_env_file(spec.env_file)}
    database_url = spec.database_url or env.get("CLINSIGHT_DATABASE_URL") or None
    local_db = database_url is None and "db" in spec.parts
    try:
        if local_db:
            database_url = _start_db(spec)
        if database_url is None and ({"app", "api"} & set(spec.parts)):
            raise ClusterError("No store: set CLINSIGHT_DATABASE_URL, or include the 'db' part.")
        if database_url:
            env["CLINSIGHT_DATABASE_URL"] = database_url
        if spec.seed and ({"app", "api"} & set(spec.parts)):
            print("seeding the store (once; later runs change nothing) ...", flush=True)
            subprocess.run([sys.executable, "-m", "engine", "seed"], cwd=REPO, env=env, check=True,
                           stdout=subprocess.DEVNULL)
        checks: list[tuple[dict, str, bytes | None]] = []
        app_addresses, api_addresses = [], []
        if "app" in spec.parts:
            app_env = {**env, "STREAMLIT_SERVER_COOKIE_SECRET": cookie_secret(spec.state),
                       "STREAMLIT_SERVER_MAX_UPLOAD_SIZE": str(spec.max_body_mb)}
            for index, port in enumerate(_ports(spec.app_port, spec.replicas), start=1):
                entry = _spawn(spec, f"app-{index}", "app", streamlit_command(port, spec.bind), app_env, port,
                               spec.bind)
                checks.append((entry, _health_url(entry), b"ok"))
                app_addresses.append(f"{_local(spec.bind)}:{port}")
        if "api" in spec.parts:
            for index, port in enumerate(_ports(spec.api_port, spec.api_workers), start=1):
                entry = _spawn(spec, f"api-{index}", "api", api_command(port, spec.bind), env, port, spec.bind)
                checks.append((entry, _health_url(entry), None))
                api_addresses.append(f"{_local(spec.bind)}:{port}")
        _wait_healthy(spec, checks)
        urls = {}
        if "proxy" in spec.parts:
            app = spec.app_upstreams or _list(env.get("CLINSIGHT_APP_UPSTREAMS")) or app_addresses
            api = spec.api_upstreams or _list(env.get("CLINSIGHT_API_UPSTREAMS")) or api_addresses
            urls = _start_nginx(spec, app, api)
        info = {"state": str(spec.state.resolve()), **urls, "app_servers": app_addresses,
                "api_servers": api_addresses, "database": str((spec.state / "pg").resolve()) if local_db
                else "CLINSIGHT_DATABASE_URL", "processes": running(spec.state)}
        (spec.state / "cluster.json").write_text(json.dumps(info, indent=2) + "\n")
        return info
    except BaseException:
        stop(spec.state)
        raise


def _start_nginx(spec: Spec, app: list[str], api: list[str]) -> dict:
    prefix = spec.state / "nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    account = _nginx_account()
    config = prefix / "nginx.conf"
    config.write_text(render_nginx(spec, app, api))
    config.chmod(0o644)
    if account is not None:  # its logs and temp folders must be its own
        for path in [prefix, *prefix.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)
        os.chmod(spec.state, 0o755)
    base = [*run_as(account), _nginx_binary(), "-p", str(prefix.resolve()), "-c", str(config.resolve()),
            "-e", str((prefix / "error.log").resolve())]
    test = subprocess.run([*base, "-t", "-q"], capture_output=True, text=True)
    if test.returncode != 0:
        raise ClusterError(f"nginx refused its configuration: {test.stderr.strip()[-2000:]}")
    entry = _spawn(spec, "nginx", "proxy", base, dict(os.environ), None)
    front = f"http://{_local(spec.listen.rsplit(':', 1)[0])}:{spec.listen.rsplit(':', 1)[1]}"
    _wait_healthy(spec, [(entry, f"{front}/_stcore/health", b"ok"), (entry, f"{front}/api/health", None)])
    return {"url": front, "api_url": f"{front}/api"}


def _local(host: str) -> str:
    """The address to ask a server on, as it goes into a URL or an nginx ``server`` line: a ``--bind`` on every
    address ("", 0.0.0.0, *) is asked on loopback, "::" on IPv6 loopback, and an IPv6 address in brackets."""
    if host in ("", "0.0.0.0", "*"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _health_url(entry: dict) -> str | None:
    """A recorded replica's or worker's health URL on the address it was started on (its ``--bind``), so the
    start's health wait and ``status`` ask the same place; None for the parts without one (store, nginx).
    Pid files written before the address was recorded name none: those servers were asked on loopback."""
    path = HEALTH_PATHS.get(entry["kind"])
    if path is None or not entry.get("port"):
        return None
    return f"http://{_local(entry.get('bind') or '127.0.0.1')}:{entry['port']}{path}"


def _list(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def status(state: Path) -> list[dict]:
    """Each recorded process: alive or not, and whether its health URL answers now (the active check)."""
    out = []
    for path, entry in _pid_files(state):
        if entry is None:
            out.append({"name": path.stem, "pid": None, "alive": False, "healthy": None, "unreadable": True})
            continue
        alive = _alive(entry)
        url = _health_url(entry)
        ok = None
        if alive and url:
            ok = healthy(entry["pid"], entry["port"], url)
        out.append({"name": entry["name"], "pid": entry["pid"], "alive": alive, "healthy": ok})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--state", type=Path, default=REPO / "var" / "cluster",
                        help="folder for pid files, logs, nginx's files and the local PostgreSQL (var/cluster)")
    parser.add_argument("--replicas", type=int, default=2, help="Streamlit replicas (N)")
    parser.add_argument("--api-workers", type=int, default=2, help="API worker processes (M)")
    parser.add_argument("--listen", default="127.0.0.1:8080", help="nginx's address:port")
    parser.add_argument("--bind", default="127.0.0.1", help="address the replicas and workers listen on")
    parser.add_argument("--parts", default=",".join(PARTS), help="which of db,app,api,proxy to start here")
    parser.add_argument("--app-port", type=int, help="first replica's port (default: free ports)")
    parser.add_argument("--api-port", type=int, help="first API worker's port (default: free ports)")
    parser.add_argument("--env-file", type=Path, default=REPO / "deploy" / "clinsight.env",
                        help="KEY=VALUE settings for every server (deploy/clinsight.env.template shows them)")
    parser.add_argument("--no-seed", action="store_true", help="do not load the demo data")
    args = parser.parse_args(argv)
    if args.command == "stop":
        stopped = stop(args.state)
        print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
        return 0
    if args.command == "status":
        for row in status(args.state):
            if row.get("unreadable"):
                print(f"{row['name']:<12} pid file unreadable: {_pid_dir(args.state) / (row['name'] + '.pid')}")
                continue
            print(f"{row['name']:<12} pid {row['pid']:<8} {'alive' if row['alive'] else 'gone':<6} "
                  f"health: {'-' if row['healthy'] is None else 'ok' if row['healthy'] else 'FAILING'}")
        return 0
    parts = tuple(part.strip() for part in args.parts.split(",") if part.strip())
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    spec = Spec(state=args.state, replicas=args.replicas, api_workers=args.api_workers, listen=args.listen,
                bind=args.bind, parts=parts, app_port=args.app_port, api_port=args.api_port,
                env_file=args.env_file, seed=not args.no_seed)
    try:
        info = start(spec)
    except (ClusterError, PostgresError) as exc:
        print(f"cluster did not start: {exc}", file=sys.stderr)
        return 1
    print(f"ClinSight cluster: app {info.get('url', '-')}  API {info.get('api_url', '-')}  "
          f"({len(info['app_servers'])} app replicas, {len(info['api_servers'])} API workers; "
          f"`make cluster-stop` ends it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
