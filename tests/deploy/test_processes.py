"""deploy/processes.py and deploy/local_postgres.py edge cases, without a running cluster."""
from __future__ import annotations

import os
import socket

import pytest

from deploy.local_postgres import Cluster, PostgresError
from deploy.processes import _owns_port


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
