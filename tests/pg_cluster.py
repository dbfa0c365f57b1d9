"""A throwaway PostgreSQL cluster for the PostgreSQL leg of the store tests (issue 16).

The implementation is deploy/local_postgres.py: `make cluster` keeps the hospital's single-host store with the
same code, and product code never imports from tests/. ``Cluster()`` with its defaults is the tests' cluster:
``initdb`` in a temp folder, a Unix socket in that folder only, fsync off, tied to the test process, stopped
and deleted by :meth:`Cluster.stop`. ``Cluster`` stays importable from here for the tests and benches.
"""
from __future__ import annotations

from deploy.local_postgres import Cluster

__all__ = ["Cluster"]
