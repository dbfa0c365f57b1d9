"""The fuzz harness: run each registered door on generated inputs and classify every case.

Each case ends as one of: ``ok`` (a result, which passed the door's property),
``refused`` (one of the door's clear errors, with a message, store unchanged),
or a failure: ``crash`` (any other exception), ``hang`` (over the time bound),
``bad_result`` (property failed), ``store_changed`` (a refusal wrote to the
store), ``bad_message`` (a refusal without a sentence). Failures keep the input
(repr, truncated) so they can be replayed.

Run ``python -m tests.reliability.fuzz --cases 1000`` (``make fuzz``); the
pytest suite calls :func:`run_door` with a small sample.
"""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.reliability.doors import DOORS, Door


class CaseTimeout(BaseException):
    """Raised by the alarm when one case passes its time bound (BaseException: doors must not swallow it)."""


@dataclass
class DoorResult:
    name: str
    cases: int = 0
    outcomes: Counter = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def n_failures(self) -> int:
        return sum(v for k, v in self.outcomes.items() if k not in ("ok", "refused"))

    def summary(self) -> dict[str, Any]:
        return {"cases": self.cases, "failures": self.n_failures, "crashes": self.outcomes.get("crash", 0),
                "hangs": self.outcomes.get("hang", 0), "refused": self.outcomes.get("refused", 0),
                "ok": self.outcomes.get("ok", 0), "seconds": round(self.seconds, 1),
                "examples": self.failures[:3]}


def fingerprint(db_path: Path, ignore: frozenset[str]) -> dict[str, tuple[int, int]]:
    """Row count and highest rowid per table: changes when anything was committed (tests only; plain SQL)."""
    if not db_path.exists():
        return {}
    conn = sqlite3.connect(str(db_path))
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                             "AND name NOT LIKE 'sqlite_%'")]
        return {t: tuple(conn.execute(f'SELECT COUNT(*), COALESCE(MAX(rowid), 0) FROM "{t}"').fetchone())
                for t in tables if t not in ignore}
    finally:
        conn.close()


def _alarm(signum, frame):  # noqa: ARG001
    raise CaseTimeout()


class StoreFactory:
    """Temp stores for doors: fresh (with one admin for the login door) or seeded (demo data, built once)."""

    def __init__(self, workdir: Path, seeded_template: Path | None = None) -> None:
        self.workdir = workdir
        self._seeded = seeded_template

    def make(self, kind: str, name: str) -> Path | None:
        if kind == "none":
            return None
        path = self.workdir / f"{name}.db"
        if kind == "seeded":
            shutil.copy(self.seeded_template(), path)
        elif kind == "fresh":
            from engine import auth
            from engine.store import connect

            db = connect(path)
            auth.create_user(db, "fuzzadmin", "fuzz-password-123", "admin", actor=None)
            db.conn.close()
        else:
            raise ValueError(kind)
        return path

    def seeded_template(self) -> Path:
        if self._seeded is None:
            from engine.seed import seed_all
            from engine.store import connect

            self._seeded = self.workdir / "seeded-template.db"
            db = connect(self._seeded)
            seed_all(db)
            db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.conn.close()
        return self._seeded


def _cheap_password_hashing() -> None:
    """Fuzzing creates many users: use argon2id with minimal cost so 1,000 cases stay quick (same algorithm)."""
    from argon2 import PasswordHasher

    from engine import auth

    auth._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def run_door(door: Door, cases: int, *, stores: StoreFactory, rng_seed: int = 0) -> DoorResult:
    """Run ``cases`` generated inputs through ``door``; never raises for a door's failure."""
    from engine.store import connect

    result = DoorResult(door.name)
    db_path = stores.make(door.store, door.name.replace(".", "_"))
    saved_env = os.environ.get("CLINSIGHT_DB")
    if db_path is not None:
        os.environ["CLINSIGHT_DB"] = str(db_path)
    db = connect(db_path) if db_path is not None else None
    ignore = door.may_change | {"sqlite_sequence"}

    def one_case(value: Any) -> None:
        result.cases += 1
        before = fingerprint(db_path, ignore) if db_path is not None else None
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, door.time_bound_s)
        outcome, detail = "ok", None
        try:
            try:
                value_out = door.call(value, db)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
            if door.check is not None:
                try:
                    door.check(value, value_out)
                except AssertionError as exc:
                    outcome, detail = "bad_result", repr(exc)[:300]
        except CaseTimeout:
            outcome, detail = "hang", f"over {door.time_bound_s} s"
        except door.expected as exc:  # type: ignore[misc]
            message = str(exc).strip()
            if not message or "Traceback" in message:
                outcome, detail = "bad_message", repr(exc)[:300]
            elif before is not None and fingerprint(db_path, ignore) != before:
                outcome, detail = "store_changed", message[:300]
            else:
                outcome = "refused"
        except Exception as exc:  # noqa: BLE001 - anything else is exactly what the fuzzer looks for
            outcome, detail = "crash", f"{type(exc).__name__}: {exc}"[:300]
        finally:
            if db is not None and db.conn.in_transaction:  # a door that left a transaction open is a bug too
                db.conn.execute("ROLLBACK")
                outcome, detail = "crash", "left a transaction open"
        result.outcomes[outcome] += 1
        if outcome not in ("ok", "refused"):
            result.failures.append({"outcome": outcome, "detail": detail, "input": repr(value)[:200]})

    test = settings(max_examples=cases, database=None, deadline=None, phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck), print_blob=False)(given(door.strategy())(one_case))
    start = time.perf_counter()
    try:
        seed(rng_seed)(test)()
    finally:
        result.seconds = time.perf_counter() - start
        if db is not None:
            db.conn.close()
        if saved_env is None:
            os.environ.pop("CLINSIGHT_DB", None)
        else:
            os.environ["CLINSIGHT_DB"] = saved_env
    return result


def run_all(cases: int, *, names: list[str] | None = None, rng_seed: int = 0,
            seeded_template: Path | None = None) -> dict[str, DoorResult]:
    _cheap_password_hashing()
    results = {}
    with tempfile.TemporaryDirectory(prefix="clinsight-fuzz-") as tmp:
        stores = StoreFactory(Path(tmp), seeded_template)
        for name, door in DOORS.items():
            if names and name not in names:
                continue
            results[name] = run_door(door, cases, stores=stores, rng_seed=rng_seed)
    return results
