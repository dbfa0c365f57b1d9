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
