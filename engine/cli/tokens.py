"""``python -m engine tokens create NAME [--label L]`` (prints the token once), ``list``, ``revoke ID``.

For the person installing ClinSight (local shell access): the admin page does the same for admins.
"""
from __future__ import annotations

import json

from engine import api_tokens
from engine.store import open_db


def register(subparsers) -> None:
    parser = subparsers.add_parser("tokens", help="manage REST API tokens")
    sub = parser.add_subparsers(dest="tokens_command", required=True)
    create = sub.add_parser("create", help="create a token for a user and print it (shown only this once)")
    create.add_argument("name")
    create.add_argument("--label", default=None)
    create.set_defaults(func=run_create)
    lst = sub.add_parser("list", help="list tokens (metadata only) as JSON")
    lst.set_defaults(func=run_list)
    revoke = sub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("token_id", type=int)
    revoke.set_defaults(func=run_revoke)


def run_create(args) -> int:
    with open_db() as db:
        token = api_tokens.create_token(db, args.name, actor=None, label=args.label)
    print(token)
    return 0


def run_list(args) -> int:
    with open_db() as db:
        print(json.dumps(api_tokens.list_tokens(db), indent=2))
    return 0


def run_revoke(args) -> int:
    with open_db() as db:
        api_tokens.revoke_token(db, args.token_id, actor=None)
    print(f"revoked API token {args.token_id}")
    return 0
