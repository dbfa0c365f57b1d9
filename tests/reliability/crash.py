"""Crash consistency: SIGKILL an import process at random moments, then check the store.

Why SIGKILL: it is the one ending a process cannot clean up after (power loss,
OOM killer). SQLite's journal must then leave every transaction either applied
or absent. After each kill the store is reopened (which recovers the WAL) and
:func:`engine.integrity.check_store` must pass: ``PRAGMA integrity_check`` ok,
each active dataset version holding exactly its ``n_rows`` patients, the audit
chain verifying.

Import commands are data (:data:`CRASH_COMMANDS`); the lead adds the records
import after merging, e.g.::

    CRASH_COMMANDS["ingest"] = lambda: [sys.executable, "-m", "engine", "ingest", str(FIXTURE_CSV)]

A command that completes before its kill is not wasted: when a run ends on its
own, the next trial starts from an empty store so kills keep landing mid-import.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.config import REPO_ROOT

CRASH_COMMANDS: dict[str, Callable[[], list[str]]] = {
    "seed": lambda: [sys.executable, "-m", "engine", "seed"],
}


@dataclass
class CrashReport:
    command: str
    kills: int = 0  # processes killed while still running
    completed: int = 0  # runs that ended on their own before the kill time
    survived: int = 0  # trials after which the store passed every check
    problems: list[str] = field(default_factory=list)
    full_run_s: float = 0.0
    versions_seen: list[int] = field(default_factory=list)  # dataset versions present after each trial

    def summary(self) -> dict:
        return {"command": self.command, "kills": self.kills, "completed_before_kill": self.completed,
                "survived": self.survived, "failures": len(self.problems), "full_run_s": round(self.full_run_s, 2),
                "versions_seen": self.versions_seen,
                "problems": self.problems[:5]}


def _wipe(db_path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


def _env(db_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["CLINSIGHT_DB"] = str(db_path)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return env


def check_after_crash(db_path: Path) -> tuple[list[str], int]:
    """Reopen the store as the app would (WAL recovery), run every store check; also count dataset versions."""
    from engine.integrity import check_store
    from engine.store import connect
    from engine.store.datasets import list_versions

    if not db_path.exists():
        return [], 0
    db = connect(db_path)
    try:
        return check_store(db).problems, len(list_versions(db))
    finally:
        db.conn.close()


def run_crash_trials(name: str, trials: int, db_path: Path, *, rng_seed: int = 0) -> CrashReport:
    """Run the command ``trials`` times, each killed with SIGKILL at a random moment; check after each."""
    command = CRASH_COMMANDS[name]()
    rng = random.Random(rng_seed)
    report = CrashReport(name)
    _wipe(db_path)
    start = time.perf_counter()
    subprocess.run(command, env=_env(db_path), cwd=REPO_ROOT, check=True, capture_output=True, timeout=300)
    report.full_run_s = time.perf_counter() - start
    _wipe(db_path)
    for trial in range(trials):
        # Half the kills uniform over the whole run, half in its second half, where the writing happens.
        low = 0.0 if trial % 2 == 0 else report.full_run_s * 0.5
        delay = rng.uniform(low, report.full_run_s * 1.05)
        proc = subprocess.Popen(command, env=_env(db_path), cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=delay)
            report.completed += 1
            finished = True
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            report.kills += 1
            finished = False
        problems, versions = check_after_crash(db_path)
        report.versions_seen.append(versions)
        if problems:
            report.problems.extend(f"trial {trial} (kill at {delay:.2f} s): {p}" for p in problems)
        else:
            report.survived += 1
        if finished:
            _wipe(db_path)
    return report
