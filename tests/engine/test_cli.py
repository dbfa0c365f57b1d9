from __future__ import annotations

import pytest

import subprocess
import sys

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)


def _run(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "engine", *args], input=stdin, capture_output=True, text=True)


def test_users_add_reads_password_from_stdin(db_path):
    done = _run("users", "add", "alice", "--role", "clinician", stdin="a long enough password\n")
    assert done.returncode == 0, done.stderr
    listed = _run("users", "list")
    assert '"alice"' in listed.stdout and "password" not in listed.stdout


def test_bad_password_exits_nonzero_with_one_sentence(db_path):
    done = _run("users", "add", "alice", "--role", "clinician", stdin="short\n")
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "at least 10 characters" in done.stderr


def test_every_command_is_documented_in_the_readme():
    from pathlib import Path

    from engine.__main__ import COMMANDS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    undocumented = [c for c in COMMANDS if f"python -m engine {c}" not in readme]
    assert undocumented == []


def _subcommands(parser) -> set[str]:
    import argparse

    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(action.choices)


def test_a_named_command_loads_only_its_own_module_and_every_command_can_be_named():
    """One command's call must not import every other command's libraries (2.5 s a call), yet every
    command the full parser knows (some modules register two) must still be reachable by name."""
    from engine.__main__ import _named_command, build_parser

    every = _subcommands(build_parser())
    assert {"records", "restore", "icu", "audit"} <= every
    for name in every:
        alone = build_parser(_named_command([name, "--help"]))
        assert name in _subcommands(alone), name
    assert _subcommands(build_parser(_named_command(["audit", "verify"]))) == {"audit"}
    assert _named_command(["--help"]) is None and _named_command(["nosuch"]) is None and _named_command([]) is None
