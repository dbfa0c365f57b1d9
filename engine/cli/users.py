"""``python -m engine users add NAME --role ROLE`` (password read from stdin) and ``users list``."""
from __future__ import annotations

import getpass
import json
import sys

from engine import auth
from engine.roles import ROLES
from engine.store import open_db


def register(subparsers) -> None:
    parser = subparsers.add_parser("users", help="manage users")
    sub = parser.add_subparsers(dest="users_command", required=True)
    add = sub.add_parser("add", help="add a user; the password is read from stdin")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.set_defaults(func=run_add)
    lst = sub.add_parser("list", help="list users as JSON")
    lst.set_defaults(func=run_list)
    reset = sub.add_parser("reset-password", help="set a new password (from stdin) and clear a lockout")
    reset.add_argument("name")
    reset.set_defaults(func=run_reset)


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\r\n")


def run_add(args) -> int:
    password = _read_password()
    with open_db() as db:
        user = auth.create_user(db, args.name, password, args.role, actor=None)
    print(f"added user '{user.username}' with role {user.role}")
    return 0


def run_list(args) -> int:
    with open_db() as db:
        print(json.dumps(auth.list_users(db), indent=2))
    return 0


def run_reset(args) -> int:
    password = _read_password()
    with open_db() as db:
        auth.reset_password(db, args.name, password, actor=None)
    print(f"password reset for '{args.name}'")
    return 0
