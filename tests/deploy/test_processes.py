"""deploy/processes.py and deploy/local_postgres.py edge cases, without a running cluster."""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from deploy.local_postgres import Cluster, PostgresError
from deploy.processes import _owns_port, reachable_temp_dir, run_as, service_account


@pytest.mark.parametrize("address", ["127.0.0.1", "0.0.0.0"])
def test_the_health_check_finds_a_listener_on_any_local_address(address):
    """``--bind 0.0.0.0`` (or a host address) must pass the port-ownership check, not only loopback."""
    with socket.socket() as server:
        server.bind((address, 0))
        server.listen()
        assert _owns_port(os.getpid(), server.getsockname()[1])


def test_a_kept_cluster_that_fails_to_start_again_keeps_its_data(tmp_path, monkeypatch):
    """`make cluster` restarting var/cluster/pg: a failed start stops the server but never deletes the data."""
    root = tmp_path / "pg"
    (root / "data").mkdir(parents=True)
    (root / "data" / "PG_VERSION").write_text("16\n")  # stands in for an initialised cluster
    cluster = Cluster(root)

    def fail() -> None:
        raise PostgresError("the server did not start (test)")

    monkeypatch.setattr(cluster, "start_server", fail)
    with pytest.raises(PostgresError):
        cluster.start()
    assert (root / "data" / "PG_VERSION").read_text() == "16\n"


def test_the_unprivileged_account_is_the_first_that_exists_and_only_under_root(monkeypatch):
    """nginx (www-data, nobody) and PostgreSQL (postgres, nobody) share one lookup and one setpriv prefix."""
    root = pwd.getpwuid(0)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert service_account(("no-such-account-here", root.pw_name)).pw_uid == 0
    with pytest.raises(LookupError):
        service_account(("no-such-account-here",))
    assert run_as(root) == ["setpriv", "--reuid=0", f"--regid={root.pw_gid}", "--clear-groups"]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert service_account(("nobody",)) is None and run_as(None) == []


def test_a_reachable_temp_folder_is_open_to_the_service_account(monkeypatch, tmp_path):
    """Under root nginx (www-data) must reach its state folder: in /tmp whatever TMPDIR says, and 0755."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # stands in for a TMPDIR inside /root
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    folder = reachable_temp_dir("clinsight-test-")
    try:
        assert folder.parent == Path("/tmp") and folder.name.startswith("clinsight-test-")
        assert folder.stat().st_mode & 0o777 == 0o755
    finally:
        shutil.rmtree(folder)
