"""``python -m tests.reliability.fuzz [--cases N] [--door NAME]``: the full-size fuzz run (``make fuzz``).

Prints one line per door, then one JSON object as the last line with cases,
failures, crashes and lost_rows (always 0 here: fuzzing loses no rows by
construction; the soak run measures them). Exit status 1 when any case failed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from tests.reliability.fuzzing import run_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1000, help="generated cases per door")
    parser.add_argument("--door", action="append", help="only this door (repeatable)")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    args = parser.parse_args(argv)
    results = run_all(args.cases, names=args.door, rng_seed=args.seed)
    for name, result in results.items():
        summary = result.summary()
        print(f"{name}: {summary['cases']} cases, {summary['ok']} ok, {summary['refused']} refused, "
              f"{summary['failures']} failures ({summary['seconds']} s)", file=sys.stderr)
        for example in summary["examples"]:
            print(f"    {example}", file=sys.stderr)
    report = {
        "name": "fuzz",
        "seed": args.seed,
        "cases": sum(r.cases for r in results.values()),
        "failures": sum(r.n_failures for r in results.values()),
        "crashes": sum(r.outcomes.get("crash", 0) for r in results.values()),
        "hangs": sum(r.outcomes.get("hang", 0) for r in results.values()),
        "lost_rows": 0,
        "doors": {name: {k: v for k, v in r.summary().items() if k != "examples"} for name, r in results.items()},
    }
    print(json.dumps(report))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
