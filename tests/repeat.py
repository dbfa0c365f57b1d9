"""Flake detector: run the suite N times and say, per test, how often it failed.

    python -m tests.repeat --runs 5 [--out DIR] [PYTEST ARGS ...]     (or: make test-repeat N=5)

Each run is a separate ``pytest`` process writing JUnit XML to ``DIR/run-<i>.xml`` (default
``test-artifacts/repeat``). Afterwards it prints one line per run (exit status, wall time, the
machine's load average before and after, counts) and one line per test that failed or errored at
least once, with how many runs it failed in and the first line of each distinct failure. A test
failing in some runs but not all is flaky; one failing in every run is simply broken. The last line
is one JSON object (``runs``, ``flaky``, ``always_failing``, per-run results). Exit status 1 when any
test failed in any run.

Pytest arguments are passed through; without a path among them the whole ``tests`` folder runs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _test_id(case: ET.Element) -> str:
    """``tests/e2e/test_x.py::test_name[param]`` from JUnit's dotted classname (class names kept)."""
    parts = case.get("classname", "").split(".")
    for cut in range(len(parts), 0, -1):
        path = Path(*parts[:cut]).with_suffix(".py")
        if (REPO / path).exists():
            return "::".join([path.as_posix(), *parts[cut:], case.get("name", "")])
    return f"{case.get('classname', '')}::{case.get('name', '')}"


def read_junit(path: Path) -> dict[str, str | None]:
    """Test id -> None when it passed or was skipped, else the first line of its failure or error."""
    outcomes: dict[str, str | None] = {}
    if not path.exists():
        return outcomes
    for case in ET.parse(path).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        test_id = _test_id(case)
        if problem is None:
            outcomes.setdefault(test_id, None)
        else:  # an error in teardown after a pass appears as a second entry: the problem wins
            message = (problem.get("message") or problem.text or problem.tag).strip().splitlines()
            outcomes[test_id] = f"{problem.tag}: {message[0][:200] if message else ''}"
    return outcomes


def _has_path(args: list[str]) -> bool:
    return any(not a.startswith("-") and (REPO / a.split("::")[0]).exists() for a in args)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "test-artifacts" / "repeat")
    args, pytest_args = parser.parse_known_args(argv)
    pytest_args = [a for a in pytest_args if a != "--"]
    if not _has_path(pytest_args):
        pytest_args = ["tests", *pytest_args]
    args.out.mkdir(parents=True, exist_ok=True)

    runs = []
    failures: dict[str, list[tuple[int, str]]] = defaultdict(list)
    seen: set[str] = set()
    for index in range(1, args.runs + 1):
        junit = args.out / f"run-{index}.xml"
        junit.unlink(missing_ok=True)
        command = [sys.executable, "-m", "pytest", *pytest_args, "-p", "no:cacheprovider", f"--junitxml={junit}"]
        load_before, started = _load(), time.monotonic()
        print(f"== run {index}/{args.runs}: load {load_before}: {' '.join(command[1:])}", flush=True)
        status = subprocess.call(command, cwd=REPO)
        wall = time.monotonic() - started
        outcomes = read_junit(junit)
        seen.update(outcomes)
        failed = sorted(t for t, problem in outcomes.items() if problem is not None)
        for test_id in failed:
            failures[test_id].append((index, outcomes[test_id]))
        runs.append({"run": index, "status": status, "wall_s": round(wall, 1), "load_before": load_before,
                     "load_after": _load(), "tests": len(outcomes), "failed": failed})

    print("\n== runs")
    for r in runs:
        print(f"run {r['run']}: exit {r['status']}, {r['wall_s']:.0f} s, load {r['load_before']} -> "
              f"{r['load_after']}, {r['tests']} tests, {len(r['failed'])} failed")
    print(f"\n== tests that failed at least once ({len(failures)} of {len(seen)})")
    for test_id, hits in sorted(failures.items(), key=lambda item: (-len(item[1]), item[0])):
        print(f"{len(hits)}/{args.runs}  {test_id}")
        for problem in dict.fromkeys(p for _, p in hits):
            print(f"        runs {[i for i, p in hits if p == problem]}: {problem}")
    flaky = sorted(t for t, hits in failures.items() if len(hits) < args.runs)
    broken = sorted(t for t, hits in failures.items() if len(hits) == args.runs)
    crashed = [r["run"] for r in runs if r["status"] not in (0, 1) or not r["tests"]]
    print(json.dumps({"runs": args.runs, "flaky": flaky, "always_failing": broken, "crashed_runs": crashed,
                      "per_run": runs}))
    return 1 if failures or crashed else 0


if __name__ == "__main__":
    sys.exit(main())
