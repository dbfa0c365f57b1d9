"""deploy/cluster.py without starting servers: the nginx configuration it renders, the env file, the cookie secret
and the pid files that `make cluster-stop` relies on. (The running cluster is tests/e2e/test_cluster.py.)"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deploy.cluster import ClusterError, Spec, cookie_secret, read_env_file, render_nginx, running, stop


def test_rendered_nginx_config_is_sticky_upgrades_websockets_and_nginx_accepts_it(tmp_path):
    spec = Spec(state=tmp_path, listen="127.0.0.1:18080")
    text = render_nginx(spec, ["10.0.1.11:8501", "10.0.1.12:8501"], ["10.0.1.11:8000"])
    assert not re.findall(r"@[A-Z_]+@", text)
    app = text.split("upstream clinsight_app {", 1)[1].split("}", 1)[0]
    assert "hash $clinsight_route consistent;" in app
    assert "server 10.0.1.11:8501 max_fails=2 fail_timeout=10s;" in app
    assert "server 10.0.1.12:8501 max_fails=2 fail_timeout=10s;" in app
    assert "proxy_set_header Upgrade $http_upgrade;" in text and "listen 127.0.0.1:18080;" in text
    assert "daemon off;" in text and f"pid {tmp_path.resolve()}/nginx/nginx.pid;" in text
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not shutil.which(nginx):
        pytest.fail("nginx is not installed: `make nginx` (make test does it).")
    (tmp_path / "nginx").mkdir()
    conf = tmp_path / "nginx" / "nginx.conf"
    conf.write_text(text)
    checked = subprocess.run([nginx, "-t", "-p", str(tmp_path / "nginx"), "-c", str(conf),
                              "-e", str(tmp_path / "nginx" / "error.log")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_nginx_needs_an_app_and_an_api_address(tmp_path):
    with pytest.raises(ClusterError, match="at least one app and one API address"):
        render_nginx(Spec(state=tmp_path), [], ["127.0.0.1:8000"])


def test_env_file_is_key_value_without_expansion(tmp_path):
    env = tmp_path / "clinsight.env"
    env.write_text("# comment\n\nCLINSIGHT_DATABASE_URL='postgresql://clinsight@db/clinsight'\nCLINSIGHT_X=$HOME\n")
    assert read_env_file(env) == {"CLINSIGHT_DATABASE_URL": "postgresql://clinsight@db/clinsight",
                                  "CLINSIGHT_X": "$HOME"}
    assert read_env_file(tmp_path / "absent.env") == {}
    env.write_text("export CLINSIGHT_X=1\n")
    with pytest.raises(ClusterError, match="line 1"):
        read_env_file(env)


def test_cookie_secret_is_made_once_and_private(tmp_path):
    first = cookie_secret(tmp_path)
    assert len(first) == 64 and cookie_secret(tmp_path) == first
    assert (tmp_path / "cookie_secret").stat().st_mode & 0o777 == 0o600


def test_stop_ends_what_the_pid_files_name_and_is_idempotent(tmp_path):
    from deploy.cluster import _record

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _record(tmp_path, "app-1", "app", sleeper.pid, 1)
    _record(tmp_path, "app-2", "app", gone.pid, 2)
    # A pid file whose pid now belongs to another process (start time differs) is never signalled.
    (tmp_path / "pids" / "api-1.pid").write_text(json.dumps({"name": "api-1", "kind": "api", "pid": 1, "start": "0",
                                                              "port": 3}))
    assert [e["name"] for e in running(tmp_path)] == ["app-1"]
    assert stop(tmp_path) == ["app-1"]
    assert sleeper.wait(timeout=30) is not None
    assert stop(tmp_path) == [] and not list((tmp_path / "pids").glob("*.pid"))


def test_a_server_that_exits_at_start_fails_the_start_at_once_and_leaves_nothing_running(tmp_path):
    """A port already taken: the worker exits at start; the launcher says which one (with its log) without waiting
    for the health deadline, and stops everything it had started."""
    import socket

    from deploy.cluster import start

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        spec = Spec(state=tmp_path, parts=("api",), api_workers=1, api_port=taken.getsockname()[1], seed=False,
                    detach=False, env_file=None, database_url="postgresql://nobody@/nowhere?host=/nonexistent")
        with pytest.raises(ClusterError, match="api-1 exited at start"):
            start(spec)
    assert running(tmp_path) == []


class _Health(BaseHTTPRequestHandler):
    """Answers 200 on /health and /_stcore/health ("ok"), 404 elsewhere; counts the requests it got."""

    requests = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).requests += 1
        found = self.path in ("/health", "/_stcore/health")
        self.send_response(200 if found else 404)
        self.end_headers()
        self.wfile.write(b"ok" if found else b"")

    def log_message(self, *args) -> None:
        pass


@contextmanager
def _serving(address: str) -> Iterator[int]:
    """A health server on ``address`` in this process for one block; yields its port (listening on entry)."""
    _Health.requests = 0
    with ThreadingHTTPServer((address, 0), _Health) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()
            thread.join()


@pytest.mark.parametrize("bind, listen_on", [("127.0.0.2", "127.0.0.2"), ("0.0.0.0", "0.0.0.0")])
def test_status_asks_each_server_on_the_address_it_was_started_on(tmp_path, bind, listen_on):
    """``--bind`` a host's own address (not loopback): ``make cluster-status`` must ask that address, as the start's
    health wait did; ``0.0.0.0`` is asked on loopback. 127.0.0.2 is a local address nothing answers on 127.0.0.1."""
    from deploy.cluster import _record, status

    with _serving(listen_on) as port:
        _record(tmp_path, "api-1", "api", os.getpid(), port, bind=bind)
        assert status(tmp_path) == [{"name": "api-1", "pid": os.getpid(), "alive": True, "healthy": True}]


def test_the_proxy_health_wait_asks_once_per_poll(tmp_path):
    """nginx is checked by its answer alone (its workers, not the master we started, hold the socket): one request,
    not a full check that fails on ownership and then a second request."""
    from deploy.cluster import _record, _wait_healthy

    master = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # alive, owns no socket
    try:
        with _serving("127.0.0.1") as port:
            entry = _record(tmp_path, "nginx", "proxy", master.pid, None)
            _wait_healthy(Spec(state=tmp_path, listen=f"127.0.0.1:{port}"),
                          [(entry, f"http://127.0.0.1:{port}/_stcore/health", b"ok")])
            assert _Health.requests == 1
    finally:
        master.kill()
        master.wait()


@pytest.mark.parametrize("bind, asked", [("0.0.0.0", "127.0.0.1"), ("", "127.0.0.1"), ("10.0.1.11", "10.0.1.11"),
                                         ("::", "[::1]"), ("::1", "[::1]"), ("fd00::7", "[fd00::7]"),
                                         ("[::1]", "[::1]")])
def test_a_bind_address_is_asked_where_a_url_and_nginx_can_reach_it(bind, asked):
    """An IPv6 address goes into URLs and nginx ``server`` lines in brackets (``http://::1:8501`` is no URL)."""
    from deploy.cluster import _health_url, _local

    assert _local(bind) == asked
    assert _health_url({"kind": "app", "port": 8501, "bind": bind}) == f"http://{asked}:8501/_stcore/health"


def test_status_shows_an_unreadable_pid_file_and_stop_passes_over_it(tmp_path, capsys):
    """A pid file cut short (full disk) or edited by hand: ``status`` names it instead of crashing, and ``stop``
    still ends what the readable files name and clears every file."""
    from deploy.cluster import _pid_dir, _record, main, status, stop

    _record(tmp_path, "api-1", "api", 2 ** 22 + 1, 9, bind="127.0.0.1")  # a pid that is not running
    (_pid_dir(tmp_path) / "app-1.pid").write_text('{"name": "app-1", "ki')
    (_pid_dir(tmp_path) / "proxy.pid").write_text("[1, 2]\n")
    rows = status(tmp_path)
    assert [(r["name"], r["alive"], r.get("unreadable", False)) for r in rows] == [
        ("api-1", False, False), ("app-1", False, True), ("proxy", False, True)]
    assert main(["status", "--state", str(tmp_path)]) == 0
    assert "app-1        pid file unreadable" in capsys.readouterr().out
    assert stop(tmp_path) == []
    assert list(_pid_dir(tmp_path).glob("*.pid")) == []
