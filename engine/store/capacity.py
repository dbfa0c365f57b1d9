"""Saved capacity scenarios: a name, the inputs that made it and its aggregate results (JSON)."""
from __future__ import annotations

import json
from typing import Any

from engine.errors import InputError, NotFoundError
from engine.store import Database, transaction, utcnow


def save_scenario(db: Database, *, name: str, inputs: dict[str, Any], results: dict[str, Any],
                  created_by: str | None, replace: bool = False) -> int:
    """Insert (or with ``replace`` overwrite) the scenario ``name``; returns its id."""
    name = name.strip()
    if not name:
        raise InputError("A scenario needs a name.")
    if len(name) > 80:
        raise InputError("A scenario name is at most 80 characters.")
    with transaction(db):
        row = db.conn.execute("SELECT id FROM capacity_scenarios WHERE name = ?", (name,)).fetchone()
        if row and not replace:
            raise InputError(f"A scenario named '{name}' already exists; choose another name or replace it.")
        payload = (json.dumps(inputs, sort_keys=True, default=str), json.dumps(results, sort_keys=True, default=str))
        if row:
            db.conn.execute("UPDATE capacity_scenarios SET inputs = ?, results = ?, created_by = ?, created_at = ? "
                            "WHERE id = ?", (*payload, created_by, utcnow(), row[0]))
            return int(row[0])
        cur = db.conn.execute("INSERT INTO capacity_scenarios (name, inputs, results, created_by, created_at) "
                              "VALUES (?, ?, ?, ?, ?)", (name, *payload, created_by, utcnow()))
        return int(cur.lastrowid)


def list_scenarios(db: Database) -> list[dict[str, Any]]:
    """Every saved scenario, newest first, inputs and results decoded."""
    cur = db.conn.execute("SELECT id, name, inputs, results, created_by, created_at FROM capacity_scenarios "
                          "ORDER BY created_at DESC, id DESC")
    out = []
    for id_, name, inputs, results, by, at in cur.fetchall():
        out.append({"id": id_, "name": name, "inputs": json.loads(inputs), "results": json.loads(results),
                    "created_by": by, "created_at": at})
    return out


def get_scenario(db: Database, name: str) -> dict[str, Any]:
    for row in list_scenarios(db):
        if row["name"].lower() == name.strip().lower():
            return row
    raise NotFoundError(f"There is no saved scenario named '{name}'.")
