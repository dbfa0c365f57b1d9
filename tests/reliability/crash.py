"""Crash consistency: SIGKILL an import process at random moments, then check the store.

Why SIGKILL: it is the one ending a process cannot clean up after (power loss,
OOM killer). SQLite's journal must then leave every transaction either applied
or absent. After each kill the store is reopened (which recovers the WAL) and
:func:`engine.integrity.check_store` must pass: ``PRAGMA integrity_check`` ok,
each active dataset version holding exactly its ``n_rows`` patients, the audit
chain verifying.

Import commands are data (:data:`CRASH_COMMANDS`): the demo seed and the records
import (``python -m engine ingest FILE`` on a 20,000-row CSV); add others the same way.

A command that completes before its kill is not wasted: when a run ends on its
own, the next trial starts from an empty store so kills keep landing mid-import.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.config import REPO_ROOT

def ingest_fixture(rows: int = 20_000) -> Path:
    """A CSV export to import (synthetic rows, made once per machine: the crash test needs volume, not realism)."""
    import tempfile

    path = Path(tempfile.gettempdir()) / f"clinsight-crash-ingest-{rows}.csv"
    if not path.exists():
        rng = random.Random(42)
        lines = ["patient_id,age,sex,glucose,bmi,systolic_bp"]
        lines += [f"P{i:06d},{rng.randint(20, 85)},{rng.choice(['female', 'male'])},{rng.randint(70, 200)},"
                  f"{rng.uniform(18, 40):.1f},{rng.randint(95, 180)}" for i in range(rows)]
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, path)
    return path


def fhir_bulk_fixture(patients: int = 300) -> Path:
    """A FHIR Bulk Data export folder (one NDJSON file per resource type) of ``patients`` copies of the R4
    example patient under new ids (synthetic; made once per machine)."""
    import json
    import tempfile

    from tests.engine.ingest import fhir_examples

    folder = Path(tempfile.gettempdir()) / f"clinsight-crash-fhir-v2-{patients}"
    if not folder.exists():
        tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
        tmp.mkdir()
        by_type: dict[str, list[str]] = {}
        template = json.dumps(fhir_examples.resources(f"Patient/{fhir_examples.PATIENT_ID}"))
        for i in range(patients):
            text = template.replace(fhir_examples.PATIENT_ID, f"crash-{i:05d}")
            for r in json.loads(text.replace('"med-metformin"', f'"med-metformin-{i}"').replace(
                    '"Medication/med-metformin"', f'"Medication/med-metformin-{i}"')):
                by_type.setdefault(r["resourceType"], []).append(json.dumps(r))
        for kind, lines in by_type.items():
            (tmp / f"{kind}.ndjson").write_text("\n".join(lines) + "\n")
        try:
            os.replace(tmp, folder)
        except OSError:  # another suite on this machine built the same folder meanwhile: use theirs
            if not folder.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


CRASH_COMMANDS: dict[str, Callable[[], list[str]]] = {
    "seed": lambda: [sys.executable, "-m", "engine", "seed"],
    "ingest": lambda: [sys.executable, "-m", "engine", "ingest", str(ingest_fixture())],
    "ingest_fhir_bulk": lambda: [sys.executable, "-m", "engine", "ingest", str(fhir_bulk_fixture())],
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


WRITE_THRESHOLD = 256 * 1024  # WAL bytes that mean "the import is writing data" (a new store's schema is smaller)


def _wal_size(db_path: Path) -> int:
    try:
        return os.path.getsize(f"{db_path}-wal")
    except OSError:
        return 0


def _time_to_writing(proc: subprocess.Popen, db_path: Path, timeout: float) -> float | None:
    """Seconds until the process has written WRITE_THRESHOLD bytes of WAL; None if it ended first."""
    start = time.perf_counter()
    while proc.poll() is None and time.perf_counter() - start < timeout:
        if _wal_size(db_path) >= WRITE_THRESHOLD:
            return time.perf_counter() - start
        time.sleep(0.005)
    return None


def run_crash_trials(name: str, trials: int, db_path: Path, *, rng_seed: int = 0) -> CrashReport:
    """Run the command ``trials`` times, each killed with SIGKILL at a random moment; check after each.

    Kill moments are tied to progress, not only to the clock (on a loaded machine a run's length varies
    several-fold): three trials in four wait until the command is writing data (its WAL has grown), then
    kill after a random part of the measured writing phase; the fourth kills at a random moment from start.
    The first trial kills the moment writing is seen: the random delays are drawn from the calibration run's
    length, which load changes several-fold between runs, so on a machine that got faster after calibrating
    every kill could come after the import had finished. One kill mid-write is then certain, not likely.
    """
    command = CRASH_COMMANDS[name]()
    rng = random.Random(rng_seed)
    report = CrashReport(name)
    _wipe(db_path)
    start = time.perf_counter()
    calibration = subprocess.Popen(command, env=_env(db_path), cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
    to_writing = _time_to_writing(calibration, db_path, 300) or 0.0
    _, err = calibration.communicate(timeout=300)
    if calibration.returncode != 0:
        raise RuntimeError(f"{name} failed on an empty store: {err.decode(errors='replace')[-500:]}")
    report.full_run_s = time.perf_counter() - start
    complete_versions = check_after_crash(db_path)[1]  # what a finished run leaves
    writing_s = max(report.full_run_s - to_writing, 0.05)
    _wipe(db_path)
    for trial in range(trials):
        proc = subprocess.Popen(command, env=_env(db_path), cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if trial % 4 == 3:
            delay = rng.uniform(0, report.full_run_s)
        else:
            waited = _time_to_writing(proc, db_path, 300)
            drawn = rng.uniform(0, writing_s * 1.05)  # drawn every trial: the same seed gives the same later kills
            delay = drawn if waited is not None and trial > 0 else 0.0
        try:
            proc.wait(timeout=max(delay, 0.001))
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
            report.problems.extend(f"trial {trial} (kill {delay:.2f} s in): {p}" for p in problems)
        else:
            report.survived += 1
        if finished or (complete_versions and versions >= complete_versions):
            _wipe(db_path)  # a finished import: start again from empty so later kills land mid-import
    return report
