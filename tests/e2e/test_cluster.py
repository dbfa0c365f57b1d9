"""The cluster in a real browser (issue 16): log in through nginx, then lose one replica.

One cluster for the module, started by the same launcher as `make cluster` (deploy/cluster.py): two Streamlit
replicas and one API worker on free ports, nginx on a free port, all files in this module's own temp folder, the
store a fresh database on the session's throwaway PostgreSQL (tests/pg_cluster.py). Two browsers are pinned to
different replicas by their nginx route cookie (found by asking nginx, see ``_routes_to_each_replica``); one
replica is then killed (SIGKILL, as a crash) and each browser's fate is checked on the app's state.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

import httpx
import pytest

from deploy.processes import free_port, reachable_temp_dir
from tests.conftest import _env
from tests.e2e.conftest import goto_page, login
from tests.e2e.waits import app_text, new_page, rerun, wait_for_text

pytestmark = pytest.mark.e2e

PASSWORD = "cluster test password"  # test-only password for users made in a throwaway database
USERS = ("clin_a", "clin_b", "clin_c")
ROUTE = "clinsight_route"
SOCKETS = "__clinsightSockets"
# Counts the page's WebSocket connections: a second one is the browser's reconnection after its replica died.
SOCKET_COUNTER_JS = f"""
(() => {{
  if (window.{SOCKETS} !== undefined) return;
  window.{SOCKETS} = 0;
  const Tracked = window.WebSocket;
  window.WebSocket = class extends Tracked {{
    constructor(...args) {{ super(...args); window.{SOCKETS} += 1; }}
  }};
}})();
"""


@pytest.fixture(scope="module")
def cluster_db(pg_templates) -> str:
    """A fresh, migrated database with two clinicians; its URL."""
    from engine import auth
    from engine.store import open_db
    from engine.store.postgres import dispose_engines

    name, url = pg_templates.fresh(pg_templates.build("tmpl_empty", lambda db: None))
    with _env("CLINSIGHT_DATABASE_URL", url), open_db() as db:
        for username in USERS:
            auth.create_user(db, username, PASSWORD, "clinician", actor=None)
    dispose_engines(url)
    yield url
    dispose_engines(url)
    pg_templates.cluster.drop_database(name)


@pytest.fixture(scope="module")
def cluster(cluster_db):
    """The cluster; yields (launcher info, state folder). Stopped (pid files) at the end, whatever happened."""
    from deploy.cluster import Spec, start, stop

    # Under root nginx runs as www-data, which must reach its folder: one under /tmp (pytest's is 0700).
    state = reachable_temp_dir("clinsight-cluster-")
    spec = Spec(state=state, replicas=2, api_workers=1, listen=f"127.0.0.1:{free_port()}", database_url=cluster_db,
                seed=False, detach=False, env_file=None)
    try:
        yield start(spec), state
    finally:
        stop(state)
        shutil.rmtree(state, ignore_errors=True)


#: Seconds to wait for nginx's access log to show a request that has already been answered.
LOG_DEADLINE_S = 30.0


def _upstreams_by_route(state: Path) -> dict[str, set[str]]:
    """nginx's access log: route cookie -> the replica addresses that answered it."""
    seen: dict[str, set[str]] = {}
    for line in (state / "nginx" / "access.log").read_text().splitlines():
        found = re.search(r"route=(\S+) upstream=(\S+)", line)
        if found and found.group(2) != "-":
            seen.setdefault(found.group(1), set()).add(found.group(2))
    return seen


def _logged_upstreams(state: Path, route: str, until=bool) -> set[str]:
    """The replicas nginx's access log names for ``route``, once ``until`` holds for them.

    nginx writes a request's log line in its log phase, after the response has left: a client can hold its
    answer before the line is in the file (a fresh clone's CI read the log first and found no line). So wait
    for the log's state, with a deadline, rather than read it once."""
    deadline = time.monotonic() + LOG_DEADLINE_S
    while True:
        upstreams = _upstreams_by_route(state).get(route, set())
        if until(upstreams) or time.monotonic() > deadline:
            return upstreams
        time.sleep(0.05)


def _routes_to_each_replica(info: dict, state: Path) -> dict[str, str]:
    """One route cookie value per replica address, found by asking nginx with candidate values."""
    found: dict[str, str] = {}
    with httpx.Client(base_url=info["url"]) as client:
        for n in range(200):
            value = f"probe{n}"
            assert client.get("/_stcore/health", headers={"Cookie": f"{ROUTE}={value}"}).text == "ok"
            (upstream,) = _logged_upstreams(state, value)
            found.setdefault(upstream, value)
            if len(found) == len(info["app_servers"]):
                return found
    raise AssertionError(f"200 route values reached only {sorted(found)}")


def _audit(url: str) -> tuple[list[tuple[str, str]], bool]:
    """(username, action) of every audit row, and whether the hash chain verifies."""
    from engine import audit
    from engine.store import open_db
    from engine.store.postgres import dispose_engines

    with _env("CLINSIGHT_DATABASE_URL", url), open_db() as db:
        rows = [(r[0], r[1]) for r in db.conn.execute("SELECT username, action FROM audit ORDER BY id").fetchall()]
        ok = audit.verify_chain(db).ok
    dispose_engines(url)
    return rows, ok


def _sockets(page) -> int:
    return page.evaluate(f"() => window.{SOCKETS}")


def _wait_reconnected(page) -> None:
    """The page opened a second WebSocket (its replica died) and it is connected: the app's state, not time."""
    page.wait_for_function(f"() => window.{SOCKETS} >= 2 && document.querySelector('[data-testid=stApp]')"
                           ".getAttribute('data-test-connection-state') === 'CONNECTED'")


def test_login_through_nginx_and_losing_a_replica(browser, cluster, cluster_db):
    """A and B log in through nginx, each sticky to its own replica; C too, on B's replica, but its browser has
    lost the session cookie (as after expiry). B's replica is killed. A carries on in the same connection; B
    reconnects through nginx to the survivor and, on its next click, is still signed in (the HttpOnly session
    cookie resumes it: the signing key and the session rows live in the shared store); C gets the log-in page,
    not an error. Every audit row written before the crash is still there and the chain verifies."""
    info, state = cluster
    assert info["url"].startswith("http://127.0.0.1:")
    routes = _routes_to_each_replica(info, state)
    survivor, doomed = info["app_servers"]
    pid_of = {f"127.0.0.1:{p['port']}": p["pid"] for p in info["processes"] if p["kind"] == "app"}
    host = info["url"].split("//")[1].split(":")[0]

    with new_page(browser) as page_a, new_page(browser) as page_b, new_page(browser) as page_c:
        for page, upstream in ((page_a, survivor), (page_b, doomed), (page_c, doomed)):
            page.context.add_init_script(SOCKET_COUNTER_JS)
            page.context.add_cookies([{"name": ROUTE, "value": routes[upstream], "domain": host, "path": "/"}])
        login(page_a, info["url"], USERS[0], PASSWORD)
        login(page_b, info["url"], USERS[1], PASSWORD)
        login(page_c, info["url"], USERS[2], PASSWORD)
        wait_for_text(page_a, "What you can do here")
        page_c.context.clear_cookies(name="clinsight_session")
        # Sticky: every request of each browser (page, static files, session route, websocket) hit one replica.
        seen = _upstreams_by_route(state)
        assert seen[routes[survivor]] == {survivor} and seen[routes[doomed]] == {doomed}
        before, chain_ok = _audit(cluster_db)
        assert chain_ok and all((user, "login") in before for user in USERS)

        os.kill(pid_of[doomed], signal.SIGKILL)  # the crash
        _wait_reconnected(page_b)
        _wait_reconnected(page_c)
        goto_page(page_b, "Patient")
        wait_for_text(page_b, f"Signed in as {USERS[1]}")
        page_b.get_by_role("heading", name="Patient").wait_for()
        assert page_b.url.rstrip("/").endswith("/patient")
        with rerun(page_c):
            page_c.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Patient", exact=True).click()
        page_c.get_by_role("button", name="Log in").wait_for()
        assert page_c.get_by_text(f"Signed in as {USERS[2]}").count() == 0
        for page in (page_b, page_c):
            assert not re.search(r"Traceback|Exception|Error", app_text(page))
        # nginx sent the doomed replica's browsers to the survivor once it was gone.
        assert survivor in _logged_upstreams(state, routes[doomed], until=lambda ups: survivor in ups)

        # A's session carried on in its first connection, on its replica.
        goto_page(page_a, "Patient")
        wait_for_text(page_a, f"Signed in as {USERS[0]}")
        page_a.get_by_role("heading", name="Patient").wait_for()
        assert _sockets(page_a) == 1
        assert _upstreams_by_route(state)[routes[survivor]] == {survivor}

    after, chain_ok = _audit(cluster_db)
    assert chain_ok
    assert after[:len(before)] == before  # nothing written before the crash was lost
    assert (USERS[1], "session.resume") in after[len(before):]  # B's resume was written by the survivor
