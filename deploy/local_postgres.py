"""A PostgreSQL server of our own in one folder: ``initdb`` there, listening on a Unix socket in that folder only.

No TCP port, so nothing else on the machine can reach it and two servers never collide. It lives in deploy/
because `make cluster` (deploy/cluster.py) keeps the hospital's single-host store with it (a kept folder,
durable, outliving the launcher); the tests' throwaway clusters (tests/pg_cluster.py re-exports its Cluster
for the PostgreSQL leg of the store tests, issue 16) reuse the same code with the defaults: a temp folder,
fsync off, tied to the test process, deleted at the end. Product code never imports from tests/.

PostgreSQL refuses to run as root, so under root the cluster belongs to Debian's ``postgres`` account
(``nobody`` where that does not exist) and is started through ``setpriv`` (which execs, so the process we
hold is the server itself and our signals reach it).

Start-up is checked with ``pg_isready`` polled until a deadline, never a fixed sleep; if the server
cannot start, :class:`PostgresError` says why with the server's log.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg

from deploy.processes import reachable_temp_dir, run_as, service_account

START_DEADLINE_S = 60.0
SUPERUSER = "clinsight"


class PostgresError(RuntimeError):
    """The local PostgreSQL cluster could not be set up or started (the message says why)."""


def find_bindir() -> Path:
    """PostgreSQL's server binaries: ``CLINSIGHT_PG_BIN``, else Debian's newest /usr/lib/postgresql/N/bin."""
    if os.environ.get("CLINSIGHT_PG_BIN"):
        return Path(os.environ["CLINSIGHT_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise PostgresError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
                           "`make postgresql` installs Debian's package.")
    return Path(found[-1]).parent


class Cluster:
    """One server process with a superuser ``clinsight`` (trust auth over its private socket).

    ``root`` given (``make cluster``: deploy/cluster.py) keeps the cluster in that folder across starts, with
    ``detach`` the server outlives the process that started it (its own session, no parent-death signal) and
    is durable (fsync on); the tests' default is a temp folder, tied to the test process, fast and unsafe.
    """

    def __init__(self, root: Path | None = None, *, detach: bool = False) -> None:
        self.bindir = find_bindir()
        self.detach = detach
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
            self.root = root.resolve()
        else:
            self.root = reachable_temp_dir("clinsight-pg-")  # made the server account's (0700) below
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 5432  # only names the socket file inside self.root
        self.process: subprocess.Popen | None = None
        try:
            account = service_account(("postgres", "nobody"))
        except LookupError:
            raise PostgresError("Running as root and neither a 'postgres' nor a 'nobody' account exists to run "
                                "the server.") from None
        if account is not None:
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._runas = run_as(account)
        os.chmod(self.root, 0o700)

    def start(self) -> Cluster:
        """initdb and start; on any failure nothing is left running, nothing this call created is left on disk,
        and the error says why. A kept cluster (root given, already initialised) that fails to start again keeps
        its data: only the server is stopped."""
        if (self.data / "PG_VERSION").exists():  # a kept cluster (root given): start it again
            try:
                self.start_server()
            except BaseException:
                self.stop_server()
                raise
            return self
        try:
            initdb = subprocess.run(
                [*self._runas, str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-A", "trust",
                 "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], capture_output=True, text=True)
            if initdb.returncode != 0:
                raise PostgresError(f"initdb failed ({initdb.returncode}): {initdb.stderr.strip()[-2000:]}")
            self.start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def start_server(self) -> None:
        """Start the server on the existing data folder and wait until it accepts connections."""
        with open(self.log, "ab") as log:
            if self._runas:
                os.chown(self.log, os.stat(self.root).st_uid, os.stat(self.root).st_gid)
            # --pdeathsig: if the test process dies without cleaning up (killed), the server stops too.
            tie = [] if self.detach else ["--pdeathsig=INT"]
            # a test cluster: durability is not needed, speed is
            fast = [] if self.detach else ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
            self.process = subprocess.Popen(
                [*(self._runas or ["setpriv"]), *tie, str(self.bindir / "postgres"), "-D", str(self.data), "-k", str(self.root),
                 "-p", str(self.port), "-c", "listen_addresses=", "-c", "max_connections=200", *fast],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=self.detach)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise PostgresError(f"PostgreSQL exited at start ({self.process.returncode}): {self._log_tail()}")
            ready = subprocess.run([str(self.bindir / "pg_isready"), "-q", "-h", str(self.root), "-p",
                                    str(self.port), "-U", SUPERUSER, "-d", "postgres"])
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                tail = self._log_tail()
                self.stop_server()
                raise PostgresError(f"PostgreSQL did not accept connections within {START_DEADLINE_S:.0f} s: {tail}")
            time.sleep(0.1)  # poll interval; the condition is pg_isready, the bound is the deadline

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no server log)"

    def url(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}@/{dbname}?host={self.root}&port={self.port}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(host=str(self.root), port=self.port, user=SUPERUSER, dbname="postgres",
                               autocommit=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server and delete the cluster."""
        self.stop_server()
        shutil.rmtree(self.root, ignore_errors=True)

    def stop_server(self) -> None:
        """Stop the server, keeping its data (fault tests start it again with :meth:`start_server`)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: disconnect clients, stop
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
