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
            "capacity", "notes", "icu"]
# Commands registered by a module of another name (a module may register several).
COMMAND_MODULES = {"records": "ingest", "restore": "backup"}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser for every command, or for ``only`` when the command line names one.

    Each command module imports what its command needs (pandas, scikit-learn, torch); loading all of them
    for one command made every call pay about 2.5 s of imports before doing anything.
    """
    parser = argparse.ArgumentParser(prog="python -m engine", description="ClinSight engine command line.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS if only is None else [only]:
        importlib.import_module(f"engine.cli.{name}").register(subparsers)
    return parser


def _named_command(argv: list[str]) -> str | None:
    """The module of the command ``argv`` names, when its first word is one (else None: help, a typo, none)."""
    word = argv[0] if argv else None
    return word if word in COMMANDS else COMMAND_MODULES.get(word)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_named_command(argv)).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
