"""Command line: ``python -m engine <command>``.

Each command lives in ``engine/cli/<name>.py`` with a ``register(subparsers)``
function; add a module name to ``COMMANDS`` to expose a new one. Engine errors
end the process with one clear sentence on stderr and a non-zero exit code,
never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from engine.errors import EngineError

COMMANDS = ["seed", "users", "audit", "treatment", "tokens", "models", "predict", "ingest", "imaging", "backup",
            "capacity", "notes"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="ClinSight engine command line.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"engine.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
